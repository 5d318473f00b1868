"""Rejections: events that did not fold, with a reason code and the original payload."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    # Validation: the event changes nothing.
    MISSING_KEY = "missing_key"
    BAD_KEY = "bad_key"
    UNKNOWN_UOM = "unknown_uom"
    BAD_QUANTITY = "bad_quantity"
    MISSING_ORDER_ID = "missing_order_id"
    MISSING_CHANNEL = "missing_channel"
    BAD_COUNTERPART = "bad_counterpart"
    MISSING_DISPOSITION = "missing_disposition"
    UNDECODABLE = "undecodable"
    FUTURE_EVENT = "future_event"
    # Fold: decided against the key's state.
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    LATE_BEYOND_HORIZON = "late_beyond_horizon"
    BEYOND_RETENTION = "beyond_retention"
    QUANTITY_OVERFLOW = "quantity_overflow"


# Reported but still applied (as well as it can be).
APPLIED_REASONS = frozenset({Reason.LATE_BEYOND_HORIZON})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One entry of the exceptions stream.

    `payload` is the original event: a dict when it could be parsed, else the raw
    text or bytes. `origin` says where it was read (file and line, topic/partition/offset).
    """

    reason: Reason
    detail: str
    payload: Any
    event_id: str | None = None
    correlation_id: str | None = None
    origin: str | None = None
    # Dedup fields: rejections with a key are deduplicated like events.
    id_hash: int = 0
    digest: int = 0
    sku: str | None = None
    location: str | None = None
    occurred_at: int | None = None

    @property
    def applied(self) -> bool:
        return self.reason in APPLIED_REASONS

    def to_record(self) -> dict[str, Any]:
        """JSON-ready record: top-level event_id, reason, detail and the payload."""
        return {
            "event_id": self.event_id,
            "reason": self.reason.value,
            "detail": self.detail,
            "applied": self.applied,
            "correlation_id": self.correlation_id,
            "origin": self.origin,
            "payload": self.payload,
        }
