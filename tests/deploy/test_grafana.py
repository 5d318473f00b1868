"""deploy/grafana/skuflow.json: every panel's query is valid PromQL (promtool parses it as a
recording rule) and names only metrics and labels skuflow exports; the layout is sound."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.exported import names_in, unknown

DASHBOARD = Path(__file__).parent.parent.parent / "deploy" / "grafana" / "skuflow.json"


def _panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_every_panel_queries_what_skuflow_exports() -> None:
    panels = _panels()
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert names_in(target["expr"]), (panel["title"], target["expr"])
            assert unknown(target["expr"]) == [], (panel["title"], target["expr"])


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    exprs = [t["expr"] for p in _panels() for t in p["targets"]]
    rules = [{"record": f"skuflow:panel_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"SUCCESS: {len(rules)} rules found" in proc.stdout, proc.stdout + proc.stderr


def test_layout_ids_and_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    cells: set[tuple[int, int]] = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, p["title"]  # no two panels overlap
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
