"""Rejections: events that did not fold, with a reason code and the original payload."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from operators.dedup import SeenIds, stable_hash
from operators.events import InventoryEvent


class Reason(StrEnum):
    # Validation: the event changes nothing.
    MISSING_KEY = "missing_key"
    BAD_KEY = "bad_key"
    FIELD_TOO_LONG = "field_too_long"
    UNKNOWN_UOM = "unknown_uom"
    BAD_QUANTITY = "bad_quantity"
    MISSING_ORDER_ID = "missing_order_id"
    MISSING_CHANNEL = "missing_channel"
    BAD_COUNTERPART = "bad_counterpart"
    MISSING_DISPOSITION = "missing_disposition"
    UNDECODABLE = "undecodable"
    FUTURE_EVENT = "future_event"
    UNAUTHORIZED_SOURCE = "unauthorized_source"  # the policy's `sources:` rules
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

    @classmethod
    def of_event(cls, event: InventoryEvent, reason: Reason, detail: str) -> Rejection:
        """A valid event's rejection, on its key and with its payload as sent."""
        return cls(
            reason=reason,
            detail=detail,
            payload=event.sent(),
            event_id=event.event_id,
            correlation_id=event.correlation_id,
            origin=event.origin,
            id_hash=event.id_hash,
            digest=event.digest,
            sku=event.sku,
            location=event.location,
            occurred_at=event.occurred_at,
        )

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


Duplicate = tuple[str, str | None]  # (event type, source system as sent): the duplicates metric's labels


def duplicate_of(item: Rejection) -> Duplicate:
    """A duplicate rejection's event type and source system, as its payload says them."""
    payload = item.payload if isinstance(item.payload, dict) else {}
    etype, source = payload.get("event_type"), payload.get("source_system")
    return (etype if isinstance(etype, str) else "UNKNOWN", source if isinstance(source, str) else None)


class ReportedOnce:
    """Rejections without a key (nothing to deduplicate them by in the fold) that were
    reported: a digest of reason and payload, remembered for `retention_ms` of arrival
    time, so a re-sent line or a renamed copy of a file adds no second report."""

    __slots__ = ("_pruned_at", "_seen", "retention_ms")

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self._seen = SeenIds()
        self._pruned_at = 0

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, rejection: Rejection, now_ms: int) -> bool:
        """Whether `rejection` is to be reported (then it is remembered from `now_ms`)."""
        digest = stable_hash(repr((rejection.reason.value, rejection.payload)))
        if self._seen.digest_of(digest) is not None:
            return False
        self._seen.add(digest, 0, now_ms)
        if now_ms - self._pruned_at > max(_HOUR_MS, self.retention_ms // 64):
            self._seen.forget_before(now_ms - self.retention_ms)
            self._pruned_at = now_ms
        return True


_HOUR_MS = 3_600_000
