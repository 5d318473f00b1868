"""The retained history of one key, packed: what late events are re-sequenced against.

Why packed: the shell writes every changed key's state at each epoch end, and a key
keeps every posting inside the lateness horizon. As Python objects a posting cost
~1 KB and pickling walked each one; here it is ~40 bytes plus its ids in one
bytearray, so a snapshot is a memory copy and 1M keys fit in RAM.

A snapshot holds the packed entries and the base state only; the checkpoints and the
head are re-derived by re-folding when a key is restored (exact: the fold is pure).

Layout: entry i is `_HEAD` (occurred_at, source_sequence, base_qty, op, sub, and the
byte lengths of event_id, order_id, account_id) followed by those three UTF-8 strings.
`_times` holds each entry's occurred_at for bisecting. Every `CHECKPOINT_EVERY`
entries a checkpoint keeps (byte offset, state before the entry, accounts before
it), so re-folding after a late arrival starts at most that many entries early, and
compaction drops whole blocks (the first checkpoint is the base). A late posting is
spliced into the bytes in place; only states are re-folded, nothing re-encoded.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

from operators.events import Disposition, EventType, OrderKey, Status
from operators.fold import EMPTY, Buckets, Move

CHECKPOINT_EVERY = 32
_SPLICES_KEPT = 16

_HEAD = struct.Struct("<qqqBBIII")
_TYPES: tuple[EventType, ...] = tuple(EventType)
_TYPE_CODE = {t: i for i, t in enumerate(_TYPES)}
_STATUSES: tuple[Status | None, ...] = (None, *Status)
_STATUS_CODE = {s: i for i, s in enumerate(_STATUSES)}
_DISPOSITIONS: tuple[Disposition | None, ...] = (None, *Disposition)
_DISPOSITION_CODE = {d: i for i, d in enumerate(_DISPOSITIONS)}
_COUNTERPART = 0x80
# in the status nibble (statuses use its low two bits):
_FLAGGED = 0x04  # from a source the policy flags as not authoritative for it
_ADOPT = 0x08  # an adopted balance snapshot

Accounts = tuple[tuple[str, int], ...]
HistoryMark = tuple[int, int, int]  # (bytes dropped ever, length, splices ever)
Checkpoint = tuple[int, Buckets, Accounts]  # (byte offset, state before, accounts before)
Splice = tuple[int, bytes, int, int]
"""A late entry not yet written: (byte offset, its bytes, its index, its occurred_at)."""
Refold = tuple[int, Buckets, Accounts, list[Move], list[int], list[OrderKey], Splice | None]
"""(index of the first entry to re-fold, state and accounts before it, the moves from
there on, their byte offsets once the splice is in, their keys, and the splice that
`commit` writes)."""

_BASE: Checkpoint = (0, EMPTY, ())


def encode(key: OrderKey, move: Move) -> bytes:
    occurred_at, sequence, event_id = key
    eid = event_id.encode()
    oid = move.order_id.encode() if move.order_id else b""
    acc = move.account_id.encode() if move.account_id else b""
    op = _TYPE_CODE[move.event_type] | (_COUNTERPART if move.counterpart else 0)
    sub = _STATUS_CODE[move.status] | (_DISPOSITION_CODE[move.disposition] << 4)
    sub |= (_ADOPT if move.adopt else 0) | (_FLAGGED if move.flagged else 0)
    return _HEAD.pack(occurred_at, sequence, move.base_qty, op, sub, len(eid), len(oid), len(acc)) + eid + oid + acc


def decode(blob: bytes | bytearray, offset: int = 0) -> tuple[list[OrderKey], list[Move], list[int]]:
    """Every entry from `offset` (an entry boundary) to the end: keys, moves, byte offsets."""
    keys: list[OrderKey] = []
    moves: list[Move] = []
    offsets: list[int] = []
    view, end, size, unpack = memoryview(blob), len(blob), _HEAD.size, _HEAD.unpack_from
    while offset < end:
        offsets.append(offset)
        occurred_at, sequence, qty, op, sub, n_eid, n_oid, n_acc = unpack(view, offset)
        offset += size
        eid = str(view[offset : offset + n_eid], "utf-8")
        offset += n_eid
        oid = str(view[offset : offset + n_oid], "utf-8") if n_oid else None
        offset += n_oid
        acc = str(view[offset : offset + n_acc], "utf-8") if n_acc else None
        offset += n_acc
        keys.append((occurred_at, sequence, eid))
        moves.append(
            Move(
                _TYPES[op & 0x7F],
                qty,
                oid,
                acc,
                _STATUSES[sub & 0x03],
                _DISPOSITIONS[sub >> 4],
                bool(op & _COUNTERPART),
                bool(sub & _ADOPT),
                bool(sub & _FLAGGED),
            )
        )
    return keys, moves, offsets


def frozen(accounts: Mapping[str, int]) -> Accounts:
    return tuple(accounts.items()) if accounts else ()


class History:
    """Retained postings of one key in (occurred_at, source_sequence, event_id) order."""

    __slots__ = ("_blob", "_checkpoints", "_dropped", "_spliced", "_splices", "_times", "last_key")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._times = array("q")
        self._checkpoints: list[Checkpoint] = [_BASE]
        self.last_key: OrderKey | None = None
        self._dropped = 0  # bytes compaction removed from the front, ever (for `since`)
        self._spliced = 0  # late postings spliced into the middle, ever
        self._splices: list[tuple[int, int]] | None = None  # the last few: (number, offset + _dropped)

    def __len__(self) -> int:
        return len(self._times)

    def append(self, key: OrderKey, move: Move, state_before: Buckets, accounts_before: Mapping[str, int]) -> None:
        """Add the posting after every retained one (`key` must sort last)."""
        n = len(self._times)
        if n % CHECKPOINT_EVERY == 0 and n // CHECKPOINT_EVERY == len(self._checkpoints):
            self._checkpoints.append((len(self._blob), state_before, frozen(accounts_before)))
        self._blob += encode(key, move)
        self._times.append(key[0])
        self.last_key = key

    def insert(self, key: OrderKey, move: Move) -> Refold:
        """What inserting a posting that sorts before the last one re-folds: from the
        checkpoint before it, every move after that, with their byte offsets once it is
        in. Nothing changes until the caller, its re-fold found to fit, hands the splice
        to `commit` and the new checkpoints to `set_checkpoints`."""
        block = bisect_left(self._times, key[0]) // CHECKPOINT_EVERY
        offset, state, accounts = self._checkpoints[block]
        keys, moves, offsets = decode(self._blob, offset)
        i = bisect_right(keys, key)
        at = offsets[i] if i < len(offsets) else len(self._blob)
        data = encode(key, move)
        start = block * CHECKPOINT_EVERY
        moves.insert(i, move)
        keys.insert(i, key)
        offsets.insert(i, at)
        offsets[i + 1 :] = [o + len(data) for o in offsets[i + 1 :]]
        return start, state, accounts, moves, offsets, keys, (at, data, start + i, key[0])

    def commit(self, splice: Splice) -> None:
        """Write a late entry `insert` planned."""
        at, data, index, time = splice
        self._blob[at:at] = data
        self._spliced += 1
        splices = self._splices = self._splices or []
        splices.append((self._spliced, at + self._dropped))
        del splices[:-_SPLICES_KEPT]
        self._times.insert(index, time)

    def everything(self) -> Refold:
        """Like `insert` without inserting, from the base: what a restored key re-folds.
        Decoding once here also rebuilds the entry times a snapshot leaves out."""
        _, state, accounts = self._checkpoints[0]
        keys, moves, offsets = decode(self._blob)
        self._times = array("q", (k[0] for k in keys))
        self.last_key = keys[-1] if keys else None
        return 0, state, accounts, moves, offsets, keys, None

    def set_checkpoints(self, first_block: int, checkpoints: list[Checkpoint]) -> None:
        """Replace the checkpoints from `first_block` on (after a re-fold)."""
        self._checkpoints[first_block:] = checkpoints

    @property
    def first_time(self) -> int | None:
        """The occurred_at of the oldest retained entry."""
        return self._times[0] if self._times else None

    def compact(self, cutoff: int) -> bool:
        """Drop whole blocks of entries older than `cutoff` (whether it did); the next
        checkpoint becomes the base."""
        blocks = bisect_left(self._times, cutoff) // CHECKPOINT_EVERY
        if blocks <= 0:
            return False
        start = self._checkpoints[blocks][0]
        del self._blob[:start]
        self._dropped += start
        del self._times[: blocks * CHECKPOINT_EVERY]
        self._checkpoints = [(o - start, s, a) for o, s, a in self._checkpoints[blocks:]]
        return True

    # -- what changed since a mark: lets a store write a busy key's growth, not all of it

    def mark(self) -> HistoryMark:
        return (self._dropped, len(self._blob), self._spliced)

    def since(self, mark: HistoryMark) -> tuple[int, int, bytes] | None:
        """What changed since `mark`: (bytes dropped from the front, bytes kept after them,
        the bytes from there on). Offsets plus `_dropped` stay fixed for every byte before
        the first splice, so everything before the lowest splice point (or the marked end)
        is unchanged. None when more splices happened than are remembered, or compaction
        reached the changed part."""
        dropped, length, spliced = mark
        changed = dropped + length
        if spliced != self._spliced:
            recent = [offset for n, offset in self._splices or () if n > spliced]
            if len(recent) < self._spliced - spliced:
                return None
            changed = min(changed, *recent)
        keep = changed - self._dropped
        if keep < 0:
            return None
        return self._dropped - dropped, keep, bytes(self._blob[keep:])

    def base(self) -> tuple[Any, Accounts]:
        """The base state as the snapshot form has it (None for the empty one), and its accounts."""
        _, base, accounts = self._checkpoints[0]
        return (None if base == EMPTY else tuple(base), accounts)

    # -- snapshot form: flat bytes and the base state; checkpoints are re-derived ---

    def __getstate__(self) -> tuple[Any, ...]:
        """(packed entries, base state or None for the empty one, base accounts); entry
        times and the last key are re-read from the entries (compaction always keeps the
        newest entry, so a key that ever had one still has it)."""
        return (bytes(self._blob), *self.base())

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        """Only the base checkpoint: the owner re-folds `everything()` to rebuild the times,
        the checkpoints, the last key and the head (one decode of the entries)."""
        blob, base, accounts = state
        self.last_key = None
        self._dropped = self._spliced = 0
        self._splices = None
        self._blob = bytearray(blob)
        self._times = array("q")
        self._checkpoints = [(0, EMPTY if base is None else Buckets(*base), accounts)]
