"""The operations summary: quantiles from cumulative histograms as Prometheus computes them,
and a real dataflow registry's samples summarised per channel, partition and location."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, Histogram

from serving import ops


@given(st.lists(st.floats(0.001, 100, allow_nan=False), min_size=1, max_size=200), st.sampled_from([0.5, 0.9, 0.99]))
def test_a_quantile_lies_in_the_bucket_that_holds_its_rank(values: list[float], q: float) -> None:
    registry = CollectorRegistry()
    hist = Histogram("age_seconds", "", registry=registry, buckets=(0.01, 0.1, 1, 10))
    for v in values:
        hist.observe(v)
    buckets = [(float(s.labels["le"]), s.value) for s in ops.local(registry) if s.name == "age_seconds_bucket"]
    got = ops.quantile(buckets, q)
    assert got is not None
    ranked = sorted(values)[max(0, math.ceil(q * len(values)) - 1)]
    bounds = [0.0, 0.01, 0.1, 1, 10]
    upper = next((b for b in bounds[1:] if ranked <= b), 10)
    lower = bounds[bounds.index(upper) - 1] if ranked <= 10 else 10
    assert lower - 1e-9 <= got <= upper + 1e-9


def test_no_observations_no_quantile() -> None:
    assert ops.quantile([], 0.5) is None and ops.quantile([(1.0, 0.0), (math.inf, 0.0)], 0.5) is None


def test_the_summary_of_a_flows_samples() -> None:
    registry = CollectorRegistry()
    age = Histogram("skuflow_event_age_at_publication_seconds", "", ["channel"], registry=registry, buckets=(1, 5))
    for v in (0.5, 0.7, 3):
        age.labels("b2b").observe(v)
    Gauge("skuflow_channel_queue_depth", "", ["channel"], registry=registry).labels("b2b").set(7)
    Gauge("skuflow_channel_publication_slo_seconds", "", ["channel"], registry=registry).labels("dtc").set(5)
    lag = Gauge("skuflow_kafka_consumer_lag", "", ["topic", "partition"], registry=registry)
    lag.labels("ev", "1").set(3)
    lag.labels("ev", "0").set(9)
    Gauge("skuflow_location_stale", "", ["location"], registry=registry).labels("3PL-CENTRAL").set(1)
    got = ops.summary(ops.local(registry), [])
    b2b, dtc = got["channels"]
    assert (b2b["channel"], b2b["published"], b2b["queue_depth"]) == ("b2b", 3, 7)
    assert 0 < b2b["p50_s"] <= 1 < b2b["p99_s"] <= 5
    assert dtc == {"channel": "dtc", "slo_s": 5.0}
    assert got["consumer_lag"] == [{"topic": "ev", "partition": 0, "lag": 9}, {"topic": "ev", "partition": 1, "lag": 3}]
    assert got["stale_locations"] == [{"location": "3PL-CENTRAL", "stale": True}]
