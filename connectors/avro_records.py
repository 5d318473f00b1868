"""Avro records decoded and validated by the native core: runs of container records,
and Kafka messages of a shipped schema version.

The file source emits `AvroRecords` (a run of one block's records) instead of one dict
per record: fastavro's dicts alone took as long as a whole baseline flow. The native
core (`operators._native`, operators/native/) decodes a run and applies the rules of
`operators.validation` in one pass. A record it does not accept (any rejection, text it
cannot digest exactly) is handed back and goes the Python way: fastavro, `validate`,
`route`. So the items are those of the Python path, in the same order.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import fastavro

from connectors.wire import AvroWire
from operators import ItemMaster, Reason, Rejection
from operators._native import RecordDecoder
from operators.events import PAYLOAD_FIELDS, Disposition, EventType, InventoryEvent, Status
from operators.fold import Posting
from operators.routing import GROUPS, GroupRouted

OneRecord = Callable[[Any, str, int], list[GroupRouted]]  # the Python path: (record, origin, latest)

_TIMESTAMP_FIELD = "occurred_at"
_PRIMITIVE = frozenset({"string", "long", "int", "boolean", "float", "double", "bytes", "null"})
_SKIPPABLE = frozenset({"boolean", "float", "double", "bytes"})


class AvroRecords(NamedTuple):
    """`count` records of one container block, after its first `skip`; `first` is the
    index of the run's first record in the file `name` (origins are `name#index`)."""

    schema: str  # the writer schema, as the file's header has it
    data: bytes  # the block, decompressed
    skip: int
    count: int
    name: str
    first: int


Shape = tuple[str, list[str] | None]
FieldSpec = tuple[int, str, list[str] | None, list[Shape] | None]


def _shape(avro_type: Any) -> Shape | None:
    """(kind, enum symbols) of a plain type or an enum; None for anything else (a named
    reference, a logical type the reference path reads as an object, records...)."""
    if isinstance(avro_type, str):
        return (avro_type, None) if avro_type in _PRIMITIVE else None
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "enum":
            return ("enum", [str(s) for s in avro_type["symbols"]])
        if kind in _PRIMITIVE and "logicalType" not in avro_type:
            return (kind, None)
    return None


_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}


def plain_times(schema: Any) -> Any:
    """The writer schema with `occurred_at` read as the long it is on the wire, not as a
    datetime: the time rules then judge the number, the same in every format."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return schema
    fields = [
        {**f, "type": "long"} if f.get("name") == _TIMESTAMP_FIELD and f.get("type") == _MILLIS else f
        for f in schema.get("fields", [])
    ]
    return {**schema, "fields": fields}


def layout(schema: Any) -> list[FieldSpec] | None:
    """The writer's fields as the native decoder takes them; None when the schema has a
    shape it does not read (fastavro then decodes every record)."""
    schema = plain_times(schema)
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    specs: list[FieldSpec] = []
    for field in schema.get("fields", []):
        name, avro_type = field.get("name"), field.get("type")
        slot = PAYLOAD_FIELDS.index(name) if name in PAYLOAD_FIELDS else -1
        if isinstance(avro_type, list):
            branches = [_shape(b) for b in avro_type]
            if any(b is None or b[0] in _SKIPPABLE for b in branches):
                return None
            specs.append((slot, "union", None, branches))  # type: ignore[arg-type]
            continue
        shape = _shape(avro_type)
        if shape is None or shape[0] == "null" or (slot >= 0 and shape[0] in _SKIPPABLE):
            return None
        specs.append((slot, shape[0], shape[1], None))
    return specs


class RecordsDecoder:
    """`AvroRecords` -> routed items, natively where it can (see the module docs)."""

    def __init__(self, item_master: ItemMaster, one_record: OneRecord) -> None:
        self._item_master = item_master
        self._one = one_record
        self._by_schema: dict[str, tuple[RecordDecoder | None, Any]] = {}
        self._by_writer: dict[int, tuple[Any, RecordDecoder | None]] = {}

    def _native(self, schema: Any) -> RecordDecoder | None:
        spec = layout(schema)
        if spec is None:
            return None
        classes = (InventoryEvent, Posting, list(EventType), list(Status), list(Disposition))
        return RecordDecoder(spec, self._item_master.factors(), classes, list(GROUPS))

    def _for(self, schema: str) -> tuple[RecordDecoder | None, Any]:
        found = self._by_schema.get(schema)
        if found is None:
            parsed = json.loads(schema)
            found = self._by_schema[schema] = (self._native(parsed), fastavro.parse_schema(plain_times(parsed)))
        return found

    def message(self, payload: bytes, origin: str, wire: AvroWire, latest: int) -> list[GroupRouted]:
        """One Kafka message: natively when its writer is a shipped schema version and the
        record is accepted whole (no trailing bytes), else the Python way. `latest`: the
        newest `occurred_at` accepted (the future guard)."""
        found = wire.shipped_writer(payload)
        if found is not None:
            writer, start = found
            cached = self._by_writer.get(id(writer))
            if cached is None or cached[0] is not writer:
                cached = self._by_writer[id(writer)] = (writer, self._native(writer))
            native = cached[1]
            if native is not None:
                items, fallbacks, end, decoded = native.decode(payload, start, 0, 1, (latest, origin, None))
                if decoded == 1 and not fallbacks and end == len(payload):
                    return items
        return self._one(payload, origin, latest)

    def __call__(self, run: AvroRecords, latest: int) -> list[GroupRouted]:
        native, writer = self._for(run.schema)
        if native is None:
            return self._reference(writer, run, 0, run.skip, run.count, run.first, latest)
        try:
            arrival = (latest, run.name, run.first)
            items, fallbacks, end, decoded = native.decode(run.data, 0, run.skip, run.count, arrival)
        except ValueError:  # the records before the run do not decode natively
            return self._reference(writer, run, 0, run.skip, run.count, run.first, latest)
        for position, n, start in reversed(fallbacks):
            items[position:position] = self._reference(writer, run, start, 0, 1, run.first + n, latest)
        if decoded < run.count:
            items.extend(self._reference(writer, run, end, 0, run.count - decoded, run.first + decoded, latest))
        return items

    def _reference(
        self, writer: Any, run: AvroRecords, start: int, skip: int, count: int, first: int, latest: int
    ) -> list[GroupRouted]:
        """The Python path: fastavro reads `skip + count` records from byte `start` (as the
        container reader would), and the last `count` go through `validate`. Bytes that
        stop decoding are one `undecodable` rejection: the rest of the block cannot be cut
        into records."""
        data = run.data
        buf = io.BytesIO(data)
        buf.seek(start)
        out: list[GroupRouted] = []
        for n in range(skip + count):
            at = buf.tell()
            index = first + max(0, n - skip)
            try:
                record = fastavro.schemaless_reader(buf, writer, None)
            except Exception as exc:  # fastavro raises many types on corrupt input
                detail = f"Avro records {index}..{first + count - 1} do not decode: {type(exc).__name__}: {exc}"
                out.append((None, Rejection(Reason.UNDECODABLE, detail, data[at:], origin=f"{run.name}#{index}")))
                break
            if n >= skip:
                out.extend(self._one(record, f"{run.name}#{index}", latest))
        return out
