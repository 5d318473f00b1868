"""Every reject reason, and validation never raises whatever it is given."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import InventoryEvent, KeyLedger, Reason, Rejection, route, validate
from tests.operators.strategies import ITEM_MASTER, T0, raw_event

GOOD: dict[str, Any] = {
    "event_id": "e1",
    "event_type": "RECEIPT",
    "sku": "SKU-1",
    "location": "WH-A",
    "quantity": 3,
    "occurred_at": T0,
    "source_system": "WMS",
    "source_sequence": 1,
}


def reason_of(**changes: Any) -> Reason:
    result = validate({**GOOD, **changes}, ITEM_MASTER)
    assert isinstance(result, Rejection), result
    return result.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sku": ""}, Reason.MISSING_KEY),
        ({"location": None}, Reason.MISSING_KEY),
        ({"sku": "   "}, Reason.MISSING_KEY),
        ({"uom": "PALLET"}, Reason.UNKNOWN_UOM),
        ({"sku": "SKU-9", "uom": "CS"}, Reason.UNKNOWN_UOM),
        ({"quantity": 0}, Reason.BAD_QUANTITY),
        ({"quantity": -1}, Reason.BAD_QUANTITY),
        ({"quantity": "3"}, Reason.BAD_QUANTITY),
        ({"quantity": 2.5}, Reason.BAD_QUANTITY),
        ({"quantity": 10**13}, Reason.BAD_QUANTITY),
        ({"quantity": 10**11, "uom": "CS"}, Reason.BAD_QUANTITY),  # 12 x 10**11 base units
        ({"event_type": "ADJUSTMENT", "quantity": 0}, Reason.BAD_QUANTITY),
        ({"event_type": "CYCLE_COUNT", "quantity": -1}, Reason.BAD_QUANTITY),
        ({"event_type": "BALANCE_SNAPSHOT", "quantity": -1}, Reason.BAD_QUANTITY),
        ({"event_type": "RESERVATION_CREATED", "channel": "dtc"}, Reason.MISSING_ORDER_ID),
        ({"event_type": "RESERVATION_RELEASED"}, Reason.MISSING_ORDER_ID),
        ({"event_type": "PICK_CONFIRMED", "order_id": ""}, Reason.MISSING_ORDER_ID),
        ({"event_type": "SHIPMENT_CONFIRMED"}, Reason.MISSING_ORDER_ID),
        ({"event_type": "RESERVATION_CREATED", "order_id": "O-1"}, Reason.MISSING_CHANNEL),
        ({"event_type": "TRANSFER_SHIPPED"}, Reason.BAD_COUNTERPART),
        ({"event_type": "TRANSFER_RECEIVED", "counterpart_location": "WH-A"}, Reason.BAD_COUNTERPART),
        ({"event_type": "RETURN_DISPOSITIONED"}, Reason.MISSING_DISPOSITION),
        ({"event_type": "RETURN_DISPOSITIONED", "disposition": "LOST"}, Reason.MISSING_DISPOSITION),
        ({"event_type": "TELEPORT"}, Reason.UNDECODABLE),
        ({"event_id": ""}, Reason.UNDECODABLE),
        ({"occurred_at": "yesterday"}, Reason.UNDECODABLE),
        ({"status": "LOST"}, Reason.UNDECODABLE),
        ({"order_id": 7}, Reason.UNDECODABLE),
    ],
)
def test_reject_reasons(changes: dict[str, Any], reason: Reason) -> None:
    assert reason_of(**changes) is reason


def test_zero_allowed_for_absolute_counts_and_negative_for_adjustments() -> None:
    for changes in ({"event_type": "CYCLE_COUNT", "quantity": 0}, {"event_type": "ADJUSTMENT", "quantity": -4}):
        assert isinstance(validate({**GOOD, **changes}, ITEM_MASTER), InventoryEvent)


def test_not_a_mapping_is_undecodable_with_payload_kept() -> None:
    result = validate(["not", "an", "event"], ITEM_MASTER, origin="events.jsonl:3")
    assert isinstance(result, Rejection)
    assert (result.reason, result.payload, result.origin) == (
        Reason.UNDECODABLE,
        ["not", "an", "event"],
        "events.jsonl:3",
    )
    assert route(result) == [(None, result)]


def test_iso_timestamps_and_default_uom() -> None:
    a = validate({**GOOD, "occurred_at": "2026-05-28T20:26:40+00:00"}, ITEM_MASTER)
    b = validate({**GOOD, "occurred_at": 1780000000000, "uom": None}, ITEM_MASTER)
    assert isinstance(a, InventoryEvent) and isinstance(b, InventoryEvent)
    assert a.occurred_at == 1780000000000 and b.uom == "EA"
    assert a.digest == b.digest  # the JSON and Avro twins of one event are the same event


def test_keyed_rejections_route_to_their_key_for_dedup() -> None:
    result = validate({**GOOD, "quantity": 0}, ITEM_MASTER)
    assert isinstance(result, Rejection)
    assert route(result) == [("SKU-1|WH-A", result)]
    assert result.to_record()["payload"] == {**GOOD, "quantity": 0}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8) | st.binary(max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
_fields = st.sampled_from(
    [
        "event_id",
        "event_type",
        "sku",
        "location",
        "quantity",
        "uom",
        "occurred_at",
        "source_system",
        "source_sequence",
        "order_id",
        "channel",
        "counterpart_location",
        "disposition",
        "status",
        "correlation_id",
    ]
)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), junk=st.dictionaries(_fields, _json, max_size=6))
def test_never_raises_on_any_combination_of_fields(data: Any, junk: dict[str, Any]) -> None:
    raw = {**data.draw(raw_event(0)), **junk}
    for drop in data.draw(st.lists(_fields, max_size=4)):
        raw.pop(drop, None)
    result = validate(raw, ITEM_MASTER)
    assert isinstance(result, InventoryEvent | Rejection)
    for key, item in route(result):  # routing and the fold never raise either
        if key is not None:
            sku, location = item.key if not isinstance(item, Rejection) else (item.sku, item.location)
            KeyLedger(sku or "", location or "").on_batch([item, item])
    if isinstance(result, Rejection):
        result.to_record()
