"""The RocksDB snapshot store: one writer (the dataflow), any number of readers.

Layout: key `s\\0{sku}\\0{location}` -> 8-byte big-endian version + the snapshot's
JSON, i.e. the exact bytes the API returns. The NUL separator keeps one SKU's
locations contiguous and SKUs in plain lexicographic order for paging.
Readers open the database as a RocksDB *secondary* and catch up with the writer's
WAL on demand, so they see a new snapshot within milliseconds without a lock.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from rocksdict import AccessType, Options, Rdict, WriteBatch, WriteOptions

from serving.exceptions import StoreError

_SNAP = b"s\x00"
_OFFSET = b"o\x00"
_CHANNEL = b"c\x00"
_ACCOUNT = b"a\x00"
_ACCOUNT_CHANNEL = b"m\x00account\x00"
_RECONCILIATION = b"r\x00"
_ANOMALY = b"n\x00"
_CHANGE = b"h\x00"
_EXCEPTION = b"e\x00"  # + 8-byte sequence: rejected events, in the order stored
EXCEPTIONS_KEPT = 100_000  # the newest rejections the store serves (the exceptions topic or file keeps them all)
# Rejections remembered to store each once: a flow replaying after a crash re-sends those since
# its last recovery snapshot, an at-least-once exceptions topic its redelivered tail.
EXCEPTIONS_REMEMBERED = 20_000
_EXPLANATION = b"x\x00"  # + a publication's key: the terms of that figure
CHANGES_KEPT = 1024  # the newest changes of each key the store serves (the change log topic keeps them all)
_PRUNE_EVERY = 64  # versions between prunes of a key's older changes
_SEP = b"\x00"
_VERSION_BYTES = 8


def snapshot_key(sku: str, location: str) -> bytes:
    return _SNAP + sku.encode() + _SEP + location.encode()


def reconciliation_key(sku: str, location: str, event_id: str) -> bytes:
    return _RECONCILIATION + _SEP.join(p.encode() for p in (sku, location, event_id))


def anomaly_key(sku: str, location: str, event_id: str, reason: str) -> bytes:
    return _ANOMALY + _SEP.join(p.encode() for p in (sku, location, event_id, reason))


def _change_prefix(sku: str, location: str) -> bytes:
    return _CHANGE + sku.encode() + _SEP + location.encode() + _SEP


def publication_key(pub: dict[str, Any]) -> bytes:
    sku: str = pub["sku"]
    account: str | None = pub.get("account")
    if account:
        return _ACCOUNT + account.encode() + _SEP + sku.encode()
    channel: str = pub["channel"]
    return _CHANNEL + channel.encode() + _SEP + sku.encode()


def _offset_key(topic: str, partition: int) -> bytes:
    return _OFFSET + topic.encode() + _SEP + str(partition).encode()


def _with_version(version: int, body: bytes) -> bytes:
    """A stored value: version header + response-ready JSON."""
    return version.to_bytes(_VERSION_BYTES, "big") + body


def value_version(value: bytes) -> int:
    return int.from_bytes(value[:_VERSION_BYTES], "big")


def value_json(value: bytes) -> bytes:
    return value[_VERSION_BYTES:]


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_max_open_files(-1)  # required by secondary instances
    # 16 MB memtables, not RocksDB's 64 MB: values are small and written at a few MB/s at
    # most, and the dataflow shares its process with millions of keys of fold state.
    opts.set_write_buffer_size(16 << 20)
    return opts


class StoreWriter:
    """The single writer. Keeps the highest version per key, so replays after a
    restart never roll a key back."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self._db = Rdict(str(path), _options())
        except Exception as exc:  # rocksdict raises plain Exception
            raise StoreError(f"cannot open store {path} for writing: {exc}") from exc
        self._write_opts = WriteOptions()
        self._exception_seq = self._last_exception_seq()
        self._exceptions_seen: dict[bytes, None] | None = None  # identities of the newest, loaded on first use

    def put_snapshots(
        self, snapshots: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """Write snapshots newer than what is stored; returns how many were written.

        `offsets` ((topic, partition) -> next offset) are written in the same atomic
        batch, so a replica that restarts resumes exactly after what it stored."""
        rendered = ((s["sku"], s["location"], s["version"], orjson.dumps(s)) for s in snapshots)
        return self.put_rendered_snapshots(rendered, offsets)

    def put_rendered_snapshots(
        self, snapshots: Iterable[tuple[str, str, int, bytes]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """`put_snapshots` for snapshots already rendered: (sku, location, version, JSON)
        (the dataflow renders them natively)."""
        latest: dict[bytes, tuple[int, bytes]] = {}
        for sku, location, version, body in snapshots:
            key = snapshot_key(sku, location)
            prior = latest.get(key)
            if prior is None or version > prior[0]:
                latest[key] = (version, body)
        return self._put_versioned(latest, offsets, replace_on_tie=False)

    def put_publications(
        self, publications: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """Channel and account figures; a lower version never replaces a higher one, and on
        equal versions (a policy or staleness change) the later one wins. `offsets` as in
        put_snapshots. Replicas learn each account's channel from the account's figures."""
        latest: dict[bytes, dict[str, Any]] = {}
        for pub in publications:
            latest[publication_key(pub)] = pub
        accounts = {p["account"]: p["channel"] for p in latest.values() if p.get("account")}
        values: dict[bytes, tuple[int, bytes]] = {}
        for key, pub in latest.items():
            explanation = pub.get("explanation")  # stored apart: a figure's reads stay small
            values[key] = (pub["version"], orjson.dumps({k: v for k, v in pub.items() if k != "explanation"}))
            if explanation is not None:
                text = explanation.encode() if isinstance(explanation, str) else orjson.dumps(explanation)
                values[_EXPLANATION + key] = (pub["version"], text)
        return self._put_versioned(values, offsets, replace_on_tie=True, accounts=accounts)

    def _put_versioned(
        self,
        latest: dict[bytes, tuple[int, bytes]],
        offsets: dict[tuple[str, int], int] | None,
        replace_on_tie: bool,
        accounts: dict[str, str] | None = None,
    ) -> int:
        """One atomic batch: the values newer than what is stored ((version, JSON) by key),
        offsets, account channels."""
        batch = WriteBatch(raw_mode=True)
        for (topic, partition), offset in (offsets or {}).items():
            batch.put(_offset_key(topic, partition), offset.to_bytes(8, "big"))
        for account, channel in (accounts or {}).items():
            batch.put(_ACCOUNT_CHANNEL + account.encode(), channel.encode())
        keys: list[str | int | float | bytes | bool] = list(latest)
        stored: list[bytes | None] = (self._db.get(keys) or []) if keys else []
        written = 0
        for key, old in zip(latest, stored, strict=True):
            version, body = latest[key]
            if old is not None:
                held = value_version(old)
                if held > version or (held == version and not replace_on_tie):
                    continue
            batch.put(key, _with_version(version, body))
            written += 1
        if written or offsets or accounts:
            self._db.write(batch, self._write_opts)
        return written

    def put_reconciliations(
        self, records: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """Reconciliation records; a lower version of a balance snapshot's never replaces a
        higher. `offsets` as in put_snapshots."""
        keyed = ((reconciliation_key(r["sku"], r["location"], r["event_id"]), r) for r in records)
        return self._put_records(keyed, offsets)

    def put_anomalies(
        self, records: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """Anomaly records; per (key, event, reason) a lower version never replaces a higher
        (a `cleared` one replaces the open one it clears). `offsets` as in put_snapshots."""
        keyed = ((anomaly_key(r["sku"], r["location"], r["event_id"], r["reason"]), r) for r in records)
        return self._put_records(keyed, offsets)

    def _put_records(
        self, keyed: Iterable[tuple[bytes, dict[str, Any]]], offsets: dict[tuple[str, int], int] | None
    ) -> int:
        latest: dict[bytes, tuple[int, bytes]] = {}
        for key, r in keyed:
            prior = latest.get(key)
            if prior is None or r["version"] > prior[0]:
                latest[key] = (r["version"], orjson.dumps(r))
        return self._put_versioned(latest, offsets, replace_on_tie=False)

    def put_changes(self, records: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None) -> int:
        """Change log records under (key, version), the newest CHANGES_KEPT per key: each time
        a key's versions cross a multiple of _PRUNE_EVERY, those older go in one range delete.
        A change written again (a replay after a restart) replaces its version's."""
        rendered = ((r["sku"], r["location"], r["version"], r["cause_count"], orjson.dumps(r)) for r in records)
        return self.put_rendered_changes(rendered, offsets)

    def put_rendered_changes(
        self, changes: Iterable[tuple[str, str, int, int, bytes]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """`put_changes` for changes already rendered: (sku, location, version, cause count, JSON)."""
        batch = WriteBatch(raw_mode=True)
        for (topic, partition), offset in (offsets or {}).items():
            batch.put(_offset_key(topic, partition), offset.to_bytes(8, "big"))
        written = 0
        for sku, location, version, count, body in changes:
            prefix = _change_prefix(sku, location)
            batch.put(prefix + version.to_bytes(8, "big"), body)
            written += 1
            oldest = version - CHANGES_KEPT
            if oldest > 0 and version // _PRUNE_EVERY != (version - count) // _PRUNE_EVERY:
                batch.delete_range(prefix, prefix + oldest.to_bytes(8, "big"))
        if written or offsets:
            self._db.write(batch, self._write_opts)
        return written

    def put_exceptions(
        self, records: Iterable[dict[str, Any]], offsets: dict[tuple[str, int], int] | None = None
    ) -> int:
        """Rejected events (RejectedEvent records), each under the next sequence number, with
        the source system its payload names and when it was stored; the oldest beyond
        EXCEPTIONS_KEPT are dropped. `offsets` as in put_snapshots."""
        batch = WriteBatch(raw_mode=True)
        for (topic, partition), offset in (offsets or {}).items():
            batch.put(_offset_key(topic, partition), offset.to_bytes(8, "big"))
        seen = self._recent_exceptions()
        now, written = int(time.time() * 1000), 0
        for record in records:
            stored = _exception(record, now)
            identity = _identity(stored)
            if identity in seen:
                continue  # the same input's same rejection, stored before
            seen[identity] = None
            if len(seen) > EXCEPTIONS_REMEMBERED:
                del seen[next(iter(seen))]
            self._exception_seq += 1
            batch.put(_EXCEPTION + self._exception_seq.to_bytes(8, "big"), orjson.dumps(stored))
            written += 1
        oldest = self._exception_seq - EXCEPTIONS_KEPT
        if written and oldest > 0:
            batch.delete_range(_EXCEPTION, _EXCEPTION + oldest.to_bytes(8, "big"))
        if written or offsets:
            self._db.write(batch, self._write_opts)
        return written

    def _recent_exceptions(self) -> dict[bytes, None]:
        """Identities of the newest stored rejections, oldest first (read once, then kept)."""
        if self._exceptions_seen is None:
            newest: list[bytes] = []
            it = self._db.iter()
            it.seek_for_prev(_EXCEPTION + b"\xff" * 8)
            while it.valid() and it.key().startswith(_EXCEPTION) and len(newest) < EXCEPTIONS_REMEMBERED:
                newest.append(_identity(orjson.loads(it.value())))
                it.prev()
            self._exceptions_seen = dict.fromkeys(reversed(newest))
        return self._exceptions_seen

    def _last_exception_seq(self) -> int:
        it = self._db.iter()
        it.seek_for_prev(_EXCEPTION + b"\xff" * 8)
        key = it.key() if it.valid() else b""
        return int.from_bytes(key[len(_EXCEPTION) :], "big") if key.startswith(_EXCEPTION) else 0

    def put_account_channels(self, account_channels: dict[str, str]) -> None:
        """Which channel each account with ring-fences buys through (for its fallback view)."""
        self._put_versioned({}, None, replace_on_tie=True, accounts=account_channels)

    def offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of `topic`, as last stored."""
        prefix = _OFFSET + topic.encode() + _SEP
        out: dict[int, int] = {}
        it = self._db.iter()
        it.seek(prefix)
        while it.valid() and it.key().startswith(prefix):
            out[int(it.key()[len(prefix) :])] = int.from_bytes(it.value(), "big")
            it.next()
        return out

    def flush(self) -> None:
        self._db.flush_wal(True)

    def close(self) -> None:
        self._db.close()


def _versions(it: Any, prefix: bytes, limit: int, step: Any) -> list[bytes]:
    """Up to `limit` values of one key's versioned entries (`prefix` + 8-byte version), from
    where `it` stands, moving by `step` (its next or prev)."""
    out: list[bytes] = []
    while it.valid() and len(out) < limit:
        key = it.key()
        if not key.startswith(prefix) or len(key) != len(prefix) + 8:
            break
        out.append(it.value())
        step()
    return out


def _identity(stored: dict[str, Any]) -> bytes:
    """A stored rejection's identity: everything but when it was stored (its origin names the input)."""
    body = orjson.dumps({k: v for k, v in stored.items() if k != "stored_at"}, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=16).digest()


def _exception(record: dict[str, Any], stored_at: int) -> dict[str, Any]:
    """A RejectedEvent record as served: raw payload bytes in base64, the payload's source system."""
    out = {k: v for k, v in record.items() if k != "payload_bytes"}
    raw = record.get("payload_bytes")
    out["payload_base64"] = base64.b64encode(raw).decode() if raw is not None else None
    source = None
    if record.get("payload_json"):
        try:
            sent = orjson.loads(record["payload_json"])
            source = sent.get("source_system") if isinstance(sent, dict) else None
        except orjson.JSONDecodeError:
            pass
    out["source_system"] = source if isinstance(source, str) else None
    out["stored_at"] = stored_at
    return out


class StoreReader:
    """A read-only view that follows the writer (RocksDB secondary instance)."""

    def __init__(self, path: str | os.PathLike[str], catch_up_every_s: float = 0.02) -> None:
        if not (Path(path) / "CURRENT").exists():
            raise StoreError(f"no snapshot store at {path} (run `skuflow replay` or `skuflow up` first)")
        self._secondary_dir: str | None = tempfile.mkdtemp(prefix="skuflow-secondary-")
        try:
            self._db = Rdict(str(path), _options(), access_type=AccessType.secondary(self._secondary_dir))
        except Exception as exc:
            shutil.rmtree(self._secondary_dir, ignore_errors=True)
            raise StoreError(f"cannot open store {path} for reading: {exc}") from exc
        self._path = str(path)
        self._every = catch_up_every_s
        self._caught_up_at = time.monotonic()
        self._mark = self._writer_mark()

    def _writer_mark(self) -> tuple[tuple[str, int, int], ...]:
        """What the writer has appended: its WAL and MANIFEST files' names and sizes. A
        catch-up reads RocksDB's manifest and WAL list, ~1 ms even when nothing is new and
        holding the GIL throughout; this stat is ~20 µs."""
        with os.scandir(self._path) as entries:
            found = [
                (e.name, (st := e.stat()).st_size, st.st_mtime_ns)
                for e in entries
                if e.name.endswith(".log") or e.name.startswith("MANIFEST-")
            ]
        return tuple(sorted(found))

    @classmethod
    def beside(cls, writer: StoreWriter) -> StoreReader:
        """A reader over the writer's own database, for an API in the writer's process (a
        replica's): it sees each write at once and never pays for catching up."""
        reader = cls.__new__(cls)
        reader._db = writer._db
        reader._secondary_dir = None  # no catch-up state: `catch_up` has nothing to do
        return reader

    def catch_up(self, force: bool = False) -> None:
        """Replay the writer's new WAL entries, checked at most every `catch_up_every_s`
        and only done when the writer has written since (see `_writer_mark`)."""
        if self._secondary_dir is None:
            return
        now = time.monotonic()
        if force or now - self._caught_up_at >= self._every:
            self._caught_up_at = now
            mark = self._writer_mark()
            if force or mark != self._mark:
                self._mark = mark
                self._db.try_catch_up_with_primary()

    def get(self, sku: str, location: str) -> bytes | None:
        """The snapshot JSON of one key, or None."""
        self.catch_up()
        value = self._db.get(snapshot_key(sku, location))
        return None if value is None else value_json(value)

    def channel(self, channel: str, sku: str) -> bytes | None:
        self.catch_up()
        value = self._db.get(_CHANNEL + channel.encode() + _SEP + sku.encode())
        return None if value is None else value_json(value)

    def account(self, account: str, sku: str) -> bytes | None:
        """The account's own figure where it has ring-fences on `sku`, else its channel's."""
        self.catch_up()
        found = self._figure("", sku, account)
        return None if found is None else value_json(found[1])

    def _figure(self, channel: str, sku: str, account: str | None) -> tuple[bytes, bytes] | None:
        """(key, stored value) of a channel's figure, or of an account's: its own where it has
        ring-fences on `sku`, else its channel's."""
        key = publication_key({"sku": sku, "channel": channel, "account": account})
        value = self._db.get(key)
        if value is not None:
            return key, value
        held = self._db.get(_ACCOUNT_CHANNEL + account.encode()) if account is not None else None
        return None if held is None else self._figure(held.decode(), sku, None)

    def explained(self, channel: str, sku: str, account: str | None = None) -> tuple[bytes, bytes | None] | None:
        """A channel's (or an account's) figure JSON and the terms it was computed from (None
        when the figure was published without them), or None when there is no figure."""
        self.catch_up()
        found = self._figure(channel, sku, account)
        if found is None:
            return None
        key, value = found
        terms = self._db.get(_EXPLANATION + key)
        if terms is None or value_version(terms) != value_version(value):
            return value_json(value), None
        return value_json(value), value_json(terms)

    def channels(self) -> tuple[list[str], dict[str, str]]:
        """The channels with a published figure, and each account's channel."""
        self.catch_up()
        names: list[str] = []
        it = self._db.iter()
        it.seek(_CHANNEL)
        while it.valid() and (key := it.key()).startswith(_CHANNEL):
            name = key[len(_CHANNEL) :].split(_SEP, 1)[0]
            names.append(name.decode())
            it.seek(_CHANNEL + name + b"\x01")  # skip the channel's SKUs
        accounts = {k[len(_ACCOUNT_CHANNEL) :].decode(): v.decode() for k, v in self._raw_prefixed(_ACCOUNT_CHANNEL)}
        return names, accounts

    def _raw_prefixed(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, stored value) of every entry whose key starts with `prefix`, in key order."""
        it = self._db.iter()
        it.seek(prefix)
        while it.valid() and (key := it.key()).startswith(prefix):
            yield key, it.value()
            it.next()

    def knows_account(self, account: str) -> bool:
        return self._db.get(_ACCOUNT_CHANNEL + account.encode()) is not None

    def locations(self, sku: str) -> list[bytes]:
        """Snapshot JSON of every location of `sku`, in location order."""
        self.catch_up()
        return [value for _, value in self._prefixed(_SNAP + sku.encode() + _SEP)]

    def skus(self, after: str | None, limit: int) -> list[str]:
        """Distinct SKUs in order, strictly after `after`."""
        self.catch_up()
        it = self._db.iter()
        # Every key of `after` has a NUL right after it, so \x01 skips past them all.
        it.seek(_SNAP + (after.encode() + b"\x01" if after is not None else b""))
        out: list[str] = []
        while it.valid() and len(out) < limit:
            key = it.key()
            if not key.startswith(_SNAP):
                break
            sku = key[len(_SNAP) :].split(_SEP, 1)[0]
            out.append(sku.decode())
            it.seek(_SNAP + sku + b"\x01")
        return out

    def reconciliation(self, sku: str, location: str) -> list[bytes]:
        """Every reconciliation record of one key (each balance snapshot's latest), by event id."""
        return self._of_key(_RECONCILIATION, sku, location)

    def reconciliations(self, after: list[str] | None, limit: int, keep: Any) -> tuple[list[bytes], list[str] | None]:
        """Up to `limit` reconciliation records (JSON) that `keep` (a predicate on the parsed
        record) accepts, in (sku, location, event id) order after `after` (those parts of a
        record: strictly after it; fewer: from there); and the parts of the last one when
        the page is full, else None."""
        return self._page(_RECONCILIATION, 3, after, limit, keep)

    def anomalies_of(self, sku: str, location: str) -> list[bytes]:
        """Every anomaly record of one key (each event and reason's latest), by event id and reason."""
        return self._of_key(_ANOMALY, sku, location)

    def anomalies(self, after: list[str] | None, limit: int, keep: Any) -> tuple[list[bytes], list[str] | None]:
        """`reconciliations` for anomaly records, in (sku, location, event id, reason) order."""
        return self._page(_ANOMALY, 4, after, limit, keep)

    def changes(self, sku: str, location: str, after_version: int, limit: int) -> list[bytes]:
        """Up to `limit` changes of one key with a version above `after_version`, oldest first."""
        self.catch_up()
        prefix = _change_prefix(sku, location)
        it = self._db.iter()
        it.seek(prefix + (after_version + 1).to_bytes(8, "big"))
        return _versions(it, prefix, limit, it.next)

    def recent_changes(self, sku: str, location: str, before_version: int | None, limit: int) -> list[bytes]:
        """Up to `limit` changes of one key with a version below `before_version` (None: the
        newest), newest first."""
        self.catch_up()
        prefix = _change_prefix(sku, location)
        it = self._db.iter()
        if before_version is None:
            it.seek_for_prev(prefix + b"\xff" * 8)
        else:
            it.seek_for_prev(prefix + max(0, before_version - 1).to_bytes(8, "big"))
        return _versions(it, prefix, limit, it.prev)

    def exceptions(self, before: int | None, limit: int, keep: Any) -> tuple[list[bytes], int | None]:
        """Up to `limit` rejections `keep` (a predicate on the record) accepts, newest first,
        stored before sequence `before` (None: from the newest); and the cursor to pass next."""
        self.catch_up()
        it = self._db.iter()
        it.seek_for_prev(_EXCEPTION + (b"\xff" * 8 if before is None else max(0, before - 1).to_bytes(8, "big")))
        out: list[bytes] = []
        seq: int | None = None
        while it.valid():
            key = it.key()
            if not key.startswith(_EXCEPTION):
                return out, None
            seq = int.from_bytes(key[len(_EXCEPTION) :], "big")
            value = it.value()
            if keep(orjson.loads(value)):
                out.append(value)
                if len(out) == limit:
                    return out, seq
            it.prev()
        return out, None

    def _of_key(self, prefix: bytes, sku: str, location: str) -> list[bytes]:
        self.catch_up()
        return [value for _, value in self._prefixed(prefix + sku.encode() + _SEP + location.encode() + _SEP)]

    def _page(
        self, prefix: bytes, parts: int, after: list[str] | None, limit: int, keep: Any
    ) -> tuple[list[bytes], list[str] | None]:
        self.catch_up()
        start = prefix
        if after:
            start += _SEP.join(p.encode() for p in after[:parts])
            start += b"\x00" if len(after) >= parts else b""
        out: list[bytes] = []
        it = self._db.iter()
        it.seek(start)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            body = value_json(it.value())
            if keep(orjson.loads(body)):
                out.append(body)
                if len(out) == limit:
                    return out, [p.decode() for p in key[len(prefix) :].split(_SEP, parts - 1)]
            it.next()
        return out, None

    def _prefixed(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, JSON) of every versioned entry whose key starts with `prefix`, in key order."""
        return ((key, value_json(value)) for key, value in self._raw_prefixed(prefix))

    def scan(self) -> Iterator[bytes]:
        """Every snapshot's JSON, in (sku, location) order."""
        self.catch_up(force=True)
        for _, value in self._prefixed(_SNAP):
            yield value

    def close(self) -> None:
        if self._secondary_dir is None:
            return  # the writer's database: the writer closes it
        self._db.close()
        shutil.rmtree(self._secondary_dir, ignore_errors=True)
