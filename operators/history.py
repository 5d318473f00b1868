"""The retained history of one key, packed: what late events are re-sequenced against.

Why packed: Bytewax snapshots every touched key's whole state at each epoch, and a
key keeps every posting inside the lateness horizon. As Python objects a posting cost
~1 KB and pickling walked each one; here it is ~40 bytes plus its ids in one
bytearray, so a snapshot is a memory copy and 1M keys fit in RAM.

A snapshot holds the packed entries and the base state only; the checkpoints and the
head are re-derived by re-folding when a key is restored (exact: the fold is pure).

Layout: entry i is `_HEAD` (occurred_at, source_sequence, base_qty, op, sub, and the
byte lengths of event_id, order_id, account_id) followed by those three UTF-8 strings.
`_times` holds each entry's occurred_at for bisecting. Every `CHECKPOINT_EVERY`
entries a checkpoint keeps (byte offset, state before the entry, accounts before
it), so re-folding after a late arrival starts at most that many entries early, and
compaction drops whole blocks (the first checkpoint is the base).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from operators.events import Disposition, EventType, OrderKey, Status
from operators.fold import EMPTY, Buckets, Move

CHECKPOINT_EVERY = 32

_HEAD = struct.Struct("<qqqBBIII")
_TYPES: tuple[EventType, ...] = tuple(EventType)
_TYPE_CODE = {t: i for i, t in enumerate(_TYPES)}
_STATUSES: tuple[Status | None, ...] = (None, *Status)
_STATUS_CODE = {s: i for i, s in enumerate(_STATUSES)}
_DISPOSITIONS: tuple[Disposition | None, ...] = (None, *Disposition)
_DISPOSITION_CODE = {d: i for i, d in enumerate(_DISPOSITIONS)}
_COUNTERPART = 0x80

Accounts = tuple[tuple[str, int], ...]
Checkpoint = tuple[int, Buckets, Accounts]  # (byte offset, state before, accounts before)
Entry = tuple[OrderKey, Move]

_BASE: Checkpoint = (0, EMPTY, ())


def encode(key: OrderKey, move: Move) -> bytes:
    occurred_at, sequence, event_id = key
    eid = event_id.encode()
    oid = move.order_id.encode() if move.order_id else b""
    acc = move.account_id.encode() if move.account_id else b""
    op = _TYPE_CODE[move.event_type] | (_COUNTERPART if move.counterpart else 0)
    sub = _STATUS_CODE[move.status] | (_DISPOSITION_CODE[move.disposition] << 4)
    return _HEAD.pack(occurred_at, sequence, move.base_qty, op, sub, len(eid), len(oid), len(acc)) + eid + oid + acc


def decode(blob: bytes | bytearray, offset: int = 0) -> list[Entry]:
    """Every entry from `offset` (an entry boundary) to the end."""
    out: list[Entry] = []
    view, end, size, unpack = memoryview(blob), len(blob), _HEAD.size, _HEAD.unpack_from
    while offset < end:
        occurred_at, sequence, qty, op, sub, n_eid, n_oid, n_acc = unpack(view, offset)
        offset += size
        eid = str(view[offset : offset + n_eid], "utf-8")
        offset += n_eid
        oid = str(view[offset : offset + n_oid], "utf-8") if n_oid else None
        offset += n_oid
        acc = str(view[offset : offset + n_acc], "utf-8") if n_acc else None
        offset += n_acc
        move = Move(
            _TYPES[op & 0x7F], qty, oid, acc, _STATUSES[sub & 0x0F], _DISPOSITIONS[sub >> 4], bool(op & _COUNTERPART)
        )
        out.append(((occurred_at, sequence, eid), move))
    return out


def _frozen(accounts: Mapping[str, int]) -> Accounts:
    return tuple(accounts.items()) if accounts else ()


class History:
    """Retained postings of one key in (occurred_at, source_sequence, event_id) order."""

    __slots__ = ("_blob", "_checkpoints", "_times", "last_key")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._times = array("q")
        self._checkpoints: list[Checkpoint] = [_BASE]
        self.last_key: OrderKey | None = None

    def __len__(self) -> int:
        return len(self._times)

    def append(self, key: OrderKey, move: Move, state_before: Buckets, accounts_before: Mapping[str, int]) -> None:
        """Add the posting after every retained one (`key` must sort last)."""
        n = len(self._times)
        if n % CHECKPOINT_EVERY == 0 and n // CHECKPOINT_EVERY == len(self._checkpoints):
            self._checkpoints.append((len(self._blob), state_before, _frozen(accounts_before)))
        self._blob += encode(key, move)
        self._times.append(key[0])
        self.last_key = key

    def tail_from(self, occurred_at: int) -> tuple[int, Buckets, Accounts, list[Entry]]:
        """The entries a posting at `occurred_at` can precede, from the checkpoint before
        them: (index of the first, state and accounts before it, the entries)."""
        block = bisect_left(self._times, occurred_at) // CHECKPOINT_EVERY
        offset, state, accounts = self._checkpoints[block]
        return block * CHECKPOINT_EVERY, state, accounts, decode(self._blob, offset)

    def truncate(self, index: int) -> None:
        """Forget entries from `index` (a block boundary from `tail_from`) on; re-append them."""
        block = index // CHECKPOINT_EVERY
        assert block * CHECKPOINT_EVERY == index and block < len(self._checkpoints)
        del self._blob[self._checkpoints[block][0] :]
        del self._times[index:]
        del self._checkpoints[block + 1 :]

    def compact(self, cutoff: int) -> None:
        """Drop whole blocks of entries older than `cutoff`; the next checkpoint becomes the base."""
        blocks = bisect_left(self._times, cutoff) // CHECKPOINT_EVERY
        if blocks <= 0:
            return
        start = self._checkpoints[blocks][0]
        del self._blob[:start]
        del self._times[: blocks * CHECKPOINT_EVERY]
        self._checkpoints = [(o - start, s, a) for o, s, a in self._checkpoints[blocks:]]

    def everything(self) -> tuple[int, Buckets, Accounts, list[Entry]]:
        """Like `tail_from`, from the base: what a restored ledger re-folds."""
        _, state, accounts = self._checkpoints[0]
        return 0, state, accounts, decode(self._blob)

    # -- snapshot form: flat bytes and the base state; checkpoints are re-derived ---

    def __getstate__(self) -> tuple[Any, ...]:
        _, base, accounts = self._checkpoints[0]
        return (bytes(self._blob), self._times.tobytes(), tuple(base), accounts, self.last_key)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        """Only the base checkpoint: the owner re-folds `everything()` to rebuild the rest."""
        blob, times, base, accounts, self.last_key = state
        self._blob = bytearray(blob)
        self._times = array("q")
        self._times.frombytes(times)
        self._checkpoints = [(0, Buckets(*base), accounts)]
