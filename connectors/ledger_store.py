"""The fold's state outside Bytewax: one RocksDB per key group, written once per epoch.

Why: Bytewax re-pickles the whole state of every key an epoch touched and writes it to
SQLite while the flow waits. A key keeps every posting of its lateness horizon, so at a
steady rate that pause grew with uptime (0.3 s to 2 s within three minutes at 5,000
events/s). Here Bytewax's state of a key group is two integers, and an epoch writes the
groups' changed ledgers to RocksDB in one batch each.

Crash consistency. A group's writes at an epoch end are generation `gen`, and the
group's Bytewax snapshot is that number, written by Bytewax after our batch. On a
resume Bytewax hands back the generation of the epoch it resumes from; anything written
after it (our batch landed, Bytewax's commit did not) is rolled back by `restore`, and
the replayed input re-creates it. So each version carries its generation:

    v <ledger key> \\0 <gen, 8 bytes big-endian>  -> the ledger's state
    g <gen>                                       -> the keys written at gen, each with the
                                                     generation of its version before

A superseded version is deleted `lag` generations after it was superseded, when no
resumable epoch can still need it; `m gc` keeps how far that went, so that a resume
from further back is refused rather than served from the wrong versions.

One group is written by one worker at a time (Bytewax routes the group key to one
worker). Its directory must be on storage every process of a cluster can open, as
Bytewax's recovery dir must: after a rescale a group is opened by its new owner.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from connectors.exceptions import ConnectorError

GC_LAG = 4
_VERSION = b"v"
_GEN = b"g"
_GC_THROUGH = b"m\x00gc"
_SEP = b"\x00"
_GEN_BYTES = struct.Struct(">Q")
_ENTRY = struct.Struct("<IQ")  # key length, previous generation (0: none)
_NEWEST = b"\xff" * 8


class LedgerStoreError(ConnectorError):
    """A key group's store cannot serve the generation Bytewax resumes from."""


def _version_key(key: bytes, gen: int) -> bytes:
    return _VERSION + key + _SEP + _GEN_BYTES.pack(gen)


def _gen_key(gen: int) -> bytes:
    return _GEN + _GEN_BYTES.pack(gen)


def _pack_entries(entries: list[tuple[bytes, int]]) -> bytes:
    return b"".join(_ENTRY.pack(len(k), prev) + k for k, prev in entries)


def _unpack_entries(blob: bytes) -> Iterator[tuple[bytes, int]]:
    offset, size = 0, _ENTRY.size
    while offset < len(blob):
        n, prev = _ENTRY.unpack_from(blob, offset)
        offset += size
        yield blob[offset : offset + n], prev
        offset += n


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

    def __init__(self, path: Path, *, sync: bool = True, lag: int = GC_LAG) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = Rdict(str(path), _options())
        except Exception as exc:  # rocksdict raises plain Exceptions
            raise LedgerStoreError(f"cannot open the ledger store {path}: {exc}") from exc
        self.path = path
        self._write = WriteOptions()
        self._write.sync = sync  # a generation Bytewax commits must survive the machine too
        self._lag = lag
        self._latest: dict[bytes, int] = {}  # generation of each key's newest version, as read or written
        gc = self._db.get(_GC_THROUGH)
        self._gc_through = _GEN_BYTES.unpack(gc)[0] if gc is not None else 0

    def restore(self, gen: int | None) -> None:
        """Roll back to generation `gen` (Bytewax's resume state), or to nothing."""
        self._latest.clear()
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
        for later, entries in self._generations(gen + 1):
            for key, _ in entries:
                batch.delete(_version_key(key, later))
            batch.delete(_gen_key(later))
        if not batch.is_empty():
            self._db.write(batch, self._write)

    def get(self, key: str) -> bytes | None:
        """The newest state of `key`, or None for a key this group never wrote."""
        k = key.encode()
        gen = self._latest.get(k)
        if gen is not None:  # read or written this run: no iterator needed
            value: bytes | None = self._db.get(_version_key(k, gen))
            return value
        it = self._db.iter()
        try:
            it.seek_for_prev(_VERSION + k + _SEP + _NEWEST)
            if not it.valid():
                return None
            found: bytes = it.key()
            if found[: -_GEN_BYTES.size] != _VERSION + k + _SEP:
                return None
            self._latest[k] = _GEN_BYTES.unpack(found[-_GEN_BYTES.size :])[0]
            newest: bytes = it.value()
            return newest
        finally:
            del it

    def commit(self, gen: int, states: Mapping[str, bytes]) -> None:
        """Write generation `gen` (one atomic batch) and drop versions no resume can need."""
        batch = WriteBatch(raw_mode=True)
        entries: list[tuple[bytes, int]] = []
        for key, state in states.items():
            k = key.encode()
            batch.put(_version_key(k, gen), state)
            entries.append((k, self._latest.get(k, 0)))
        batch.put(_gen_key(gen), _pack_entries(entries))
        horizon = gen - self._lag
        if horizon > self._gc_through:
            for older, superseded in self._generations(self._gc_through + 1, horizon):
                for k, prev in superseded:
                    if prev:
                        batch.delete(_version_key(k, prev))
                batch.delete(_gen_key(older))
            batch.put(_GC_THROUGH, _GEN_BYTES.pack(horizon))
        self._db.write(batch, self._write)
        if horizon > self._gc_through:
            self._gc_through = horizon
        for k, _ in entries:
            self._latest[k] = gen

    def _generations(self, first: int, last: int | None = None) -> Iterator[tuple[int, list[tuple[bytes, int]]]]:
        """Generation records from `first` to `last` (inclusive; None: all), oldest first."""
        it = self._db.iter()
        try:
            it.seek(_gen_key(first))
            while it.valid():
                key: bytes = it.key()
                if not key.startswith(_GEN):
                    break
                gen = _GEN_BYTES.unpack(key[len(_GEN) :])[0]
                if last is not None and gen > last:
                    break
                yield gen, list(_unpack_entries(it.value()))
                it.next()
        finally:
            del it

    def close(self) -> None:
        self._db.close()


class LedgerStore:
    """The key groups' stores under one directory, opened on first use by the worker that
    owns the group. `KEY_GROUPS` is written beside them: a key's group must not change
    under its stored state."""

    def __init__(self, root: Path, key_groups: int, *, sync: bool = True) -> None:
        root.mkdir(parents=True, exist_ok=True)
        manifest = root / "KEY_GROUPS"
        if manifest.exists() and int(manifest.read_text()) != key_groups:
            raise LedgerStoreError(
                f"{root} was written with {manifest.read_text().strip()} key groups, not {key_groups}"
            )
        manifest.write_text(f"{key_groups}\n")
        self.root = root
        self._sync = sync
        self._groups: dict[str, GroupStore] = {}
        self._lock = threading.Lock()  # workers of one process open their groups concurrently

    def group(self, name: str) -> GroupStore:
        with self._lock:
            store = self._groups.get(name)
            if store is None:
                store = self._groups[name] = GroupStore(self.root / name, sync=self._sync)
            return store

    def close(self) -> None:
        with self._lock:
            for store in self._groups.values():
                store.close()
            self._groups.clear()
