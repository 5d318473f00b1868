"""Compact memory of event ids already seen on a key, for exactly-once application.

Three parallel 64-bit arrays (id hash, payload digest, event time): 24 bytes per
id, and they pickle as flat memory, which keeps Bytewax's per-epoch snapshots cheap.
A dict index is built only once a key has seen many ids, and never pickled.
"""

from __future__ import annotations

from array import array
from typing import Any

_INDEX_FROM = 48  # below this a C-level linear scan beats keeping a dict


class SeenIds:
    __slots__ = ("_digests", "_ids", "_index", "_times")

    def __init__(self) -> None:
        self._ids = array("q")
        self._digests = array("q")
        self._times = array("q")
        self._index: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def digest_of(self, id_hash: int) -> int | None:
        """The payload digest first seen with this id, or None if the id is new."""
        if self._index is None:
            if len(self._ids) >= _INDEX_FROM:
                self._index = {h: i for i, h in enumerate(self._ids)}
            else:
                try:
                    return self._digests[self._ids.index(id_hash)]
                except ValueError:
                    return None
        i = self._index.get(id_hash)
        return None if i is None else self._digests[i]

    def add(self, id_hash: int, digest: int, occurred_at: int) -> None:
        if self._index is not None:
            self._index[id_hash] = len(self._ids)
        self._ids.append(id_hash)
        self._digests.append(digest)
        self._times.append(occurred_at)

    def forget_before(self, cutoff: int) -> int:
        """Drop ids of events older than `cutoff`; returns how many were dropped."""
        keep = [i for i, t in enumerate(self._times) if t >= cutoff]
        dropped = len(self._times) - len(keep)
        if dropped:
            self._ids = array("q", (self._ids[i] for i in keep))
            self._digests = array("q", (self._digests[i] for i in keep))
            self._times = array("q", (self._times[i] for i in keep))
            self._index = None
        return dropped

    def __getstate__(self) -> tuple[bytes, bytes, bytes]:
        return (self._ids.tobytes(), self._digests.tobytes(), self._times.tobytes())

    def __setstate__(self, state: Any) -> None:
        ids, digests, times = state
        self._ids, self._digests, self._times = array("q"), array("q"), array("q")
        self._ids.frombytes(ids)
        self._digests.frombytes(digests)
        self._times.frombytes(times)
        self._index = None
