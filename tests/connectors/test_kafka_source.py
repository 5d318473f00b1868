"""KafkaEventSource against a real broker: the partitions a worker owns share one
consumer, yet each part hands over its own partition's messages, in offset order, once,
and its snapshot is a resume point that covers exactly what it handed over."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from connectors.kafka import KafkaEventSource, TopicSpec, ensure_topics

pytestmark = pytest.mark.slow

PARTITIONS = 3
PER_PARTITION = 400


def _topic(bootstrap: str) -> str:
    topic = f"src-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS)])
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            producer.produce(topic, f"{p}:{i}".encode(), partition=p)
    assert producer.flush(30) == 0
    return topic


def _drain(
    source: KafkaEventSource, resume: dict[str, int | None]
) -> tuple[dict[str, list[str]], dict[str, int | None]]:
    """Read every part to its end, round-robin like a Bytewax worker; (values, snapshots)."""
    parts = {name: source.build_part("in", name, resume.get(name)) for name in source.list_parts()}
    values: dict[str, list[str]] = {name: [] for name in parts}
    snapshots: dict[str, int | None] = {}
    live = dict(parts)
    while live:
        for name, part in list(live.items()):
            try:
                batch = part.next_batch()
            except StopIteration:
                snapshots[name] = part.snapshot()
                part.close()
                del live[name]
                continue
            values[name] += [value.decode() for value, _ in batch]
            assert all(origin.startswith(f"{source._topic}/") for _, origin in batch)
    return values, snapshots


def test_each_part_gets_its_partition_once_in_order_and_resumes_where_it_stopped(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)
    source = KafkaEventSource(kafka_bootstrap, topic, until_end=True)
    assert source.list_parts() == [f"{p}-{topic}" for p in range(PARTITIONS)]

    values, snapshots = _drain(source, {})
    for p in range(PARTITIONS):
        assert values[f"{p}-{topic}"] == [f"{p}:{i}" for i in range(PER_PARTITION)]
        assert snapshots[f"{p}-{topic}"] == PER_PARTITION

    # resume mid-way: each part starts at its own offset, and nothing before it comes back
    resume: dict[str, int | None] = {f"0-{topic}": 100, f"1-{topic}": PER_PARTITION, f"2-{topic}": None}
    again, _ = _drain(KafkaEventSource(kafka_bootstrap, topic, until_end=True), resume)
    assert again[f"0-{topic}"] == [f"0:{i}" for i in range(100, PER_PARTITION)]
    assert again[f"1-{topic}"] == []
    assert again[f"2-{topic}"] == [f"2:{i}" for i in range(PER_PARTITION)]


def test_a_snapshot_never_covers_messages_still_buffered_for_a_part(kafka_bootstrap: str) -> None:
    """One part's read fetches the others' messages too; their offsets must not move
    until they have handed those messages over (else a crash would skip them)."""
    topic = _topic(kafka_bootstrap)
    source = KafkaEventSource(kafka_bootstrap, topic, until_end=True)
    first, second, third = (source.build_part("in", name, None) for name in source.list_parts())
    taken = []
    deadline = time.monotonic() + 30
    while len(taken) < PER_PARTITION and time.monotonic() < deadline:  # only the first part asks
        taken += first.next_batch()
    assert len(taken) == PER_PARTITION
    assert first.snapshot() == PER_PARTITION
    assert second.snapshot() is None and third.snapshot() is None  # nothing handed over yet
    for part in (first, second, third):
        part.close()


def test_consumer_lag_is_exported_per_partition(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)
    source = KafkaEventSource(kafka_bootstrap, topic)  # tailing
    part = source.build_part("in", f"0-{topic}", 150)
    taken = 0
    lag = None
    deadline = time.monotonic() + 30
    while (taken < PER_PARTITION - 150 or lag != 0) and time.monotonic() < deadline:
        taken += len(part.next_batch())
        lag = REGISTRY.get_sample_value("skuflow_kafka_consumer_lag", {"topic": topic, "partition": "0"})
    assert taken == PER_PARTITION - 150
    assert lag == 0, f"lag {lag} after reading to the end (None: no statistics from librdkafka in 30 s)"
    part.close()
