"""File edges: events in from JSON Lines or Avro container files, records out to
JSON Lines or Avro files. Both resume exactly under Bytewax recovery."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from hashlib import blake2b
from pathlib import Path
from threading import Event
from typing import IO, Any

import fastavro
import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from fastavro.write import Writer

from connectors.avro import is_avro_container, json_default, parsed
from connectors.avro_records import AvroRecords
from connectors.codec import RawRecord
from connectors.durable import io_guard
from operators import Reason, Rejection

BATCH = 2048


def fingerprint(path: Path) -> str:
    """Identity of an input file: its name and first 64 KiB (so a file that grew is
    still the same file, and a different file starts from its beginning)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    return f"{path.name}:{blake2b(head, digest_size=12).hexdigest()}"


# Resume state of a file partition: (fingerprint, position).
FileResume = tuple[str, Any]


class _JsonLinesPartition(StatefulSourcePartition[RawRecord, FileResume]):
    def __init__(self, path: Path, fp: str, resume: tuple[int, int] | None, stop: Event | None, batch: int) -> None:
        self._stop = stop
        self._batch = batch
        self._f = open(path, "rb")  # noqa: SIM115 - lives as long as the partition
        self._name = path.name
        self._fp = fp
        self._offset, self._line = resume or (0, 0)
        self._f.seek(self._offset)

    def next_batch(self) -> list[RawRecord]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        out: list[RawRecord] = []
        readline, name = self._f.readline, self._name
        for _ in range(self._batch):
            line = readline()
            if not line:
                break
            self._offset += len(line)
            self._line += 1
            if line.strip():
                out.append((line.rstrip(b"\r\n"), f"{name}:{self._line}"))
        if not out and self._f.tell() == os.fstat(self._f.fileno()).st_size:
            raise StopIteration
        return out

    def snapshot(self) -> FileResume:
        return (self._fp, (self._offset, self._line))

    def close(self) -> None:
        self._f.close()


_DAMAGE_KEPT = 65536  # bytes of a damaged region kept in its rejection (with its size and digest)


def damaged_region(name: str, data: bytes, start: int, size: int, why: str) -> Rejection:
    """An `undecodable` rejection for `size` bytes from `start` of a file that do not read:
    the first `_DAMAGE_KEPT` of them, with the whole region's size and digest."""
    digest = blake2b(data, digest_size=16).hexdigest() if len(data) == size else None
    detail = f"{size} bytes at {start} do not read as Avro blocks ({why})"
    if digest is not None:
        detail += f"; blake2b-128 {digest}"
    return Rejection(Reason.UNDECODABLE, detail, data[:_DAMAGE_KEPT], origin=f"{name}@{start}+{size}")


class _FromOffset(io.RawIOBase):
    """A container file's header, then its bytes from `offset` on: what fastavro reads to
    go on after a damaged region (blocks are self-contained between sync markers)."""

    def __init__(self, f: IO[bytes], header: bytes, offset: int) -> None:
        self._f, self._header, self._at = f, header, 0
        self._base = offset - len(header)  # file position = stream position + base, past the header

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._at
        elif whence == io.SEEK_END:
            pos += os.fstat(self._f.fileno()).st_size - self._base
        self._at = max(0, pos)
        return self._at

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self._at < len(self._header):
            chunk = self._header[self._at : self._at + len(view)]
        else:
            self._f.seek(self.file_position(self._at))
            chunk = self._f.read(len(view))
        view[: len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)

    def file_position(self, stream_position: int) -> int:
        return stream_position + self._base


class _AvroPartition(StatefulSourcePartition[RawRecord, FileResume]):
    """Emits runs of records (`AvroRecords`), a block or part of one each, not a dict per
    record: the decode step decodes them natively. A region that does not read as blocks
    (truncation, garbage, a broken block) is one `undecodable` rejection and reading goes
    on at the next sync marker, so every intact block is applied. Resumes at a record
    index and the count of damaged regions already reported."""

    def __init__(self, path: Path, fp: str, resume: Any, stop: Event | None, batch: int) -> None:
        self._stop = stop
        self._batch = batch
        self._f = open(path, "rb")  # noqa: SIM115
        self._name = path.name
        self._fp = fp
        self._size = os.fstat(self._f.fileno()).st_size
        self._blocks = fastavro.block_reader(self._f)
        self._header = self._read_header()
        self._sync: bytes = self._blocks._header["sync"]
        self._schema: str = self._blocks.metadata["avro.schema"]
        self._stream: _FromOffset | None = None
        self._end = len(self._header)  # file position after the last block read
        self._data, self._records, self._used = b"", 0, 0  # the current block
        self._damages: list[Rejection] = []  # found, not emitted yet
        self._found = 0  # damaged regions found, in file order
        # (index, regions emitted); a bare index from before damaged regions were reported
        self._index, self._emitted_before = resume if isinstance(resume, tuple) else (resume or 0, 0)
        behind = self._index
        while behind and self._next_block():
            self._used = min(behind, self._records)
            behind -= self._used

    def _read_header(self) -> bytes:
        end = self._f.tell()
        self._f.seek(0)
        header = self._f.read(end)
        self._f.seek(end)
        return header

    def _next_block(self) -> bool:
        while True:
            try:
                block = next(self._blocks, None)
            except Exception as exc:  # fastavro raises many types on damaged input
                self._resync(f"{type(exc).__name__}: {exc}")
                continue
            if block is None:
                return False
            stream = self._stream
            end = block.offset + block.size  # fastavro: size includes the count, length and sync
            self._end = end if stream is None else stream.file_position(end)
            self._data, self._records, self._used = block.bytes_.getvalue(), block.num_records, 0
            return True

    def _resync(self, why: str) -> None:
        """Report the bytes from the last good block to the next sync marker's end (or the
        file's end), and read on from there."""
        start = self._end
        if start >= self._size:  # nothing left to read on from
            self._blocks = iter(())
            return
        found = self._find_sync(start + 1)
        stop = self._size if found < 0 else found + len(self._sync)
        self._f.seek(start)
        data = self._f.read(min(stop - start, _DAMAGE_KEPT + 1))
        if self._found >= self._emitted_before:  # not reported before the resume
            self._damages.append(damaged_region(self._name, data, start, stop - start, why))
        self._found += 1
        self._end = stop
        self._stream = _FromOffset(self._f, self._header, stop)
        self._blocks = fastavro.block_reader(io.BufferedReader(self._stream))

    def _find_sync(self, start: int) -> int:
        """File position of the next sync marker at or after `start`, or -1."""
        chunk, overlap = 1 << 20, len(self._sync) - 1
        at = start
        while at < self._size:
            self._f.seek(at)
            data = self._f.read(chunk + overlap)
            hit = data.find(self._sync)
            if hit >= 0:
                return at + hit
            at += chunk
        return -1

    def next_batch(self) -> list[RawRecord]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        out: list[RawRecord] = []
        wanted = self._batch
        while wanted > 0 and (self._used < self._records or self._next_block()):
            out.extend((r, r.origin or self._name) for r in self._damages)
            self._damages.clear()
            take = min(wanted, self._records - self._used)
            if take:
                run = AvroRecords(self._schema, self._data, self._used, take, self._name, self._index)
                out.append((run, f"{self._name}#{self._index}"))
            self._used += take
            self._index += take
            wanted -= take
        out.extend((r, r.origin or self._name) for r in self._damages)
        self._damages.clear()
        if not out:
            raise StopIteration
        return out

    def snapshot(self) -> FileResume:
        return (self._fp, (self._index, max(self._emitted_before, self._found - len(self._damages))))

    def close(self) -> None:
        self._f.close()


class _UnreadablePartition(StatefulSourcePartition[RawRecord, FileResume]):
    """A file whose container header does not read: one rejection, once."""

    def __init__(self, path: Path, fp: str, resume: Any, why: str) -> None:
        self._fp, self._done = fp, resume == "reported"
        with open(path, "rb") as f:
            data = f.read(_DAMAGE_KEPT + 1)
        self._rejection = damaged_region(path.name, data, 0, path.stat().st_size, f"no container header: {why}")

    def next_batch(self) -> list[RawRecord]:
        if self._done:
            raise StopIteration
        self._done = True
        return [(self._rejection, self._rejection.origin or "")]

    def snapshot(self) -> FileResume:
        return (self._fp, "reported" if self._done else None)


class EventFileSource(FixedPartitionedSource[RawRecord, Any]):
    """One file of events, Avro container or JSON Lines (detected by its magic bytes).

    Emits `(payload, origin)`. The partition is always named "events", so a recovery
    store can be reused across files: the same file resumes after its last record
    read, another file starts at its beginning.
    """

    def __init__(self, path: str | Path, stop: Event | None = None, batch_size: int = BATCH) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self.avro = is_avro_container(self.path)
        self.stop = stop  # when set, the input ends early (graceful Ctrl-C)

    def list_parts(self) -> list[str]:
        return ["events"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: FileResume | None
    ) -> StatefulSourcePartition[RawRecord, FileResume]:
        fp = fingerprint(self.path)
        position = resume_state[1] if resume_state is not None and resume_state[0] == fp else None
        if self.avro:
            try:
                return _AvroPartition(self.path, fp, position, self.stop, self.batch_size)
            except Exception as exc:  # the header itself is damaged
                return _UnreadablePartition(self.path, fp, position, f"{type(exc).__name__}: {exc}")
        return _JsonLinesPartition(self.path, fp, position, self.stop, self.batch_size)


Encode = Callable[[Any], Any]
Render = Callable[[Any], bytes | None]  # a value's JSON line, or None: `json_line(to_record(value))`


def json_line(record: Any) -> bytes:
    """One compact JSON line. orjson on the hot path; the stdlib for what orjson refuses
    (integers beyond 64 bits, non-string keys: only ever in rejected payloads)."""
    try:
        return orjson.dumps(record, default=json_default, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(record, separators=(",", ":"), default=json_default).encode() + b"\n"


class _JsonLinesSinkPartition(StatefulSinkPartition[Any, tuple[str, int]]):
    def __init__(self, path: Path, to_record: Encode, resume: int | None, to_line: Render | None = None) -> None:
        self._path = path
        with io_guard(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f: IO[bytes] = open(path, "ab")  # noqa: SIM115
            self._f.truncate(resume or 0)  # drop what was written after the last snapshot
            self._f.seek(0, os.SEEK_END)
        self._to_record = to_record
        self._to_line = to_line
        self._name = path.name

    def write_batch(self, values: list[Any]) -> None:
        to_record, to_line = self._to_record, self._to_line
        if to_line is None:
            data = b"".join(json_line(to_record(v)) for v in values)
        else:
            data = b"".join(to_line(v) or json_line(to_record(v)) for v in values)
        with io_guard(self._path):
            self._f.write(data)
            self._f.flush()

    def snapshot(self) -> tuple[str, int]:
        with io_guard(self._path):
            os.fsync(self._f.fileno())
        return (self._name, self._f.tell())

    def close(self) -> None:
        self._f.close()


class _AvroSinkPartition(StatefulSinkPartition[Any, tuple[str, int]]):
    def __init__(self, path: Path, schema_name: str, to_record: Encode, resume: int | None) -> None:
        self._path = path
        with io_guard(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f: IO[bytes] = open(path, "a+b")  # noqa: SIM115
            self._f.truncate(resume or 0)  # back to the block boundary of the last snapshot
            self._f.seek(0, os.SEEK_END)
            # On a non-empty file fastavro's Writer reads the header and appends blocks.
            self._writer = Writer(self._f, parsed(schema_name))
        self._to_record = to_record
        self._name = path.name

    def write_batch(self, values: list[Any]) -> None:
        with io_guard(self._path):
            for v in values:
                self._writer.write(self._to_record(v))
            self._writer.flush()
            self._f.flush()

    def snapshot(self) -> tuple[str, int]:
        with io_guard(self._path):
            self._writer.flush()
            self._f.flush()
            os.fsync(self._f.fileno())
        return (self._name, self._f.tell())

    def close(self) -> None:
        self._writer.flush()
        self._f.close()


class RecordFileSink(FixedPartitionedSink[Any, tuple[str, int]]):
    """Append records to one file, JSON Lines or an Avro container (`schema_name` set).

    `to_record` turns a stream value into a JSON-able dict / Avro record; `to_line`, if
    given, renders a JSON line itself (None where it cannot). On resume the file is cut
    back to the last snapshot, so nothing is written twice.
    """

    def __init__(
        self,
        role: str,
        path: str | Path,
        to_record: Encode,
        schema_name: str | None = None,
        to_line: Render | None = None,
    ) -> None:
        self.role = role
        self.path = Path(path)
        self.to_record = to_record
        self.schema_name = schema_name
        self.to_line = to_line

    def list_parts(self) -> list[str]:
        return [self.role]

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[str, int] | None
    ) -> StatefulSinkPartition[Any, tuple[str, int]]:
        offset = resume_state[1] if resume_state is not None and resume_state[0] == self.path.name else None
        if self.schema_name:
            return _AvroSinkPartition(self.path, self.schema_name, self.to_record, offset)
        return _JsonLinesSinkPartition(self.path, self.to_record, offset, self.to_line)


class PerKeyFileSink(FixedPartitionedSink[Any, tuple[str, int]]):
    """One JSON Lines file per stream key (e.g. `channels/<channel>.jsonl`), each resumable
    like RecordFileSink. `keys` must list every key the stream can carry."""

    def __init__(self, directory: str | Path, keys: list[str], to_record: Encode) -> None:
        self.directory = Path(directory)
        self.keys = sorted(keys)
        self.to_record = to_record

    def list_parts(self) -> list[str]:
        return self.keys

    def part_fn(self, item_key: str) -> int:
        return self.keys.index(item_key)  # each key writes its own file

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[str, int] | None
    ) -> StatefulSinkPartition[Any, tuple[str, int]]:
        path = self.directory / f"{for_part}.jsonl"
        offset = resume_state[1] if resume_state is not None and resume_state[0] == path.name else None
        return _JsonLinesSinkPartition(path, self.to_record, offset)
