"""Hypothesis strategies for valid event logs, and the reference (oracle) fold."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from operators import (
    EMPTY,
    Buckets,
    EventType,
    FoldSettings,
    InventoryEvent,
    ItemMaster,
    KeyLedger,
    Posting,
    Rejection,
    apply,
    fold,
    postings,
    route,
    validate,
)
from operators.fold import account_delta
from operators.ledger import BatchOutcome, NativeLedgers
from operators.sources import SourceMode, SourceRule, SourceRules

SKUS = ["SKU-1", "SKU-2"]
LOCATIONS = ["WH-A", "WH-B", "WH-C"]
ORDERS = ["O-1", "O-2", "O-3"]
T0 = 1_780_000_000_000
ITEM_MASTER = ItemMaster({("SKU-1", "CS"): 12, ("SKU-2", "CS"): 6})
ADOPT_AT = "WH-B"  # where the tests' policy adopts balance snapshots
# and the source rule that flags what OMS sends to WH-C (mode flag: applied, an anomaly)
FLAGGING = SourceRules((SourceRule(frozenset({"WMS", "ERP"}), None, ("WH-C",), SourceMode.FLAG),))


def adopting(event: InventoryEvent) -> bool:
    return event.event_type is EventType.BALANCE_SNAPSHOT and event.location == ADOPT_AT


def flagging(event: InventoryEvent) -> bool:
    return FLAGGING.judge(event) is not None


def routed(raw: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """`route(validate(raw))` marked as the decoder marks it: balance snapshots at ADOPT_AT
    adopted, what FLAGGING flags flagged."""
    return [(k, marked(i)) for k, i in route(validate(raw, ITEM_MASTER))]


def marked(item: Any) -> Any:
    if isinstance(item, Posting) and not item.counterpart:
        event = item.event
        if adopting(event) or flagging(event):
            return item._replace(adopt=adopting(event), flagged=flagging(event))
    return item


def shuffled_batches(data: Any, log: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The log permuted, with duplicates, cut into batches: any arrival the flow may see."""
    arrivals = data.draw(st.permutations(log + data.draw(st.lists(st.sampled_from(log), max_size=len(log)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrivals)), max_size=8)))
    return [arrivals[a:b] for a, b in itertools.pairwise([0, *cuts, len(arrivals)])]


def native_outcomes(batches: list[list[dict[str, Any]]]) -> Iterator[tuple[Any, BatchOutcome]]:
    """Each batch routed (as `routed`) and folded by native ledgers, per key: (ledger, outcome)."""
    natives = NativeLedgers(FoldSettings())
    ledgers: dict[str, Any] = {}
    for batch in batches:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for raw in batch:
            for key, item in routed(raw):
                if key is not None:
                    grouped[key].append(item)
        for key, items in grouped.items():
            first = items[0]
            sku, location = (first.sku, first.location) if isinstance(first, Rejection) else first.key
            ledger = ledgers.setdefault(key, natives.new(sku, location))
            yield ledger, natives.fold(ledger, items)


def sorted_postings(log: list[dict[str, Any]]) -> list[Posting]:
    """Every accepted event's postings (the first payload of each id), in event order, adopted
    as `routed` does: the sorted log every oracle folds."""
    by_id: dict[str, InventoryEvent] = {}
    for raw in log:
        result = validate(raw, ITEM_MASTER)
        if isinstance(result, InventoryEvent):
            by_id.setdefault(result.event_id, result)
    events = sorted(by_id.values(), key=lambda e: e.order_key)
    return [marked(p) for e in events for p in postings(e)]


@st.composite
def raw_event(
    draw: Any, index: int, window_ms: int = 3_600_000, skus: list[str] = SKUS, locations: list[str] = LOCATIONS
) -> dict[str, Any]:
    etype = draw(st.sampled_from([t.value for t in EventType]))
    location = draw(st.sampled_from(locations))
    if etype == "ADJUSTMENT":
        qty = draw(st.integers(-20, 20).filter(bool))
    elif etype in ("CYCLE_COUNT", "BALANCE_SNAPSHOT"):
        qty = draw(st.integers(0, 200))
    else:
        qty = draw(st.integers(1, 30))
    return {
        "event_id": f"E-{index}",
        "event_type": etype,
        "sku": draw(st.sampled_from(skus)),
        "location": location,
        "quantity": qty,
        "uom": draw(st.sampled_from(["EA", "EA", "EA", "CS"])),
        # Few distinct times so ties on occurred_at exercise the tie-breakers.
        "occurred_at": T0 + draw(st.integers(0, 20)) * (window_ms // 20),
        "source_system": draw(st.sampled_from(["WMS", "ERP", "OMS"])),
        "source_sequence": draw(st.integers(0, 3)),
        "order_id": draw(st.sampled_from(ORDERS)),
        "channel": draw(st.sampled_from(["dtc", "amazon"])),
        "counterpart_location": draw(st.sampled_from([x for x in locations if x != location])),
        "disposition": draw(st.sampled_from(["RESTOCK", "REFURBISH", "DAMAGED", "SCRAP"])),
        "status": draw(st.sampled_from([None, "SELLABLE", "QUARANTINE", "DAMAGED"])),
        "correlation_id": draw(st.sampled_from([None, "C-1", "C-2"])),
        "account_id": draw(st.sampled_from([None, None, "A-1", "A-2"])),
    }


def receipt(
    i: int, *, location: str = "WH-A", step_ms: int = 1000, quantity: int = 1, shift_ms: int = 0
) -> dict[str, Any]:
    """The i-th of a steady series of RECEIPTs on SKU-1 (`step_ms` apart, in source order);
    `shift_ms` moves its event time, e.g. back, to make it arrive late."""
    return {
        "event_id": f"E-{i}",
        "event_type": "RECEIPT",
        "sku": "SKU-1",
        "location": location,
        "quantity": quantity,
        "uom": "EA",
        "occurred_at": 1_780_000_000_000 + i * step_ms + shift_ms,
        "source_system": "WMS",
        "source_sequence": i,
    }


@st.composite
def valid_log(
    draw: Any,
    max_size: int = 40,
    window_ms: int = 3_600_000,
    skus: list[str] = SKUS,
    locations: list[str] = LOCATIONS,
    min_size: int = 1,
) -> list[dict[str, Any]]:
    n = draw(st.integers(min_size, max_size))
    return [draw(raw_event(i, window_ms, skus, locations)) for i in range(n)]


def oracle_accounts(log: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """Each key's account consumption: the deltas of the sorted fold, summed (non-zero only)."""
    by_id: dict[str, InventoryEvent] = {}
    for raw in log:
        result = validate(raw, ITEM_MASTER)
        if isinstance(result, InventoryEvent) and result.event_id not in by_id:
            by_id[result.event_id] = result
    states: dict[tuple[str, str], Buckets] = defaultdict(lambda: EMPTY)
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for event in sorted(by_id.values(), key=lambda e: e.order_key):
        for p in postings(event):
            delta = account_delta(states[p.key], p)
            states[p.key] = apply(states[p.key], p)
            if delta:
                totals[p.key][delta[0]] = totals[p.key].get(delta[0], 0) + delta[1]
    nonzero = {k: {a: q for a, q in v.items() if q} for k, v in totals.items()}
    return {k: v for k, v in nonzero.items() if v}


def oracle(log: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Buckets, int]]:
    """Sort every accepted event by (occurred_at, source_sequence, event_id) and fold.

    Independent of the ledger: no dedup memory, no history, no late handling.
    Returns the final state and the number of distinct events per key.
    """
    by_id: dict[str, InventoryEvent] = {}
    for raw in log:
        result = validate(raw, ITEM_MASTER)
        if isinstance(result, InventoryEvent) and result.event_id not in by_id:
            by_id[result.event_id] = result
    per_key = defaultdict(list)
    for event in sorted(by_id.values(), key=lambda e: e.order_key):
        for p in postings(event):
            per_key[p.key].append(p)
    return {k: (fold(ps, EMPTY), len(ps)) for k, ps in per_key.items()}


class Driver:
    """Routes raw events to per-key ledgers exactly as the dataflow does."""

    def __init__(self, settings: FoldSettings = FoldSettings()) -> None:
        self.settings = settings
        self.ledgers: dict[str, KeyLedger] = {}
        self.rejects: list[Rejection] = []
        self.duplicates = 0
        self.late = 0

    def feed(self, batch: list[dict[str, Any]]) -> None:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for raw in batch:
            for key, item in route(validate(raw, ITEM_MASTER)):
                if key is None:
                    assert isinstance(item, Rejection)
                    self.rejects.append(item)
                else:
                    grouped[key].append(item)
        for key, items in grouped.items():
            ledger = self.ledgers.get(key)
            if ledger is None:
                first = items[0]
                sku, location = first.key if not isinstance(first, Rejection) else (first.sku, first.location)
                ledger = self.ledgers[key] = KeyLedger(sku, location, self.settings)
            outcome = ledger.on_batch(items)
            self.rejects.extend(outcome.rejects)
            self.duplicates += len(outcome.duplicates)
            self.late += len(outcome.late)

    def accounts(self) -> dict[tuple[str, str], dict[str, int]]:
        return {
            (lg.sku, lg.location): dict(lg.snapshot().accounts)
            for lg in self.ledgers.values()
            if lg.accounts and any(lg.accounts.values())
        }

    def state(self) -> dict[tuple[str, str], tuple[Buckets, int]]:
        return {(lg.sku, lg.location): (lg.head, lg.version) for lg in self.ledgers.values() if lg.version}
