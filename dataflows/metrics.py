"""Prometheus metrics of the dataflow (one registry per process, all workers share it)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_IN = Counter("skuflow_events_in_total", "Raw records read from the input")
APPLIED = Counter("skuflow_events_applied_total", "Postings folded into a key", ["event_type"])
DUPLICATES = Counter("skuflow_events_duplicate_total", "Exact duplicates dropped (already applied)", ["event_type"])
LATE = Counter("skuflow_events_late_total", "Postings that arrived out of order and were re-sequenced", ["event_type"])
REJECTED = Counter("skuflow_events_rejected_total", "Entries of the exceptions stream", ["reason"])
SNAPSHOTS = Counter("skuflow_snapshots_emitted_total", "Availability snapshots emitted")
KEYS = Gauge("skuflow_keys", "sku x location keys held by this process")
CHANNEL_QUEUE = Gauge("skuflow_channel_queue_depth", "SKUs whose figure waits for a throttled channel", ["channel"])
CHANNEL_OLDEST_WAIT = Gauge(
    "skuflow_channel_oldest_wait_seconds", "How long the longest-waiting figure has waited", ["channel"]
)
LAST_EVENT_TIME = Gauge("skuflow_last_event_time_ms", "Latest occurred_at folded (epoch ms)")


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
