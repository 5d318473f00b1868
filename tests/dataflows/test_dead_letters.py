"""Dead letters that can be fixed: only an accepted event makes its id seen, so an event
rejected for a cause that is then fixed (the item master gains its UoM) or sent again
corrected under the same id is applied; and neither a re-sent rejection nor a re-sent
fixed event counts twice (JSON Lines through the Python path, Avro through the native
decode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.avro import write_events
from tests.dataflows.test_hostile_inputs import receipt, replay
from tests.helpers import skuflow


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    if path.suffix == ".avro":
        write_events(path, events)
    else:
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".avro"])
def test_a_fixed_dead_letter_is_applied_once(tmp_path: Path, suffix: str) -> None:
    state = tmp_path / "state"
    cases = {**receipt(1, "SKU-1", "WH-A", 2, occurred_at=1_780_000_000_000), "uom": "CS"}  # no CS row yet
    zero = receipt(2, "SKU-1", "WH-A", 0, occurred_at=1_780_000_000_001)  # bad_quantity
    first = _write(tmp_path / f"first{suffix}", [cases, zero])
    _, rejects = replay(first, state, max_ahead="0")
    assert sorted(r["reason"] for r in rejects) == ["bad_quantity", "unknown_uom"]

    master = tmp_path / "items.csv"
    master.write_text("sku,uom,factor\nSKU-1,CS,12\n")
    fixed = {**zero, "quantity": 3}  # the corrected payload, under the same id
    again = _write(tmp_path / f"again{suffix}", [cases, zero, fixed])
    rows, rejects = replay(again, state, max_ahead="0", item_master=master)
    assert [(r["sku"], r["sellable"], r["version"]) for r in rows] == [("SKU-1", 24 + 3, 2)]
    assert sorted(r["reason"] for r in rejects) == ["bad_quantity", "unknown_uom"]  # nothing reported twice

    rows, rejects = replay(again, state, max_ahead="0", item_master=master)  # the whole file once more
    assert [(r["sku"], r["sellable"], r["version"]) for r in rows] == [("SKU-1", 27, 2)]
    assert len(rejects) == 2


def test_redrive_applies_a_fixed_dead_letter_once(tmp_path: Path) -> None:
    """`skuflow redrive`: dry run, then the re-drive once the item master has its row, then
    again (nothing more is applied), through the real CLI."""
    state = tmp_path / "state"
    events = [
        receipt(1, "SKU-1", "WH-A", 5),
        {**receipt(2, "SKU-1", "WH-A", 2), "uom": "CS"},  # unknown_uom until the item master has CS
        receipt(3, " ", "WH-A", 1),  # missing_key: a re-drive cannot fix it
        "not json",
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    skuflow("replay", str(path), "--state-dir", str(state), "--max-ahead", "0")

    dry = skuflow("redrive", "--state-dir", str(state), "--dry-run", "--max-ahead", "0").stderr
    assert "2 dead-lettered events to re-drive (not an event 1 skipped): 0 valid now" in dry, dry
    assert "rejected again: missing_key 1, unknown_uom 1" in dry, dry

    master = tmp_path / "items.csv"
    master.write_text("sku,uom,factor\nSKU-1,CS,12\n")
    args = ["redrive", "--state-dir", str(state), "--item-master", str(master), "--max-ahead", "0"]
    first = skuflow(*args, "--reason", "unknown_uom").stderr
    assert "1 dead-lettered events to re-drive" in first and "1 valid now" in first, first
    assert ": 1 postings applied, 0 already applied or already reported, new exceptions: none" in first, first
    rows = [json.loads(line) for line in skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines()]
    assert [(r["sku"], r["sellable"], r["version"]) for r in rows] == [("SKU-1", 5 + 24, 2)]

    second = skuflow(*args).stderr  # every reason: the applied one is a duplicate now, missing_key again
    assert ": 0 postings applied, 2 already applied or already reported, new exceptions: none" in second, second
    rows = [json.loads(line) for line in skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines()]
    assert [(r["sku"], r["sellable"], r["version"]) for r in rows] == [("SKU-1", 29, 2)]
    assert len((state / "exceptions.jsonl").read_text().splitlines()) == 3  # nothing reported twice
