"""File edges: events in from JSON Lines or Avro container files, records out to
JSON Lines or Avro files. Both resume exactly under Bytewax recovery."""

from __future__ import annotations

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


class _AvroPartition(StatefulSourcePartition[RawRecord, FileResume]):
    """Emits runs of records (`AvroRecords`), a block or part of one each, not a dict per
    record: the decode step decodes them natively. Resumes at a record index."""

    def __init__(self, path: Path, fp: str, resume: int | None, stop: Event | None, batch: int) -> None:
        self._stop = stop
        self._batch = batch
        self._f = open(path, "rb")  # noqa: SIM115
        self._name = path.name
        self._fp = fp
        self._blocks = fastavro.block_reader(self._f)
        self._schema: str = self._blocks.metadata["avro.schema"]
        self._data, self._records, self._used = b"", 0, 0  # the current block
        self._index = resume or 0
        behind = self._index
        while behind and self._next_block():
            self._used = min(behind, self._records)
            behind -= self._used

    def _next_block(self) -> bool:
        block = next(self._blocks, None)
        if block is None:
            return False
        self._data, self._records, self._used = block.bytes_.getvalue(), block.num_records, 0
        return True

    def next_batch(self) -> list[RawRecord]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        out: list[RawRecord] = []
        wanted = self._batch
        while wanted > 0 and (self._used < self._records or self._next_block()):
            take = min(wanted, self._records - self._used)
            if take:
                run = AvroRecords(self._schema, self._data, self._used, take, self._name, self._index)
                out.append((run, f"{self._name}#{self._index}"))
            self._used += take
            self._index += take
            wanted -= take
        if not out:
            raise StopIteration
        return out

    def snapshot(self) -> FileResume:
        return (self._fp, self._index)

    def close(self) -> None:
        self._f.close()


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
            return _AvroPartition(self.path, fp, position, self.stop, self.batch_size)
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
            self._f.write(b"".join(json_line(to_record(v)) for v in values))
        else:
            self._f.write(b"".join(to_line(v) or json_line(to_record(v)) for v in values))
        self._f.flush()

    def snapshot(self) -> tuple[str, int]:
        os.fsync(self._f.fileno())
        return (self._name, self._f.tell())

    def close(self) -> None:
        self._f.close()


class _AvroSinkPartition(StatefulSinkPartition[Any, tuple[str, int]]):
    def __init__(self, path: Path, schema_name: str, to_record: Encode, resume: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[bytes] = open(path, "a+b")  # noqa: SIM115
        self._f.truncate(resume or 0)  # back to the block boundary of the last snapshot
        self._f.seek(0, os.SEEK_END)
        # On a non-empty file fastavro's Writer reads the header and appends blocks.
        self._writer = Writer(self._f, parsed(schema_name))
        self._to_record = to_record
        self._name = path.name

    def write_batch(self, values: list[Any]) -> None:
        for v in values:
            self._writer.write(self._to_record(v))
        self._writer.flush()
        self._f.flush()

    def snapshot(self) -> tuple[str, int]:
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
