"""Anomalies: valid events that leave a key's books impossible or suspicious. The fold applies
them as sent (it never clamps); `detect` says what is wrong, from the state before and after.

The ledger evaluates each posting at its position in event order and again when a late
posting re-folds history before it, so per (event_id, reason) the record with the highest
version is the sorted log's verdict, whatever the arrival order; one that no longer holds is
re-emitted `cleared`. Every figure a finding carries fits int64 (the fold keeps the buckets,
and available before its floor, within it), so no record needs more than a long."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from operators.events import EventType
from operators.fold import BUCKETS, Buckets, Move


class Anomaly(StrEnum):
    NEGATIVE_BUCKET = "negative_bucket"  # a bucket the event lowered is below zero
    UNKNOWN_ORDER = "unknown_order"  # a release or pick of an order with no open reservation
    OVER_RELEASE = "over_release"  # a release beyond the order's open reservation
    OVER_PICK = "over_pick"  # a pick beyond the order's open reservation
    OVER_SHIP = "over_ship"  # a shipment beyond what was picked
    OVERSOLD = "oversold"  # open reservations above sellable, and the event made it worse
    UNAUTHORIZED_SOURCE = "unauthorized_source"  # applied, from a source the policy flags for it


ANOMALIES: tuple[Anomaly, ...] = tuple(Anomaly)  # by code (the native core's order)


class Finding(NamedTuple):
    """What is wrong after one posting. `subject`: the bucket, the order id, "available", or
    "source_system" (unauthorized_source, figure 0);
    `figure`: the bucket after (negative), the order's open quantity or the picked units
    before the event, or available before its floor at zero (sellable - reserved, negative)."""

    reason: Anomaly
    subject: str
    figure: int


def quantities(state: Buckets) -> tuple[int, int, int, int, int, int]:
    return state[:6]


def detect(before: Buckets, move: Move, after: Buckets) -> list[Finding]:
    """The anomalies of one posting, in `Anomaly` order (one per reason)."""
    flagged = [Finding(Anomaly.UNAUTHORIZED_SOURCE, "source_system", 0)] if move.flagged else []
    if move.counterpart or (move.event_type is EventType.BALANCE_SNAPSHOT and not move.adopt):
        return flagged  # a transfer's receiving side only adds in transit; a reported balance changes nothing
    out: list[Finding] = []
    for name, was, now in zip(BUCKETS, before[:6], after[:6], strict=True):
        if now < 0 and now < was:
            out.append(Finding(Anomaly.NEGATIVE_BUCKET, name, now))
            break  # an event lowers one bucket, or sellable and reserved (which cannot go negative)
    t, q = move.event_type, move.base_qty
    if t in (EventType.RESERVATION_RELEASED, EventType.PICK_CONFIRMED) and move.order_id:
        held = before.orders.get(move.order_id, 0)
        if held <= 0:
            out.append(Finding(Anomaly.UNKNOWN_ORDER, move.order_id, 0))
        elif q > held:
            reason = Anomaly.OVER_RELEASE if t is EventType.RESERVATION_RELEASED else Anomaly.OVER_PICK
            out.append(Finding(reason, move.order_id, held))
    elif t is EventType.SHIPMENT_CONFIRMED and q > max(before.picked, 0):
        out.append(Finding(Anomaly.OVER_SHIP, "picked", before.picked))
    gap_after = after.reserved - after.sellable
    if gap_after > 0 and gap_after > before.reserved - before.sellable:
        out.append(Finding(Anomaly.OVERSOLD, "available", after.sellable - after.reserved))
    return out + flagged


class AnomalyCheck(NamedTuple):
    """A finding on its posting, as the ledger emits it: keep the highest `version` per
    (event_id, reason); `cleared` when a re-fold found it no longer holds."""

    event_id: str
    event_type: EventType
    reason: Anomaly
    subject: str
    figure: int
    quantity: int
    before: tuple[int, ...]
    after: tuple[int, ...]
    as_of: int  # the event's occurred_at
    version: int
    cleared: bool = False


def explain(check: AnomalyCheck) -> str:
    """One line for people, with exact figures (Python ints: a difference cannot wrap)."""
    q, f = check.quantity, check.figure
    if check.cleared:
        return "no longer holds once events that arrived later are in their place"
    match check.reason:
        case Anomaly.NEGATIVE_BUCKET:
            return f"{check.subject} is {f} after it"
        case Anomaly.UNKNOWN_ORDER:
            return f"order {check.subject!r} has no open reservation here"
        case Anomaly.OVER_RELEASE | Anomaly.OVER_PICK:
            return f"{q} units against {f} open on order {check.subject!r}: {q - f} beyond"
        case Anomaly.OVER_SHIP:
            return f"ships {q} with {f} picked: {q - max(f, 0)} beyond"
        case Anomaly.UNAUTHORIZED_SOURCE:
            return "applied, though its source is not authoritative for it here (policy sources, mode flag)"
    return f"open reservations exceed sellable by {-f}"


class AnomalyRecord(NamedTuple):
    """One anomaly of one event on one key, as the outputs carry it."""

    event_id: str
    reason: str
    sku: str
    location: str
    event_type: str
    subject: str
    figure: int
    quantity: int
    detail: str
    before: dict[str, int]
    after: dict[str, int]
    status: str  # open | cleared
    as_of: int
    version: int

    @classmethod
    def of(cls, sku: str, location: str, check: AnomalyCheck) -> AnomalyRecord:
        return cls(
            check.event_id,
            check.reason.value,
            sku,
            location,
            check.event_type.value,
            check.subject,
            check.figure,
            check.quantity,
            explain(check),
            dict(zip(BUCKETS, check.before, strict=True)),
            dict(zip(BUCKETS, check.after, strict=True)),
            "cleared" if check.cleared else "open",
            check.as_of,
            check.version,
        )

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()
