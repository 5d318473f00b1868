"""The native ledger against `KeyLedger`, its reference: fed the same batches, they must
make the same snapshots, rejections, duplicates and counts, the same snapshot form and
the same deltas, and restore from each other's state."""

from __future__ import annotations

import itertools
import pickle
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import FoldSettings, KeyLedger, Rejection, route, validate
from operators.changes import Change
from operators.history import CHECKPOINT_EVERY
from operators.ledger import NativeLedgers
from tests.operators.strategies import ITEM_MASTER, routed, valid_log

HOUR = 3_600_000
STEP = 3 * HOUR // 20  # event times are this far apart (valid_log over 3 h): boundaries are hit exactly
SETTINGS = [
    FoldSettings(),
    FoldSettings(horizon_ms=2 * STEP, dedup_retention_ms=4 * STEP),  # late and beyond-retention events
    FoldSettings(horizon_ms=0, dedup_retention_ms=STEP),
]


def _normal(state: tuple[Any, ...] | None) -> Any:
    """A snapshot form or delta with its base maps as dicts (Python keeps HAMTs there)."""

    def base(b: Any) -> Any:
        return None if b is None else (*b[:6], dict(b[6].items()), dict(b[7].items()))

    if state is None:
        return None
    if len(state) == 9:  # to_state
        return (*state[:7], base(state[7]), state[8])
    *head, new_base = state  # delta_since
    return (*head, None if new_base is None else (base(new_base[0]), new_base[1]))


@st.composite
def _arrivals(draw: Any, settings_: FoldSettings) -> list[dict[str, Any]]:
    """A log over hours (so horizons and retention bite), with exact duplicates, conflicting
    duplicates (same id, other payload) and invalid events that still have a key."""
    log = draw(valid_log(max_size=90, window_ms=3 * HOUR, skus=["SKU-1"], locations=["WH-A", "WH-B"]))
    extra = draw(st.lists(st.sampled_from(log), max_size=len(log) // 2))
    conflicting = [{**e, "quantity": e["quantity"] + 1} for e in draw(st.lists(st.sampled_from(log), max_size=3))]
    invalid = [{**e, "uom": "PALLET"} for e in draw(st.lists(st.sampled_from(log), max_size=3))]
    return draw(st.permutations(log + extra + conflicting + invalid + invalid[:1]))


def _batches(draw: Any, items: list[Any]) -> list[list[Any]]:
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), max_size=8)))
    return [items[a:b] for a, b in itertools.pairwise([0, *cuts, len(items)])]


def _counts(outcome_types: list[Any]) -> Counter[str]:
    return Counter(t.value for t in outcome_types)


@settings(max_examples=250, deadline=None)
@given(data=st.data(), settings_=st.sampled_from(SETTINGS))
def test_native_ledger_makes_what_key_ledger_makes(data: Any, settings_: FoldSettings) -> None:
    natives = NativeLedgers(settings_)
    reference: dict[str, KeyLedger] = {}
    native: dict[str, Any] = {}
    marks: dict[str, Any] = {}
    states: dict[str, Any] = {}
    chains: dict[str, list[bytes]] = {}
    ratio = data.draw(st.sampled_from([0, 1, 16]))  # deltas per whole record: 0 writes whole only
    for batch in _batches(data.draw, data.draw(_arrivals(settings_))):
        grouped: dict[str, list[Any]] = defaultdict(list)
        for raw in batch:
            for key, item in routed(raw):
                if key is not None:
                    grouped[key].append(item)
        applied: Counter[str] = Counter()
        late: Counter[str] = Counter()
        duplicates: Counter[tuple[str, str | None]] = Counter()
        for key, items in grouped.items():
            if key not in reference:
                first = items[0]
                sku, location = (first.sku, first.location) if isinstance(first, Rejection) else first.key
                reference[key] = KeyLedger(sku, location, settings_)
                native[key] = natives.new(sku, location)
            before = reference[key].quantities()
            expected = reference[key].on_batch(items)
            got = natives.fold(native[key], items, emitted_at=7, render=True)
            if expected.snapshot is None:
                assert got.change is None
            else:  # the change made natively is `Change.of` the reference's, its JSON orjson's
                assert got.change is not None and got.change.snapshot == expected.snapshot
                reference_change = Change.of(before, expected.snapshot, expected.causes, 7)
                assert got.change[:10] == reference_change[:10]
                assert got.change.json == orjson.dumps(reference_change.to_dict())
            assert got.snapshot == expected.snapshot
            assert got.rejects == expected.rejects
            assert got.checks == expected.checks
            assert got.anomalies == expected.anomalies
            duplicates.update(expected.duplicates)
            duplicates.subtract(got.duplicates)
            applied += _counts(expected.applied)
            late += _counts(expected.late)
            assert native[key].retained == reference[key].retained
            assert native[key].remembered_ids == reference[key].remembered_ids
            assert _normal(native[key].to_state()) == _normal(reference[key].to_state())
            if key in marks:  # the delta since the last batch extends the state then to the state now
                delta = native[key].delta_since(marks[key][0])
                assert _normal(delta) == _normal(reference[key].delta_since(marks[key][1]))
                if delta is not None:
                    extended = KeyLedger.extend_state(states[key], delta)
                    assert _normal(extended) == _normal(native[key].to_state())
            whole, record = native[key].persist(ratio)  # the ledger store's chain of the key
            chains[key] = [record] if whole else [*chains[key], record]
            restored = natives.restore_records(chains[key])
            assert _normal(restored.to_state()) == _normal(reference[key].to_state())
            if data.draw(st.booleans()):  # read back (cooled, or after a restart): its chain goes on
                native[key] = restored
            marks[key] = (native[key].mark(), reference[key].mark())
            states[key] = native[key].to_state()
        counted = natives.counts()
        assert {t.value: a for t, a, _ in counted if a} == dict(applied)
        assert {t.value: n for t, _, n in counted if n} == dict(late)
        assert not +duplicates and not -duplicates  # the same duplicates, by event type and source
        if data.draw(st.booleans()):  # restart: each restores from the other's snapshot form
            for key in list(reference):
                native_state, reference_state = native[key].to_state(), reference[key].to_state()
                native[key] = natives.restore(reference_state)
                reference[key] = KeyLedger.from_state(native_state, settings_)
                reference[key].settings = settings_
                marks.pop(key, None)
                assert native[key].snapshot() == reference[key].snapshot()
                # the anomalies a restore rebuilt are the ones emitted: a no-op re-fold emits nothing


def test_duplicate_postings_are_reported_by_type_and_source() -> None:
    natives = NativeLedgers()
    raw = {
        "event_id": "E-1",
        "event_type": "RECEIPT",
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": 3,
        "uom": "EA",
        "occurred_at": 1_780_000_000_000,
        "source_system": "WMS",
        "source_sequence": 1,
    }
    ((_, posting),) = route(validate(raw, ITEM_MASTER))
    ledger = natives.new("SKU-1", "WH-A")
    first = natives.fold(ledger, [posting, posting])
    assert first.snapshot is not None and first.snapshot.sellable == 3 and first.snapshot.version == 1
    again = natives.fold(ledger, [posting])
    assert again.snapshot is None
    assert first.duplicates == again.duplicates == [("RECEIPT", "WMS")]
    assert [(t.value, a, late) for t, a, late in natives.counts()] == [("RECEIPT", 1, 0)]


def test_long_histories_cross_checkpoints() -> None:
    """Many postings on one key, some late: checkpoints and compaction in play."""
    natives = NativeLedgers(FoldSettings(horizon_ms=HOUR, dedup_retention_ms=2 * HOUR))
    reference = KeyLedger("SKU-1", "WH-A", FoldSettings(horizon_ms=HOUR, dedup_retention_ms=2 * HOUR))
    ledger = natives.new("SKU-1", "WH-A")
    chain: list[bytes] = []
    kinds: Counter[bool] = Counter()
    n = 10 * CHECKPOINT_EVERY
    for i in range(n):
        late = i % 7 == 3
        raw = {
            "event_id": f"E-{i}",
            "event_type": "RECEIPT" if i % 3 else "RESERVATION_CREATED",
            "sku": "SKU-1",
            "location": "WH-A",
            "quantity": 1 + i % 5,
            "uom": "EA",
            "occurred_at": 1_780_000_000_000 + i * 60_000 - (20 * 60_000 if late else 0),
            "source_system": "WMS",
            "source_sequence": i,
            "order_id": f"O-{i % 4}",
            "account_id": "A-1" if i % 2 else None,
        }
        items = [p for _, p in route(validate(raw, ITEM_MASTER))]
        got, expected = natives.fold(ledger, items), reference.on_batch(items)
        assert (got.snapshot, got.rejects) == (expected.snapshot, expected.rejects)
        whole, record = ledger.persist(16)
        chain = [record] if whole else [*chain, record]
        kinds[whole] += 1
        if i % 16 == 0 or i == n - 1:  # its stored chain, read back, is the ledger
            restored = natives.restore_records(chain)
            assert _normal(restored.to_state()) == _normal(reference.to_state())
    assert _normal(ledger.to_state()) == _normal(reference.to_state())
    assert reference.retained < n  # compaction dropped blocks
    assert kinds[False] > kinds[True] > 1  # deltas across compactions, and whole records again


def _receipts(n: int, start: int = 0) -> list[Any]:
    raws = (
        {
            "event_id": f"E-{i}",
            "event_type": "RECEIPT",
            "sku": "SKU-1",
            "location": "WH-A",
            "quantity": 1 + i % 3,
            "uom": "EA",
            "occurred_at": 1_780_000_000_000 + i * 60_000,
            "source_system": "WMS",
            "source_sequence": i,
        }
        for i in range(start, start + n)
    )
    return [p for raw in raws for _, p in route(validate(raw, ITEM_MASTER))]


def test_pickled_records_of_earlier_stores_restore() -> None:
    """Stores written before the native records hold pickles of `to_state` and `delta_since`."""
    reference = KeyLedger("SKU-1", "WH-A", FoldSettings())
    reference.on_batch(_receipts(5))
    state, mark = reference.to_state(), reference.mark()
    reference.on_batch(_receipts(3, start=5))
    records = [pickle.dumps(state), pickle.dumps(reference.delta_since(mark))]
    ledger = NativeLedgers().restore_records(records)
    assert _normal(ledger.to_state()) == _normal(reference.to_state())
    assert ledger.persist(16)[0]  # its next record is whole: the chain becomes native


def test_damaged_records_are_refused() -> None:
    natives = NativeLedgers()
    ledger = natives.new("SKU-1", "WH-A")
    natives.fold(ledger, _receipts(4))
    _, whole = ledger.persist(16)
    natives.fold(ledger, _receipts(2, start=4))
    whole_again, delta = ledger.persist(16)
    assert not whole_again
    for records in ([whole[:-1]], [whole + b"x"], [delta], [whole, whole], [whole, delta[:-3]]):
        with pytest.raises(ValueError):
            natives.restore_records(records)
    assert natives.restore_records([whole, delta]).snapshot() == ledger.snapshot()
