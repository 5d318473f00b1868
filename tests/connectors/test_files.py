"""File edges: sources resume after the last record read, sinks cut back to the last snapshot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

import schemas
from connectors.avro import parsed, rejected_record, write_events
from connectors.avro_records import AvroRecords
from connectors.files import EventFileSource, RecordFileSink
from operators import Reason, Rejection
from tests.helpers import GOLDEN, drain, read_jsonl


def records(batch: list[Any]) -> list[tuple[Any, str]]:
    """One (payload, origin) per record: a run of Avro records stands for `count` of them."""
    out: list[tuple[Any, str]] = []
    for payload, origin in batch:
        if isinstance(payload, AvroRecords):
            out.extend((payload, f"{payload.name}#{payload.first + i}") for i in range(payload.count))
        else:
            out.append((payload, origin))
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "avro"])
def test_source_resumes_after_the_last_record(tmp_path: Path, fmt: str) -> None:
    rows = read_jsonl(GOLDEN / "small" / "events.jsonl")
    path = tmp_path / f"events.{fmt}"
    if fmt == "avro":
        write_events(path, rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = EventFileSource(path, batch_size=100)
    part = source.build_part("in", "events", None)
    first = records(part.next_batch() + part.next_batch())
    state = part.snapshot()
    rest = records(drain(source.build_part("in", "events", state)))
    assert len(first) == 200 and len(rest) == len(rows) - 200
    origins = [origin for _, origin in first + rest]
    assert origins == [origin for _, origin in records(drain(source.build_part("in", "events", None)))]
    # Another file under the same recovery state starts from its beginning.
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(rows[0]) + "\n")
    assert len(records(drain(EventFileSource(other).build_part("in", "events", state)))) == 1


def test_json_lines_sink_cuts_back_to_the_snapshot(tmp_path: Path) -> None:
    sink = RecordFileSink("out", tmp_path / "out.jsonl", lambda v: {"v": v})
    part = sink.build_part("out", "out", None)
    part.write_batch([1, 2])
    state = part.snapshot()
    part.write_batch([3])  # written after the snapshot: lost in a crash, written again on resume
    part.close()
    part = sink.build_part("out", "out", state)
    part.write_batch([3, 4])
    part.close()
    assert [r["v"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1, 2, 3, 4]


def test_avro_sink_cuts_back_to_the_snapshot(tmp_path: Path) -> None:
    def rec(v: int) -> dict[str, object]:
        return {
            "sku": "S",
            "location": "L",
            "sellable": v,
            "reserved": 0,
            "picked": 0,
            "quarantine": 0,
            "damaged": 0,
            "in_transit": 0,
            "on_hand": v,
            "available": v,
            "version": v,
            "as_of": 0,
            "last_event_id": "e",
            "correlation_ids": [],
        }

    sink = RecordFileSink("out", tmp_path / "out.avro", rec, schemas.AVAILABILITY_SNAPSHOT)
    part = sink.build_part("out", "out", None)
    part.write_batch([1, 2])
    state = part.snapshot()
    part.write_batch([3])
    part.close()
    part = sink.build_part("out", "out", state)
    part.write_batch([3, 4])
    part.close()
    with open(tmp_path / "out.avro", "rb") as f:
        assert [r["version"] for r in fastavro.reader(f)] == [1, 2, 3, 4]


def test_rejected_event_record_is_valid_avro() -> None:
    for payload in ({"event_id": "e", "quantity": 0}, b"\x00\x01garbage", "not json"):
        record = rejected_record(Rejection(Reason.UNDECODABLE, "why", payload, origin="t/0@1"))
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed(schemas.REJECTED_EVENT), record)
        buf.seek(0)
        back = fastavro.schemaless_reader(buf, parsed(schemas.REJECTED_EVENT))
        assert back["reason"] == "undecodable" and back["origin"] == "t/0@1"
        assert (back["payload_bytes"] == payload) if isinstance(payload, bytes) else back["payload_json"]
