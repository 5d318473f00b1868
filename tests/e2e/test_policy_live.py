"""Live channel behaviour under `skuflow up`: stale-source fallback and policy reload on SIGHUP."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.policy_file import parse_policy
from operators.channels import LocationView, channel_figures
from tests.e2e.test_up import read_until
from tests.helpers import free_port, read_jsonl, scrape, skuflow, up_command

pytestmark = pytest.mark.slow

POLICY = """
version: "{version}"
channels:
  b2b: {{safety_stock: {{units: 10}}, priority: 2, publication_slo: 5s}}
  dtc: {{locations: [WH-EAST, 3PL-CENTRAL], safety_stock: {{units: {dtc_units}}}{dtc_slo}}}
stale_sources:
  # The simulator never sends events from a source called 3PL: this location goes stale.
  3PL-CENTRAL: {{source: 3PL, after: 2s, mode: exclude}}
  WH-EAST: {{source: WMS, after: 1h, mode: exclude}}
"""


def last_publications(state: Path) -> dict[tuple[str, str], dict[str, Any]]:
    last = {}
    for path in (state / "channels").glob("*.jsonl"):
        for pub in read_jsonl(path):
            last[(pub["channel"], pub["sku"])] = pub
    return last


def _sample(page: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return page.get((name, frozenset(labels.items())))


def test_stale_location_is_excluded_and_a_reloaded_policy_is_republished(tmp_path: Path) -> None:
    """...and its metrics say so: the location's stale gauge, each channel's SLO (as the
    running policy has it), and event ages at fold and at publication."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY.format(version="A", dtc_units=5, dtc_slo=", publication_slo: 2.5s"))
    state = tmp_path / "up"
    metrics = f"http://127.0.0.1:{(port := free_port())}/metrics"
    command = up_command(state, free_port(), 400, "--skus", "150", "--duration", "10", "--policy", str(policy_file))
    proc = subprocess.Popen([*command, "--metrics-port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        read_until(proc, r"Ctrl-C stops")
        time.sleep(4)
        page = scrape(metrics)
        assert _sample(page, "skuflow_location_stale", location="3PL-CENTRAL") == 1
        assert _sample(page, "skuflow_location_stale", location="WH-EAST") == 0
        assert _sample(page, "skuflow_channel_publication_slo_seconds", channel="b2b") == 5
        assert _sample(page, "skuflow_channel_publication_slo_seconds", channel="dtc") == 2.5
        folded = _sample(page, "skuflow_event_age_at_fold_seconds_count") or 0
        assert folded > 0 and _sample(page, "skuflow_event_age_at_fold_seconds_bucket", le="+Inf") == folded
        assert (_sample(page, "skuflow_event_age_at_publication_seconds_count", channel="b2b") or 0) > 0
        policy_file.write_text(POLICY.format(version="B", dtc_units=40, dtc_slo=""))
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        page = scrape(metrics)
        assert _sample(page, "skuflow_channel_publication_slo_seconds", channel="dtc") is None  # dropped by B
        assert _sample(page, "skuflow_channel_publication_slo_seconds", channel="b2b") == 5
        err = proc.communicate(timeout=90)[1]
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "policy reloaded: version A -> B" in err

    policy = parse_policy(POLICY.format(version="B", dtc_units=40, dtc_slo=""))
    snapshots = [json.loads(x) for x in skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines()]
    views: dict[str, list[LocationView]] = {}
    for s in snapshots:
        stale = s["location"] == "3PL-CENTRAL"
        views.setdefault(s["sku"], []).append(LocationView(s["location"], s["available"], s["accounts"], stale))
    expected = {(c, sku): f for sku, vs in views.items() for c, f in channel_figures(policy, sku, vs).items()}
    last = last_publications(state)
    assert {k: p["available"] for k, p in last.items()} == expected
    # The reload republished what it changed (dtc's safety stock) under the new version...
    assert any(p["policy_version"] == "B" and c == "dtc" for (c, _), p in last.items())
    # ... and the stale location really was left out: counting it would publish more.
    fresh = {sku: [LocationView(v.location, v.available, v.consumed) for v in vs] for sku, vs in views.items()}
    assert any(channel_figures(policy, sku, vs)["b2b"] != expected[("b2b", sku)] for sku, vs in fresh.items())
