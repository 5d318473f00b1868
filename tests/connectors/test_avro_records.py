"""The native decode of Avro container records equals the Python path, item for item.

The reference: fastavro's container reader, then `Decoder.one` (validate, route, group)
per record. The native path: the file source's runs of records, through `Decoder`.
Records cover valid events and every rejection rule, text the native core leaves to
the reference (non-ASCII, quotes, control characters), three writer schemas, and runs
cut anywhere in a block (batch sizes, resumes).
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from connectors.avro_records import AvroRecords, layout, plain_times
from connectors.codec import Decoder, RawRecord, records_in
from connectors.files import EventFileSource
from connectors.wire import AvroWire
from operators import ItemMaster, Reason, Rejection
from tests.helpers import drain

ITEM_MASTER = ItemMaster({("SKU-1", "CS"): 12, ("SKU-2", "PK"): 1_000_000})
EVENT_TYPES = list(schemas.load("inventory_event")["fields"][1]["type"]["symbols"])


def _foreign_schema() -> dict[str, Any]:
    """A writer that reorders the fields, adds one the reader does not know, and has
    occurred_at as a plain long (read as an int, not a datetime)."""
    schema = copy.deepcopy(schemas.load("inventory_event"))
    fields = list(reversed(schema["fields"]))
    for f in fields:
        if f["name"] == "occurred_at":
            f["type"] = "long"
    fields.insert(3, {"name": "weight_kg", "type": "double", "default": 0.0})
    schema["fields"] = fields
    return schema


WRITERS = [*schemas.versions("inventory_event"), _foreign_schema()]

# Text that is valid but tests the digest's repr (quotes, backslash, control chars,
# non-ASCII), and text that some rule rejects (blank in Python's sense).
FANCY = st.sampled_from(["it's", 'say "hi"', "q'\"", "tab\t", "\\", "\x7f", "é", "a\x1fb"])
BLANK = st.sampled_from(["", " ", "\x1c", "\t\n"])
NAME = st.one_of(st.sampled_from(["SKU-1", "SKU-2", "SKU-3"]), FANCY)
MILLIS = st.one_of(
    st.integers(1_700_000_000_000, 1_700_000_100_000),
    st.sampled_from([0, -1, -62_135_596_800_000, 253_402_300_799_999, 253_402_300_800_000]),
)
# One field set to something odd: mostly rule breakers, some merely unusual.
ODD: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(st.just(""), st.text(max_size=4)),
    "sku": st.one_of(BLANK, FANCY),
    "location": st.one_of(BLANK, FANCY),
    "quantity": st.sampled_from([0, -1, 10**12, 10**12 + 1, -(10**12), 2**62, -(2**63)]),
    "uom": st.sampled_from(["CS", "PK", "XX", ""]),
    "occurred_at": MILLIS,
    "source_system": st.sampled_from(["", "é", "X"]),
    "source_sequence": st.sampled_from([-(2**63), 2**63 - 1, -5]),
    "order_id": st.one_of(st.none(), BLANK, FANCY),
    "channel": st.one_of(st.none(), BLANK, FANCY),
    "counterpart_location": st.sampled_from([None, "", "WH-1", "WH-2"]),
    "disposition": st.sampled_from([None, "SCRAP"]),
    "status": st.sampled_from([None, "DAMAGED"]),
    "correlation_id": st.one_of(st.none(), BLANK, FANCY),
    "lot_id": st.one_of(BLANK, FANCY),
}


@st.composite
def records(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """A valid event of any type (its text sometimes fancy), then maybe one odd field."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    sku = draw(NAME)
    record: dict[str, Any] = {
        "event_id": draw(st.one_of(st.sampled_from(["e-1", "e-2", "e-3", "e-4"]), FANCY)),
        "event_type": event_type,
        "sku": sku,
        "location": draw(st.sampled_from(["WH-1", "WH-2"])),
        "quantity": draw(st.integers(1, 5)),
        "uom": {"SKU-1": "CS", "SKU-2": "PK"}.get(sku, "EA") if draw(st.booleans()) else "EA",
        "occurred_at": draw(st.integers(1_700_000_000_000, 1_700_000_100_000)),
        "source_system": draw(st.sampled_from(["ERP", "WMS"])),
        "source_sequence": draw(st.integers(0, 5)),
        "weight_kg": 1.5,
        "order_id": draw(st.sampled_from(["o-1", "o-2"])),
        "channel": "B2B",
        "counterpart_location": "WH-3",
        "disposition": draw(st.sampled_from(["RESTOCK", "REFURBISH", "DAMAGED", "SCRAP"])),
        "status": draw(st.sampled_from([None, "SELLABLE", "QUARANTINE", "DAMAGED"])),
        "correlation_id": draw(st.sampled_from([None, "", "c-1"])),
        "source_ref": draw(st.sampled_from([None, "ref"])),
        "account_id": draw(st.sampled_from([None, "", "acct-1"])),
        "reason": draw(st.one_of(st.none(), FANCY)),
        "lot_id": None,
    }
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(ODD)))
        record[name] = draw(ODD[name])
    names = {f["name"] for f in schema["fields"]}
    return {k: v for k, v in record.items() if k in names}


def _write(path: Path, schema: dict[str, Any], rows: list[dict[str, Any]], sync_interval: int) -> None:
    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), rows, sync_interval=sync_interval)


def _reference(path: Path, schema: dict[str, Any]) -> list[Any]:
    """The Python path over the whole file, times read as the longs they are."""
    decoder = Decoder(ITEM_MASTER)
    plain = fastavro.parse_schema(plain_times(schema))
    rows = []
    with open(path, "rb") as f:
        for block in fastavro.block_reader(f):
            data = block.bytes_
            rows.extend(fastavro.schemaless_reader(data, plain, None) for _ in range(block.num_records))
    return [item for i, row in enumerate(rows) for item in decoder.one(row, f"{path.name}#{i}")]


def _runs(path: Path, batch: int, resume_after: int) -> list[RawRecord]:
    """Every run the file source emits, resuming from a snapshot after `resume_after` batches."""
    source = EventFileSource(path, batch_size=batch)
    part = source.build_part("in", "events", None)
    first = drain(part, resume_after)
    return first + drain(source.build_part("in", "events", part.snapshot()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    writer=st.sampled_from(range(len(WRITERS))),
    batch=st.integers(1, 40),
    resume_after=st.integers(0, 3),
    sync_interval=st.sampled_from([1, 300, 4000]),
)
def test_native_runs_equal_the_python_path(
    tmp_path: Path, data: st.DataObject, writer: int, batch: int, resume_after: int, sync_interval: int
) -> None:
    schema = WRITERS[writer]
    rows = data.draw(st.lists(records(schema), max_size=60))
    path = tmp_path / "events.avro"
    _write(path, schema, rows, sync_interval)
    runs = _runs(path, batch, resume_after)
    assert records_in(runs) == len(rows)
    got = Decoder(ITEM_MASTER)(runs)
    expected = _reference(path, schema)
    assert repr(got) == repr(expected)  # repr: NamedTuple and enum types count too
    assert got == expected


def test_the_shipped_schemas_are_read_natively() -> None:
    for schema in WRITERS:
        assert layout(schema) is not None
    assert layout({"type": "record", "name": "x", "fields": [{"name": "sku", "type": "bytes"}]}) is None


def test_bytes_that_stop_decoding_are_one_undecodable_rejection(tmp_path: Path) -> None:
    schema = schemas.load("inventory_event")
    row = {
        "event_id": "e-1",
        "event_type": "RECEIPT",
        "sku": "SKU-1",
        "location": "WH-1",
        "quantity": 5,
        "uom": "EA",
        "occurred_at": 1_700_000_000_000,
        "source_system": "ERP",
        "source_sequence": 1,
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), row)
    good = buf.getvalue()
    run = AvroRecords(json.dumps(schema), good + good[:7], 0, 2, "f.avro", 10)
    got = Decoder(ITEM_MASTER)([(run, "f.avro#10")])
    assert got[0][1][0] == "SKU-1|WH-1" and got[1][0] is None
    rejection = got[1][1]
    assert isinstance(rejection, Rejection) and rejection.reason is Reason.UNDECODABLE
    assert rejection.origin == "f.avro#11" and rejection.payload == good[:7]


WIRE = AvroWire("inventory_event")


@settings(max_examples=100, deadline=None)
@given(data=st.data(), writer=st.sampled_from(range(len(WRITERS) - 1)), trailing=st.booleans())
def test_native_messages_equal_the_python_path(data: st.DataObject, writer: int, trailing: bool) -> None:
    """Kafka messages of the shipped versions (single-object framing), one of them maybe
    with a trailing byte or cut short: the same items as `Decoder.one` gives each."""
    schema = WRITERS[writer]
    rows = data.draw(st.lists(records(schema), min_size=1, max_size=20))
    messages = [WIRE.encode_single_object(row, schema) for row in rows]
    if trailing:
        i = data.draw(st.integers(0, len(messages) - 1))
        messages[i] = messages[i] + b"\x00" if data.draw(st.booleans()) else messages[i][:-1]
    batch: list[RawRecord] = [(m, f"t/0@{i}") for i, m in enumerate(messages)]
    decoder = Decoder(ITEM_MASTER, WIRE)
    expected = [item for m, origin in batch for item in decoder.one(m, origin)]
    got = decoder(batch)
    assert repr(got) == repr(expected)
    assert got == expected
