"""Validation: a raw mapping (JSON, Avro or simulator) becomes an event or a rejection.

Never raises on any input: whatever is wrong is named by a reason code, and the
original payload travels with the rejection.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from operators.dedup import stable_hash
from operators.events import PAYLOAD_FIELDS, Disposition, EventType, InventoryEvent, Status
from operators.fold import INT64_MAX
from operators.item_master import BASE_UOM, ItemMaster
from operators.rejects import Reason, Rejection

# One range of `occurred_at` for every format: what a datetime holds (0001-01-01 to
# 9999-12-31, in epoch millis), so JSON, Avro files and Kafka all accept the same times.
MIN_OCCURRED_AT = -62_135_596_800_000
MAX_OCCURRED_AT = 253_402_300_799_999
# The longest sku, location, counterpart or account, in UTF-8 bytes: keys travel in
# Kafka message keys, store keys and URLs.
MAX_KEY_BYTES = 256
# No key part may hold a control character (C0, DEL, C1): they cannot be told apart in
# logs and URLs, and NUL is the store's separator. (Unpaired surrogates, in any field,
# are undecodable before keys are looked at.)
# The longest other text (event_id, source_system, correlation_id, order_id, ...), in UTF-8
# bytes: a snapshot carries its last event id and up to MAX_CORRELATION_IDS correlation ids,
# so every output message stays far below a broker's 1 MB default.
MAX_FIELD_BYTES = 1024
# Every text field but the key parts (bounded tighter, below); event_type, uom, status and
# disposition too, since a rejection's detail quotes them.
_FREE_TEXT = (
    "event_id",
    "event_type",
    "uom",
    "status",
    "disposition",
    "source_system",
    "correlation_id",
    "source_ref",
    "order_id",
    "channel",
    "reason",
    "lot_id",
)
_BAD_KEY_CHAR = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A trillion base units per event: far beyond any real movement. (Running totals can
# still grow past it: the fold checks every figure against int64.)
MAX_BASE_QTY = 10**12
_EVENT_TYPES = {t.value: t for t in EventType}
_DISPOSITIONS = {d.value: d for d in Disposition}
_STATUSES = {s.value: s for s in Status}
_NEEDS_ORDER = frozenset(
    {
        EventType.RESERVATION_CREATED,
        EventType.RESERVATION_RELEASED,
        EventType.PICK_CONFIRMED,
        EventType.SHIPMENT_CONFIRMED,
    }
)
_TRANSFERS = frozenset({EventType.TRANSFER_SHIPPED, EventType.TRANSFER_RECEIVED})
_ABSOLUTE = frozenset({EventType.CYCLE_COUNT, EventType.BALANCE_SNAPSHOT})
_NULLABLE_STRINGS = (
    "correlation_id",
    "source_ref",
    "order_id",
    "channel",
    "account_id",
    "counterpart_location",
    "reason",
    "lot_id",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_epoch_millis(value: Any) -> int | None:
    """Epoch milliseconds from an int, an ISO-8601 string or a datetime; None if neither.
    Integer arithmetic (no float seconds), so every millisecond round-trips exactly."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) // _MS)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def key_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be a key part (`bad_key`), or None."""
    if _longer_than(value, MAX_KEY_BYTES):
        return f"{name} is longer than {MAX_KEY_BYTES} UTF-8 bytes"
    bad = _BAD_KEY_CHAR.search(value)
    if bad is not None:
        return f"{name} holds the control character U+{ord(bad.group()):04X}"
    return None


def _quoted(value: Any) -> str:
    """A value as a rejection's detail quotes it: reprlib's short form (a long text or a list
    is cut), so no detail grows with its input."""
    return reprlib.repr(value)


def _too_long(raw: Mapping[str, Any]) -> str | None:
    """The first text field (but the key parts, which `key_problem` bounds tighter) over
    MAX_FIELD_BYTES: each travels in snapshots, rejections and publications, so a long one
    could make an output message larger than the broker takes."""
    for name in _FREE_TEXT:
        value = raw.get(name)
        if isinstance(value, str) and _longer_than(value, MAX_FIELD_BYTES):
            return name
    return None


def _longer_than(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` UTF-8 bytes (encoded only when it might)."""
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


def _unpaired_surrogate(raw: Mapping[str, Any]) -> str | None:
    """The first field whose text holds an unpaired surrogate (it has no UTF-8 form)."""
    for name, value in raw.items():
        if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
            return str(name)
    return None


def _reject(
    reason: Reason, detail: str, raw: Any, origin: str | None, fields: dict[str, Any] | None = None
) -> Rejection:
    fields = fields or {}
    event_id = fields.get("event_id")
    sku, location = fields.get("sku"), fields.get("location")
    keyed = bool(event_id) and bool(sku) and bool(location)
    return Rejection(
        reason=reason,
        detail=detail,
        payload=raw,
        event_id=event_id,
        correlation_id=fields.get("correlation_id"),
        origin=origin,
        id_hash=stable_hash(event_id) if event_id else 0,
        digest=payload_digest(fields) if event_id else 0,
        sku=sku if keyed else None,
        location=location if keyed else None,
        occurred_at=fields.get("occurred_at"),
    )


def payload_digest(fields: Mapping[str, Any]) -> int:
    """Digest of the canonical payload: equal digests mean the same event content."""
    return stable_hash(repr(tuple(map(fields.get, PAYLOAD_FIELDS))))


def validate(
    raw: Any,
    item_master: ItemMaster,
    origin: str | None = None,
    latest_ms: int = MAX_OCCURRED_AT,
    *,
    keep_original: bool = False,
) -> InventoryEvent | Rejection:
    """Check one raw event against the schema and the rules of the README. With
    `keep_original` (a JSON object), an event whose canonical payload differs from `raw`
    keeps `raw`, for a rejection at the fold stage to carry as sent.

    Rules, in order: `field_too_long`, structure (`undecodable`), `missing_key`, `bad_key`,
    `future_event` (`occurred_at` after `latest_ms`: the arrival clock plus the guard),
    `unknown_uom`, `bad_quantity`, `missing_order_id`, `missing_channel`,
    `bad_counterpart`, `missing_disposition`.
    """
    if not isinstance(raw, Mapping):
        return _reject(
            Reason.UNDECODABLE, f"expected a JSON object / Avro record, got {type(raw).__name__}", raw, origin
        )
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not event_id or _SURROGATE.search(event_id):
        return _reject(Reason.UNDECODABLE, "event_id must be a non-empty string of Unicode text", raw, origin)
    long = _too_long(raw)
    if long is not None:  # not keyed, no id: a rejection must not carry the long text outside its payload
        return _reject(Reason.FIELD_TOO_LONG, f"{long} is longer than {MAX_FIELD_BYTES} UTF-8 bytes", raw, origin)
    fields: dict[str, Any] = {"event_id": event_id}
    broken = _unpaired_surrogate(raw)
    if broken is not None:
        detail = f"{broken} holds an unpaired surrogate: not Unicode text"
        return _reject(Reason.UNDECODABLE, detail, raw, origin, fields)
    fields["correlation_id"] = _str_or_none(raw.get("correlation_id"))
    type_raw = raw.get("event_type")
    etype = _EVENT_TYPES.get(type_raw) if isinstance(type_raw, str) else None
    if etype is None:
        return _reject(Reason.UNDECODABLE, f"unknown event_type {_quoted(type_raw)}", raw, origin, fields)
    fields["event_type"] = etype.value
    occurred_at = to_epoch_millis(raw.get("occurred_at"))
    if occurred_at is None or not MIN_OCCURRED_AT <= occurred_at <= MAX_OCCURRED_AT:
        return _reject(
            Reason.UNDECODABLE,
            "occurred_at must be epoch millis or ISO-8601 between years 1 and 9999",
            raw,
            origin,
            fields,
        )
    fields["occurred_at"] = occurred_at
    sequence = raw.get("source_sequence", 0)
    if sequence is None:
        sequence = 0
    if isinstance(sequence, bool) or not isinstance(sequence, int) or abs(sequence) > INT64_MAX:
        return _reject(Reason.UNDECODABLE, "source_sequence must be a 64-bit integer", raw, origin, fields)
    fields["source_sequence"] = sequence
    source_system = raw.get("source_system")
    if not isinstance(source_system, str) or not source_system:
        return _reject(Reason.UNDECODABLE, "source_system must be a non-empty string", raw, origin, fields)
    fields["source_system"] = source_system
    for name in _NULLABLE_STRINGS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            return _reject(Reason.UNDECODABLE, f"{name} must be a string or null", raw, origin, fields)
        fields[name] = value if value else None
    counterpart = fields["counterpart_location"]
    if counterpart is not None and not counterpart.strip():
        fields["counterpart_location"] = None  # blank, as a blank location is missing
    status_raw = raw.get("status")
    status = _STATUSES.get(status_raw) if isinstance(status_raw, str) else None
    if status_raw is not None and status is None:
        return _reject(Reason.UNDECODABLE, f"unknown status {_quoted(status_raw)}", raw, origin, fields)
    fields["status"] = status_raw
    disp_raw = raw.get("disposition")
    disposition = _DISPOSITIONS.get(disp_raw) if isinstance(disp_raw, str) else None
    fields["disposition"] = disposition.value if disposition else None

    sku, location = raw.get("sku"), raw.get("location")
    fields["sku"] = sku if isinstance(sku, str) else None
    fields["location"] = location if isinstance(location, str) else None
    uom = raw.get("uom")
    if uom is None:
        uom = BASE_UOM
    fields["uom"] = uom
    quantity = raw.get("quantity")
    fields["quantity"] = quantity

    if not isinstance(sku, str) or not sku.strip() or not isinstance(location, str) or not location.strip():
        return _reject(Reason.MISSING_KEY, "sku and location must be non-empty strings", raw, origin, fields)
    keyed = [("sku", sku), ("location", location), ("counterpart_location", fields["counterpart_location"])]
    keyed.append(("account_id", fields["account_id"]))
    for name, value in keyed:
        problem = key_problem(name, value) if value is not None else None
        if problem is not None:  # not keyed: the key itself is what is wrong
            return _reject(Reason.BAD_KEY, problem, raw, origin, {**fields, "sku": None, "location": None})
    if occurred_at > latest_ms:
        # Keyed (a re-send is reported once) but not remembered at its far-off time.
        return replace(
            _reject(
                Reason.FUTURE_EVENT,
                f"occurred_at {occurred_at} is after {latest_ms}, the latest the arrival clock allows",
                raw,
                origin,
                fields,
            ),
            occurred_at=None,
        )
    factor = item_master.factor(sku, uom) if isinstance(uom, str) else None
    if factor is None:
        return _reject(
            Reason.UNKNOWN_UOM,
            f"uom {_quoted(uom)} is not EA and not in the item master for {sku}",
            raw,
            origin,
            fields,
        )
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        return _reject(Reason.BAD_QUANTITY, "quantity must be an integer", raw, origin, fields)
    if etype is EventType.ADJUSTMENT:
        bad_qty = quantity == 0
    elif etype in _ABSOLUTE:
        bad_qty = quantity < 0
    else:
        bad_qty = quantity <= 0
    if bad_qty or abs(quantity * factor) > MAX_BASE_QTY:
        return _reject(
            Reason.BAD_QUANTITY, f"quantity {quantity} is not allowed for {etype.value}", raw, origin, fields
        )
    order_id = fields["order_id"]
    if etype in _NEEDS_ORDER and not order_id:
        return _reject(Reason.MISSING_ORDER_ID, f"{etype.value} needs an order_id", raw, origin, fields)
    if etype is EventType.RESERVATION_CREATED and not fields["channel"]:
        return _reject(Reason.MISSING_CHANNEL, "RESERVATION_CREATED needs a channel", raw, origin, fields)
    counterpart = fields["counterpart_location"]
    if etype in _TRANSFERS and (not counterpart or counterpart == location):
        return _reject(
            Reason.BAD_COUNTERPART, "transfer needs a counterpart_location other than location", raw, origin, fields
        )
    if etype is EventType.RETURN_DISPOSITIONED and disposition is None:
        return _reject(
            Reason.MISSING_DISPOSITION,
            f"disposition {_quoted(disp_raw)} is not one of {sorted(_DISPOSITIONS)}",
            raw,
            origin,
            fields,
        )

    return InventoryEvent(
        event_id=event_id,
        event_type=etype,
        sku=sku,
        location=location,
        quantity=quantity,
        uom=uom,
        occurred_at=occurred_at,
        source_system=source_system,
        source_sequence=sequence,
        base_qty=quantity * factor,
        correlation_id=fields["correlation_id"],
        source_ref=fields["source_ref"],
        order_id=order_id,
        channel=fields["channel"],
        account_id=fields["account_id"],
        counterpart_location=counterpart,
        reason=fields["reason"],
        disposition=disposition,
        status=status,
        lot_id=fields["lot_id"],
        id_hash=stable_hash(event_id),
        digest=payload_digest(fields),
        origin=origin,
        original=raw if keep_original and raw != fields else None,
    )
