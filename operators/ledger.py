"""The per-key ledger: deduplicated, ordered, late-tolerant folding of one (sku, location).

Contract: after any sequence of batches, `head` equals `fold` of every accepted
posting sorted by (occurred_at, source_sequence, event_id), each event_id once,
provided no posting arrived later than the lateness horizon.

In-order postings are applied at once (O(1)). A late posting is inserted in
order and the fold is recomputed from the nearest checkpoint before it (at most
`CHECKPOINT_EVERY` postings earlier). History older than the horizon is compacted
into the base state in whole blocks. The history is packed (see `history`), so the
snapshot form of a key is a copy of a few flat buffers, and `delta_since` gives what it
gained since a mark.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

from operators._native import Ledger, LedgerKit
from operators.anomalies import ANOMALIES, Anomaly, AnomalyCheck, detect, quantities
from operators.changes import Change
from operators.dedup import SeenIds, reported_key
from operators.events import Disposition, EventType, InventoryEvent, OrderKey, Status
from operators.exceptions import Overflow
from operators.fold import EMPTY, Buckets, Move, Posting, account_delta, apply, fits
from operators.history import CHECKPOINT_EVERY, Accounts, Checkpoint, History, HistoryMark, Splice, frozen
from operators.reconciliation import BUCKET_OF_STATUS, BUCKETS, BalanceCheck, Bucket
from operators.rejects import Duplicate, Reason, Rejection, duplicate_of
from operators.snapshot import AvailabilitySnapshot

HOUR_MS = 3_600_000
MAX_CORRELATION_IDS = 32  # distinct correlation ids a snapshot carries, the newest of its batch
MAX_SOURCE_SYSTEMS = 32  # distinct source systems a snapshot names, the newest of its batch
LedgerMark = tuple[HistoryMark, tuple[int, int]]
Flags = dict[tuple[str, Anomaly], AnomalyCheck]  # (event_id, reason) -> its check
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class FoldSettings:
    """Lateness horizon (exact re-ordering window) and dedup memory, in event-time ms."""

    horizon_ms: int = DAY_MS
    dedup_retention_ms: int = 7 * DAY_MS

    def __post_init__(self) -> None:
        if self.horizon_ms < 0 or self.dedup_retention_ms < self.horizon_ms:
            raise ValueError("need 0 <= horizon <= dedup retention")


@dataclass(slots=True)
class BatchOutcome:
    """What one batch did to a key; the shell turns it into outputs and metrics."""

    snapshot: AvailabilitySnapshot | None = None
    rejects: list[Rejection] = field(default_factory=list)
    applied: list[EventType] = field(default_factory=list)
    late: list[EventType] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)  # (event type, source system) of each
    checks: list[BalanceCheck] = field(default_factory=list)  # balance snapshots, (re-)checked
    anomalies: list[AnomalyCheck] = field(default_factory=list)  # found, changed or cleared
    causes: list[str] = field(default_factory=list)  # event ids of the postings applied, in order
    change: Change | None = None  # the native ledger's, when asked for (it carries the snapshot)


def _findings(key: OrderKey, move: Move, before: Buckets, after: Buckets, version: int) -> list[AnomalyCheck]:
    """`detect`'s findings on one posting as the checks the ledger emits."""
    found = detect(before, move, after)
    if not found:
        return []
    was, now = quantities(before), quantities(after)
    return [
        AnomalyCheck(key[2], move.event_type, f.reason, f.subject, f.figure, move.base_qty, was, now, key[0], version)
        for f in found
    ]


def _flag_order(flag: tuple[str, Anomaly]) -> tuple[str, int]:
    return (flag[0], ANOMALIES.index(flag[1]))


_CONFLICT = "event_id already seen with a different payload; the first one wins"


def _note(seen: dict[str, None], value: str | None, cap: int) -> None:
    """Note a distinct value in order, keeping the newest `cap` (a snapshot stays small)."""
    if value and value not in seen:
        seen[value] = None
        if len(seen) > cap:
            del seen[next(iter(seen))]


def _conflicting(item: Posting | Rejection) -> Rejection:
    """The second payload of an event_id: the first one seen wins."""
    if isinstance(item, Posting):
        return Rejection.of_event(item.event, Reason.CONFLICTING_DUPLICATE, _CONFLICT)
    return Rejection(
        Reason.CONFLICTING_DUPLICATE, _CONFLICT, item.payload, item.event_id, item.correlation_id, item.origin
    )


def _beyond_retention(event: InventoryEvent, settings: FoldSettings) -> Rejection:
    return Rejection.of_event(
        event,
        Reason.BEYOND_RETENTION,
        f"older than the dedup retention ({settings.dedup_retention_ms} ms) "
        "behind the key's latest event: cannot prove it was not applied already",
    )


def _late_beyond_horizon(event: InventoryEvent, settings: FoldSettings) -> Rejection:
    return Rejection.of_event(
        event,
        Reason.LATE_BEYOND_HORIZON,
        f"older than the lateness horizon ({settings.horizon_ms} ms); applied at the start of the retained history",
    )


_OVERFLOW_DETAIL = (
    "applying it would take a figure beyond int64 (a bucket, on hand, available, or an order's "
    "or an account's open reservations): nothing of it was applied"
)


class KeyLedger:
    __slots__ = (
        "_accounts_view",
        "_flags",
        "_history",
        "_seen",
        "_seen_pruned_at",
        "accounts",
        "as_of",
        "head",
        "location",
        "settings",
        "sku",
        "version",
    )

    def __init__(self, sku: str, location: str, settings: FoldSettings = FoldSettings()) -> None:
        self.sku = sys.intern(sku)  # a SKU's keys, and a location's, share one string
        self.location = sys.intern(location)
        self.settings = settings
        self.head: Buckets = EMPTY
        self.version = 0
        self.as_of: int | None = None
        self._history = History()
        self._seen = SeenIds()
        self._seen_pruned_at = 0
        self.accounts: dict[str, int] = {}  # net reservations per account, summed from the deltas
        self._accounts_view: tuple[tuple[str, int], ...] | None = ()  # sorted non-zero; None: stale
        self._flags: Flags = {}  # the anomalies of retained postings, as last emitted

    @property
    def last_event_id(self) -> str:
        key = self._history.last_key
        return key[2] if key is not None else ""

    @property
    def retained(self) -> int:
        """Postings kept for exact re-ordering (inside the horizon, plus part of a block)."""
        return len(self._history)

    @property
    def remembered_ids(self) -> int:
        return len(self._seen)

    def quantities(self) -> tuple[int, int, int, int, int, int]:
        """The head's six quantities: a change's `before`."""
        return quantities(self.head)

    def snapshot(
        self, correlation_ids: tuple[str, ...] = (), source_systems: tuple[str, ...] = ()
    ) -> AvailabilitySnapshot:
        return AvailabilitySnapshot.of(
            self.sku,
            self.location,
            self.head,
            self.version,
            self.as_of or 0,
            self.last_event_id,
            correlation_ids,
            self._accounts_sorted(),
            source_systems,
        )

    def _accounts_sorted(self) -> tuple[tuple[str, int], ...]:
        view = self._accounts_view
        if view is None:
            view = self._accounts_view = tuple(sorted((a, q) for a, q in self.accounts.items() if q))
        return view

    def _account(self, delta: tuple[str, int] | None) -> None:
        if delta is not None:
            account, qty = delta
            self.accounts[account] = self.accounts.get(account, 0) + qty
            self._accounts_view = None

    def on_batch(self, items: list[Posting | Rejection]) -> BatchOutcome:
        """Fold a batch of postings (and keyed rejections, deduplicated here too)."""
        out = BatchOutcome()
        correlation: dict[str, None] = {}
        sources: dict[str, None] = {}
        for item in items:
            if isinstance(item, Rejection):
                self._on_rejection(item, out)
            elif self._on_posting(item, out):
                event = item.event
                _note(correlation, event.correlation_id, MAX_CORRELATION_IDS)
                _note(sources, event.source_system, MAX_SOURCE_SYSTEMS)
        if out.applied:
            self._compact()
            out.snapshot = self.snapshot(tuple(correlation), tuple(sources))
        return out

    def _on_rejection(self, item: Rejection, out: BatchOutcome) -> None:
        first = self._seen.digest_of(item.id_hash)
        at = item.occurred_at or self.as_of or 0
        if first == item.digest or not self._first_report(item.id_hash, item.digest, at):
            out.duplicates.append(duplicate_of(item))
        else:
            out.rejects.append(item if first is None else _conflicting(item))

    def _first_report(self, id_hash: int, digest: int, at: int) -> bool:
        """Whether this payload of an id has not been rejected before; then it is remembered
        (under `reported_key`, not the id: only an accepted event makes its id seen, so a
        fixed or corrected re-send is applied), and a re-send of it is a duplicate."""
        key = reported_key(id_hash, digest)
        if self._seen.digest_of(key) is not None:
            return False
        self._seen.add(key, digest, at)
        return True

    def _on_posting(self, posting: Posting, out: BatchOutcome) -> bool:
        """Fold one posting: whether it was applied."""
        event = posting.event
        first = self._seen.digest_of(event.id_hash)
        if first is not None:
            if first == event.digest or not self._first_report(event.id_hash, event.digest, event.occurred_at):
                out.duplicates.append((event.event_type.value, event.source_system))
            else:
                out.rejects.append(_conflicting(posting))
            return False
        as_of = self.as_of
        rejected = None
        if as_of is not None and event.occurred_at < as_of - self.settings.dedup_retention_ms:
            rejected, at = _beyond_retention(event, self.settings), as_of
        else:
            try:
                late, checks, anomalies = self._insert(posting)
            except Overflow:
                rejected, at = Rejection.of_event(event, Reason.QUANTITY_OVERFLOW, _OVERFLOW_DETAIL), event.occurred_at
        if rejected is not None:
            if self._first_report(event.id_hash, event.digest, at):
                out.rejects.append(rejected)
            else:
                out.duplicates.append((event.event_type.value, event.source_system))
            return False
        self._seen.add(event.id_hash, event.digest, event.occurred_at)
        out.checks += checks
        out.anomalies += anomalies
        if as_of is not None and event.occurred_at < as_of - self.settings.horizon_ms:
            out.rejects.append(_late_beyond_horizon(event, self.settings))
        if late:
            out.late.append(event.event_type)
        out.applied.append(event.event_type)
        out.causes.append(event.event_id)
        return True

    def _insert(self, posting: Posting) -> tuple[bool, list[BalanceCheck], list[AnomalyCheck]]:
        """Apply one posting in order: whether it arrived out of order, and the balance
        checks and anomaly changes it made (its own, or those of the postings after it a
        late posting re-folds). Raises `Overflow`, with nothing changed, when it would take
        a figure beyond int64."""
        e = posting.event
        key: OrderKey = (e.occurred_at, e.source_sequence, e.event_id)
        move = posting.move
        history = self._history
        last = history.last_key
        late = last is not None and key <= last
        checks: list[BalanceCheck] = []
        anomalies: list[AnomalyCheck] = []
        if late:
            checks, anomalies = self._refold(*history.insert(key, move))
        else:
            head = self.head
            delta = account_delta(head, move)
            self._check_account(self.accounts, delta)
            self.head = apply(head, move)
            history.append(key, move, head, self.accounts)
            self._account(delta)
            if move.event_type is EventType.BALANCE_SNAPSHOT:
                checks.append(self._balance_check(key, move, head))
            for check in _findings(key, move, head, self.head, self.version + 1):
                self._flags[(key[2], check.reason)] = check
                anomalies.append(check)
        self.version += 1
        if self.as_of is None or e.occurred_at > self.as_of:
            self.as_of = e.occurred_at
        return late, checks, anomalies

    def _balance_check(self, key: OrderKey, move: Move, state: Buckets) -> BalanceCheck:
        """A balance snapshot against `state`, the fold at its position; the version it will
        have once the posting being folded is accepted."""
        bucket = BUCKET_OF_STATUS[move.status]
        computed = state.on_hand if bucket is Bucket.ON_HAND else getattr(state, bucket.value)
        return BalanceCheck(
            key[2],
            move.account_id,
            move.order_id,
            bucket,
            move.base_qty,
            computed,
            key[0],
            self.version + 1,
            move.adopt,
        )

    @staticmethod
    def _check_account(accounts: dict[str, int], delta: tuple[str, int] | None) -> None:
        if delta is not None and not fits(accounts.get(delta[0], 0) + delta[1]):
            raise Overflow(f"account {delta[0]}'s net reservations would leave int64")

    def _refold(
        self,
        start: int,
        state: Buckets,
        accounts: Accounts,
        moves: list[Move],
        offsets: list[int],
        keys: list[OrderKey],
        splice: Splice | None,
    ) -> tuple[list[BalanceCheck], list[AnomalyCheck]]:
        """Fold `moves` (history from index `start`) from `state`: the head, the accounts and
        the checkpoints after `start` come out re-derived, and `splice` is committed. Accounts
        are re-summed too: a late event can change what later releases freed. Returns the
        balance checks of the snapshots from the spliced posting on, and the anomalies there
        that are new, changed or gone (none on a restore, which only rebuilds them). On
        `Overflow` nothing changes."""
        every = CHECKPOINT_EVERY
        summed = dict(accounts)
        checkpoints: list[Checkpoint] = []
        checks: list[BalanceCheck] = []
        found: Flags = {}
        restore = splice is None
        after = 0 if restore else splice[2] - start  # type: ignore[index]
        version = self.version + 1
        for i, move in enumerate(moves):
            if i and (start + i) % every == 0:
                checkpoints.append((offsets[i], state, frozen(summed)))
            if i >= after and move.event_type is EventType.BALANCE_SNAPSHOT and not restore:
                checks.append(self._balance_check(keys[i], move, state))
            delta = account_delta(state, move)
            self._check_account(summed, delta)
            if delta is not None:
                summed[delta[0]] = summed.get(delta[0], 0) + delta[1]
            before, state = state, apply(state, move)
            if i >= after:
                for check in _findings(keys[i], move, before, state, version):
                    found[(keys[i][2], check.reason)] = check
        anomalies = self._reflag(found, keys[after:], restore)
        if splice is not None:
            self._history.commit(splice)
        self._history.set_checkpoints(start // every + 1, checkpoints)
        self.accounts = summed
        self._accounts_view = None
        self.head = state
        return checks, anomalies

    def _reflag(self, found: Flags, refolded: list[OrderKey], restore: bool) -> list[AnomalyCheck]:
        """Take `found`, the anomalies of the `refolded` postings: those new or changed are
        returned, and those no longer found are returned `cleared` (a restore returns none)."""
        if restore:
            self._flags = found
            return []
        flags = self._flags
        changes: list[AnomalyCheck] = []
        if flags:
            ids = {k[2] for k in refolded}
            gone = sorted((f for f in flags if f[0] in ids and f not in found), key=_flag_order)
            for flag in gone:
                changes.append(flags.pop(flag)._replace(version=self.version + 1, cleared=True))
        for flag, check in found.items():
            held = flags.get(flag)
            if held is None or held._replace(version=0) != check._replace(version=0):
                flags[flag] = check
                changes.append(check)
        return changes

    def _compact(self) -> None:
        """Drop history older than the horizon (and the anomalies of what it drops); forget
        expired ids."""
        assert self.as_of is not None
        if self._history.compact(self.as_of - self.settings.horizon_ms) and self._flags:
            first = self._history.first_time
            self._flags = {f: c for f, c in self._flags.items() if first is not None and c.as_of >= first}
        retention = self.settings.dedup_retention_ms
        if self.as_of - self._seen_pruned_at > max(HOUR_MS, retention // 64):
            self._seen.forget_before(self.as_of - retention)
            self._seen_pruned_at = self.as_of

    # -- snapshot form: what the shell stores per key at each epoch end ---------------

    def to_state(self) -> tuple[Any, ...]:
        """Plain values and flat bytes, no class references: a 1-event key pickles to about
        200 bytes. The head, accounts and checkpoints are not stored: re-folding the
        retained history from its base gives them exactly. Settings come from the flow."""
        return (
            self.sku,
            self.location,
            self.version,
            self.as_of,
            self._seen_pruned_at,
            self._seen.__getstate__(),
            *self._history.__getstate__(),
        )

    def mark(self) -> LedgerMark:
        """Where the snapshot form stands now, for `delta_since`."""
        return (self._history.mark(), self._seen.mark())

    def delta_since(self, mark: LedgerMark) -> tuple[Any, ...] | None:
        """What `to_state` changed since `mark`, for `extend_state`: the ids added, and of the
        history what compaction dropped from the front and the bytes from the first change
        on (appends, and late postings spliced in near the end, the usual case). None when
        it must be written whole (ids forgotten, many or early splices). Why: a busy key
        keeps a day of postings, and rewriting all of it at every epoch end cost more and
        more as the flow ran."""
        history, seen = self._history.since(mark[0]), self._seen.since(mark[1])
        if history is None or seen is None:
            return None
        drop, keep, tail = history
        base = self._history.base() if drop else None
        return (self.version, self.as_of, self._seen_pruned_at, seen, drop, keep, tail, base)

    @staticmethod
    def extend_state(state: tuple[Any, ...], delta: tuple[Any, ...]) -> tuple[Any, ...]:
        """`to_state` as it was when `delta_since` gave `delta`, from `state` as it was at the mark."""
        sku, location, _, _, _, seen, blob, base, accounts = state
        version, as_of, pruned_at, seen_tail, drop, keep, tail, new_base = delta
        if new_base is not None:
            base, accounts = new_base
        return (
            sku,
            location,
            version,
            as_of,
            pruned_at,
            seen + seen_tail,
            blob[drop : drop + keep] + tail,
            base,
            accounts,
        )

    @classmethod
    def from_state(cls, state: tuple[Any, ...], settings: FoldSettings) -> KeyLedger:
        ledger = cls.__new__(cls)
        ledger.__setstate__(state)
        ledger.settings = settings
        return ledger

    def __getstate__(self) -> tuple[Any, ...]:
        return self.to_state()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        sku, location, self.version, self.as_of, self._seen_pruned_at, seen, *history = state
        self.sku, self.location = sys.intern(sku), sys.intern(location)
        self._seen = SeenIds.__new__(SeenIds)
        self._seen.__setstate__(seen)
        self._history = History.__new__(History)
        self._history.__setstate__(tuple(history))
        self.settings = FoldSettings()
        self._refold(*self._history.everything())


class NativeLedgers:
    """`KeyLedger`'s twin in the native core (operators/native/src/ledger.rs): the same
    decisions, snapshots, snapshot form and deltas, without a Python object per posting
    (the Python ledger was ~40% of a replay). `KeyLedger` stays the reference the native
    one is held to, item for item (tests/operators/test_native_ledger.py)."""

    def __init__(self, settings: FoldSettings = FoldSettings()) -> None:
        self.settings = settings
        classes = (AvailabilitySnapshot, list(EventType), list(Status), list(Disposition), Change)
        self._kit = LedgerKit(settings.horizon_ms, settings.dedup_retention_ms, classes)

    def new(self, sku: str, location: str) -> Ledger:
        return self._kit.ledger(sys.intern(sku), sys.intern(location))

    def restore(self, state: tuple[Any, ...]) -> Ledger:
        """From `to_state` of either ledger (their snapshot forms are the same)."""
        return self._kit.restore(state)

    def restore_records(self, records: list[bytes]) -> Ledger:
        """From a key's stored records, oldest first: `Ledger.persist`'s (a whole record
        and the deltas after it), or pickles of `to_state` and `delta_since` tuples as
        stores written before 2026-11-22 hold them (such a ledger's next record is whole)."""
        if records[0][:1] != _PICKLE:
            return self._kit.restore_records(records)
        state = pickle.loads(records[0])
        for delta in records[1:]:
            state = KeyLedger.extend_state(state, pickle.loads(delta))
        return self._kit.restore(state)

    def fold(
        self, ledger: Ledger, items: list[Posting | Rejection], emitted_at: int | None = None, render: bool = False
    ) -> BatchOutcome:
        """`KeyLedger.on_batch` for a native ledger; `applied` and `late` stay empty (see `counts`).
        With `emitted_at`, the batch's `Change` too (`Change.of` the head before it, made
        natively; with `render`, its JSON as well)."""
        first, notes, causes = ledger.on_batch(items, emitted_at, render)
        out = BatchOutcome(causes=causes)
        if type(first) is Change:
            out.change, out.snapshot = first, first.snapshot
        else:
            out.snapshot = first
        for code, item in notes:
            if code == _NEW_REJECTION:
                out.rejects.append(item)
            elif code == _DUPLICATE_POSTING:
                event = item.event
                out.duplicates.append((event.event_type.value, event.source_system))
            elif code == _DUPLICATE_REJECTION:
                out.duplicates.append(duplicate_of(item))
            elif code in (_CONFLICTING_REJECTION, _CONFLICTING):
                out.rejects.append(_conflicting(item))
            elif code == _BEYOND_RETENTION:
                out.rejects.append(_beyond_retention(item.event, self.settings))
            elif code == _BALANCE_CHECK:
                event_id, source, correlation, bucket, reported, computed, as_of, version, adopted = item
                check = BalanceCheck(
                    event_id, source, correlation, BUCKETS[bucket], reported, computed, as_of, version, adopted
                )
                out.checks.append(check)
            elif code == _ANOMALY_CHECK:
                event_id, etype, reason, subject, figure, qty, before, after, as_of, version, cleared = item
                out.anomalies.append(
                    AnomalyCheck(
                        event_id,
                        _TYPES[etype],
                        ANOMALIES[reason],
                        subject,
                        figure,
                        qty,
                        tuple(before),
                        tuple(after),
                        as_of,
                        version,
                        cleared,
                    )
                )
            elif code == _OVERFLOW:
                out.rejects.append(Rejection.of_event(item.event, Reason.QUANTITY_OVERFLOW, _OVERFLOW_DETAIL))
            else:
                out.rejects.append(_late_beyond_horizon(item.event, self.settings))
        return out

    def counts(self) -> list[tuple[EventType, int, int]]:
        """(type, applied, late) of every type folded since the last call (duplicates are
        in each batch's outcome: they are labelled by source system too)."""
        applied, late = self._kit.take_counts()
        return [(t, a, n) for t, a, n in zip(EventType, applied, late, strict=True) if a or n]


_PICKLE = b"\x80"  # how a pickle (protocol 2 and on) starts; native records start 1 or 2
# the native ledger's note codes (see `Ledger.on_batch` in operators/native/src/ledger_py.rs)
(_NEW_REJECTION, _DUPLICATE_REJECTION, _CONFLICTING_REJECTION, _CONFLICTING, _BEYOND_RETENTION) = range(5)
_LATE, _OVERFLOW, _BALANCE_CHECK, _ANOMALY_CHECK, _DUPLICATE_POSTING = range(5, 10)
_TYPES: tuple[EventType, ...] = tuple(EventType)
