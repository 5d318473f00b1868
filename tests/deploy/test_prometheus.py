"""deploy/prometheus: the alert rules pass `promtool check` and their own `promtool test
rules` cases, and read only metrics (and labels) skuflow exports. promtool comes from
Debian's prometheus package, unpacked by deploy/prometheus/promtool.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.exported import names_in, unknown

PROMETHEUS = Path(__file__).parent.parent.parent / "deploy" / "prometheus"


def _promtool(promtool: str, *args: str) -> str:
    proc = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _rules() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_rules_and_config_pass_promtool_check(promtool: str) -> None:
    assert f"SUCCESS: {len(_rules())} rules found" in _promtool(promtool, "check", "rules", "alerts.yml")
    _promtool(promtool, "check", "config", "prometheus.yml")


def test_every_alert_fires_on_its_case_and_not_beside_it(promtool: str) -> None:
    _promtool(promtool, "test", "rules", "alerts_test.yml")
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    firing = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert firing == {rule["alert"] for rule in _rules()}  # every alert has a case where it fires


def test_alerts_read_only_what_skuflow_exports() -> None:
    for rule in _rules():
        expr = str(rule["expr"])
        assert names_in(expr), rule["alert"]
        assert unknown(expr) == [], (rule["alert"], expr)


def test_every_alert_has_a_runbook_entry() -> None:
    runbook = (PROMETHEUS.parent.parent / "docs" / "operations.md").read_text().lower()
    for rule in _rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        anchor = annotations["runbook"].split("#")[1]
        assert f"### {rule['alert'].lower()}" in runbook, anchor


def test_the_operations_guide_lists_every_metric_skuflow_exports() -> None:
    """docs/operations.md's metrics table, one row per metric (a histogram by its base name)."""
    import re

    from tests.deploy.exported import exported

    guide = (PROMETHEUS.parent.parent / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(skuflow_[a-z0-9_]+)` \|", guide, re.M))
    samples = set(exported()) - {"up"}
    histograms = {n.removesuffix("_bucket") for n in samples if n.endswith("_bucket")}
    plain = {n for n in samples if re.sub(r"_(bucket|count|sum)$", "", n) not in histograms}
    assert documented == histograms | plain
