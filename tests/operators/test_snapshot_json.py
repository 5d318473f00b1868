"""The native JSON of a snapshot is `orjson.dumps(snapshot.to_dict())`, byte for byte
(the store's values and the change stream's lines), or None where orjson would refuse."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import AvailabilitySnapshot
from operators._native import snapshot_json

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
