"""The golden scenarios through the real CLI: `skuflow replay` then `skuflow snapshot`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import GOLDEN, assert_matches_expected, read_jsonl, skuflow


@pytest.mark.parametrize("scenario", ["small", "medium"])
def test_golden_scenario(scenario: str, tmp_path: Path) -> None:
    data = GOLDEN / scenario
    skuflow(
        "replay",
        str(data / "events.jsonl"),
        "--state-dir",
        str(tmp_path),
        "--item-master",
        str(data / "item_master.csv"),
    )
    out = skuflow("snapshot", "--state-dir", str(tmp_path)).stdout
    assert_matches_expected(
        [json.loads(line) for line in out.splitlines()], read_jsonl(data / "expected_snapshots.jsonl")
    )

    got = sorted((r["event_id"], r["reason"]) for r in read_jsonl(tmp_path / "exceptions.jsonl"))
    expected = sorted((r["event_id"], r["reason"]) for r in read_jsonl(data / "expected_rejects.jsonl"))
    assert got == expected  # exactly these, each once, although the input repeats them
    for record in read_jsonl(tmp_path / "exceptions.jsonl"):
        assert record["payload"]["event_id"] == record["event_id"] and record["detail"] and record["origin"]
