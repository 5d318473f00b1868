"""What the console's operations page shows: the dataflow's metrics (scraped from its
Prometheus endpoints) and this API's own, summarised per channel, partition and location."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

SCRAPE_TIMEOUT_S = 2.0


def scrape(url: str) -> list[Sample]:
    """Every sample a Prometheus endpoint serves (raises OSError or ValueError)."""
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:
        text = response.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def local(registry: CollectorRegistry) -> list[Sample]:
    return [s for family in registry.collect() for s in family.samples]


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The `q` quantile of a cumulative histogram ((le, count) pairs), interpolated within
    its bucket as Prometheus's histogram_quantile does; None without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_le
            width = count - lower_count
            return lower_le + (le - lower_le) * ((rank - lower_count) / width if width else 1.0)
        lower_le, lower_count = le, count
    return lower_le


def summary(flow: Iterable[Sample], api: Iterable[Sample]) -> dict[str, Any]:
    """The operations page: per channel publication latency and queue, consumer and replica
    lag per partition, stale locations, rejects by reason and source."""
    channels: dict[str, dict[str, Any]] = {}
    ages: dict[str, list[tuple[float, float]]] = {}
    lag: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for s in flow:
        labels = s.labels
        if s.name == "skuflow_event_age_at_publication_seconds_bucket":
            ages.setdefault(labels["channel"], []).append((float(labels["le"]), s.value))
        elif s.name == "skuflow_channel_queue_depth":
            channels.setdefault(labels["channel"], {})["queue_depth"] = int(s.value)
        elif s.name == "skuflow_channel_oldest_wait_seconds":
            channels.setdefault(labels["channel"], {})["oldest_wait_s"] = s.value
        elif s.name == "skuflow_channel_publication_slo_seconds":
            channels.setdefault(labels["channel"], {})["slo_s"] = s.value
        elif s.name == "skuflow_kafka_consumer_lag":
            lag.append({"topic": labels["topic"], "partition": int(labels["partition"]), "lag": int(s.value)})
        elif s.name == "skuflow_location_stale":
            stale.append({"location": labels["location"], "stale": s.value >= 1})
        elif s.name == "skuflow_events_rejected_total" and s.value:
            rejects.append({"reason": labels["reason"], "source": labels["source"], "count": int(s.value)})
    for channel, buckets in ages.items():
        row = channels.setdefault(channel, {})
        row["published"] = int(max(c for _, c in buckets))
        row["p50_s"], row["p99_s"] = quantile(buckets, 0.5), quantile(buckets, 0.99)
    replica = [
        {"topic": s.labels["topic"], "partition": int(s.labels["partition"]), "lag": int(s.value)}
        for s in api
        if s.name == "skuflow_replica_lag_messages"
    ]
    return {
        "channels": [{"channel": c, **channels[c]} for c in sorted(channels)],
        "consumer_lag": sorted(lag, key=lambda r: (r["topic"], r["partition"])),
        "replica_lag": sorted(replica, key=lambda r: (r["topic"], r["partition"])),
        "stale_locations": sorted(stale, key=lambda r: r["location"]),
        "rejects": sorted(rejects, key=lambda r: -r["count"]),
    }
