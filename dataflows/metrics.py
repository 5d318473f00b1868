"""Prometheus metrics of the dataflow (one registry per process, all workers share it)."""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from operators.events import SOURCE_SYSTEMS


class AgeHistogram:
    """A Prometheus histogram of ages (now minus an event time, in seconds) observed a batch
    at a time: one lock and a bisect per value, cheap enough for every event folded (a
    prometheus_client Histogram takes a lock per observation). An age below 0 (a source
    clock ahead of ours) counts as 0."""

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...] = (), registry: Any = REGISTRY
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._bounds_ms = tuple(b * 1000 for b in self.BUCKETS)
        self._series: dict[tuple[str, ...], list[int]] = {}  # labels -> counts per bucket (+Inf last), sum (ms)
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe_ms(self, now_ms: int, times_ms: Iterable[int], labels: tuple[str, ...] = ()) -> None:
        bounds, where = self._bounds_ms, bisect_left
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = [0] * (len(bounds) + 2)
            total = 0
            for t in times_ms:
                age = now_ms - t if t < now_ms else 0
                series[where(bounds, age)] += 1
                total += age
            series[-1] += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            series = {labels: list(counts) for labels, counts in self._series.items()}
        for labels, counts in series.items():
            cumulative, buckets = 0, []
            for bound, n in zip((*map(floatToGoString, self.BUCKETS), "+Inf"), counts[:-1], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            family.add_metric(list(labels), buckets, counts[-1] / 1000)
        yield family


log = logging.getLogger("skuflow.exceptions")

EVENTS_IN = Counter("skuflow_events_in_total", "Raw records read from the input")
APPLIED = Counter("skuflow_events_applied_total", "Postings folded into a key", ["event_type"])
DUPLICATES = Counter(
    "skuflow_events_duplicate_total", "Exact duplicates dropped (already applied or reported)", ["event_type", "source"]
)
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
FOLD_AGE = AgeHistogram(
    "skuflow_event_age_at_fold_seconds", "Wall clock when the fold takes an event minus its occurred_at"
)
PUBLICATION_AGE = AgeHistogram(
    "skuflow_event_age_at_publication_seconds",
    "A channel figure's published_at minus the occurred_at of the newest event it reflects",
    ("channel",),
)
PUBLICATION_SLO = Gauge(
    "skuflow_channel_publication_slo_seconds", "The policy's publication_slo of the channel", ["channel"]
)
STALE = Gauge(
    "skuflow_location_stale", "1 while a location's authoritative source is silent beyond its rule", ["location"]
)
EPOCH_WRITE = Histogram(
    "skuflow_epoch_state_write_seconds",
    "How long a key group's epoch-end write of its changed ledgers holds its worker",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


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
