"""One test per event type: the exact rule of the issue, in base units."""

from __future__ import annotations

from typing import Any

import pytest

from operators import EMPTY, Buckets, InventoryEvent, Posting, apply, postings, validate
from tests.operators.strategies import ITEM_MASTER, T0


def ev(event_type: str, qty: int, **extra: Any) -> InventoryEvent:
    raw = {
        "event_id": "e",
        "event_type": event_type,
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": qty,
        "occurred_at": T0,
        "source_system": "WMS",
        "source_sequence": 0,
        **extra,
    }
    event = validate(raw, ITEM_MASTER)
    assert isinstance(event, InventoryEvent), event
    return event


def run(state: Buckets, event: InventoryEvent) -> Buckets:
    return apply(state, Posting(event))


S0 = Buckets(sellable=50, reserved=10, picked=4, quarantine=3, damaged=2, in_transit=7, orders={"O-1": 10})


@pytest.mark.parametrize(
    ("status", "field"),
    [(None, "sellable"), ("SELLABLE", "sellable"), ("QUARANTINE", "quarantine"), ("DAMAGED", "damaged")],
)
def test_receipt_and_adjustment_go_to_the_status_bucket(status: str | None, field: str) -> None:
    after = run(S0, ev("RECEIPT", 5, status=status))
    assert getattr(after, field) == getattr(S0, field) + 5
    after = run(S0, ev("ADJUSTMENT", -8, status=status))
    assert getattr(after, field) == getattr(S0, field) - 8


def test_uom_is_converted_with_the_item_master() -> None:
    assert run(EMPTY, ev("RECEIPT", 2, uom="CS")).sellable == 24


def test_cycle_count_sets_sellable_only() -> None:
    assert run(S0, ev("CYCLE_COUNT", 9)) == S0._replace(sellable=9)


def test_reservation_created_and_released() -> None:
    s = run(S0, ev("RESERVATION_CREATED", 6, order_id="O-2", channel="dtc"))
    assert s.reserved == 16 and dict(s.orders) == {"O-1": 10, "O-2": 6}
    s = run(s, ev("RESERVATION_RELEASED", 100, order_id="O-2"))  # released at most what is open
    assert s.reserved == 10 and dict(s.orders) == {"O-1": 10}
    assert run(s, ev("RESERVATION_RELEASED", 5, order_id="UNKNOWN")) == s


def test_pick_consumes_its_reservation_up_to_what_is_open() -> None:
    s = run(S0, ev("PICK_CONFIRMED", 12, order_id="O-1"))
    assert (s.sellable, s.picked, s.reserved, dict(s.orders)) == (38, 16, 0, {})
    s = run(S0, ev("PICK_CONFIRMED", 3, order_id="NOPE"))
    assert (s.sellable, s.picked, s.reserved, dict(s.orders)) == (47, 7, 10, {"O-1": 10})


def test_shipment_leaves_picked() -> None:
    assert run(S0, ev("SHIPMENT_CONFIRMED", 4, order_id="O-1")) == S0._replace(picked=0)


def test_transfer_shipped_touches_both_keys() -> None:
    event = ev("TRANSFER_SHIPPED", 5, counterpart_location="WH-B")
    origin, destination = postings(event)
    assert origin.key == ("SKU-1", "WH-A") and destination.key == ("SKU-1", "WH-B")
    assert apply(S0, origin) == S0._replace(sellable=45)
    assert apply(S0, destination) == S0._replace(in_transit=12)


def test_transfer_received() -> None:
    assert run(S0, ev("TRANSFER_RECEIVED", 7, counterpart_location="WH-B")) == S0._replace(in_transit=0, sellable=57)


def test_returns() -> None:
    assert run(S0, ev("RETURN_RECEIVED", 2)) == S0._replace(quarantine=5)
    assert run(S0, ev("RETURN_DISPOSITIONED", 3, disposition="RESTOCK")) == S0._replace(quarantine=0, sellable=53)
    assert run(S0, ev("RETURN_DISPOSITIONED", 3, disposition="REFURBISH")) == S0._replace(quarantine=0, damaged=5)
    assert run(S0, ev("RETURN_DISPOSITIONED", 3, disposition="DAMAGED")) == S0._replace(quarantine=0, damaged=5)
    assert run(S0, ev("RETURN_DISPOSITIONED", 3, disposition="SCRAP")) == S0._replace(quarantine=0)


def test_holds() -> None:
    placed = run(S0, ev("HOLD_PLACED", 5))
    assert placed == S0._replace(sellable=45, quarantine=8)
    assert run(placed, ev("HOLD_RELEASED", 5)) == S0


def test_balance_snapshot_changes_nothing() -> None:
    assert run(S0, ev("BALANCE_SNAPSHOT", 999)) is S0


def test_derived_figures_and_no_clamping() -> None:
    s = run(EMPTY, ev("PICK_CONFIRMED", 5, order_id="O-9"))
    assert s.sellable == -5 and s.on_hand == 0 and s.available == 0
    assert S0.on_hand == 50 + 4 + 3 + 2 and S0.available == 40


def test_apply_is_pure() -> None:
    before = Buckets(orders={"O-1": 3})
    frozen = dict(before.orders)
    run(before, ev("PICK_CONFIRMED", 3, order_id="O-1"))
    run(before, ev("RESERVATION_CREATED", 3, order_id="O-1", channel="b2b"))
    assert before == Buckets(orders=frozen)


def test_account_consumption_counts_reservations_net_of_releases_and_survives_picks() -> None:
    from operators import KeyLedger

    ledger = KeyLedger("SKU-1", "WH-A")

    def feed(event_id: str, *args: Any, **kwargs: Any) -> None:
        event = ev(*args, **kwargs)._replace(event_id=event_id, id_hash=hash(event_id), source_sequence=len(event_id))
        ledger.on_batch([Posting(event._replace(occurred_at=T0 + ledger.version))])

    feed("r", "RECEIPT", 100)
    feed("c1", "RESERVATION_CREATED", 30, order_id="O-1", channel="b2b", account_id="ACME")
    feed("c2", "RESERVATION_CREATED", 5, order_id="O-2", channel="dtc")  # no account
    assert ledger.accounts == {"ACME": 30} and dict(ledger.head.order_accounts) == {"O-1": "ACME"}
    feed("rel1", "RESERVATION_RELEASED", 10, order_id="O-1")
    assert ledger.accounts == {"ACME": 20}
    feed("pick", "PICK_CONFIRMED", 20, order_id="O-1")  # the account got its stock: still consumed
    assert ledger.accounts == {"ACME": 20} and not ledger.head.order_accounts and ledger.head.reserved == 5
    feed("rel2", "RESERVATION_RELEASED", 20, order_id="O-1")  # nothing left open to release
    assert ledger.accounts == {"ACME": 20}
    assert ledger.snapshot().accounts == (("ACME", 20),)


@pytest.mark.parametrize(
    ("event_type", "extra"),
    [
        ("RECEIPT", {}),
        ("CYCLE_COUNT", {}),
        ("PICK_CONFIRMED", {"order_id": "O-9"}),
        ("SHIPMENT_CONFIRMED", {"order_id": "O-9"}),
        ("TRANSFER_SHIPPED", {"counterpart_location": "WH-B"}),
        ("TRANSFER_RECEIVED", {"counterpart_location": "WH-B"}),
        ("RETURN_RECEIVED", {}),
        ("RETURN_DISPOSITIONED", {"disposition": "RESTOCK"}),
        ("HOLD_PLACED", {}),
        ("HOLD_RELEASED", {}),
    ],
)
def test_other_movements_keep_open_orders_and_their_accounts(event_type: str, extra: dict[str, Any]) -> None:
    before = S0._replace(order_accounts={"O-1": "ACME"})
    for posting in postings(ev(event_type, 2, **extra)):  # both sides of a transfer
        after = apply(before, posting)
        assert (after.orders, after.order_accounts) == (before.orders, before.order_accounts)
