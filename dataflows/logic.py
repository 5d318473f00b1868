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


class FoldLogic(StatefulBatchLogic[Posting | Rejection, FoldOut, bytes]):
    """One key's ledger. Snapshots are its pickled `to_state()`: immutable bytes, and the
    ledger's packed history and id array make that a cheap, flat copy."""

    __slots__ = ("ledger", "settings")

    def __init__(self, settings: FoldSettings, resume: bytes | None) -> None:
        self.settings = settings
        self.ledger: KeyLedger | None = None
        if resume is not None:  # under the flow's current horizon and retention
            self.ledger = KeyLedger.from_state(pickle.loads(resume), settings)
            metrics.KEYS.inc()

    def _ledger_for(self, first: Posting | Rejection) -> KeyLedger:
        if isinstance(first, Rejection):
            sku, location = first.sku or "", first.location or ""
        else:
            sku, location = first.key
        metrics.KEYS.inc()
        return KeyLedger(sku, location, self.settings)

    def on_batch(self, values: list[Posting | Rejection]) -> tuple[Iterable[FoldOut], bool]:
        ledger = self.ledger
        if ledger is None:
            ledger = self.ledger = self._ledger_for(values[0])
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
        assert self.ledger is not None
        return pickle.dumps(self.ledger.to_state(), protocol=pickle.HIGHEST_PROTOCOL)
