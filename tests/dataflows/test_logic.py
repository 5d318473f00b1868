"""FoldLogic: freezing cool keys to their snapshot bytes, and lazy restore, change nothing."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dataflows.logic import COOL_HISTORY, COOL_ITEMS, FoldLogic
from operators import AvailabilitySnapshot, FoldSettings, route, validate
from tests.operators.strategies import ITEM_MASTER, oracle, valid_log


def _keyed_batches(draw: Any, log: list[dict[str, Any]]) -> list[dict[str, list[Any]]]:
    arrivals = draw(st.permutations(log + draw(st.lists(st.sampled_from(log), max_size=5))))
    cuts = sorted(draw(st.lists(st.integers(0, len(arrivals)), max_size=8)))
    batches = []
    for a, b in itertools.pairwise([0, *cuts, len(arrivals)]):
        grouped: dict[str, list[Any]] = defaultdict(list)
        for raw in arrivals[a:b]:
            for key, item in route(validate(raw, ITEM_MASTER)):
                if key is not None:
                    grouped[key].append(item)
        batches.append(grouped)
    return batches


def _run(batches: list[dict[str, list[Any]]], epochs: list[bool], restart: list[bool]) -> list[Any]:
    """Feed the batches; where `epochs` says so, snapshot every key touched since the last
    epoch end (as Bytewax does) and, where `restart` says so too, rebuild every key from
    those bytes."""
    logics: dict[str, FoldLogic] = {}
    stored: dict[str, bytes] = {}
    touched: set[str] = set()
    out: list[Any] = []
    for batch, epoch, again in zip(batches, epochs, restart, strict=True):
        touched |= batch.keys()
        for key, items in batch.items():
            logic = logics.get(key) or logics.setdefault(key, FoldLogic(FoldSettings(), None))
            emitted, retain = logic.on_batch(items)
            assert retain is False
            out.extend(x for x in emitted if isinstance(x, AvailabilitySnapshot))
        if epoch:
            stored |= {key: logics[key].snapshot() for key in touched}
            touched = set()
            if again:
                logics = {key: FoldLogic(FoldSettings(), state) for key, state in stored.items()}
    return out


@settings(max_examples=150, deadline=None)
@given(data=st.data(), log=valid_log(max_size=30))
def test_freezing_and_lazy_restore_emit_what_a_live_ledger_emits(data: Any, log: list[dict[str, Any]]) -> None:
    batches = _keyed_batches(data.draw, log)
    n = len(batches)
    live = _run(batches, [False] * n, [False] * n)
    epochs = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    restarts = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    assert _run(batches, epochs, restarts) == live
    final = {(s.sku, s.location): s for s in live}
    assert {k: (s.on_hand, s.version) for k, s in final.items()} == {
        k: (state.on_hand, version) for k, (state, version) in oracle(log).items()
    }


@settings(max_examples=20, deadline=None)
@given(log=valid_log(min_size=COOL_ITEMS + 3, max_size=COOL_ITEMS + 8, skus=["SKU-1"], locations=["WH-A", "WH-B"]))
def test_a_cool_key_is_held_as_bytes_and_a_busy_one_stays_live(log: list[dict[str, Any]]) -> None:
    keyed = [(key, item) for raw in log for key, item in route(validate(raw, ITEM_MASTER)) if key is not None]
    assume(keyed)
    items = [item for key, item in keyed if key == keyed[0][0]]  # one key's
    assume(len(items) > COOL_ITEMS)
    busy, cool = FoldLogic(FoldSettings(), None), FoldLogic(FoldSettings(), None)
    busy.on_batch(items)
    cool.on_batch(items[:1])
    state = cool.snapshot()
    busy.snapshot()
    assert cool.ledger is None and busy.ledger is not None
    assert cool.snapshot() is state  # untouched since: the same bytes, nothing re-pickled
    cool.on_batch(items[1:])
    assert cool.ledger is not None
    assert cool.ledger.head == busy.ledger.head
    assert cool.ledger.version == busy.ledger.version


def test_a_key_with_a_long_history_stays_live_even_when_cool() -> None:
    """Thawing re-folds the whole retained history: a long one is not frozen."""
    events = [
        {
            "event_id": f"E-{i}",
            "event_type": "RECEIPT",
            "sku": "SKU-1",
            "location": "WH-A",
            "quantity": 1,
            "uom": "EA",
            "occurred_at": 1_780_000_000_000 + i,
            "source_system": "WMS",
            "source_sequence": i,
        }
        for i in range(COOL_HISTORY + 2)
    ]
    items = [item for raw in events for key, item in route(validate(raw, ITEM_MASTER)) if key is not None]
    logic = FoldLogic(FoldSettings(), None)
    logic.on_batch(items[:-1])
    logic.snapshot()
    logic.on_batch(items[-1:])  # one item this epoch: cool, but the history is long
    logic.snapshot()
    assert logic.ledger is not None and logic.ledger.retained > COOL_HISTORY
