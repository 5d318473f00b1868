"""Reconciliation through the real dataflow: a balance snapshot's record, judged by the
policy's closest-fitting tolerance, and its re-check (a higher version) when a late event
lands before it; a mistake in the policy's reconciliation section is `file:line: what`."""

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
    policy.write_text(POLICY + "  - {source: WMS, mode: adopt}\n")
    with pytest.raises(PolicyError, match=r"policy.yaml:7: reconciliation.2.mode: Input should be .report."):
        load_policy(policy)
