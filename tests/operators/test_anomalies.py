"""Anomalies: each reason on a small story, and, whatever the arrival order, duplication and
batching, the anomalies standing at the end (per event and reason, the highest version, not
cleared) are those `detect` finds on the sorted log (the native ledger, the one the dataflow
runs; `test_native_ledger` holds it to `KeyLedger` item for item)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from operators import EMPTY, apply
from operators.anomalies import Anomaly, AnomalyCheck, AnomalyRecord, detect
from operators.ledger import NativeLedgers
from tests.operators.strategies import T0, native_outcomes, routed, shuffled_batches, sorted_postings, valid_log

Flag = tuple[tuple[str, str], str, Anomaly]  # (key, event_id, reason)


def _raw(i: int, etype: str, qty: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"E-{i}",
        "event_type": etype,
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": qty,
        "uom": "EA",
        "occurred_at": T0 + i * 1000,
        "source_system": "WMS",
        "source_sequence": i,
        **extra,
    }


def _fold(*raws: dict[str, Any]) -> list[AnomalyCheck]:
    """The anomaly checks of folding the raws one batch each, in the given order."""
    natives = NativeLedgers()
    ledger = natives.new("SKU-1", "WH-A")
    out: list[AnomalyCheck] = []
    for raw in raws:
        out += natives.fold(ledger, [item for _, item in routed(raw)]).anomalies
    return out


def test_shipping_beyond_picked_is_over_ship_and_negative_picked() -> None:
    checks = _fold(
        _raw(0, "RECEIPT", 10),
        _raw(1, "RESERVATION_CREATED", 3, order_id="O-1", channel="b2b"),
        _raw(2, "PICK_CONFIRMED", 3, order_id="O-1"),
        _raw(3, "SHIPMENT_CONFIRMED", 50, order_id="O-1"),
    )
    assert [(c.event_id, c.reason, c.subject, c.figure) for c in checks] == [
        ("E-3", Anomaly.NEGATIVE_BUCKET, "picked", -47),
        ("E-3", Anomaly.OVER_SHIP, "picked", 3),
    ]
    record = AnomalyRecord.of("SKU-1", "WH-A", checks[1])
    assert record.detail == "ships 50 with 3 picked: 47 beyond"
    assert (record.before["picked"], record.after["picked"], record.status) == (3, -47, "open")


def test_order_reasons() -> None:
    checks = _fold(
        _raw(1, "RECEIPT", 100),
        _raw(2, "RESERVATION_CREATED", 5, order_id="O-1", channel="b2b"),
        _raw(3, "RESERVATION_RELEASED", 8, order_id="O-1"),  # 5 open
        _raw(4, "RESERVATION_RELEASED", 1, order_id="O-9"),  # never reserved
        _raw(5, "RESERVATION_CREATED", 4, order_id="O-2", channel="b2b"),
        _raw(6, "PICK_CONFIRMED", 6, order_id="O-2"),  # 4 open
        _raw(7, "PICK_CONFIRMED", 2, order_id="O-1"),  # released already
    )
    assert [(c.event_id, c.reason, c.subject, c.figure) for c in checks] == [
        ("E-3", Anomaly.OVER_RELEASE, "O-1", 5),
        ("E-4", Anomaly.UNKNOWN_ORDER, "O-9", 0),
        ("E-6", Anomaly.OVER_PICK, "O-2", 4),
        ("E-7", Anomaly.UNKNOWN_ORDER, "O-1", 0),
    ]


def test_oversold_is_flagged_when_it_gets_worse() -> None:
    checks = _fold(
        _raw(1, "RECEIPT", 10),
        _raw(2, "RESERVATION_CREATED", 12, order_id="O-1", channel="b2b"),  # 2 over
        _raw(3, "RECEIPT", 1),  # better: 1 over, not flagged
        _raw(4, "HOLD_PLACED", 3),  # worse: 4 over
    )
    assert [(c.event_id, c.reason, c.figure) for c in checks] == [
        ("E-2", Anomaly.OVERSOLD, -2),
        ("E-4", Anomaly.OVERSOLD, -4),
    ]


def test_negative_buckets_from_holds_returns_and_transfers() -> None:
    checks = _fold(
        _raw(1, "HOLD_RELEASED", 2),
        _raw(2, "RETURN_DISPOSITIONED", 1, disposition="SCRAP"),
        _raw(3, "TRANSFER_RECEIVED", 4, counterpart_location="WH-B"),
    )
    negatives = [(c.event_id, c.subject, c.figure) for c in checks if c.reason is Anomaly.NEGATIVE_BUCKET]
    assert negatives == [("E-1", "quarantine", -2), ("E-2", "quarantine", -3), ("E-3", "in_transit", -4)]


def test_a_late_event_clears_an_anomaly_and_versions_rise() -> None:
    ship = _raw(3, "SHIPMENT_CONFIRMED", 5, order_id="O-1")
    pick = _raw(2, "PICK_CONFIRMED", 5, order_id="O-1")  # happened before the shipment, arrives after it
    checks = _fold(_raw(0, "RECEIPT", 10), _raw(1, "RESERVATION_CREATED", 5, order_id="O-1", channel="b2b"), ship, pick)
    assert [(c.event_id, c.reason, c.cleared) for c in checks] == [
        ("E-3", Anomaly.NEGATIVE_BUCKET, False),
        ("E-3", Anomaly.OVER_SHIP, False),
        ("E-3", Anomaly.NEGATIVE_BUCKET, True),
        ("E-3", Anomaly.OVER_SHIP, True),
    ]
    assert checks[2].version > checks[0].version
    assert AnomalyRecord.of("SKU-1", "WH-A", checks[3]).status == "cleared"


def _expected(log: list[dict[str, Any]]) -> dict[Flag, AnomalyCheck]:
    """`detect` on the sorted log, as the checks a ledger would emit (versions aside)."""
    states: dict[tuple[str, str], Any] = defaultdict(lambda: EMPTY)
    out = {}
    for p in sorted_postings(log):
        before = states[p.key]
        after = states[p.key] = apply(before, p)
        e = p.event
        for f in detect(before, p.move, after):
            found = (f.reason, f.subject, f.figure, e.base_qty, before[:6], after[:6], e.occurred_at, 0)
            out[(p.key, e.event_id, f.reason)] = AnomalyCheck(e.event_id, e.event_type, *found)
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), log=valid_log(max_size=60))
def test_the_standing_anomalies_are_the_sorted_logs(data: Any, log: list[dict[str, Any]]) -> None:
    last: dict[Flag, AnomalyCheck] = {}
    for ledger, outcome in native_outcomes(shuffled_batches(data, log)):
        for check in outcome.anomalies:
            flag = ((ledger.snapshot().sku, ledger.snapshot().location), check.event_id, check.reason)
            held = last.get(flag)
            assert held is None or check.version > held.version  # each change is a newer version
            last[flag] = check
    standing = {f: c._replace(version=0) for f, c in last.items() if not c.cleared}
    expected = _expected(log)
    event(f"{len(expected)} anomalies")
    assert standing == expected
