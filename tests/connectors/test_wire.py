"""Avro on the wire: both framings, older writer schemas, and garbage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import schemas
from connectors.wire import AvroWire, WireError
from tests.helpers import GOLDEN, read_jsonl
from tests.support.registry import SchemaRegistry

EVENT = read_jsonl(GOLDEN / "small" / "events.jsonl")[2]


def test_single_object_round_trip_needs_no_registry() -> None:
    wire = AvroWire(schemas.INVENTORY_EVENT)
    data = wire.encode_single_object(EVENT)
    assert data[:2] == b"\xc3\x01"
    back = wire.decode(data)
    assert back["event_id"] == EVENT["event_id"] and back["lot_id"] is None
    assert back["occurred_at"] == EVENT["occurred_at"]  # epoch millis, as on the wire


def test_confluent_framing_through_a_registry() -> None:
    with SchemaRegistry() as registry:
        producer = AvroWire(schemas.INVENTORY_EVENT, registry.url)
        data = producer.encode_confluent(dict(EVENT, lot_id="LOT-7"), "inventory.events.v1-value")
        assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
        consumer = AvroWire(schemas.INVENTORY_EVENT, registry.url)  # a fresh cache: asks the registry
        assert consumer.shipped_writer(data) is None  # its id is not resolved yet
        assert consumer.decode(data)["lot_id"] == "LOT-7"
        assert consumer.shipped_writer(data) == (consumer._decoder, 5)  # the current version: native from now on


def test_older_schema_version_resolves_against_the_current_one() -> None:
    v1 = schemas.versions(schemas.INVENTORY_EVENT)[0]
    assert v1["skuflow.version"] == 1 and "lot_id" not in {f["name"] for f in v1["fields"]}
    wire = AvroWire(schemas.INVENTORY_EVENT)
    old = {k: v for k, v in EVENT.items() if k != "lot_id"}
    data = wire.encode_single_object(old, schema=v1)
    assert data != wire.encode_single_object(EVENT)  # another fingerprint
    back = wire.decode(data)
    assert back["event_id"] == EVENT["event_id"] and back["lot_id"] is None  # v2's default


def test_the_same_old_version_through_the_registry(tmp_path: Path) -> None:
    v1 = schemas.versions(schemas.INVENTORY_EVENT)[0]
    with SchemaRegistry() as registry:
        registry.schemas.append(json.dumps(v1))  # id 1: a producer still on v1
        import io

        import fastavro

        buf = io.BytesIO()
        buf.write(b"\x00" + (1).to_bytes(4, "big"))
        fastavro.schemaless_writer(buf, fastavro.parse_schema(v1), {k: v for k, v in EVENT.items() if k != "lot_id"})
        assert AvroWire(schemas.INVENTORY_EVENT, registry.url).decode(buf.getvalue())["lot_id"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "framing"),
        (b'{"event_id": "x"}', "framing"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown schema fingerprint"),
        (b"\x00\x00\x00\x00\x07\x02", "no --schema-registry"),
    ],
)
def test_garbage_is_a_wire_error(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        AvroWire(schemas.INVENTORY_EVENT).decode(data)


def test_truncated_or_padded_bodies_are_wire_errors() -> None:
    wire = AvroWire(schemas.INVENTORY_EVENT)
    good = wire.encode_single_object(EVENT)
    for bad in (good[:-5], good + b"\x00\x01"):
        with pytest.raises(WireError):
            wire.decode(bad)


def test_unknown_registry_id_is_a_wire_error() -> None:
    with SchemaRegistry() as registry, pytest.raises(WireError, match="not resolved"):
        AvroWire(schemas.INVENTORY_EVENT, registry.url).decode(b"\x00\x00\x00\x00\x09\x02")


_RECONCILED = {
    "event_id": "b-1",
    "sku": "SKU-1",
    "location": "WH-A",
    "source_system": "ERP",
    "bucket": "on_hand",
    "reported": 50,
    "computed": 95,
    "delta": -45,
    "status": "divergent",
    "tolerance": "0 units or 0%",
    "as_of": 1_780_000_000_000,
    "version": 3,
    "correlation_id": None,
}
_ANOMALY = {
    "event_id": "e-1",
    "reason": "oversold",
    "sku": "SKU-1",
    "location": "WH-A",
    "event_type": "RESERVATION_CREATED",
    "subject": "available",
    "figure": -3,
    "quantity": 5,
    "detail": "open reservations exceed sellable by 3",
    "before": {"sellable": 2, "reserved": 0, "picked": 0, "quarantine": 0, "damaged": 0, "in_transit": 0},
    "after": {"sellable": 2, "reserved": 5, "picked": 0, "quarantine": 0, "damaged": 0, "in_transit": 0},
    "status": "open",
    "as_of": 1_780_000_000_000,
    "version": 1,
}


@pytest.mark.parametrize(
    ("name", "record", "added"),
    [
        (schemas.RECONCILIATION_RECORD, _RECONCILED, {"status": "adopted"}),  # v2 added the `adopted` status
        (schemas.ANOMALY_RECORD, _ANOMALY, {"reason": "unauthorized_source", "subject": "source_system"}),
    ],
)
def test_a_record_of_v1_reads_under_v2(name: str, record: dict[str, Any], added: dict[str, Any]) -> None:
    """Records written before a symbol was added still read (a replica that upgrades
    mid-topic), and the new version's own records round-trip."""
    v1 = schemas.versions(name)[0]
    assert v1["skuflow.version"] == 1 and schemas.load(name)["skuflow.version"] == 2
    wire = AvroWire(name)
    assert wire.decode(wire.encode_single_object(record, schema=v1)) == record
    new = {**record, **added}
    assert wire.decode(wire.encode_single_object(new)) == new
