"""The Bytewax dataflow itself: arrival order, input format, workers and restarts
do not change the result."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from connectors.avro import write_events
from connectors.files import BATCH, EventFileSource
from dataflows.config import FlowConfig
from dataflows.runner import run
from serving.store import StoreReader
from tests.helpers import GOLDEN, assert_matches_expected, read_jsonl

MEDIUM = GOLDEN / "medium"


def events() -> list[dict[str, Any]]:
    return read_jsonl(MEDIUM / "events.jsonl")


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with open(path, "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def replay(path: Path, state: Path, batch_size: int = BATCH, **config: Any) -> list[dict[str, Any]]:
    cfg = FlowConfig(state_dir=state, item_master=MEDIUM / "item_master.csv", **config)
    run(EventFileSource(path, batch_size=batch_size), cfg)
    reader = StoreReader(cfg.store_dir)
    try:
        return [json.loads(b) for b in reader.scan()]
    finally:
        reader.close()


def expected() -> list[dict[str, Any]]:
    return read_jsonl(MEDIUM / "expected_snapshots.jsonl")


@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_with_extra_duplicates_gives_the_golden_result(tmp_path: Path, seed: int) -> None:
    rows = events()
    rng = random.Random(seed)
    rows += rng.sample(rows, 500)
    rng.shuffle(rows)
    got = replay(write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "state")
    assert_matches_expected(got, expected())
    versions = {(r["sku"], r["location"]): r["version"] for r in got}
    baseline = {(r["sku"], r["location"]): r["version"] for r in replay(MEDIUM / "events.jsonl", tmp_path / "s2")}
    assert versions == baseline  # versions do not depend on arrival order


def test_avro_container_input_equals_json_lines(tmp_path: Path) -> None:
    rows = [r for r in events() if r["event_type"] and r["sku"] is not None]
    write_events(tmp_path / "in.avro", rows)
    got = replay(tmp_path / "in.avro", tmp_path / "state")
    assert_matches_expected(got, expected())
    rejects = read_jsonl(tmp_path / "state" / "exceptions.jsonl")
    assert sorted((r["event_id"], r["reason"]) for r in rejects) == sorted(
        (r["event_id"], r["reason"]) for r in read_jsonl(MEDIUM / "expected_rejects.jsonl")
    )


def test_garbage_goes_to_exceptions_and_the_flow_keeps_going(tmp_path: Path) -> None:
    rows: list[Any] = events()
    rows[10:10] = ["{not json", "[1, 2]", '{"event_id": "x"}', "\u00ff\u00fe garbage"]
    got = replay(write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "state")
    assert_matches_expected(got, expected())
    undecodable = [r for r in read_jsonl(tmp_path / "state" / "exceptions.jsonl") if r["reason"] == "undecodable"]
    assert [r["payload"] for r in undecodable] == ["{not json", [1, 2], {"event_id": "x"}, "\u00ff\u00fe garbage"]
    assert all(r["origin"].startswith("in.jsonl:") for r in undecodable)


def test_two_workers_give_the_single_worker_result(tmp_path: Path) -> None:
    got = replay(MEDIUM / "events.jsonl", tmp_path / "state", workers=2)
    assert_matches_expected(got, expected())


def test_replay_is_resumable_and_idempotent(tmp_path: Path) -> None:
    rows = events()
    half = len(rows) // 2
    state = tmp_path / "state"
    replay(write_jsonl(tmp_path / "part1.jsonl", rows[:half]), state)
    replay(write_jsonl(tmp_path / "part2.jsonl", rows[half:]), state)  # continues the same state
    got = replay(tmp_path / "part2.jsonl", state)  # the same file again: nothing counted twice
    assert_matches_expected(got, expected())
    assert len(read_jsonl(state / "exceptions.jsonl")) == len(read_jsonl(MEDIUM / "expected_rejects.jsonl"))


CHANGE_FIELDS = ("sku", "location", "version", "before", "after", "cause_event_ids", "cause_count")
CHANGE_FIELDS += ("correlation_ids", "as_of", "emitted_at")


def _after(change: dict[str, Any]) -> dict[str, Any]:
    """A change as the snapshot it made."""
    return {"sku": change["sku"], "location": change["location"], "version": change["version"], **change["after"]}


def test_the_change_log_holds_every_change_and_ends_at_the_final_state(tmp_path: Path) -> None:
    replay(MEDIUM / "events.jsonl", tmp_path / "state", batch_size=64)  # small batches: many changes per key
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    events: dict[tuple[str, str], int] = {}
    for row in read_jsonl(tmp_path / "state" / "changes.jsonl"):
        key = (row["sku"], row["location"])
        held = latest.get(key)
        if held is None:
            assert all(v == 0 for v in row["before"].values())
        else:
            assert row["version"] > held["version"]  # versions only grow per key
            assert row["before"] == held["after"]  # each change starts where the last one ended
        assert row["version"] - (held["version"] if held else 0) == row["cause_count"] == len(row["cause_event_ids"])
        assert set(row) == {*CHANGE_FIELDS}
        events[key] = events.get(key, 0) + row["cause_count"]
        latest[key] = row
    assert_matches_expected([_after(c) for c in latest.values()], expected())
    assert all(events[k] == c["version"] for k, c in latest.items())  # every applied event named once


def test_avro_change_log(tmp_path: Path) -> None:
    import fastavro

    replay(MEDIUM / "events.jsonl", tmp_path / "state", changes_format="avro")
    with open(tmp_path / "state" / "changes.avro", "rb") as f:
        rows = list(fastavro.reader(f))
    latest = {(r["sku"], r["location"]): r for r in rows}
    for r in latest.values():
        r["as_of"] = int(r["as_of"].timestamp() * 1000)
    assert_matches_expected([_after(c) for c in latest.values()], expected())
