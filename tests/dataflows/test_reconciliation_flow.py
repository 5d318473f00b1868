"""Reconciliation and anomalies through the real dataflow: a balance snapshot's record, judged
by the policy's closest-fitting tolerance, and its re-check (a higher version) when a late
event lands before it; an adopted one correcting the bucket; an anomaly found, then cleared
by a late event; a mistake in the policy's reconciliation section is `file:line: what`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.files import EventFileSource
from connectors.policy_file import PolicyError, load_policy
from dataflows.config import FlowConfig
from dataflows.runner import run
from serving.store import StoreReader
from tests.dataflows.test_hostile_inputs import receipt
from tests.helpers import read_jsonl

POLICY = """version: p1
channels:
  b2b: {}
reconciliation:
  - {source: ERP, tolerance_units: 2}
  - {location: WH-B, source: ERP, tolerance_percent: 10}
  - {location: WH-C, source: ERP, mode: adopt}
"""


def _balance(i: int, location: str, quantity: int, at: int, status: str | None = None) -> dict[str, object]:
    return {
        **receipt(i, "SKU-1", location, quantity, occurred_at=at),
        "event_type": "BALANCE_SNAPSHOT",
        "source_system": "ERP",
        "status": status,
        "correlation_id": f"erp-{i}",
    }


def replay(path: Path, state: Path, policy: Path) -> None:
    run(EventFileSource(path), FlowConfig(state_dir=state, max_ahead="0"), policy=load_policy(policy))


def test_balance_snapshots_are_reconciled_and_rechecked_after_a_late_event(tmp_path: Path) -> None:
    t = 1_780_000_000_000
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    first = [
        receipt(1, "SKU-1", "WH-A", 95, occurred_at=t),
        receipt(2, "SKU-1", "WH-B", 100, occurred_at=t),
        _balance(3, "WH-A", 97, t + 1000),  # off by 2: within 2 units
        _balance(4, "WH-B", 91, t + 1000),  # off by 9: within 10 %
        _balance(5, "WH-A", 90, t + 2000, "SELLABLE"),  # off by 5: divergent
    ]
    path = tmp_path / "first.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in first))
    replay(path, tmp_path / "state", policy)
    records = read_jsonl(tmp_path / "state" / "reconciliation.jsonl")
    got = {r["event_id"]: (r["bucket"], r["reported"], r["computed"], r["delta"], r["status"]) for r in records}
    assert got == {
        "e-3": ("on_hand", 97, 95, 2, "match"),
        "e-4": ("on_hand", 91, 100, -9, "match"),
        "e-5": ("sellable", 90, 95, -5, "divergent"),
    }
    assert {r["correlation_id"] for r in records} == {"erp-3", "erp-4", "erp-5"}

    late = tmp_path / "late.jsonl"  # a receipt dated before both WH-A snapshots
    late.write_text(json.dumps(receipt(6, "SKU-1", "WH-A", 3, occurred_at=t + 500)) + "\n")
    replay(late, tmp_path / "state", policy)
    records = read_jsonl(tmp_path / "state" / "reconciliation.jsonl")
    newest: dict[str, dict[str, object]] = {}
    for r in records:
        if r["event_id"] not in newest or r["version"] > newest[r["event_id"]]["version"]:  # type: ignore[operator]
            newest[r["event_id"]] = r
    assert {k: (v["computed"], v["status"]) for k, v in newest.items()} == {
        "e-3": (98, "match"),
        "e-4": (100, "match"),
        "e-5": (98, "divergent"),
    }
    assert len(records) == 5  # the two WH-A snapshots were checked again; WH-B's was not
    reader = StoreReader(tmp_path / "state" / "store")  # what the API serves: each snapshot's latest
    try:
        stored = [json.loads(b) for b in reader.reconciliation("SKU-1", "WH-A")]
    finally:
        reader.close()
    assert [(r["event_id"], r["computed"], r["version"]) for r in stored] == [("e-3", 98, 4), ("e-5", 98, 4)]


def test_a_reconciliation_mistake_names_its_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY + "  - {source: WMS, mode: overwrite}\n")
    with pytest.raises(PolicyError, match=r"policy.yaml:8: reconciliation.3.mode: Input should be .report. or .adopt."):
        load_policy(policy)


def _stored(state: Path, read: str) -> list[dict[str, object]]:
    reader = StoreReader(state / "store")
    try:
        return [json.loads(b) for b in getattr(reader, read)("SKU-1", "WH-C")]
    finally:
        reader.close()


def test_an_adopted_balance_corrects_the_bucket_and_anomalies_clear_when_late_events_land(tmp_path: Path) -> None:
    t = 1_780_000_000_000
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    ship = {**receipt(3, "SKU-1", "WH-C", 5, occurred_at=t + 2000), "event_type": "SHIPMENT_CONFIRMED"}
    first = [
        receipt(1, "SKU-1", "WH-C", 95, occurred_at=t),
        _balance(2, "WH-C", 50, t + 1000),  # the ERP says 50: adopted, sellable becomes 50
        {**ship, "order_id": "O-1"},  # nothing picked: over_ship, picked -5
    ]
    path = tmp_path / "first.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in first))
    state = tmp_path / "state"
    replay(path, state, policy)
    (record,) = read_jsonl(state / "reconciliation.jsonl")
    assert (record["reported"], record["computed"], record["delta"], record["status"]) == (50, 95, -45, "adopted")
    (snapshot,) = [r for r in read_jsonl(state / "changes.jsonl") if r["version"] == 3]
    assert (snapshot["after"]["sellable"], snapshot["after"]["picked"]) == (50, -5)
    found = {(a["event_id"], a["reason"]): a["status"] for a in read_jsonl(state / "anomalies.jsonl")}
    assert found == {("e-3", "negative_bucket"): "open", ("e-3", "over_ship"): "open"}

    late = tmp_path / "late.jsonl"  # a reservation and its pick, dated before the balance
    pick = {**receipt(5, "SKU-1", "WH-C", 5, occurred_at=t + 600), "event_type": "PICK_CONFIRMED", "order_id": "O-1"}
    reserve = {**receipt(4, "SKU-1", "WH-C", 5, occurred_at=t + 500), "event_type": "RESERVATION_CREATED"}
    late.write_text(json.dumps({**reserve, "order_id": "O-1", "channel": "b2b"}) + "\n" + json.dumps(pick) + "\n")
    replay(late, state, policy)
    stored = {(a["event_id"], a["reason"]): (a["status"], a["version"]) for a in _stored(state, "anomalies_of")}
    assert stored == {("e-3", "negative_bucket"): ("cleared", 5), ("e-3", "over_ship"): ("cleared", 5)}
    (check,) = _stored(state, "reconciliation")
    assert (check["computed"], check["delta"], check["status"], check["version"]) == (95, -45, "adopted", 5)
    changes = read_jsonl(state / "changes.jsonl")
    # the pick moved 5 of the 95 to picked; on hand 95 adopted as 50 moved sellable to 45; the shipment took the 5
    assert (changes[-1]["after"]["sellable"], changes[-1]["after"]["picked"], changes[-1]["after"]["on_hand"]) == (
        45,
        0,
        45,
    )
