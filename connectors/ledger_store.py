"""The fold's state outside Bytewax: one RocksDB per key group, written once per epoch.

Why: Bytewax re-pickles the whole state of every key an epoch touched and writes it to
SQLite while the flow waits. A key keeps every posting of its lateness horizon, so at a
steady rate that pause grew with uptime (docs/performance.md, "Settings"). Here Bytewax's
state of a key group is two integers, and an epoch writes the groups' changed ledgers to
RocksDB in one batch each. A busy key is written as a delta (what its history gained since
its last write) until its deltas would outweigh a whole state, so what an epoch writes
follows the event rate, not the history kept.

Crash consistency. A group's writes at an epoch end are generation `gen`, and the
group's Bytewax snapshot is that number, written by Bytewax after our batch. On a
resume Bytewax hands back the generation of the epoch it resumes from; anything written
after it (our batch landed, Bytewax's commit did not) is rolled back by `restore`, and
the replayed input re-creates it. So each version carries its generation:

    v <ledger key> \\0 <gen, 8 bytes big-endian>  -> W + whole state, or D + delta
    g <gen>                                       -> the keys written at gen (to roll back)
    s <gen>                                       -> of those written whole, the generations
                                                     they superseded (to delete later)

A key's value is its newest whole state and the deltas after it. Superseded versions
are deleted `lag` generations after a whole state superseded them, when no
resumable epoch can still need it; `m gc` keeps how far that went, so that a resume
from further back is refused rather than served from the wrong versions.

One group is written by one worker at a time (Bytewax routes the group key to one
worker). Its directory must be on storage every process of a cluster can open, as
Bytewax's recovery dir must: after a rescale a group is opened by its new owner.
"""

from __future__ import annotations

import pickle
import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from connectors.durable import atomic_write, ensure_free, io_guard
from connectors.exceptions import ConnectorError

GC_LAG = 4
_VERSION = b"v"
_GEN = b"g"
_SUPERSEDED = b"s"
_GC_THROUGH = b"m\x00gc"
_SEP = b"\x00"
_GEN_BYTES = struct.Struct(">Q")
_WHOLE = b"W"
_DELTA = b"D"
_NEWEST = b"\xff" * 8


class LedgerStoreError(ConnectorError):
    """A key group's store cannot serve the generation Bytewax resumes from."""


def _version_key(key: bytes, gen: int) -> bytes:
    return _VERSION + key + _SEP + _GEN_BYTES.pack(gen)


def _gen_key(gen: int, kind: bytes = _GEN) -> bytes:
    return kind + _GEN_BYTES.pack(gen)


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    # 4 MB memtables (RocksDB's default is 64 MB): a process holds up to 64 groups, and
    # an epoch writes a few hundred KB to each.
    opts.set_write_buffer_size(4 << 20)
    opts.set_max_write_buffer_number(2)
    return opts


class GroupStore:
    """The versioned ledger states of one key group (see the module docstring)."""

    def __init__(self, path: Path, *, sync: bool = True, lag: int = GC_LAG, min_free: int = 0) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = Rdict(str(path), _options())
        except Exception as exc:  # rocksdict raises plain Exceptions
            raise LedgerStoreError(f"cannot open the ledger store {path}: {exc}") from exc
        self.path = path
        self._min_free = min_free  # bytes the disk must have free before a generation is written
        self._write = WriteOptions()
        self._write.sync = sync  # a generation Bytewax commits must survive the machine too
        self._lag = lag
        # the generations of each key's whole state and its deltas, as read or written this run
        self._chains: dict[bytes, list[int]] = {}
        gc = self._db.get(_GC_THROUGH)
        self._gc_through = _GEN_BYTES.unpack(gc)[0] if gc is not None else 0

    def restore(self, gen: int | None) -> None:
        """Roll back to generation `gen` (Bytewax's resume state), or to nothing."""
        self._chains.clear()
        if gen is None:  # Bytewax has no state of this group: neither may we
            self._db.delete_range(b"\x00", b"\xff", self._write)
            self._gc_through = 0
            return
        if self._gc_through > gen:
            raise LedgerStoreError(
                f"{self.path}: Bytewax resumes from generation {gen}, but versions it needs were "
                f"deleted through generation {self._gc_through}; the recovery dir and the ledger "
                "store are from different runs"
            )
        batch = WriteBatch(raw_mode=True)
        for later, keys in self._records(_GEN, gen + 1):
            for key in keys:
                batch.delete(_version_key(key, later))
        for kind in (_GEN, _SUPERSEDED):
            batch.delete_range(_gen_key(gen + 1, kind), _gen_key(2**64 - 1, kind))
        self._db.write(batch, self._write)

    def get(self, key: str) -> list[bytes]:
        """The key's newest whole state and the deltas written after it, oldest first
        (empty for a key this group never wrote)."""
        k = key.encode()
        chain = self._chains.get(k)
        if chain is not None:  # read or written this run: no iterator needed
            values = self._db.get([_version_key(k, g) for g in chain]) or []
            return [v[1:] for v in values]
        prefix = _VERSION + k + _SEP
        found: list[bytes] = []
        gens: list[int] = []
        it = self._db.iter()
        try:
            it.seek_for_prev(prefix + _NEWEST)
            while it.valid():
                vkey: bytes = it.key()
                if vkey[: -_GEN_BYTES.size] != prefix:
                    break
                value: bytes = it.value()
                found.append(value[1:])
                gens.append(_GEN_BYTES.unpack(vkey[-_GEN_BYTES.size :])[0])
                if value[:1] == _WHOLE:
                    break
                it.prev()
        finally:
            del it
        if found and value[:1] != _WHOLE:
            raise LedgerStoreError(f"{self.path}: {key} has deltas but no whole state before them")
        self._chains[k] = gens[::-1]
        return found[::-1]

    def commit(self, gen: int, writes: Mapping[str, tuple[bool, bytes]]) -> None:
        """Write generation `gen` (one atomic batch) and drop versions no resume can need.
        `writes` maps a key to (whole, bytes): its whole state, or a delta that extends what
        `get` returned or this store last wrote for it."""
        batch = WriteBatch(raw_mode=True)
        put = batch.put
        written: list[bytes] = []
        superseded: list[tuple[bytes, list[int]]] = []
        chains = self._chains
        suffix = _SEP + _GEN_BYTES.pack(gen)  # of _version_key, inlined: this runs for every key an epoch touched
        for key, (whole, state) in writes.items():
            k = key.encode()
            put(_VERSION + k + suffix, (_WHOLE if whole else _DELTA) + state)
            written.append(k)
            chain = chains.get(k)
            if whole:
                if chain:
                    superseded.append((k, chain))
                chains[k] = [gen]
            elif chain:
                chain.append(gen)
            else:
                raise LedgerStoreError(f"{self.path}: a delta for {key}, which has no whole state here")
        batch.put(_gen_key(gen), pickle.dumps(written, protocol=pickle.HIGHEST_PROTOCOL))
        if superseded:
            batch.put(_gen_key(gen, _SUPERSEDED), pickle.dumps(superseded, protocol=pickle.HIGHEST_PROTOCOL))
        horizon = gen - self._lag
        if horizon > self._gc_through:
            for _, old in self._records(_SUPERSEDED, self._gc_through + 1, horizon):
                for k, gens in old:
                    for g in gens:
                        batch.delete(_version_key(k, g))
            for kind in (_GEN, _SUPERSEDED):
                batch.delete_range(_gen_key(self._gc_through + 1, kind), _gen_key(horizon + 1, kind))
            batch.put(_GC_THROUGH, _GEN_BYTES.pack(horizon))
        ensure_free(self.path, self._min_free)
        with io_guard(self.path):
            self._db.write(batch, self._write)
        self._gc_through = max(self._gc_through, horizon)

    def _records(self, kind: bytes, first: int, last: int | None = None) -> Iterator[tuple[int, Any]]:
        """Generation records of `kind` from `first` to `last` (inclusive; None: all), oldest first."""
        it = self._db.iter()
        try:
            it.seek(_gen_key(first, kind))
            while it.valid():
                key: bytes = it.key()
                if not key.startswith(kind):
                    break
                gen = _GEN_BYTES.unpack(key[len(kind) :])[0]
                if last is not None and gen > last:
                    break
                yield gen, pickle.loads(it.value())
                it.next()
        finally:
            del it

    def close(self) -> None:
        self._db.close()


def _key_groups_of(manifest: Path) -> int | None:
    """The group count a `KEY_GROUPS` file holds, or None when it is absent or unreadable."""
    try:
        text = manifest.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class LedgerStore:
    """The key groups' stores under one directory, opened on first use by the worker that
    owns the group. `KEY_GROUPS` is written beside them: a key's group must not change
    under its stored state."""

    def __init__(self, root: Path, key_groups: int, *, sync: bool = True, min_free: int = 0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        manifest = root / "KEY_GROUPS"
        written = _key_groups_of(manifest)
        if written is None:  # new, or torn by a kill from before it was written atomically
            groups = sorted(p.name for p in root.iterdir() if p.is_dir())
            if any(not (len(g) == 3 and g[0] == "g" and g[1:].isdigit() and int(g[1:]) < key_groups) for g in groups):
                raise LedgerStoreError(f"{manifest} is missing or unreadable and {root} holds other groups: {groups}")
            atomic_write(manifest, f"{key_groups}\n".encode())  # only ever created, never rewritten
        elif written != key_groups:
            raise LedgerStoreError(f"{root} was written with {written} key groups, not {key_groups}")
        self.root = root
        self._sync = sync
        self._min_free = min_free
        self._groups: dict[str, GroupStore] = {}
        self._lock = threading.Lock()  # workers of one process open their groups concurrently

    def group(self, name: str) -> GroupStore:
        with self._lock:
            store = self._groups.get(name)
            if store is None:
                store = self._groups[name] = GroupStore(self.root / name, sync=self._sync, min_free=self._min_free)
            return store

    def close(self) -> None:
        with self._lock:
            for store in self._groups.values():
                store.close()
            self._groups.clear()
