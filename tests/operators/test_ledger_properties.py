"""Property tests: arrival order, duplicates, batching and restarts never change the result."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from operators import FoldSettings, KeyLedger, Reason
from operators.history import CHECKPOINT_EVERY
from tests.operators.strategies import Driver, oracle, oracle_accounts, receipt, valid_log


def _arrivals(draw: Any, log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Any permutation of the log with any number of exact duplicates mixed in."""
    dups = draw(st.lists(st.sampled_from(log), max_size=len(log)))
    return draw(st.permutations(log + dups))


def _batches(draw: Any, items: list[Any]) -> list[list[Any]]:
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), max_size=6)))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), log=valid_log())
def test_any_permutation_with_duplicates_equals_sorted_fold(data: Any, log: list[dict[str, Any]]) -> None:
    driver = Driver()
    for batch in _batches(data.draw, _arrivals(data.draw, log)):
        driver.feed(batch)
    assert driver.state() == oracle(log)
    assert driver.accounts() == oracle_accounts(log)  # late events re-derive what releases freed
    assert not [r for r in driver.rejects if r.reason is not Reason.UNKNOWN_UOM]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), log=valid_log(max_size=30))
def test_restart_from_pickled_ledgers_changes_nothing(data: Any, log: list[dict[str, Any]]) -> None:
    """Bytewax snapshots each ledger by pickling; resuming from one must be exact."""
    driver = Driver()
    for batch in _batches(data.draw, _arrivals(data.draw, log)):
        driver.feed(batch)
        driver.ledgers = {k: pickle.loads(pickle.dumps(v)) for k, v in driver.ledgers.items()}
    assert driver.state() == oracle(log)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), log=valid_log(max_size=30, window_ms=20 * 3_600_000))
def test_late_events_within_horizon_are_exact(data: Any, log: list[dict[str, Any]]) -> None:
    """Events spread over 20 h of event time, any arrival order, horizon 24 h: exact, nothing reported."""
    driver = Driver(FoldSettings(horizon_ms=24 * 3_600_000))
    for batch in _batches(data.draw, _arrivals(data.draw, log)):
        driver.feed(batch)
    assert driver.state() == oracle(log)
    assert not [r for r in driver.rejects if r.reason is Reason.LATE_BEYOND_HORIZON]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), log=valid_log(max_size=30, window_ms=20 * 3_600_000))
def test_tiny_horizon_still_exact_when_late_events_stay_inside_it(data: Any, log: list[dict[str, Any]]) -> None:
    """Compaction must not lose anything an in-horizon late event needs."""
    horizon = 3 * 3_600_000
    log_sorted = sorted(log, key=lambda r: r["occurred_at"])
    # Deliver in order except for swaps of neighbours less than the horizon apart.
    arrivals = list(log_sorted)
    swaps = data.draw(st.lists(st.integers(0, len(arrivals) - 2), max_size=10)) if len(arrivals) > 1 else []
    for i in swaps:
        a, b = arrivals[i], arrivals[i + 1]
        if b["occurred_at"] - a["occurred_at"] < horizon // 2:
            arrivals[i], arrivals[i + 1] = b, a
    driver = Driver(FoldSettings(horizon_ms=horizon))
    for raw in arrivals:
        driver.feed([raw])
    assert driver.state() == oracle(log)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    log=valid_log(min_size=80, max_size=200, window_ms=20 * 3_600_000, skus=["SKU-1"], locations=["WH-A", "WH-B"]),
)
def test_long_histories_across_checkpoints_stay_exact(data: Any, log: list[dict[str, Any]]) -> None:
    """Two keys with many postings each: late events re-fold from a checkpoint blocks back,
    compaction drops whole blocks, restarts resume from the packed form; all exact."""
    assert len(log) > 2 * CHECKPOINT_EVERY
    for horizon_hours in (24, 6):
        driver = Driver(FoldSettings(horizon_ms=horizon_hours * 3_600_000))
        arrivals = sorted(log, key=lambda r: r["occurred_at"])
        # Mostly in order; some events held back by less than the smaller horizon.
        for i in data.draw(st.lists(st.integers(0, len(arrivals) - 1), max_size=40)):
            j = min(len(arrivals) - 1, i + data.draw(st.integers(1, 60)))
            if arrivals[j]["occurred_at"] - arrivals[i]["occurred_at"] < 3 * 3_600_000:
                arrivals.insert(j, arrivals.pop(i))
        for batch in _batches(data.draw, arrivals + data.draw(st.lists(st.sampled_from(log), max_size=20))):
            driver.feed(batch)
            driver.ledgers = {k: pickle.loads(pickle.dumps(v)) for k, v in driver.ledgers.items()}
        assert driver.state() == oracle(log)
        assert driver.accounts() == oracle_accounts(log)


def test_a_late_event_blocks_back_re_folds_every_later_posting() -> None:
    from tests.operators.strategies import T0

    base = {"sku": "SKU-1", "location": "WH-A", "source_system": "WMS", "source_sequence": 0}
    log = [
        {**base, "event_id": f"r{i}", "event_type": "RECEIPT", "quantity": 1, "occurred_at": T0 + i} for i in range(100)
    ]
    log.append({**base, "event_id": "count", "event_type": "CYCLE_COUNT", "quantity": 500, "occurred_at": T0 + 50})
    late = {**base, "event_id": "late", "event_type": "HOLD_PLACED", "quantity": 7, "occurred_at": T0 + 3}
    driver = Driver()
    driver.feed(sorted(log, key=lambda r: (r["occurred_at"], r["event_id"])))
    driver.feed([late])
    ((state, version),) = driver.state().values()
    assert driver.late == 1 and version == 102
    assert (state.sellable, state.quarantine) == (500 + 50, 7)  # the count overrode the hold's effect on sellable
    assert driver.state() == oracle([*log, late])


def test_late_beyond_horizon_is_applied_and_reported() -> None:
    from tests.operators.strategies import T0

    hour = 3_600_000
    base = {"sku": "SKU-1", "location": "WH-A", "source_system": "WMS", "source_sequence": 0}
    driver = Driver(FoldSettings(horizon_ms=hour))
    driver.feed([{**base, "event_id": "a", "event_type": "RECEIPT", "quantity": 10, "occurred_at": T0 + 5 * hour}])
    driver.feed([{**base, "event_id": "b", "event_type": "RECEIPT", "quantity": 3, "occurred_at": T0}])
    ((state, version),) = driver.state().values()
    assert state.sellable == 13 and version == 2
    assert [(r.event_id, r.reason, r.applied) for r in driver.rejects] == [("b", Reason.LATE_BEYOND_HORIZON, True)]


def test_beyond_dedup_retention_is_rejected_not_applied() -> None:
    from tests.operators.strategies import T0

    hour = 3_600_000
    base = {"sku": "SKU-1", "location": "WH-A", "source_system": "WMS", "source_sequence": 0}
    driver = Driver(FoldSettings(horizon_ms=hour, dedup_retention_ms=2 * hour))
    driver.feed([{**base, "event_id": "a", "event_type": "RECEIPT", "quantity": 10, "occurred_at": T0 + 5 * hour}])
    driver.feed([{**base, "event_id": "b", "event_type": "RECEIPT", "quantity": 3, "occurred_at": T0}])
    ((state, version),) = driver.state().values()
    assert state.sellable == 10 and version == 1
    assert [(r.event_id, r.reason) for r in driver.rejects] == [("b", Reason.BEYOND_RETENTION)]


def test_conflicting_duplicate_first_wins() -> None:
    from tests.operators.strategies import T0

    base = {"sku": "SKU-1", "location": "WH-A", "source_system": "WMS", "source_sequence": 0, "occurred_at": T0}
    driver = Driver()
    driver.feed([{**base, "event_id": "a", "event_type": "RECEIPT", "quantity": 10}])
    driver.feed([{**base, "event_id": "a", "event_type": "RECEIPT", "quantity": 99}])
    driver.feed([{**base, "event_id": "a", "event_type": "RECEIPT", "quantity": 10}])
    ((state, version),) = driver.state().values()
    assert state.sellable == 10 and version == 1
    assert [(r.event_id, r.reason, r.payload["quantity"]) for r in driver.rejects] == [
        ("a", Reason.CONFLICTING_DUPLICATE, 99)
    ]
    assert driver.duplicates == 1


def test_rejected_event_resent_is_reported_once() -> None:
    from tests.operators.strategies import T0

    bad = {
        "event_id": "x",
        "event_type": "RECEIPT",
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": 0,
        "occurred_at": T0,
        "source_system": "WMS",
        "source_sequence": 1,
    }
    driver = Driver()
    driver.feed([bad, bad])
    driver.feed([bad])
    assert [(r.event_id, r.reason) for r in driver.rejects] == [("x", Reason.BAD_QUANTITY)]
    assert driver.state() == {}


def test_history_is_compacted_and_ids_forgotten_after_retention() -> None:
    from tests.operators.strategies import T0

    hour = 3_600_000
    ledger_settings = FoldSettings(horizon_ms=hour, dedup_retention_ms=4 * hour)
    driver = Driver(ledger_settings)
    base = {"sku": "SKU-1", "location": "WH-A", "source_system": "WMS", "source_sequence": 0}
    for i in range(300):
        driver.feed(
            [{**base, "event_id": f"e{i}", "event_type": "RECEIPT", "quantity": 1, "occurred_at": T0 + i * hour // 10}]
        )
    ledger: KeyLedger = next(iter(driver.ledgers.values()))
    assert ledger.head.sellable == 300 and ledger.version == 300
    assert ledger.retained <= 11 + CHECKPOINT_EVERY  # an hour at 10 an hour, plus the edge and one block
    assert ledger.remembered_ids <= 41 + 10  # four hours of ids, pruned at most an hour late


@settings(max_examples=200, deadline=None)
@given(data=st.data(), log=valid_log(max_size=60, window_ms=6 * 3_600_000))
def test_a_delta_since_a_mark_extends_that_marks_state_to_the_current_one(data: Any, log: list[dict[str, Any]]) -> None:
    """A store keeps a busy key as a full state and the deltas after it: re-assembled,
    they must be `to_state` exactly, through late postings, compaction and forgotten ids."""
    hour = 3_600_000
    driver = Driver(FoldSettings(horizon_ms=hour, dedup_retention_ms=2 * hour))
    kept: dict[Any, tuple[tuple[Any, ...], Any]] = {}  # key -> (state as written, mark)
    for batch in _batches(data.draw, _arrivals(data.draw, log)):
        driver.feed(batch)
        for key, ledger in driver.ledgers.items():
            if key in kept:
                state, mark = kept[key]
                delta = ledger.delta_since(mark)
                if delta is not None:
                    assert KeyLedger.extend_state(state, delta) == ledger.to_state()
            kept[key] = (ledger.to_state(), ledger.mark())


def test_compaction_and_a_late_posting_near_the_end_still_make_a_delta() -> None:
    """Compaction drops whole blocks from the front and a late posting is spliced in near
    the end: still a delta (the new base, the bytes from the splice on), much smaller."""
    hour = 3_600_000
    ledger = KeyLedger("SKU-1", "WH-A", FoldSettings(horizon_ms=hour))
    driver = Driver(FoldSettings(horizon_ms=hour))
    driver.ledgers["SKU-1|WH-A"] = ledger
    receipts = [receipt(i, step_ms=60_000) for i in range(200)]
    driver.feed(receipts[:100])
    state, mark = ledger.to_state(), ledger.mark()
    driver.feed(receipts[100:140])
    driver.feed(
        [{**receipts[135], "event_id": "LATE", "source_sequence": 999, "occurred_at": receipts[135]["occurred_at"] - 1}]
    )
    assert driver.late == 1
    delta = ledger.delta_since(mark)
    assert delta is not None and delta[4] > 0  # bytes dropped from the front
    assert KeyLedger.extend_state(state, delta) == ledger.to_state()
    assert len(pickle.dumps(delta)) < len(pickle.dumps(ledger.to_state())) / 2
