"""Bytewax adapters around the pure domain: the ledgers of a key group as a StatefulBatchLogic."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from bytewax.operators import StatefulBatchLogic

from connectors.codec import wall_clock_ms
from connectors.ledger_store import GroupStore, LedgerStoreError
from dataflows import metrics
from operators import AvailabilitySnapshot, FoldSettings, NativeLedgers, Posting, Rejection
from operators._native import Ledger
from operators.anomalies import AnomalyRecord
from operators.changes import Change
from operators.events import EventType
from operators.reconciliation import Reconciliation
from operators.routing import group_of, parts_of

FoldOut = AvailabilitySnapshot | Rejection | Reconciliation | AnomalyRecord | Change
Keyed = tuple[str, Posting | Rejection]  # (sku|location, item)
GroupState = tuple[int, int]  # (store generation, keys the group holds)

_applied = {t: metrics.APPLIED.labels(t.value) for t in EventType}
_late = {t: metrics.LATE.labels(t.value) for t in EventType}

# A key that took at most COOL_ITEMS items in an epoch, and retains at most COOL_HISTORY
# postings, leaves memory once its state is written; its next batch reads it back. Most of
# a distributor's sku x location keys are cold (the long tail moves a few times a day). A
# long history stays live: reading it back re-folds all of it, which for a steadily busy
# key would be paid again at every epoch.
COOL_ITEMS = 2
COOL_HISTORY = 64
DELTAS_PER_WHOLE = 16


class GroupLogic(StatefulBatchLogic[Keyed, FoldOut, GroupState]):
    """The ledgers of one key group. Bytewax's snapshot of it is (generation, keys): the
    ledgers themselves go to the group's `GroupStore` at each epoch end, only those the
    epoch changed (see `connectors.ledger_store` for why and how it stays consistent)."""

    __slots__ = ("_dirty", "_open", "_resume", "changes", "gen", "keys", "ledgers", "live", "render", "store")

    def __init__(
        self,
        settings: FoldSettings,
        open_store: Callable[[str], GroupStore],
        resume: GroupState | None,
        changes: bool = False,
        render: bool = False,
    ):
        if resume is not None and not isinstance(resume, tuple):
            raise LedgerStoreError(
                "the recovery dir holds per-key fold state from before key groups (2026-11-22); "
                "resuming from it would start every key empty: replay the input into a new state dir"
            )
        self.ledgers = NativeLedgers(settings)
        self.changes = changes  # emit each changed key's Change (carrying its snapshot) for the change log
        self.render = render  # and render its JSON once, for the file and the store
        self._open = open_store
        self._resume = resume
        self.store: GroupStore | None = None  # opened by the first batch: the builder is not told its key
        self.gen, self.keys = resume or (0, 0)
        self.live: dict[str, Ledger] = {}
        self._dirty: dict[str, int] = {}  # items per key since the last epoch end
        metrics.KEYS.inc(self.keys)

    def _attach(self, key: str) -> GroupStore:
        store = self.store = self._open(group_of(key))
        store.restore(self._resume[0] if self._resume else None)
        return store

    def _ledger(self, key: str, first: Posting | Rejection) -> Ledger:
        store = self.store or self._attach(key)
        chain = store.get(key)
        if chain:
            ledger = self.ledgers.restore_records(chain)
        else:
            if isinstance(first, Rejection):
                sku, location = first.sku or "", first.location or ""
            else:
                sku, location = first.key
            ledger = self.ledgers.new(sku, location)
            self.keys += 1
            metrics.KEYS.inc()
        self.live[key] = ledger
        return ledger

    def on_batch(self, values: list[Keyed]) -> tuple[Iterable[FoldOut], bool]:
        by_key: dict[str, list[Posting | Rejection]] = {}
        times: list[int] = []  # occurred_at of each event (a transfer's receive side is its second posting)
        for key, item in values:
            items = by_key.get(key)
            if items is None:
                by_key[key] = [item]
            else:
                items.append(item)
            if type(item) is Posting and not item[1]:
                times.append(item[0].occurred_at)
        metrics.FOLD_AGE.observe_ms(wall_clock_ms(), times)
        out: list[FoldOut] = []
        live, dirty, changes, render = self.live, self._dirty, self.changes, self.render
        now = wall_clock_ms() if changes else None
        for key, items in by_key.items():
            ledger = live.get(key) or self._ledger(key, items[0])
            dirty[key] = dirty.get(key, 0) + len(items)
            outcome = self.ledgers.fold(ledger, items, now, render)
            for etype, source in outcome.duplicates:
                metrics.DUPLICATES.labels(etype, metrics.source_label(source)).inc()
            out += outcome.rejects
            if outcome.checks or outcome.anomalies:
                sku, location = parts_of(key)
                out += (Reconciliation(sku, location, check) for check in outcome.checks)
                for found in outcome.anomalies:
                    record = AnomalyRecord.of(sku, location, found)
                    metrics.ANOMALIES.labels(record.reason, location, record.status).inc()
                    out.append(record)
            if outcome.snapshot is not None:
                # the change carries the snapshot: one item per changed key either way
                out.append(outcome.change if outcome.change is not None else outcome.snapshot)
                metrics.SNAPSHOTS.inc()
                metrics.observe_event_time(outcome.snapshot.as_of)
        for t, applied, late in self.ledgers.counts():
            if applied:
                _applied[t].inc(applied)
            if late:
                _late[t].inc(late)
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> GroupState:
        """Called by Bytewax at the end of every epoch that touched the group: the changed
        ledgers go to the store as the next generation, cool ones leave memory.

        A key is written as a delta while its deltas since its last whole record stay
        within DELTAS_PER_WHOLE times that record's size. Only a key read back (after a
        restart, or once cool) re-assembles them; a larger ratio means fewer whole writes
        per epoch, and so a shorter pause (docs/performance.md, "Settings")."""
        if self._dirty and self.store is not None:
            started = time.perf_counter()
            self.gen += 1
            live = self.live
            self.store.commit(self.gen, {key: live[key].persist(DELTAS_PER_WHOLE) for key in self._dirty})
            for key, n in self._dirty.items():
                if n <= COOL_ITEMS and live[key].retained <= COOL_HISTORY:
                    del live[key]
            self._dirty = {}
            metrics.EPOCH_WRITE.observe(time.perf_counter() - started)
        return (self.gen, self.keys)
