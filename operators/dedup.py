"""Compact memory of event ids already seen on a key, for exactly-once application.

One flat 64-bit array of (id hash, payload digest, event time) triples: 24 bytes per
id and one object per key, and it pickles as flat memory (and grows by appending, so
the shell can store a busy key's new ids as a delta). A dict index is built only once a
key has seen many ids, and never pickled.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Any

_INDEX_FROM = 48  # below this a C-level linear scan beats keeping a dict
_WIDTH = 3  # id hash, digest, occurred_at


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (unlike `hash`)."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


_MASK64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: spreads a digest over all 64 bits


def reported_key(id_hash: int, digest: int) -> int:
    """The pseudo id a rejected payload of an id is remembered under (not the id itself,
    which only an accepted event takes), so the same rejection re-sent is reported once:
    (id hash XOR digest times `_MIX`) rotated left by 17, as a signed 64-bit integer
    (`reported_key` in ledger.rs)."""
    x = (id_hash & _MASK64) ^ ((digest * _MIX) & _MASK64)
    x = ((x << 17) | (x >> 47)) & _MASK64
    return x - (1 << 64) if x >> 63 else x


class SeenIds:
    __slots__ = ("_forgets", "_index", "_triples")

    def __init__(self) -> None:
        self._triples = array("q")
        self._index: dict[int, int] | None = None
        self._forgets = 0  # times `forget_before` dropped ids (for `since`)

    def __len__(self) -> int:
        return len(self._triples) // _WIDTH

    def _find(self, id_hash: int) -> int:
        """Position of the id's triple, or -1. A digest or time equal to the hash is skipped."""
        triples, start = self._triples, 0
        while True:
            try:
                i = triples.index(id_hash, start)
            except ValueError:
                return -1
            if i % _WIDTH == 0:
                return i
            start = i + 1

    def digest_of(self, id_hash: int) -> int | None:
        """The payload digest first seen with this id, or None if the id is new."""
        if self._index is None:
            if len(self._triples) < _INDEX_FROM * _WIDTH:
                i = self._find(id_hash)
                return None if i < 0 else self._triples[i + 1]
            t = self._triples
            self._index = {t[i]: i for i in range(0, len(t), _WIDTH)}
        i = self._index.get(id_hash, -1)
        return None if i < 0 else self._triples[i + 1]

    def add(self, id_hash: int, digest: int, occurred_at: int) -> None:
        if self._index is not None:
            self._index[id_hash] = len(self._triples)
        self._triples.extend((id_hash, digest, occurred_at))

    def forget_before(self, cutoff: int) -> int:
        """Drop ids of events older than `cutoff`; returns how many were dropped."""
        t = self._triples
        keep = [i for i in range(0, len(t), _WIDTH) if t[i + 2] >= cutoff]
        dropped = len(self) - len(keep)
        if dropped:
            self._triples = array("q", (t[i + k] for i in keep for k in range(_WIDTH)))
            self._index = None
            self._forgets += 1
        return dropped

    def mark(self) -> tuple[int, int]:
        return (len(self._triples), self._forgets)

    def since(self, mark: tuple[int, int]) -> bytes | None:
        """The ids added since `mark`, as snapshot bytes; None if some were forgotten since."""
        length, forgets = mark
        return self._triples[length:].tobytes() if forgets == self._forgets else None

    def __getstate__(self) -> bytes:
        return self._triples.tobytes()

    def __setstate__(self, state: Any) -> None:
        self._triples = array("q")
        self._triples.frombytes(state)
        self._index = None
        self._forgets = 0
