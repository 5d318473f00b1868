"""Reconciliation at the balance snapshot's position in event order: whatever the arrival
order, duplication and batching, the check with the highest version per balance snapshot
compares its figure with the oracle's state just before it in the sorted log (the native
ledger, the one the dataflow runs; `test_native_ledger` holds it to `KeyLedger`)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from operators import EMPTY, EventType, FoldSettings, InventoryEvent, Rejection, apply, postings, route, validate
from operators.ledger import NativeLedgers
from operators.reconciliation import BUCKET_OF_STATUS, BalanceCheck, Bucket, Tolerance, verdict
from tests.operators.strategies import ITEM_MASTER, valid_log


def _expected(log: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], str], tuple[Bucket, int, int]]:
    """(key, event_id) of every balance snapshot -> (bucket, reported, the sorted fold's figure there)."""
    by_id: dict[str, InventoryEvent] = {}
    for raw in log:
        result = validate(raw, ITEM_MASTER)
        if isinstance(result, InventoryEvent):
            by_id.setdefault(result.event_id, result)
    states: dict[tuple[str, str], Any] = defaultdict(lambda: EMPTY)
    out = {}
    for e in sorted(by_id.values(), key=lambda e: e.order_key):
        for p in postings(e):
            state = states[p.key]
            if e.event_type is EventType.BALANCE_SNAPSHOT:
                bucket = BUCKET_OF_STATUS[e.status]
                figure = state.on_hand if bucket is Bucket.ON_HAND else getattr(state, bucket.value)
                out[(p.key, e.event_id)] = (bucket, e.base_qty, figure)
            states[p.key] = apply(state, p)
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), log=valid_log(max_size=60))
def test_the_last_check_of_each_balance_snapshot_is_the_sorted_folds(data: Any, log: list[dict[str, Any]]) -> None:
    arrivals = data.draw(st.permutations(log + data.draw(st.lists(st.sampled_from(log), max_size=len(log)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrivals)), max_size=8)))
    natives = NativeLedgers(FoldSettings())
    ledgers: dict[str, Any] = {}
    last: dict[tuple[tuple[str, str], str], BalanceCheck] = {}
    for a, b in itertools.pairwise([0, *cuts, len(arrivals)]):
        grouped: dict[str, list[Any]] = defaultdict(list)
        for raw in arrivals[a:b]:
            for key, item in route(validate(raw, ITEM_MASTER)):
                if key is not None:
                    grouped[key].append(item)
        for key, items in grouped.items():
            first = items[0]
            sku, location = (first.sku, first.location) if isinstance(first, Rejection) else first.key
            ledger = ledgers.setdefault(key, natives.new(sku, location))
            for check in natives.fold(ledger, items).checks:
                held = last.get(((sku, location), check.event_id))
                assert held is None or check.version > held.version  # each re-check is a newer version
                last[((sku, location), check.event_id)] = check
    expected = _expected(log)
    event(f"{len(expected)} balance snapshots")
    assert last.keys() == expected.keys()
    for where, check in last.items():
        assert (check.bucket, check.reported, check.computed) == expected[where], where


def test_a_verdict_says_match_within_the_tolerance() -> None:
    check = BalanceCheck("b-1", "ERP", "c-1", Bucket.ON_HAND, 50, 95, 1_780_000_000_000, 7)
    record = verdict(check, "SKU-1", "WH-A")
    assert (record.delta, record.status, record.tolerance) == (-45, "divergent", "0 units or 0%")
    assert verdict(check, "SKU-1", "WH-A", Tolerance(units=45)).status == "match"
    assert verdict(check, "SKU-1", "WH-A", Tolerance(percent=40)).status == "divergent"  # 38 units
    assert verdict(check, "SKU-1", "WH-A", Tolerance(percent=50)).status == "match"
