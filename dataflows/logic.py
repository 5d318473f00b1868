"""Bytewax adapters around the pure domain: the ledger as a StatefulBatchLogic."""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from bytewax.operators import StatefulBatchLogic

from dataflows import metrics
from operators import AvailabilitySnapshot, FoldSettings, KeyLedger, Posting, Rejection
from operators.events import EventType

FoldOut = AvailabilitySnapshot | Rejection

_applied = {t: metrics.APPLIED.labels(t.value) for t in EventType}
_late = {t: metrics.LATE.labels(t.value) for t in EventType}

# A key that took at most COOL_ITEMS items between two epochs, and retains at most
# COOL_HISTORY postings, is kept as its snapshot bytes until its next batch. Most of a
# distributor's sku x location keys are cold (the long tail moves a few times a day): as
# bytes they take ~300 bytes instead of ~1 KB of ledger objects, and a restart only has to
# hand Bytewax's bytes over, not re-fold them. A long history stays live: thawing re-folds
# all of it, which for a steadily busy key would be paid again at every epoch.
COOL_ITEMS = 2
COOL_HISTORY = 64


class FoldLogic(StatefulBatchLogic[Posting | Rejection, FoldOut, bytes]):
    """One key's ledger, live while the key is busy and frozen to its snapshot bytes while
    it is cool. Snapshots are its pickled `to_state()`: immutable bytes that Bytewax
    stores and the frozen key shares; thawing re-derives the ledger exactly."""

    __slots__ = ("_frozen", "_items", "ledger", "settings")

    def __init__(self, settings: FoldSettings, resume: bytes | None) -> None:
        self.settings = settings
        self.ledger: KeyLedger | None = None
        self._frozen = resume  # under the flow's current horizon and retention, on thaw
        self._items = 0
        if resume is not None:
            metrics.KEYS.inc()

    def _thaw(self, first: Posting | Rejection) -> KeyLedger:
        if self._frozen is not None:
            ledger = KeyLedger.from_state(pickle.loads(self._frozen), self.settings)
            self._frozen = None
        else:
            if isinstance(first, Rejection):
                sku, location = first.sku or "", first.location or ""
            else:
                sku, location = first.key
            metrics.KEYS.inc()
            ledger = KeyLedger(sku, location, self.settings)
        self.ledger = ledger
        return ledger

    def on_batch(self, values: list[Posting | Rejection]) -> tuple[Iterable[FoldOut], bool]:
        ledger = self.ledger or self._thaw(values[0])
        self._items += len(values)
        outcome = ledger.on_batch(values)
        for t in outcome.applied:
            _applied[t].inc()
        for t in outcome.late:
            _late[t].inc()
        for name in outcome.duplicates:
            metrics.DUPLICATES.labels(name).inc()
        out: list[FoldOut] = list(outcome.rejects)
        if outcome.snapshot is not None:
            out.append(outcome.snapshot)
            metrics.SNAPSHOTS.inc()
            metrics.observe_event_time(outcome.snapshot.as_of)
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        """Called by Bytewax at the end of every epoch that touched the key."""
        if self.ledger is None:
            assert self._frozen is not None
            return self._frozen
        state = pickle.dumps(self.ledger.to_state(), protocol=pickle.HIGHEST_PROTOCOL)
        if self._items <= COOL_ITEMS and self.ledger.retained <= COOL_HISTORY:
            self.ledger, self._frozen = None, state
        self._items = 0
        return state
