"""The RocksDB store, for real: versions only go forward, readers follow the writer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from serving.exceptions import StoreError
from serving.store import CHANGES_KEPT, StoreReader, StoreWriter


def snap(sku: str, location: str, version: int, sellable: int = 1) -> dict[str, Any]:
    return {"sku": sku, "location": location, "sellable": sellable, "version": version}


def test_reader_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no snapshot store"):
        StoreReader(tmp_path / "missing")


def test_highest_version_wins_even_when_older_ones_arrive_later(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path)
    assert writer.put_snapshots([snap("A", "L1", 3, sellable=30), snap("A", "L1", 2, sellable=20)]) == 1
    assert writer.put_snapshots([snap("A", "L1", 1, sellable=10)]) == 0  # a replay after a restart
    assert writer.put_snapshots([snap("A", "L1", 4, sellable=40)]) == 1
    reader = StoreReader(tmp_path)
    body = reader.get("A", "L1")
    assert body is not None and json.loads(body)["sellable"] == 40
    reader.close()
    writer.close()


def test_reader_sees_new_writes_within_100ms(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path)
    writer.put_snapshots([snap("A", "L1", 1)])
    reader = StoreReader(tmp_path)
    assert reader.get("B", "L1") is None
    worst = 0.0
    for i in range(20):
        writer.put_snapshots([snap("B", f"L{i}", 1)])
        start = time.monotonic()
        while reader.get("B", f"L{i}") is None:
            assert time.monotonic() - start < 1.0, "a reader never saw the write"
            time.sleep(0.001)
        worst = max(worst, time.monotonic() - start)
    assert worst < 0.1, f"slowest write took {worst * 1000:.0f} ms to become visible"
    reader.close()
    writer.close()


def test_a_reader_beside_the_writer_sees_each_write_at_once_and_leaves_it_open(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path)
    reader = StoreReader.beside(writer)
    for i in range(20):
        writer.put_snapshots([snap("B", f"L{i}", 1, sellable=i)])
        body = reader.get("B", f"L{i}")  # no catch-up, no wait: the same database
        assert body is not None and json.loads(body)["sellable"] == i
    reader.close()
    assert writer.put_snapshots([snap("B", "L0", 2)]) == 1  # still the writer's, still open
    writer.close()


def test_sku_listing_pages_in_order_without_prefix_confusion(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path)
    skus = ["SKU-1", "SKU-1A", "SKU-10", "SKU-2", "SKU-1|X"]
    writer.put_snapshots([snap(s, loc, 1) for s in skus for loc in ("L1", "L2")])
    reader = StoreReader(tmp_path)
    assert reader.skus(None, 100) == sorted(skus)
    pages, after = [], None
    while True:
        page = reader.skus(after, 2)
        if not page:
            break
        pages.append(page)
        after = page[-1]
    assert [sku for page in pages for sku in page] == sorted(skus)
    assert [json.loads(b)["location"] for b in reader.locations("SKU-1")] == ["L1", "L2"]
    assert len(list(reader.scan())) == 10
    reader.close()
    writer.close()


def _change(version: int, count: int = 1, location: str = "WH-A") -> dict[str, Any]:
    return {"sku": "SKU-1", "location": location, "version": version, "cause_count": count, "after": {}}


def test_the_store_keeps_each_keys_newest_changes(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "store")
    writer.put_changes([_change(v) for v in range(1, 2001)])
    writer.put_changes([_change(2100, count=100), _change(7, location="WH-A2")])  # a key sharing a prefix
    reader = StoreReader.beside(writer)
    versions = [json.loads(b)["version"] for b in reader.changes("SKU-1", "WH-A", 0, 5000)]
    # pruned when versions cross a multiple of 64: last at 2100 (from 2001), to 2100 - 1024
    assert versions == [*range(2100 - CHANGES_KEPT, 2001), 2100]
    assert [json.loads(b)["version"] for b in reader.changes("SKU-1", "WH-A", 1999, 2)] == [2000, 2100]
    assert [json.loads(b)["version"] for b in reader.changes("SKU-1", "WH-A2", 0, 10)] == [7]
    writer.close()


def test_anomalies_page_in_key_event_reason_order_and_keep_the_highest_version(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "store")
    rows = [
        {"sku": s, "location": "WH-A", "event_id": e, "reason": r, "version": v, "status": "open"}
        for s in ("S1", "S2")
        for e in ("e1", "e2")
        for r, v in (("over_ship", 3), ("negative_bucket", 3))
    ]
    writer.put_anomalies(rows)
    writer.put_anomalies([{**rows[0], "version": 2, "status": "cleared"}])  # older: ignored
    reader = StoreReader.beside(writer)
    page, last = reader.anomalies(None, 3, lambda r: True)
    assert [(json.loads(b)["sku"], json.loads(b)["event_id"], json.loads(b)["reason"]) for b in page] == [
        ("S1", "e1", "negative_bucket"),
        ("S1", "e1", "over_ship"),
        ("S1", "e2", "negative_bucket"),
    ]
    rest, end = reader.anomalies(last, 100, lambda r: True)
    assert len(rest) == 5 and end is None
    assert all(json.loads(b)["status"] == "open" for b in page + rest)
    writer.close()


def test_a_rejection_redelivered_is_stored_once_even_after_a_restart(tmp_path: Path) -> None:
    """A flow replaying after a crash re-sends the rejections since its last snapshot: the
    store keeps each once. The same payload rejected from another input line is another one."""
    from operators.rejects import Reason
    from tests.serving.test_api_schema import _rejected

    first = [_rejected(Reason.UNKNOWN_UOM, {"source_system": "WMS", "n": i}) for i in range(3)]
    writer = StoreWriter(tmp_path)
    assert writer.put_exceptions(first) == 3
    assert writer.put_exceptions(first[1:]) == 0
    writer.close()
    writer = StoreWriter(tmp_path)
    again = {**first[0], "origin": "t.jsonl:2"}
    assert writer.put_exceptions([*first, again]) == 1
    writer.close()
    reader = StoreReader(tmp_path)
    records, _ = reader.exceptions(None, 10, lambda _: True)
    assert [(json.loads(r)["origin"], json.loads(json.loads(r)["payload_json"])["n"]) for r in records] == [
        ("t.jsonl:2", 0),
        ("t.jsonl:1", 2),
        ("t.jsonl:1", 1),
        ("t.jsonl:1", 0),
    ]
    reader.close()
