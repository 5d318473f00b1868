"""Fuzzing the decoders with hypothesis: any bytes as a JSON line, a Kafka message or an Avro
container file give items or rejections, never an exception, and every input is accounted for."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from connectors.avro import parsed
from connectors.codec import Decoder
from connectors.files import EventFileSource
from connectors.wire import AvroWire
from operators import ItemMaster, Rejection
from tests.helpers import drain

WIRE = AvroWire(schemas.INVENTORY_EVENT)
EVENT = {
    "event_id": "e-1",
    "event_type": "TRANSFER_SHIPPED",
    "sku": "SKU-1",
    "location": "WH-A",
    "quantity": 3,
    "uom": "CS",
    "occurred_at": 1_780_000_000_000,
    "source_system": "WMS",
    "source_sequence": 1,
    "counterpart_location": "WH-B",
}
VALID_MESSAGE = WIRE.encode_single_object(EVENT)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutated(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for at, value in edits:
        out[at % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


def _accounted(items: list[Any]) -> None:
    for group, item in items:
        if group is None:
            assert isinstance(item, Rejection) and item.reason
        else:
            assert isinstance(item, tuple) and len(item) == 2


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_as_a_json_line(line: bytes) -> None:
    _accounted(Decoder(ItemMaster())([(line, "f.jsonl:1")]))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6), st.none() | st.integers(0, 200))
def test_any_mutation_of_a_kafka_message(edits: list[tuple[int, int]], cut: int | None) -> None:
    message = _mutated(VALID_MESSAGE, edits, cut)
    items = Decoder(ItemMaster({("SKU-1", "CS"): 12}), WIRE)([(message, "t/0@7")])
    _accounted(items)
    assert items  # an event or a rejection, never nothing


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), max_size=8),
    st.none() | st.integers(0, 5_000),
    st.sampled_from(["null", "deflate"]),
)
def test_any_mutation_of_an_avro_container(
    tmp_path: Path, edits: list[tuple[int, int]], cut: int | None, codec: str
) -> None:
    buf = io.BytesIO()
    rows = [{**EVENT, "event_id": f"e-{i}", "source_sequence": i} for i in range(40)]
    fastavro.writer(buf, parsed(schemas.INVENTORY_EVENT), rows, codec=codec, sync_interval=400)
    path = tmp_path / f"fuzz-{codec}.avro"
    path.write_bytes(_mutated(buf.getvalue(), edits, cut))
    source = EventFileSource(path, batch_size=7)
    part = source.build_part("in", "events", None)
    first = drain(part, 2)
    runs = first + drain(source.build_part("in", "events", part.snapshot()))  # a resume mid-way too
    _accounted(Decoder(ItemMaster({("SKU-1", "CS"): 12}))(runs))


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=30,
    )
)
def test_any_json_value_as_an_event(value: Any) -> None:
    line = json.dumps(value).encode()
    _accounted(Decoder(ItemMaster())([(line, "f.jsonl:1")]))
    if isinstance(value, dict):
        _accounted(Decoder(ItemMaster())([({**EVENT, **value}, "f.avro#0")]))
