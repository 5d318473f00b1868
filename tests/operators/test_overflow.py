"""Checked arithmetic: quantities at the int64 edges, in any arrival order, never wrap.

Validation caps one event at 10**12 base units, so only millions of events could reach
the edge through the input path; here the postings are built with any int64 quantity
directly. A posting that would take a figure beyond int64 is a `quantity_overflow`
rejection and changes no figure; what is accepted folds exactly, the same in the native
ledger as in `KeyLedger`, its reference."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from operators import EMPTY, FoldSettings, KeyLedger, Reason, apply, route, validate
from operators.fold import INT64_MAX, INT64_MIN, Posting, account_delta, fits
from operators.ledger import NativeLedgers
from tests.operators.strategies import ITEM_MASTER, raw_event, receipt

EDGES = [INT64_MAX, INT64_MIN + 1, 2**62, -(2**62), INT64_MAX // 2 + 1, 1, -1]
QUANTITY = st.one_of(st.sampled_from(EDGES), st.integers(INT64_MIN + 1, INT64_MAX))


@st.composite
def _postings(draw: Any) -> list[Posting]:
    """Postings on one key (SKU-1 at WH-A, transfers' receiving sides included) of any
    event type with int64-edge quantities, at few distinct times, in any order."""
    out: list[Posting] = []
    for i in range(draw(st.integers(1, 40))):
        raw = draw(raw_event(i, skus=["SKU-1"], locations=["WH-A", "WH-B"]))
        raw["uom"] = "EA"
        if raw["event_type"] == "TRANSFER_SHIPPED" and draw(st.booleans()):
            raw["location"], raw["counterpart_location"] = "WH-B", "WH-A"
        for key, item in route(validate(raw, ITEM_MASTER)):
            if key is not None and isinstance(item, Posting) and item.key == ("SKU-1", "WH-A"):
                qty = draw(QUANTITY)
                out.append(item._replace(event=item.event._replace(quantity=qty, base_qty=qty)))
    return draw(st.permutations(out))


def _in_order(postings: list[Posting]) -> list[Posting]:
    return sorted(postings, key=lambda p: p.event.order_key)


def _fold_fits(postings: list[Posting]) -> bool:
    """Whether the postings fold in event order within int64: the buckets (`apply`) and each
    account's net reservations (summed by the ledger from `account_delta`)."""
    state, accounts = EMPTY, dict[str, int]()
    try:
        for p in _in_order(postings):
            delta = account_delta(state, p)
            state = apply(state, p)
            if delta is not None:
                accounts[delta[0]] = accounts.get(delta[0], 0) + delta[1]
                if not fits(accounts[delta[0]]):
                    return False
    except ArithmeticError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(data=st.data(), postings=_postings())
def test_int64_edges_are_rejected_or_folded_exactly(data: Any, postings: list[Posting]) -> None:
    reference = KeyLedger("SKU-1", "WH-A", FoldSettings())
    natives = NativeLedgers(FoldSettings())
    native = natives.new("SKU-1", "WH-A")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(postings)), max_size=5)))
    accepted: list[Posting] = []
    for a, b in itertools.pairwise([0, *cuts, len(postings)]):
        batch = list(postings[a:b])
        before = reference.to_state()[2:4]  # (version, as_of)
        expected = reference.on_batch(batch)
        got = natives.fold(native, batch)
        assert got.snapshot == expected.snapshot
        assert got.rejects == expected.rejects
        assert _normal(native.to_state()) == _normal(reference.to_state())
        assert all(r.reason is Reason.QUANTITY_OVERFLOW for r in expected.rejects)
        rejected = {r.event_id for r in expected.rejects}
        event("overflow rejected" if rejected else "batch fits")
        for p in batch:  # each is judged against what was accepted before it arrived
            if p.event.event_id in rejected:
                assert not _fold_fits([*accepted, p])
            else:
                accepted.append(p)
        if len(rejected) == len(batch):
            assert reference.to_state()[2:4] == before  # nothing applied: not even the version moved
    # what was accepted folds, in event order, to the head exactly, and every figure fits
    state = EMPTY
    for p in _in_order(accepted):
        state = apply(state, p)
    assert reference.head == state
    assert all(fits(v) for v in (*state[:6], state.on_hand, state.sellable - state.reserved))
    assert all(fits(q) for _, q in reference.snapshot().accounts)


def _normal(state: tuple[Any, ...]) -> tuple[Any, ...]:
    """A snapshot form with its base state's maps as dicts (Python keeps HAMTs there)."""
    base = state[7]
    if base is None:
        return state
    return (*state[:7], (*base[:6], dict(base[6].items()), dict(base[7].items())), state[8])


def _receipt(i: int, qty: int, shift_ms: int = 0) -> Posting:
    ((_, posting),) = route(validate(receipt(i, shift_ms=shift_ms), ITEM_MASTER))
    assert isinstance(posting, Posting)
    return posting._replace(event=posting.event._replace(quantity=qty, base_qty=qty))


def test_an_overflowing_receipt_is_rejected_and_changes_nothing() -> None:
    """The example: receipts of 2**62 and 2**62 - 1 fill sellable to int64's maximum;
    one more unit, in order or late, is rejected and the figures stay."""
    natives = NativeLedgers(FoldSettings())
    native = natives.new("SKU-1", "WH-A")
    full = natives.fold(native, [_receipt(0, 2**62), _receipt(1, 2**62 - 1)])
    assert full.snapshot is not None and full.snapshot.sellable == INT64_MAX
    one_more = natives.fold(native, [_receipt(2, 1)])
    assert one_more.snapshot is None
    assert [(r.reason, r.event_id) for r in one_more.rejects] == [(Reason.QUANTITY_OVERFLOW, "E-2")]
    assert natives.fold(native, [_receipt(2, 1)]).rejects == []  # re-sent: a duplicate, reported once
    late = natives.fold(native, [_receipt(3, 1, shift_ms=-10_000)])  # sorts before both
    assert [(r.reason, r.event_id) for r in late.rejects] == [(Reason.QUANTITY_OVERFLOW, "E-3")]
    shrink = natives.fold(native, [_receipt(4, -1, shift_ms=-20_000)])  # late and fitting
    assert shrink.snapshot is not None and shrink.snapshot.sellable == INT64_MAX - 1
    assert native.to_state()[2] == 3  # version: three applied
