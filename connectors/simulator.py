"""A simulated distributor: the embedded default's event source.

Three or more warehouses, thousands of SKUs with skewed demand, four channels.
Replenishment keeps most SKUs in stock; a slice of SKUs is discontinued and runs
out; marketplace orders placed against stale listings oversell now and then.
Like real feeds it also delivers some events late, re-sends some, and gets a few
wrong (unknown units, missing order ids), so the exceptions stream has work too.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from threading import Event
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.codec import RawRecord

CHANNEL_MIX = (("dtc", 40), ("amazon", 30), ("b2b", 20), ("edi", 10))


@dataclass(frozen=True)
class SimConfig:
    skus: int = 2000
    locations: tuple[str, ...] = ("WH-EAST", "WH-WEST", "3PL-CENTRAL")
    seed: int = 7
    late_fraction: float = 0.02  # delivered 1-20 s after they happened
    duplicate_fraction: float = 0.01  # re-sent by the source
    invalid_fraction: float = 0.002  # bad unit, missing order id, zero quantity, a marketplace's stock count
    discontinued_fraction: float = 0.05  # never replenished: they run out
    oversell_fraction: float = 0.3  # marketplace orders that do not check stock


@dataclass
class _Key:
    sellable: int = 0
    reserved: int = 0
    quarantine: int = 0
    in_transit: int = 0
    on_order: int = 0
    open_orders: list[tuple[str, int]] = field(default_factory=list)
    picked_orders: list[tuple[str, int]] = field(default_factory=list)


class Distributor:
    """Deterministic for a seed: the same `events()` sequence for the same clock."""

    def __init__(self, config: SimConfig = SimConfig()) -> None:
        self.config = config
        rng = self.rng = random.Random(config.seed)
        self.skus = [f"SKU-{100000 + i:07d}" for i in range(config.skus)]
        # Demand is skewed: a few fast movers, a long tail.
        self.weights = [1.0 / (i + 1) ** 0.8 for i in range(config.skus)]
        rng.shuffle(self.weights)
        self.cum_weights = list(accumulate(self.weights))  # once: choices() would redo it per draw
        # Replenishment scales with velocity: fast movers reorder earlier and in bigger lots.
        mean_weight = sum(self.weights) / len(self.weights)
        self.velocity = {s: max(1.0, w / mean_weight) for s, w in zip(self.skus, self.weights, strict=True)}
        self.case_pack = {s: rng.choice((6, 12, 24)) for s in self.skus if rng.random() < 0.6}
        self.discontinued = {s for s in self.skus if rng.random() < config.discontinued_fraction}
        self.keys: dict[tuple[str, str], _Key] = {}
        self.seq: dict[str, int] = {}
        self.order_no = 0
        self.pending: list[tuple[int, int, dict[str, Any]]] = []  # (due_ms, tiebreak, event)
        self.tiebreak = 0
        self.sent: list[dict[str, Any]] = []  # recent events, for re-sends

    def item_master_rows(self) -> list[tuple[str, str, int]]:
        return [(sku, "CS", pack) for sku, pack in sorted(self.case_pack.items())]

    def opening_stock(self, now_ms: int) -> Iterator[dict[str, Any]]:
        """Initial cycle counts: every key starts with a counted balance."""
        for sku in self.skus:
            for loc in self.config.locations:
                qty = 0 if sku in self.discontinued and self.rng.random() < 0.5 else self.rng.randint(20, 400)
                self._key(sku, loc).sellable = qty
                yield self._event("CYCLE_COUNT", sku, loc, qty, now_ms, "WMS", reason="opening count")

    # -- the model -------------------------------------------------------------

    def _key(self, sku: str, loc: str) -> _Key:
        k = self.keys.get((sku, loc))
        if k is None:
            k = self.keys[(sku, loc)] = _Key()
        return k

    def _event(
        self, etype: str, sku: str, loc: str, qty: int, now_ms: int, source: str, **extra: Any
    ) -> dict[str, Any]:
        self.seq[source] = seq = self.seq.get(source, 0) + 1
        event = {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "event_type": etype,
            "sku": sku,
            "location": loc,
            "quantity": qty,
            "uom": "EA",
            "occurred_at": now_ms,
            "source_system": source,
            "source_sequence": seq,
            "correlation_id": None,
            "source_ref": None,
            "order_id": None,
            "channel": None,
            "account_id": None,
            "counterpart_location": None,
            "reason": None,
            "disposition": None,
            "status": None,
        }
        event.update(extra)
        return event

    def _later(self, due_ms: int, event: dict[str, Any]) -> None:
        self.tiebreak += 1
        heapq.heappush(self.pending, (due_ms, self.tiebreak, event))

    def _pick_sku(self) -> str:
        return self.rng.choices(self.skus, cum_weights=self.cum_weights)[0]

    def _step(self, now_ms: int) -> list[dict[str, Any]]:
        rng, locs = self.rng, self.config.locations
        roll = rng.random()
        sku = self._pick_sku()
        loc = rng.choice(locs)
        k = self._key(sku, loc)
        out: list[dict[str, Any]] = []
        if roll < 0.40:  # a channel order reserves stock
            channel = rng.choices([c for c, _ in CHANNEL_MIX], [w for _, w in CHANNEL_MIX])[0]
            qty = rng.randint(5, 48) if channel in ("b2b", "edi") else rng.randint(1, 4)
            blind = channel == "amazon" and rng.random() < self.config.oversell_fraction
            if blind or k.sellable - k.reserved >= qty:
                self.order_no += 1
                order_id = f"{channel.upper()}-{self.order_no}"
                k.reserved += qty
                k.open_orders.append((order_id, qty))
                source = {"dtc": "ECOM", "amazon": "MARKETPLACE", "b2b": "OMS", "edi": "EDI"}[channel]
                account = f"ACCT-{rng.randint(1, 40):03d}" if channel in ("b2b", "edi") else None
                out.append(
                    self._event(
                        "RESERVATION_CREATED",
                        sku,
                        loc,
                        qty,
                        now_ms,
                        source,
                        order_id=order_id,
                        channel=channel,
                        account_id=account,
                        correlation_id=order_id,
                    )
                )
        elif roll < 0.62:  # the warehouse picks the oldest order
            if not k.open_orders:
                return self._replenish(sku, loc, k, now_ms, out)
            order_id, qty = k.open_orders.pop(0)
            k.reserved -= qty
            k.sellable -= qty
            k.picked_orders.append((order_id, qty))
            out.append(
                self._event("PICK_CONFIRMED", sku, loc, qty, now_ms, "WMS", order_id=order_id, correlation_id=order_id)
            )
        elif roll < 0.80:
            if not k.picked_orders:
                return self._replenish(sku, loc, k, now_ms, out)
            order_id, qty = k.picked_orders.pop(0)
            out.append(
                self._event(
                    "SHIPMENT_CONFIRMED", sku, loc, qty, now_ms, "WMS", order_id=order_id, correlation_id=order_id
                )
            )
        elif roll < 0.82:  # cancellation
            if not k.open_orders:
                return self._replenish(sku, loc, k, now_ms, out)
            order_id, qty = k.open_orders.pop(rng.randrange(len(k.open_orders)))
            k.reserved -= qty
            out.append(
                self._event(
                    "RESERVATION_RELEASED",
                    sku,
                    loc,
                    qty,
                    now_ms,
                    "OMS",
                    order_id=order_id,
                    reason="customer cancel",
                    correlation_id=order_id,
                )
            )
        elif roll < 0.84:  # transfer from the fullest location
            src = max(locs, key=lambda x: self._key(sku, x).sellable)
            dst = min(locs, key=lambda x: self._key(sku, x).sellable)
            ks = self._key(sku, src)
            qty = (ks.sellable - ks.reserved) // 3
            if src != dst and qty > 0:
                ks.sellable -= qty
                self._key(sku, dst).in_transit += qty
                ref = f"TR-{self.order_no}-{rng.randint(0, 9999)}"
                out.append(
                    self._event(
                        "TRANSFER_SHIPPED",
                        sku,
                        src,
                        qty,
                        now_ms,
                        "WMS",
                        counterpart_location=dst,
                        source_ref=ref,
                        correlation_id=ref,
                    )
                )
                self._later(
                    now_ms + rng.randint(2_000, 30_000),
                    self._event(
                        "TRANSFER_RECEIVED",
                        sku,
                        dst,
                        qty,
                        now_ms,
                        "WMS",
                        counterpart_location=src,
                        source_ref=ref,
                        correlation_id=ref,
                    ),
                )
        elif roll < 0.87:  # customer return, dispositioned later
            qty = rng.randint(1, 3)
            k.quarantine += qty
            rma = f"RMA-{rng.randint(0, 10**6)}"
            out.append(
                self._event("RETURN_RECEIVED", sku, loc, qty, now_ms, "RETURNS", source_ref=rma, correlation_id=rma)
            )
            disposition = rng.choices(["RESTOCK", "REFURBISH", "DAMAGED", "SCRAP"], [60, 15, 15, 10])[0]
            self._later(
                now_ms + rng.randint(5_000, 60_000),
                self._event(
                    "RETURN_DISPOSITIONED",
                    sku,
                    loc,
                    qty,
                    now_ms,
                    "RETURNS",
                    disposition=disposition,
                    source_ref=rma,
                    correlation_id=rma,
                ),
            )
        elif roll < 0.89:  # QC hold, released later
            if k.sellable <= 10:
                return self._replenish(sku, loc, k, now_ms, out)
            qty = rng.randint(1, min(24, k.sellable // 10))
            k.sellable -= qty
            out.append(self._event("HOLD_PLACED", sku, loc, qty, now_ms, "WMS", reason="QC inspection"))
            self._later(
                now_ms + rng.randint(10_000, 120_000),
                self._event("HOLD_RELEASED", sku, loc, qty, now_ms, "WMS", reason="QC passed"),
            )
        elif roll < 0.92:  # cycle count finds a little shrink now and then
            shrink = rng.choice((0, 0, 0, 1, 2))
            k.sellable = max(0, k.sellable - shrink)
            out.append(self._event("CYCLE_COUNT", sku, loc, max(0, k.sellable), now_ms, "WMS", reason="cycle count"))
        elif roll < 0.94:  # damage found on the shelf
            qty = rng.randint(1, 3)
            out.append(
                self._event("ADJUSTMENT", sku, loc, -qty, now_ms, "ERP", reason="damaged in storage", status="SELLABLE")
            )
            out.append(
                self._event("ADJUSTMENT", sku, loc, qty, now_ms, "ERP", reason="damaged in storage", status="DAMAGED")
            )
            k.sellable -= qty
        elif roll < 0.95:  # the ERP's view of sellable stock; one in ten has drifted a little
            drift = rng.randint(-3, 3) if rng.random() < 0.1 else 0
            reported = max(0, k.sellable + drift)
            out.append(self._event("BALANCE_SNAPSHOT", sku, loc, reported, now_ms, "ERP", status="SELLABLE"))
        return self._replenish(sku, loc, k, now_ms, out)

    def _replenish(self, sku: str, loc: str, k: _Key, now_ms: int, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A purchase order lands after a lead time, in cases when the SKU has them."""
        rng = self.rng
        velocity = self.velocity[sku]
        if sku not in self.discontinued and k.sellable - k.reserved + k.on_order < 30 * velocity:
            pack = self.case_pack.get(sku)
            cases = int(rng.randint(10, 40) * velocity)
            qty_ea = cases * pack if pack else cases * 10
            k.on_order += qty_ea
            po = f"PO-{rng.randint(0, 10**7)}"
            receipt = (
                self._event("RECEIPT", sku, loc, cases, now_ms, "ERP", uom="CS", source_ref=po, correlation_id=po)
                if pack
                else self._event("RECEIPT", sku, loc, qty_ea, now_ms, "WMS", source_ref=po, correlation_id=po)
            )
            self._later(now_ms + rng.randint(5_000, 90_000), receipt)
        return out

    def _arrive(self, event: dict[str, Any]) -> None:
        """Book a delayed event (receipt, transfer receipt, ...) into the model."""
        k = self._key(event["sku"], event["location"])
        etype, qty = event["event_type"], event["quantity"]
        if etype == "RECEIPT":
            ea = qty * self.case_pack[event["sku"]] if event["uom"] == "CS" else qty
            k.sellable += ea
            k.on_order -= ea
        elif etype == "TRANSFER_RECEIVED":
            k.in_transit -= qty
            k.sellable += qty
        elif etype == "RETURN_DISPOSITIONED":
            k.quarantine -= qty
            if event["disposition"] == "RESTOCK":
                k.sellable += qty
        elif etype == "HOLD_RELEASED":
            k.sellable += qty

    def _faulty(self, event: dict[str, Any]) -> dict[str, Any]:
        bad = dict(event, event_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))
        fault = self.rng.randrange(4)
        if fault == 0:
            bad["uom"] = "PALLET"
        elif fault == 1:
            bad.update(event_type="PICK_CONFIRMED", order_id=None)
        elif fault == 2:
            bad["quantity"] = 0
        else:  # valid, but from a system that is not authoritative for the count (policy `sources:`)
            bad.update(event_type="CYCLE_COUNT", source_system="MARKETPLACE", uom="EA", status=None)
            bad.update(quantity=self.rng.randrange(1000), order_id=None, channel=None, account_id=None)
            bad.update(counterpart_location=None, disposition=None, correlation_id=None, source_ref=None)
        return bad

    def events(self, now_ms: int) -> list[dict[str, Any]]:
        """Events delivered at `now_ms`: new ones, due delayed ones, faults and re-sends."""
        cfg, rng = self.config, self.rng
        delivered: list[dict[str, Any]] = []
        while self.pending and self.pending[0][0] <= now_ms:
            _, _, event = heapq.heappop(self.pending)
            if event.get("_late"):
                delivered.append(event["_late"])
                continue
            event["occurred_at"] = now_ms
            self._arrive(event)
            delivered.append(event)
        for event in self._step(now_ms):
            if rng.random() < cfg.late_fraction:
                self._later(now_ms + rng.randint(1_000, 20_000), {"_late": event})
            else:
                delivered.append(event)
        if delivered and rng.random() < cfg.invalid_fraction * 3:
            delivered.append(self._faulty(delivered[0]))
        for event in delivered:
            if len(self.sent) < 1000:
                self.sent.append(event)
            else:
                self.sent[rng.randrange(1000)] = event
        if self.sent and rng.random() < cfg.duplicate_fraction * 2:
            delivered.append(rng.choice(self.sent))
        return delivered

    def stream(self, start_ms: int, rate_per_s: float) -> Iterator[dict[str, Any]]:
        """An endless simulated-clock stream at `rate_per_s` (for files and benchmarks)."""
        yield from self.opening_stock(start_ms)
        now = float(start_ms)
        step = 1000.0 / rate_per_s
        while True:
            now += step
            yield from self.events(int(now))


def now_ms() -> int:
    return int(time.time() * 1000)


class _SimPartition(StatefulSourcePartition[RawRecord, None]):
    def __init__(
        self, config: SimConfig, rate: float, duration_s: float | None, stop: Event | None, done: Event | None
    ) -> None:
        self.stop = stop
        self.done = done
        self.sim = Distributor(config)
        self.rate = rate
        self.started = time.monotonic()
        self.deadline = None if duration_s is None else self.started + duration_s
        self.steps = 0
        self.opening: Iterator[dict[str, Any]] | None = self.sim.opening_stock(now_ms())
        self.n = 0

    def _tag(self, events: list[dict[str, Any]]) -> list[RawRecord]:
        out = [(e, f"simulator#{self.n + i}") for i, e in enumerate(events)]
        self.n += len(out)
        return out

    def next_batch(self) -> list[RawRecord]:
        if self.stop is not None and self.stop.is_set():
            raise StopIteration
        if self.opening is not None:
            batch = [e for _, e in zip(range(2000), self.opening, strict=False)]
            if len(batch) < 2000:
                self.opening = None
                self.started = time.monotonic()
            return self._tag(batch)
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            if self.done is not None:
                self.done.set()  # other inputs (the policy control) end with this one
            raise StopIteration
        due = int((now - self.started) * self.rate) - self.steps
        events: list[dict[str, Any]] = []
        wall = now_ms()
        for _ in range(min(due, 5000)):
            events.extend(self.sim.events(wall))
        self.steps += max(0, min(due, 5000))
        return self._tag(events)

    def next_awake(self) -> datetime | None:
        return None  # Bytewax waits 1 ms after an empty batch; the rate math does the rest

    def snapshot(self) -> None:
        return None  # a live simulation restarts fresh


class SimulatorSource(FixedPartitionedSource[RawRecord, None]):
    """Live events at `rate` steps per second (about one event each), for `duration_s` or forever."""

    def __init__(
        self,
        config: SimConfig = SimConfig(),
        rate: float = 1000.0,
        duration_s: float | None = None,
        stop: Event | None = None,
        done: Event | None = None,
    ) -> None:
        self.config = config
        self.rate = rate
        self.duration_s = duration_s
        self.stop = stop  # when set, the simulation ends (graceful Ctrl-C)
        self.done = done  # set when the simulation ends by itself

    def list_parts(self) -> list[str]:
        return ["simulator"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SimPartition:
        return _SimPartition(self.config, self.rate, self.duration_s, self.stop, self.done)
