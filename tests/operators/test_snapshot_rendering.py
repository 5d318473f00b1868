"""A snapshot's native renderings are what the Python libraries make of `snapshot.to_dict()`,
byte for byte, or None where those would refuse: the JSON is orjson's (the store's values
and the change stream's lines), the Avro body fastavro's under the shipped schema (the
snapshots topic's messages)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import fastavro
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from operators import AvailabilitySnapshot
from operators._native import change_json, snapshot_avro, snapshot_json
from operators.changes import Change

_SCHEMA = fastavro.parse_schema(schemas.load(schemas.AVAILABILITY_SNAPSHOT))

_INT = st.integers(-(2**63), 2**63 - 1)
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["", '"', "\\", "\x00\x1f\x7f", "é€😀"])


@st.composite
def _snapshots(draw: st.DrawFn) -> AvailabilitySnapshot:
    accounts = draw(st.dictionaries(_TEXT, _INT, max_size=4))
    return AvailabilitySnapshot(
        draw(_TEXT),
        draw(_TEXT),
        *draw(st.lists(_INT, min_size=10, max_size=10)),
        draw(_TEXT),
        tuple(draw(st.lists(_TEXT, max_size=5))),
        tuple(sorted(accounts.items())),
        tuple(draw(st.lists(_TEXT, max_size=3))),
    )


@settings(max_examples=500, deadline=None)
@given(snapshot=_snapshots(), newline=st.booleans())
def test_native_json_is_orjsons(snapshot: AvailabilitySnapshot, newline: bool) -> None:
    expected = orjson.dumps(snapshot.to_dict()) + (b"\n" if newline else b"")
    assert snapshot_json(snapshot, newline) == expected


def test_what_orjson_refuses_is_left_to_the_caller() -> None:
    lone_surrogate = AvailabilitySnapshot("SKU-\ud800", "WH", *range(10), "E-1")
    beyond_64_bits = AvailabilitySnapshot("SKU-1", "WH", 2**64, *range(9), "E-1")
    assert snapshot_json(lone_surrogate) is None
    assert snapshot_json(beyond_64_bits) is None


def _fastavro(snapshot: AvailabilitySnapshot) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _SCHEMA, snapshot.to_dict())
    return buf.getvalue()


@settings(max_examples=500, deadline=None)
@given(snapshot=_snapshots(), header=st.binary(max_size=10))
def test_native_avro_is_fastavros(snapshot: AvailabilitySnapshot, header: bytes) -> None:
    assert snapshot_avro(snapshot, header) == header + _fastavro(snapshot)


def test_native_avro_reads_back() -> None:
    snapshot = AvailabilitySnapshot("SKU-1", "WH", *range(-5, 5), "E-1", ("c-1", "c-2"), (("acme", 3), ("zed", -1)))
    body = snapshot_avro(snapshot, b"")
    assert body is not None
    read = fastavro.schemaless_reader(io.BytesIO(body), _SCHEMA, None)
    assert isinstance(read, dict)
    assert read.pop("as_of") == datetime.fromtimestamp(snapshot.as_of / 1000, UTC)
    assert read == {k: v for k, v in snapshot.to_dict().items() if k != "as_of"}


def test_what_fastavro_refuses_or_merges_is_left_to_the_caller() -> None:
    lone_surrogate = AvailabilitySnapshot("SKU-\ud800", "WH", *range(10), "E-1")
    beyond_64_bits = AvailabilitySnapshot("SKU-1", "WH", 2**64, *range(9), "E-1")
    repeated_account = AvailabilitySnapshot("SKU-1", "WH", *range(10), "E-1", (), (("a", 1), ("a", 2)))
    for snapshot in (lone_surrogate, beyond_64_bits):
        with pytest.raises((UnicodeError, ValueError, OverflowError)):
            _fastavro(snapshot)
        assert snapshot_avro(snapshot, b"h") is None
    assert snapshot_avro(repeated_account, b"h") is None


_QUANTITIES = st.tuples(*[_INT] * 6)


@st.composite
def _changes(draw: st.DrawFn, quantities: st.SearchStrategy[tuple[int, ...]] = _QUANTITIES) -> Change:
    return Change(
        draw(_TEXT),
        draw(_TEXT),
        draw(_INT),
        draw(quantities),  # type: ignore[arg-type]
        draw(quantities),  # type: ignore[arg-type]
        tuple(draw(st.lists(_TEXT, max_size=5))),
        draw(_INT),
        tuple(draw(st.lists(_TEXT, max_size=5))),
        draw(_INT),
        draw(_INT),
    )


@settings(max_examples=500, deadline=None)
@given(change=_changes(), newline=st.booleans())
def test_a_changes_native_json_is_orjsons_or_left_to_it(change: Change, newline: bool) -> None:
    """None only where on hand or available leave int64 (the fold never makes such a state)."""
    got = change_json(change, newline)
    try:
        expected = orjson.dumps(change.to_dict()) + (b"\n" if newline else b"")
    except orjson.JSONEncodeError:
        assert got is None
        return
    assert got is None or got == expected


@settings(max_examples=300, deadline=None)
@given(change=_changes(st.tuples(*[st.integers(-(2**60), 2**60)] * 6)))
def test_a_changes_figures_within_the_folds_range_render_natively(change: Change) -> None:
    assert change_json(change) == orjson.dumps(change.to_dict())


def test_a_change_with_a_lone_surrogate_is_left_to_the_caller() -> None:
    change = Change("SKU-\ud800", "WH", 1, (0,) * 6, (1,) * 6, ("e",), 1, (), 0, 0)  # type: ignore[arg-type]
    assert change_json(change) is None
