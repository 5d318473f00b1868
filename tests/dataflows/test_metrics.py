"""The dataflow's own metric types, read back as Prometheus would scrape them."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connectors.exceptions import ConnectorError
from connectors.kafka import DELIVERY_FAILURES, _Lane
from dataflows.metrics import AgeHistogram

NOW = 1_780_000_000_000
times = st.lists(st.integers(NOW - 100_000_000, NOW + 60_000), max_size=200)


def _scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@given(st.lists(st.tuples(st.sampled_from(["b2b", "dtc"]), times), max_size=6))
def test_age_histogram_is_the_cumulative_histogram_of_the_ages(batches: list[tuple[str, list[int]]]) -> None:
    """Each bucket counts the ages at or under its bound (a future event's age is 0), +Inf
    and _count all of them, _sum their total in seconds, per label set, over any batches."""
    registry = CollectorRegistry()
    hist = AgeHistogram("age_seconds", "ages", ("channel",), registry)
    ages: dict[str, list[float]] = {}
    for channel, batch in batches:
        hist.observe_ms(NOW, batch, (channel,))
        ages.setdefault(channel, []).extend(max(0, NOW - t) / 1000 for t in batch)
    got = _scraped(registry)
    for channel, seen in ages.items():
        bounds = [*AgeHistogram.BUCKETS, float("inf")]
        for i, bound in enumerate(bounds):
            le = "+Inf" if i == len(bounds) - 1 else str(float(bound))
            want = sum(1 for a in seen if bisect_left(bounds, a) <= i)
            assert got[("age_seconds_bucket", (("channel", channel), ("le", le)))] == want
        assert got[("age_seconds_count", (("channel", channel),))] == len(seen)
        assert got[("age_seconds_sum", (("channel", channel),))] == pytest.approx(sum(seen))
    assert {labels for name, labels in got if name == "age_seconds_count"} == {(("channel", c),) for c in ages}


def test_a_failed_delivery_is_counted_by_topic_and_stops_the_writes() -> None:
    lane = _Lane(None, "inventory.snapshots.v1", 3, lambda v: (b"", b""))  # type: ignore[arg-type]
    before = DELIVERY_FAILURES.labels("inventory.snapshots.v1")._value.get()
    lane._delivered("Broker: Message size too large", None)
    lane._delivered("Broker: Message size too large", None)
    assert DELIVERY_FAILURES.labels("inventory.snapshots.v1")._value.get() == before + 2
    with pytest.raises(ConnectorError, match=r"delivery to inventory\.snapshots\.v1/3 failed"):
        lane._check()
