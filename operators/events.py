"""The canonical inventory event, as the fold sees it.

A NamedTuple on the hot path: immutable, built and pickled at C speed (Bytewax
pickles the items it exchanges between workers).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class EventType(StrEnum):
    RECEIPT = "RECEIPT"
    ADJUSTMENT = "ADJUSTMENT"
    CYCLE_COUNT = "CYCLE_COUNT"
    RESERVATION_CREATED = "RESERVATION_CREATED"
    RESERVATION_RELEASED = "RESERVATION_RELEASED"
    PICK_CONFIRMED = "PICK_CONFIRMED"
    SHIPMENT_CONFIRMED = "SHIPMENT_CONFIRMED"
    TRANSFER_SHIPPED = "TRANSFER_SHIPPED"
    TRANSFER_RECEIVED = "TRANSFER_RECEIVED"
    RETURN_RECEIVED = "RETURN_RECEIVED"
    RETURN_DISPOSITIONED = "RETURN_DISPOSITIONED"
    HOLD_PLACED = "HOLD_PLACED"
    HOLD_RELEASED = "HOLD_RELEASED"
    BALANCE_SNAPSHOT = "BALANCE_SNAPSHOT"


class Disposition(StrEnum):
    RESTOCK = "RESTOCK"
    REFURBISH = "REFURBISH"
    DAMAGED = "DAMAGED"
    SCRAP = "SCRAP"


class Status(StrEnum):
    SELLABLE = "SELLABLE"
    QUARANTINE = "QUARANTINE"
    DAMAGED = "DAMAGED"


SOURCE_SYSTEMS = frozenset({"ERP", "WMS", "OMS", "ECOM", "MARKETPLACE", "EDI", "RETURNS", "3PL"})

# Field order of the Avro record; also the order of the canonical payload.
PAYLOAD_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "sku",
    "location",
    "quantity",
    "uom",
    "occurred_at",
    "source_system",
    "source_sequence",
    "correlation_id",
    "source_ref",
    "order_id",
    "channel",
    "account_id",
    "counterpart_location",
    "reason",
    "disposition",
    "status",
    "lot_id",
)

OrderKey = tuple[int, int, str]
"""Total order of events within a key: (occurred_at, source_sequence, event_id)."""


class InventoryEvent(NamedTuple):
    """A validated event; `base_qty` is `quantity` converted to base units (EA)."""

    event_id: str
    event_type: EventType
    sku: str
    location: str
    quantity: int
    uom: str
    occurred_at: int
    source_system: str
    source_sequence: int
    base_qty: int
    correlation_id: str | None = None
    source_ref: str | None = None
    order_id: str | None = None
    channel: str | None = None
    account_id: str | None = None
    counterpart_location: str | None = None
    reason: str | None = None
    disposition: Disposition | None = None
    status: Status | None = None
    lot_id: str | None = None
    # Stable 64-bit hashes computed once at validation, used by deduplication.
    id_hash: int = 0
    digest: int = 0
    # Where it was read (file:line, file#record, topic/partition@offset): for the fold's rejects.
    origin: str | None = None
    # The object as it was sent, where it is not `payload()` (a JSON line with an ISO time,
    # omitted nulls or extra fields): what a rejection at the fold stage carries.
    original: Any = None

    @property
    def order_key(self) -> OrderKey:
        return (self.occurred_at, self.source_sequence, self.event_id)

    def sent(self) -> Any:
        """The event as it was sent: what its rejections carry."""
        return self.payload() if self.original is None else self.original

    def payload(self) -> dict[str, Any]:
        """The event in canonical form (the Avro record / JSON Lines twin)."""
        out: dict[str, Any] = {}
        for name in PAYLOAD_FIELDS:
            value = getattr(self, name)
            out[name] = value.value if isinstance(value, StrEnum) else value
        return out
