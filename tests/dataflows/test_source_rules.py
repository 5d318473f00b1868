"""Authoritative sources through the real dataflow, JSON lines and Avro files (the native
decoder) alike: a marketplace's CYCLE_COUNT is `unauthorized_source` with its payload and
changes nothing, the warehouse's is applied; a transfer from a wrong source is rejected once
and lands on neither key; mode flag applies and reports an anomaly; and a re-send after the
policy allows the source is applied (only an accepted event makes its id seen)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

import schemas
from connectors.files import EventFileSource
from connectors.policy_file import parse_policy
from dataflows.config import FlowConfig
from dataflows.runner import run
from operators.policy import Policy
from serving.store import StoreReader
from tests.dataflows.test_hostile_inputs import receipt
from tests.helpers import read_jsonl

POLICY = """version: p1
channels:
  b2b: {}
sources:
  - events: [RECEIPT, CYCLE_COUNT, TRANSFER_SHIPPED]
    locations: [WH-*]
    systems: [WMS]
  - events: [ADJUSTMENT]
    systems: [WMS, RETURNS]
    mode: flag
"""


def _event(i: int, event_type: str, location: str, qty: int, system: str, **extra: Any) -> dict[str, Any]:
    return {**receipt(i, "SKU-1", location, qty), "event_type": event_type, "source_system": system, **extra}


def _write(path: Path, events: list[dict[str, Any]]) -> None:
    if path.suffix == ".avro":
        schema = fastavro.parse_schema(schemas.load(schemas.INVENTORY_EVENT))
        rows = [{"uom": "EA", **e} for e in events]
        with open(path, "wb") as f:
            fastavro.writer(f, schema, rows)
    else:
        path.write_text("".join(json.dumps(e) + "\n" for e in events))


def _replay(path: Path, state: Path, policy: Policy) -> None:
    run(EventFileSource(path), FlowConfig(state_dir=state, max_ahead="0"), policy=policy)


def _on_hand(state: Path) -> dict[tuple[str, str], int]:
    reader = StoreReader(state / "store")
    try:
        rows = [json.loads(b) for b in reader.scan()]
    finally:
        reader.close()
    return {(r["sku"], r["location"]): r["on_hand"] for r in rows}


@pytest.mark.parametrize("suffix", [".jsonl", ".avro"])
def test_only_authoritative_sources_change_stock(tmp_path: Path, suffix: str) -> None:
    policy = parse_policy(POLICY)
    state = tmp_path / "state"
    events = [
        _event(1, "RECEIPT", "WH-EAST", 100, "WMS"),
        _event(2, "CYCLE_COUNT", "WH-EAST", 999, "MARKETPLACE"),  # not the warehouse's count
        _event(3, "CYCLE_COUNT", "WH-EAST", 90, "WMS"),
        _event(4, "TRANSFER_SHIPPED", "WH-EAST", 10, "OMS", counterpart_location="WH-WEST"),
        _event(5, "ADJUSTMENT", "WH-EAST", -5, "ERP", reason="shrink"),  # flagged: applied
        _event(6, "RECEIPT", "STORE-1", 7, "MARKETPLACE"),  # no rule covers it: accepted
    ]
    path = tmp_path / f"events{suffix}"
    _write(path, events)
    _replay(path, state, policy)
    assert _on_hand(state) == {("SKU-1", "WH-EAST"): 85, ("SKU-1", "STORE-1"): 7}  # nothing at WH-WEST
    rejected = read_jsonl(state / "exceptions.jsonl")
    assert [(r["reason"], r["event_id"], r["payload"]["location"]) for r in rejected] == [
        ("unauthorized_source", "e-2", "WH-EAST"),
        ("unauthorized_source", "e-4", "WH-EAST"),
    ]
    assert rejected[0]["detail"] == (
        "MARKETPLACE is not an authoritative source of CYCLE_COUNT at WH-EAST (sources rule 1 allows WMS)"
    )
    assert rejected[0]["payload"]["quantity"] == 999 and rejected[0]["payload"]["source_system"] == "MARKETPLACE"
    flagged = [a for a in read_jsonl(state / "anomalies.jsonl") if a["reason"] == "unauthorized_source"]
    assert [(a["event_id"], a["status"], a["location"]) for a in flagged] == [("e-5", "open", "WH-EAST")]

    # sent again: duplicates; once the policy makes MARKETPLACE authoritative, the re-send is applied
    _replay(path, state, policy)
    assert len(read_jsonl(state / "exceptions.jsonl")) == 2
    relaxed = parse_policy(POLICY.replace("systems: [WMS]\n", "systems: [WMS, MARKETPLACE, OMS]\n", 1))
    again = tmp_path / f"again{suffix}"
    _write(again, [events[3]])
    _replay(again, state, relaxed)
    assert _on_hand(state)[("SKU-1", "WH-EAST")] == 75  # the transfer shipped 10
    assert ("SKU-1", "WH-WEST") in _on_hand(state)  # and is in transit to WH-WEST
    assert len(read_jsonl(state / "exceptions.jsonl")) == 2
