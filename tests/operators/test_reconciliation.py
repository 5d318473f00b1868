"""Reconciliation at the balance snapshot's position in event order: whatever the arrival
order, duplication and batching, the check with the highest version per balance snapshot
compares its figure with the oracle's state just before it in the sorted log (the native
ledger, the one the dataflow runs; `test_native_ledger` holds it to `KeyLedger`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from operators import EMPTY, EventType, apply
from operators.ledger import NativeLedgers
from operators.reconciliation import BUCKET_OF_STATUS, BalanceCheck, Bucket, Tolerance, verdict
from tests.operators.strategies import native_outcomes, routed, shuffled_batches, sorted_postings, valid_log

Expected = dict[tuple[tuple[str, str], str], tuple[Bucket, int, int, bool]]


def _expected(log: list[dict[str, Any]]) -> tuple[Expected, dict[tuple[str, str], Any]]:
    """(key, event_id) of every balance snapshot -> (bucket, reported, the sorted fold's figure
    there, adopted), and each key's final state (adopted snapshots set their bucket)."""
    states: dict[tuple[str, str], Any] = defaultdict(lambda: EMPTY)
    out = {}
    for p in sorted_postings(log):
        e, state = p.event, states[p.key]
        if e.event_type is EventType.BALANCE_SNAPSHOT:
            bucket = BUCKET_OF_STATUS[e.status]
            figure = state.on_hand if bucket is Bucket.ON_HAND else getattr(state, bucket.value)
            out[(p.key, e.event_id)] = (bucket, e.base_qty, figure, p.adopt)
        states[p.key] = apply(state, p)
    return out, states


@settings(max_examples=300, deadline=None)
@given(data=st.data(), log=valid_log(max_size=60))
def test_the_last_check_of_each_balance_snapshot_is_the_sorted_folds(data: Any, log: list[dict[str, Any]]) -> None:
    last: dict[tuple[tuple[str, str], str], BalanceCheck] = {}
    ledgers = {}
    for ledger, outcome in native_outcomes(shuffled_batches(data, log)):
        where = (ledger.snapshot().sku, ledger.snapshot().location)
        ledgers[where] = ledger
        for check in outcome.checks:
            held = last.get((where, check.event_id))
            assert held is None or check.version > held.version  # each re-check is a newer version
            last[(where, check.event_id)] = check
    expected, finals = _expected(log)
    event(f"{len(expected)} balance snapshots, {sum(a for *_, a in expected.values())} adopted")
    assert last.keys() == expected.keys()
    for where, check in last.items():
        assert (check.bucket, check.reported, check.computed, check.adopted) == expected[where], where
    for ledger in ledgers.values():  # adopting gives the sorted log's state whatever the order
        state = finals[(ledger.snapshot().sku, ledger.snapshot().location)]
        assert ledger.snapshot()[2:8] == state[:6]


def test_a_verdict_says_match_within_the_tolerance() -> None:
    check = BalanceCheck("b-1", "ERP", "c-1", Bucket.ON_HAND, 50, 95, 1_780_000_000_000, 7)
    record = verdict(check, "SKU-1", "WH-A")
    assert (record.delta, record.status, record.tolerance) == (-45, "divergent", "0 units or 0%")
    assert verdict(check, "SKU-1", "WH-A", Tolerance(units=45)).status == "match"
    assert verdict(check, "SKU-1", "WH-A", Tolerance(percent=40)).status == "divergent"  # 38 units
    assert verdict(check, "SKU-1", "WH-A", Tolerance(percent=50)).status == "match"
    adopted = check._replace(adopted=True)
    assert verdict(adopted, "SKU-1", "WH-A", Tolerance(units=45)).status == "adopted"  # the fold took it
    assert verdict(adopted._replace(reported=95), "SKU-1", "WH-A").status == "match"


def test_an_adopted_on_hand_moves_sellable() -> None:
    natives = NativeLedgers()
    ledger = natives.new("SKU-1", "WH-B")
    base = {"sku": "SKU-1", "location": "WH-B", "uom": "EA", "source_system": "ERP", "source_sequence": 0}
    raws = [
        {**base, "event_id": "r", "event_type": "RECEIPT", "quantity": 95, "occurred_at": 1_780_000_000_000},
        {**base, "event_id": "b", "event_type": "BALANCE_SNAPSHOT", "quantity": 50, "occurred_at": 1_780_000_001_000},
    ]
    outcomes = [natives.fold(ledger, [item for _, item in routed(raw)]) for raw in raws]
    (check,) = outcomes[1].checks
    assert (check.computed, check.reported, check.adopted) == (95, 50, True)
    assert outcomes[1].snapshot is not None and outcomes[1].snapshot.sellable == 50
