"""The simulated distributor: deterministic, realistic, and it exercises every path."""

from __future__ import annotations

from collections import Counter
from itertools import islice

from connectors.simulator import Distributor, SimConfig
from operators import EventType, InventoryEvent, ItemMaster, KeyLedger, Reason, Rejection, postings, validate


def test_same_seed_same_stream() -> None:
    a = list(islice(Distributor(SimConfig(skus=200)).stream(0, 1000), 5000))
    b = list(islice(Distributor(SimConfig(skus=200)).stream(0, 1000), 5000))
    assert a == b


def test_a_distributor_in_life() -> None:
    sim = Distributor(SimConfig(skus=1000))
    rows = list(islice(sim.stream(1_780_000_000_000, 2000), 60_000))
    assert len(sim.config.locations) >= 3
    types = Counter(r["event_type"] for r in rows)
    assert set(types) == {t.value for t in EventType}  # every event type occurs
    assert {r["channel"] for r in rows if r["channel"]} == {"dtc", "amazon", "b2b", "edi"}
    assert any(r["event_type"] == "CYCLE_COUNT" and r["source_system"] == "MARKETPLACE" for r in rows)
    item_master = ItemMaster({(s, u): f for s, u, f in sim.item_master_rows()})
    ledgers: dict[tuple[str, str], KeyLedger] = {}
    reasons: Counter[Reason] = Counter()
    seen: set[str] = set()
    dups = 0
    for raw in rows:
        result = validate(raw, item_master)
        if isinstance(result, Rejection):
            reasons[result.reason] += 1
            continue
        assert isinstance(result, InventoryEvent)
        dups += result.event_id in seen
        seen.add(result.event_id)
        for p in postings(result):
            ledgers.setdefault(p.key, KeyLedger(*p.key)).on_batch([p])
    assert {Reason.UNKNOWN_UOM, Reason.MISSING_ORDER_ID, Reason.BAD_QUANTITY} <= set(reasons)
    assert dups > 0
    heads = [lg.head for lg in ledgers.values()]
    in_stock = sum(h.available > 0 for h in heads) / len(heads)
    assert in_stock > 0.8, in_stock  # replenishment keeps most SKUs in stock
    assert any(h.available == 0 for h in heads)  # some run out
    assert any(h.reserved > h.sellable for h in heads)  # a few oversell
