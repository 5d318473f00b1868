"""The fold: a pure function of (state, posting) for one (sku, location).

`Buckets` is immutable (its mappings are persistent HAMTs: an update shares all but
a path with the old map, so a hot key with thousands of open orders does not copy them
per event); `apply` returns a new one and never mutates its input,
so any earlier state can be kept as a checkpoint for free (the ledger does).
Quantities are base units, plain signed integers, never clamped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from immutables import Map

from operators.events import Disposition, EventType, InventoryEvent, Status
from operators.exceptions import Overflow

_NO_ORDERS: Map[str, int] = Map()

BUCKETS: tuple[str, ...] = ("sellable", "reserved", "picked", "quarantine", "damaged", "in_transit")


class Buckets(NamedTuple):
    """State of one key. `orders`: open reserved quantity per order_id; `order_accounts`:
    the account of each open order that has one. Both mappings are read-only. Accounts'
    net reservations are not kept here but summed from `account_delta` by the ledger, so
    that retained history states do not each carry a copy of them."""

    sellable: int = 0
    reserved: int = 0
    picked: int = 0
    quarantine: int = 0
    damaged: int = 0
    in_transit: int = 0
    orders: Mapping[str, int] = _NO_ORDERS
    order_accounts: Mapping[str, str] = _NO_ORDERS  # type: ignore[assignment]

    @property
    def on_hand(self) -> int:
        return self.sellable + self.picked + self.quarantine + self.damaged

    @property
    def available(self) -> int:
        return max(0, self.sellable - self.reserved)


EMPTY = Buckets()


class Move(NamedTuple):
    """What the fold reads of a posting, and all a key's retained history keeps of it."""

    event_type: EventType
    base_qty: int
    order_id: str | None = None
    account_id: str | None = None
    status: Status | None = None
    disposition: Disposition | None = None
    counterpart: bool = False  # the receiving side of TRANSFER_SHIPPED
    adopt: bool = False  # a balance snapshot whose figure becomes the bucket's (policy `adopt`)
    flagged: bool = False  # from a source the policy's `sources:` flag as not authoritative


class Posting(NamedTuple):
    """An event as it lands on one key; a transfer posts twice (ship side, receive side).
    `adopt`: a balance snapshot the policy adopts; `flagged`: from a source the policy
    flags as not authoritative for it (both decided when it arrived)."""

    event: InventoryEvent
    counterpart: bool = False
    adopt: bool = False
    flagged: bool = False

    @property
    def key(self) -> tuple[str, str]:
        e = self.event
        return (e.sku, e.counterpart_location) if self.counterpart else (e.sku, e.location)  # type: ignore[return-value]

    @property
    def move(self) -> Move:
        """A balance snapshot has no order or account: its move keeps the correlation id and
        the source system in those slots, for its reconciliation."""
        e = self.event
        if e.event_type is EventType.BALANCE_SNAPSHOT:
            snapshot_of = (e.correlation_id, e.source_system, e.status, None, False, self.adopt, self.flagged)
            return Move(e.event_type, e.base_qty, *snapshot_of)
        moved = (e.order_id, e.account_id, e.status, e.disposition, self.counterpart, False, self.flagged)
        return Move(e.event_type, e.base_qty, *moved)


def postings(event: InventoryEvent, adopt: bool = False) -> tuple[Posting, ...]:
    """The keys one event touches: TRANSFER_SHIPPED at L to D also lands on D.in_transit.
    `adopt` marks a balance snapshot whose figure the policy adopts."""
    if event.event_type is EventType.TRANSFER_SHIPPED:
        return (Posting(event), Posting(event, True))
    if adopt and event.event_type is EventType.BALANCE_SNAPSHOT:
        return (Posting(event, False, True),)
    return (Posting(event),)


def _persistent(mapping: Mapping[str, Any]) -> Map[str, Any]:
    return mapping if isinstance(mapping, Map) else Map(mapping)


def _with_order(orders: Mapping[str, int], order_id: str, remaining: int) -> Mapping[str, int]:
    """A new map with the order's open quantity; fully consumed orders are dropped."""
    if remaining > 0:
        return _persistent(orders).set(order_id, remaining)
    return _without(orders, order_id)


def _without(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return _persistent(mapping).delete(key) if key in mapping else mapping


def _receipt(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    if e.status is Status.QUARANTINE:
        return Buckets(
            s.sellable,
            s.reserved,
            s.picked,
            s.quarantine + q,
            s.damaged,
            s.in_transit,
            s.orders,
            s.order_accounts,
        )
    if e.status is Status.DAMAGED:
        return Buckets(
            s.sellable,
            s.reserved,
            s.picked,
            s.quarantine,
            s.damaged + q,
            s.in_transit,
            s.orders,
            s.order_accounts,
        )
    return Buckets(
        s.sellable + q,
        s.reserved,
        s.picked,
        s.quarantine,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _cycle_count(s: Buckets, e: Move) -> Buckets:
    return Buckets(e.base_qty, s.reserved, s.picked, s.quarantine, s.damaged, s.in_transit, s.orders, s.order_accounts)


def _reservation_created(s: Buckets, e: Move) -> Buckets:
    oid = e.order_id or ""
    q = e.base_qty
    orders = _with_order(s.orders, oid, s.orders.get(oid, 0) + q)
    order_accounts = s.order_accounts
    if e.account_id and order_accounts.get(oid) != e.account_id:
        order_accounts = _persistent(order_accounts).set(oid, e.account_id)
    return Buckets(s.sellable, s.reserved + q, s.picked, s.quarantine, s.damaged, s.in_transit, orders, order_accounts)


def _reservation_released(s: Buckets, e: Move) -> Buckets:
    oid = e.order_id or ""
    open_qty = s.orders.get(oid, 0)
    r = min(e.base_qty, open_qty)
    if r <= 0:
        return s
    orders = _with_order(s.orders, oid, open_qty - r)
    order_accounts = s.order_accounts if oid in orders else _without(s.order_accounts, oid)
    return Buckets(s.sellable, s.reserved - r, s.picked, s.quarantine, s.damaged, s.in_transit, orders, order_accounts)


def _pick_confirmed(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    oid = e.order_id or ""
    open_qty = s.orders.get(oid, 0)
    c = min(q, open_qty)
    if c <= 0:
        return Buckets(
            s.sellable - q,
            s.reserved,
            s.picked + q,
            s.quarantine,
            s.damaged,
            s.in_transit,
            s.orders,
            s.order_accounts,
        )
    orders = _with_order(s.orders, oid, open_qty - c)
    order_accounts = s.order_accounts if oid in orders else _without(s.order_accounts, oid)
    return Buckets(
        s.sellable - q,
        s.reserved - c,
        s.picked + q,
        s.quarantine,
        s.damaged,
        s.in_transit,
        orders,
        order_accounts,
    )


def _shipment_confirmed(s: Buckets, e: Move) -> Buckets:
    return Buckets(
        s.sellable,
        s.reserved,
        s.picked - e.base_qty,
        s.quarantine,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _transfer_shipped(s: Buckets, e: Move) -> Buckets:
    return Buckets(
        s.sellable - e.base_qty,
        s.reserved,
        s.picked,
        s.quarantine,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _transfer_received(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    return Buckets(
        s.sellable + q,
        s.reserved,
        s.picked,
        s.quarantine,
        s.damaged,
        s.in_transit - q,
        s.orders,
        s.order_accounts,
    )


def _return_received(s: Buckets, e: Move) -> Buckets:
    return Buckets(
        s.sellable,
        s.reserved,
        s.picked,
        s.quarantine + e.base_qty,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _return_dispositioned(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    d = e.disposition
    if d is Disposition.RESTOCK:
        return Buckets(
            s.sellable + q,
            s.reserved,
            s.picked,
            s.quarantine - q,
            s.damaged,
            s.in_transit,
            s.orders,
            s.order_accounts,
        )
    if d is Disposition.REFURBISH or d is Disposition.DAMAGED:
        return Buckets(
            s.sellable,
            s.reserved,
            s.picked,
            s.quarantine - q,
            s.damaged + q,
            s.in_transit,
            s.orders,
            s.order_accounts,
        )
    # SCRAP leaves the building
    return Buckets(
        s.sellable,
        s.reserved,
        s.picked,
        s.quarantine - q,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _hold_placed(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    return Buckets(
        s.sellable - q,
        s.reserved,
        s.picked,
        s.quarantine + q,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _hold_released(s: Buckets, e: Move) -> Buckets:
    q = e.base_qty
    return Buckets(
        s.sellable + q,
        s.reserved,
        s.picked,
        s.quarantine - q,
        s.damaged,
        s.in_transit,
        s.orders,
        s.order_accounts,
    )


def _balance_snapshot(s: Buckets, e: Move) -> Buckets:
    """Reconciliation input only, unless adopted: then the reported figure becomes the
    bucket's (on hand's difference goes to sellable, as a count's does)."""
    if not e.adopt:
        return s
    q = e.base_qty
    if e.status is Status.QUARANTINE:
        return s._replace(quarantine=q)
    if e.status is Status.DAMAGED:
        return s._replace(damaged=q)
    if e.status is Status.SELLABLE:
        return s._replace(sellable=q)
    return s._replace(sellable=s.sellable + q - s.on_hand)


_RULES: dict[EventType, Callable[[Buckets, Move], Buckets]] = {
    EventType.RECEIPT: _receipt,
    EventType.ADJUSTMENT: _receipt,
    EventType.CYCLE_COUNT: _cycle_count,
    EventType.RESERVATION_CREATED: _reservation_created,
    EventType.RESERVATION_RELEASED: _reservation_released,
    EventType.PICK_CONFIRMED: _pick_confirmed,
    EventType.SHIPMENT_CONFIRMED: _shipment_confirmed,
    EventType.TRANSFER_SHIPPED: _transfer_shipped,
    EventType.TRANSFER_RECEIVED: _transfer_received,
    EventType.RETURN_RECEIVED: _return_received,
    EventType.RETURN_DISPOSITIONED: _return_dispositioned,
    EventType.HOLD_PLACED: _hold_placed,
    EventType.HOLD_RELEASED: _hold_released,
    EventType.BALANCE_SNAPSHOT: _balance_snapshot,
}


def account_delta(state: Buckets, item: Posting | Move) -> tuple[str, int] | None:
    """How one posting changes an account's net reservations at this key, given the state
    before it: +q for its reservation, -r for the part of its order a release frees.
    Picks keep the consumption (that stock went to the account). Pure, like `apply`."""
    m = item.move if isinstance(item, Posting) else item
    if m.counterpart:
        return None
    if m.event_type is EventType.RESERVATION_CREATED:
        return (m.account_id, m.base_qty) if m.account_id else None
    if m.event_type is EventType.RESERVATION_RELEASED:
        oid = m.order_id or ""
        account = state.order_accounts.get(oid)
        released = min(m.base_qty, state.orders.get(oid, 0))
        return (account, -released) if account is not None and released > 0 else None
    return None


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def fits(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def apply(state: Buckets, item: Posting | Move) -> Buckets:
    """The state after one posting. Pure: `state` is left as it was. Raises `Overflow`
    when a bucket, on hand, available before its floor at zero, or the order's open
    quantity would leave int64 (the native fold's checked arithmetic)."""
    m = item.move if isinstance(item, Posting) else item
    if m.counterpart:  # the receiving side of TRANSFER_SHIPPED
        s = state
        after = Buckets(
            s.sellable,
            s.reserved,
            s.picked,
            s.quarantine,
            s.damaged,
            s.in_transit + m.base_qty,
            s.orders,
            s.order_accounts,
        )
    else:
        after = _RULES[m.event_type](state, m)
    figures = (*after[:6], after.on_hand, after.sellable - after.reserved, after.orders.get(m.order_id or "", 0))
    if not all(map(fits, figures)):
        raise Overflow(f"{m.event_type.value} of {m.base_qty} takes a figure beyond int64")
    return after


def fold(postings_in_order: list[Posting], state: Buckets = EMPTY) -> Buckets:
    """Apply postings in the given order (the reference the ledger must equal)."""
    for p in postings_in_order:
        state = apply(state, p)
    return state
