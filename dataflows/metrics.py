"""Prometheus metrics of the dataflow (one registry per process, all workers share it)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Gauge

from operators.events import SOURCE_SYSTEMS

log = logging.getLogger("skuflow.exceptions")

EVENTS_IN = Counter("skuflow_events_in_total", "Raw records read from the input")
APPLIED = Counter("skuflow_events_applied_total", "Postings folded into a key", ["event_type"])
DUPLICATES = Counter("skuflow_events_duplicate_total", "Exact duplicates dropped (already applied)", ["event_type"])
LATE = Counter("skuflow_events_late_total", "Postings that arrived out of order and were re-sequenced", ["event_type"])
REJECTED = Counter("skuflow_events_rejected_total", "Entries of the exceptions stream", ["reason", "source"])
RECONCILIATIONS = Counter(
    "skuflow_reconciliations_total",
    "Balance snapshots checked against the fold (again, with a higher version, after a late event)",
    ["location", "source", "status"],
)
RECONCILED_AT = Gauge(
    "skuflow_reconciliation_last_time_ms",
    "Newest balance snapshot reconciled (its occurred_at)",
    ["location", "source"],
)
DIVERGENT_KEYS = Gauge(
    "skuflow_reconciliation_divergent_keys",
    "Keys whose latest balance snapshot from the source diverges (this process's keys)",
    ["location", "source"],
)
DIVERGENCE_UNITS = Gauge(
    "skuflow_reconciliation_divergence_units",
    "Sum of |reported - computed| over those keys' latest balance snapshots (this process's keys)",
    ["location", "source"],
)
ANOMALIES = Counter(
    "skuflow_anomalies_total",
    "Anomaly records: found (open), changed, or cleared by a late event",
    ["reason", "location", "status"],
)
SNAPSHOTS = Counter("skuflow_snapshots_emitted_total", "Availability snapshots emitted")
KEYS = Gauge("skuflow_keys", "sku x location keys held by this process")
CHANNEL_QUEUE = Gauge("skuflow_channel_queue_depth", "SKUs whose figure waits for a throttled channel", ["channel"])
CHANNEL_OLDEST_WAIT = Gauge(
    "skuflow_channel_oldest_wait_seconds", "How long the longest-waiting figure has waited", ["channel"]
)
LAST_EVENT_TIME = Gauge("skuflow_last_event_time_ms", "Latest occurred_at folded (epoch ms)")


def source_label(source: Any) -> str:
    """A source system as a label value: the known systems by name, any other "other" (a
    label per sender-chosen text would let bad input grow the registry without bound)."""
    if source in SOURCE_SYSTEMS:
        return str(source)
    return "other" if source else "none"


def observe_rejection(rejection: Any) -> None:
    """Count an exceptions-stream entry by reason and source system, and log it (info) with
    its event id, correlation id and origin, so a log search finds what a source sent."""
    payload = rejection.payload
    sent = payload.get("source_system") if isinstance(payload, dict) else None
    source = source_label(sent)
    REJECTED.labels(rejection.reason.value, source).inc()
    if log.isEnabledFor(logging.INFO):
        log.info(
            "rejected %s: %s",
            rejection.reason.value,
            rejection.detail,
            extra={
                "reason": rejection.reason.value,
                "event_id": rejection.event_id,
                "correlation_id": rejection.correlation_id,
                "source_system": sent if isinstance(sent, str) else None,
                "origin": rejection.origin,
            },
        )


def total(counter: Counter) -> float:
    """Sum over all label values (for the status line and run summaries)."""
    return sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))


def value(gauge: Gauge) -> float:
    """Current value of an unlabelled gauge."""
    return next(s.value for m in gauge.collect() for s in m.samples)


_latest_event_time = 0


def observe_event_time(as_of: int) -> None:
    """Keep the gauge at the newest event time folded so far (it never goes back)."""
    global _latest_event_time
    if as_of > _latest_event_time:
        _latest_event_time = as_of
        LAST_EVENT_TIME.set(as_of)


# (location, source) -> (sku, location) -> (as_of, version, divergence if divergent else 0)
_reconciled_at: dict[tuple[str, str], int] = {}  # what RECONCILED_AT shows, per (location, source)
MIN_TIME = -(2**63)
_latest_balances: dict[tuple[str, str], dict[tuple[str, str], tuple[int, int, int]]] = {}


def observe_reconciliation(record: Any) -> None:
    """Count a reconciliation record, and keep the divergence gauges at each key's latest
    balance snapshot (by event time, then version) per location and source."""
    source = record.source_system or ""
    RECONCILIATIONS.labels(record.location, source, record.status).inc()
    where = (record.location, source)
    latest = _latest_balances.setdefault(where, {})
    key = (record.sku, record.location)
    held = latest.get(key)
    if held is not None and (held[0], held[1]) > (record.as_of, record.version):
        return
    divergence = abs(record.delta) if record.status == "divergent" else 0
    latest[key] = (record.as_of, record.version, divergence)
    before = held[2] if held is not None else 0
    DIVERGENT_KEYS.labels(*where).inc(bool(divergence) - bool(before))
    DIVERGENCE_UNITS.labels(*where).inc(divergence - before)
    if record.as_of > _reconciled_at.get(where, MIN_TIME):
        _reconciled_at[where] = record.as_of
        RECONCILED_AT.labels(*where).set(record.as_of)
