"""GroupLogic: epochs, restarts, crashes between our write and Bytewax's commit, and cool
keys leaving memory change nothing a live ledger would emit."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ledger_store import LedgerStore, LedgerStoreError
from dataflows.logic import COOL_HISTORY, COOL_ITEMS, GroupLogic, GroupState
from operators import AvailabilitySnapshot, FoldSettings, route, validate
from operators.routing import KEY_GROUPS, group_of
from tests.operators.strategies import ITEM_MASTER, oracle, receipt, valid_log

Batch = dict[str, list[Any]]  # group -> [(key, item)]


def _grouped(raws: list[dict[str, Any]]) -> Batch:
    grouped: Batch = defaultdict(list)
    for raw in raws:
        for key, item in route(validate(raw, ITEM_MASTER)):
            if key is not None:
                grouped[group_of(key)].append((key, item))
    return grouped


def _batches(draw: Any, log: list[dict[str, Any]]) -> list[Batch]:
    arrivals = draw(st.permutations(log + draw(st.lists(st.sampled_from(log), max_size=5))))
    cuts = sorted(draw(st.lists(st.integers(0, len(arrivals)), max_size=8)))
    return [_grouped(arrivals[a:b]) for a, b in itertools.pairwise([0, *cuts, len(arrivals)])]


def _final(snapshots: list[AvailabilitySnapshot]) -> dict[tuple[str, str], AvailabilitySnapshot]:
    last: dict[tuple[str, str], AvailabilitySnapshot] = {}
    for s in snapshots:
        if (s.sku, s.location) not in last or s.version > last[(s.sku, s.location)].version:
            last[(s.sku, s.location)] = s
    return last


def _run(batches: list[Batch], epochs: list[bool], restart: list[bool], crash: list[bool], root: Path) -> list[Any]:
    """Feed the batches as Bytewax would. At an epoch end every group touched since the
    last one is snapshotted; then `restart` rebuilds every group from the committed
    snapshots, and `crash` (once per batch) drops this epoch's snapshots after the store
    wrote them, rebuilds from the previous epoch's and replays the batches since."""
    store = LedgerStore(root, KEY_GROUPS, sync=False)
    committed: dict[str, GroupState] = {}
    logics: dict[str, GroupLogic] = {}
    touched: set[str] = set()
    out: list[Any] = []
    pending: list[Any] = []  # emitted since the last committed epoch
    crashed: set[int] = set()
    since, i = 0, 0  # first batch after the last committed epoch
    while i < len(batches):
        for group, values in batches[i].items():
            logic = logics.get(group) or logics.setdefault(
                group, GroupLogic(FoldSettings(), store.group, committed.get(group))
            )
            emitted, retain = logic.on_batch(values)
            assert retain is False
            pending.extend(x for x in emitted if isinstance(x, AvailabilitySnapshot))
            touched.add(group)
        if epochs[i]:
            snapshots = {group: logics[group].snapshot() for group in touched}
            touched = set()
            if crash[i] and i not in crashed:
                crashed.add(i)
                logics, pending = {}, []
                i = since
                continue
            committed |= snapshots
            out += pending
            pending = []
            since = i + 1
            if restart[i]:
                logics = {}
        i += 1
    store.close()
    return out + pending


@settings(max_examples=150, deadline=None)
@given(data=st.data(), log=valid_log(max_size=30))
def test_epochs_restarts_and_crashes_end_where_a_live_ledger_ends(data: Any, log: list[dict[str, Any]]) -> None:
    batches = _batches(data.draw, log)
    n = len(batches)
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    with TemporaryDirectory() as tmp:
        live = _run(batches, [False] * n, [False] * n, [False] * n, Path(tmp) / "live")
        stored = _run(batches, data.draw(flags), data.draw(flags), data.draw(flags), Path(tmp) / "stored")
    assert _final(stored) == _final(live)
    assert {k: (s.on_hand, s.version) for k, s in _final(live).items()} == {
        k: (state.on_hand, version) for k, (state, version) in oracle(log).items()
    }


def test_without_a_crash_every_batch_emits_what_a_live_ledger_emits(tmp_path: Path) -> None:
    """Restarts from committed epochs (no crash): not only the end state, every snapshot."""
    log = [_receipt(i, location=f"WH-{i % 3}", late=i % 4 == 3) for i in range(40)]
    batches = [_grouped(log[i : i + 5]) for i in range(0, 40, 5)]
    n = len(batches)
    live = _run(batches, [False] * n, [False] * n, [False] * n, tmp_path / "live")
    assert _run(batches, [True] * n, [i % 2 == 0 for i in range(n)], [False] * n, tmp_path / "stored") == live


def _receipt(i: int, location: str = "WH-A", late: bool = False) -> dict[str, Any]:
    return receipt(i, location=location, quantity=1 + i, shift_ms=-5_500 if late else 0)


def _one_group(tmp_path: Path) -> GroupLogic:
    return GroupLogic(FoldSettings(), LedgerStore(tmp_path, KEY_GROUPS, sync=False).group, None)


def test_a_cool_key_leaves_memory_and_its_next_batch_reads_it_back(tmp_path: Path) -> None:
    items = _grouped([_receipt(i) for i in range(COOL_ITEMS + 3)])[group_of("SKU-1|WH-A")]
    busy = _one_group(tmp_path / "busy")
    cool = _one_group(tmp_path / "cool")
    busy.on_batch(items)
    cool.on_batch(items[:1])
    assert cool.snapshot() == (1, 1)
    busy.snapshot()
    assert "SKU-1|WH-A" not in cool.live and "SKU-1|WH-A" in busy.live
    out, _ = cool.on_batch(items[1:])
    ledger, reference = cool.live["SKU-1|WH-A"], busy.live["SKU-1|WH-A"]
    assert ledger.snapshot() == reference.snapshot()  # buckets, version, as_of, last event, accounts
    assert [s for s in out if isinstance(s, AvailabilitySnapshot)][-1].version == len(items)


def test_a_key_with_a_long_history_stays_live_even_when_cool(tmp_path: Path) -> None:
    """Reading a key back re-folds its whole retained history: a long one is kept."""
    items = _grouped([_receipt(i) for i in range(COOL_HISTORY + 2)])[group_of("SKU-1|WH-A")]
    logic = _one_group(tmp_path)
    logic.on_batch(items[:-1])
    logic.snapshot()
    logic.on_batch(items[-1:])  # one item this epoch: cool, but the history is long
    logic.snapshot()
    assert logic.live["SKU-1|WH-A"].retained > COOL_HISTORY


def test_an_epoch_writes_only_the_keys_it_changed(tmp_path: Path) -> None:
    events = [_receipt(i, location=f"WH-{i}") for i in range(6)]
    grouped = _grouped(events)
    group, values = max(grouped.items(), key=lambda kv: len(kv[1]))
    store = LedgerStore(tmp_path, KEY_GROUPS, sync=False)
    logic = GroupLogic(FoldSettings(), store.group, None)
    logic.on_batch(values)
    gen, keys = logic.snapshot()
    assert (gen, keys) == (1, len(values))
    logic.on_batch(values[:1])
    assert logic.snapshot() == (2, len(values))
    written = store.group(group)._db.get(b"g" + (2).to_bytes(8, "big"))
    assert written is not None and values[0][0].encode() in written
    assert not any(key.encode() in written for key, _ in values[1:])


def test_per_key_state_from_before_key_groups_is_refused_not_dropped(tmp_path: Path) -> None:
    """Such a dir's keys would never get a batch again (batches go to groups): every key
    would silently start empty. Refused with what to do instead."""
    store = LedgerStore(tmp_path, KEY_GROUPS, sync=False)
    with pytest.raises(LedgerStoreError, match="before key groups"):
        GroupLogic(FoldSettings(), store.group, b"\x80\x05old-per-key-bytes")  # type: ignore[arg-type]
