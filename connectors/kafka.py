"""Kafka edges: topics, the event source, and a sink that never loses a delivery.

The sink has one lane per partition of its topic. Each lane's producer is
idempotent (acks=all), serves delivery callbacks as it goes, and at every Bytewax
epoch waits until all its messages are acknowledged before the epoch's recovery
snapshot is taken. A delivery that finally fails raises, which stops the dataflow
loudly; on restart the dataflow resumes from the last snapshot and produces again
(at least once; snapshot versions let consumers drop the stale repeats).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Event, Lock
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.codec import RawRecord
from connectors.exceptions import ConnectorError
from serving.replica import FETCH_CONFIG

log = logging.getLogger(__name__)

EVENTS_TOPIC = "inventory.events.v1"
SNAPSHOTS_TOPIC = "inventory.snapshots.v1"
EXCEPTIONS_TOPIC = "inventory.exceptions.v1"


def channel_topic(channel: str) -> str:
    return f"inventory.availability.{channel}.v1"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30) -> dict[str, int]:
    """Create missing topics; returns every topic's partition count."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [NewTopic(s.name, s.partitions, 1, config=s.config) for s in specs if s.name not in existing]
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
            try:
                future.result()
            except Exception as exc:  # a concurrent creator is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ConnectorError(f"cannot create topic {name}: {exc}") from exc
    # Metadata can lag a creation (ours, or a concurrent process's that we lost to).
    deadline = time.monotonic() + timeout_s
    while True:
        topics = admin.list_topics(timeout=timeout_s).topics
        absent = [s.name for s in specs if s.name not in topics or not topics[s.name].partitions]
        if not absent:
            return {s.name: len(topics[s.name].partitions) for s in specs}
        if time.monotonic() > deadline:
            raise ConnectorError(f"topics not visible in the broker's metadata after {timeout_s:g} s: {absent}")
        time.sleep(0.1)


def origin_of(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}@{offset}"


class _EventPartition(StatefulSourcePartition[RawRecord, int | None]):
    def __init__(self, inner: StatefulSourcePartition[Any, int | None], stop: Event | None) -> None:
        self._inner = inner
        self._stop = stop

    def next_batch(self) -> list[RawRecord]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        out: list[RawRecord] = []
        for msg in self._inner.next_batch():
            if isinstance(msg, KafkaError):
                log.warning("Kafka consumer error: %s", msg.err)
                continue
            assert isinstance(msg, KafkaSourceMessage)
            out.append((msg.value or b"", origin_of(msg.topic, msg.partition, msg.offset)))
        return out

    def next_awake(self) -> Any:
        return self._inner.next_awake()

    def snapshot(self) -> int | None:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class KafkaEventSource(FixedPartitionedSource[RawRecord, int | None]):
    """Raw message values of every partition of `topic`, with their offsets as resume
    state (Bytewax's KafkaSource underneath). `until_end` stops at the end of each partition."""

    def __init__(self, bootstrap: str, topic: str, until_end: bool = False, stop: Event | None = None) -> None:
        self._inner = KafkaSource(
            [bootstrap],
            [topic],
            tail=not until_end,
            raise_on_errors=False,
            batch_size=2000,
            add_config=FETCH_CONFIG,
        )
        self._stop = stop

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _EventPartition:
        return _EventPartition(self._inner.build_part(step_id, for_part, resume_state), self._stop)


Encode = Callable[[Any], tuple[bytes | None, bytes]]


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "delivery.timeout.ms": 60_000,  # bounded retries: give up (and fail) after a minute
        "linger.ms": 5,
        "compression.type": "lz4",
    }


class _SharedProducer:
    """The one producer of a sink's lanes in this process, made when the first lane is
    built (librdkafka producers are thread-safe)."""

    def __init__(self, bootstrap: str) -> None:
        self._config = producer_config(bootstrap)
        self._producer: Producer | None = None
        self._lock = Lock()

    def get(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer


class _Lane(StatefulSinkPartition[Any, None]):
    """One lane's writes to its topic (`partition` -1 lets Kafka's partitioner place each
    key). The partitions of one topic share a producer, which batches them into one
    request per broker; each channel's topic has a producer of its own."""

    def __init__(self, producer: Producer, topic: str, partition: int, encode: Encode) -> None:
        self._producer = producer
        self._topic = topic
        self._partition = partition
        self._encode = encode
        self._failure: str | None = None

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None and self._failure is None:
            self._failure = f"delivery to {self._topic}/{self._partition} failed: {err}"

    def _check(self) -> None:
        if self._failure is not None:
            message = self._failure + " (stopping: nothing may be lost)"
            log.critical(message)  # said here too: Bytewax may abort before printing the exception
            raise ConnectorError(message)

    def write_batch(self, values: list[Any]) -> None:
        produce, topic, partition = self._producer.produce, self._topic, self._partition
        for v in values:
            key, value = self._encode(v)
            while True:
                try:
                    produce(topic, value, key, partition=partition, on_delivery=self._delivered)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self._producer.poll(0.05)
        self._producer.poll(0)
        self._check()

    def snapshot(self) -> None:
        left = self._producer.flush(60)
        self._check()
        if left:
            raise ConnectorError(f"{left} messages to {self._topic}/{self._partition} not acknowledged in 60 s")
        return None

    def close(self) -> None:
        left = self._producer.flush(60)  # never raise here: Bytewax calls close while unwinding
        if left or self._failure:
            log.critical(
                "closing %s/%s with %d unacknowledged messages (%s)",
                self._topic,
                self._partition,
                left,
                self._failure or "timeout",
            )


class KafkaRecordSink(FixedPartitionedSink[Any, None]):
    """Produce `(key, value)` stream items to `topic`; lane i writes Kafka partition i,
    so every key always lands in the same partition, in order."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, encode: Encode) -> None:
        self._producer = _SharedProducer(bootstrap)
        self._topic = topic
        self._partitions = partitions
        self._encode = encode

    def list_parts(self) -> list[str]:
        return [f"p{i:04d}" for i in range(self._partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Lane:
        return _Lane(self._producer.get(), self._topic, int(for_part[1:]), self._encode)


class KafkaChannelSink(FixedPartitionedSink[Any, None]):
    """Channel publications, each to its channel's topic (one lane per channel, keyed by
    channel): so a slow channel topic only ever backs up its own lane."""

    def __init__(self, bootstrap: str, channels: list[str], encode: Encode) -> None:
        self._config = producer_config(bootstrap)
        self._channels = sorted(channels)
        self._encode = encode

    def list_parts(self) -> list[str]:
        return self._channels

    def part_fn(self, item_key: str) -> int:
        return self._channels.index(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Lane:
        return _Lane(Producer(self._config), channel_topic(for_part), -1, self._encode)  # a producer per channel
