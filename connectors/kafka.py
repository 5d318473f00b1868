"""Kafka edges: topics, the event source, and a sink that never loses a delivery.

The sink has one lane per partition of its topic. Each lane's producer is
idempotent (acks=all), serves delivery callbacks as it goes, and at every Bytewax
epoch waits until all its messages are acknowledged before the epoch's recovery
snapshot is taken. A delivery that finally fails raises, which stops the dataflow
loudly; on restart the dataflow resumes from the last snapshot and produces again
(at least once; snapshot versions let consumers drop the stale repeats).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Event, Lock
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import Counter, Gauge

from connectors.codec import RawRecord
from connectors.exceptions import ConnectorError
from connectors.kafka_config import Brokers, as_brokers
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


@dataclass(frozen=True)
class Durability:
    """How topics skuflow creates are replicated: 1 and no `min.insync.replicas` fit a
    single-node broker; a production cluster wants 3 and 2 (with acks=all, a write then
    survives the loss of one broker)."""

    replication_factor: int = 1
    min_insync_replicas: int | None = None


def reachable(brokers: Brokers | str, timeout_s: float = 10) -> AdminClient:
    """An admin client of a cluster that answers within `timeout_s`, else one ConnectorError
    that says why (no broker, or credentials refused: said at once); librdkafka's own
    retries and log lines stay quiet meanwhile."""
    b = as_brokers(brokers)
    errors: list[KafkaError] = []
    admin = AdminClient(b.client(log_level=0, **{"log.connection.close": False}, error_cb=errors.append))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            return admin
        except KafkaException as exc:
            admin.poll(0)  # serves the errors librdkafka met meanwhile
            refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
            if refused:
                raise ConnectorError(
                    f"Kafka at {b} refused the credentials ({b.redact(refused[0].str())}): check the sasl.* "
                    "and ssl.* settings of --kafka-config"
                ) from None
            if time.monotonic() >= deadline:
                raise ConnectorError(
                    f"no Kafka broker answered at {b} within {timeout_s:g} s ({b.redact(exc.args[0].str())}): "
                    "check --bootstrap and that the broker is up (make kafka-up starts a local one)"
                ) from None


def ensure_topics(
    brokers: Brokers | str, specs: list[TopicSpec], timeout_s: float = 30, durability: Durability = Durability()
) -> dict[str, int]:
    """Create missing topics; returns every topic's partition count. A broker that does not
    answer within 10 s is a ConnectorError."""
    admin = reachable(brokers)
    existing = admin.list_topics(timeout=timeout_s).topics
    isr = durability.min_insync_replicas
    extra = {"min.insync.replicas": str(isr)} if isr is not None else {}
    missing = [
        NewTopic(s.name, s.partitions, durability.replication_factor, config={**s.config, **extra})
        for s in specs
        if s.name not in existing
    ]
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


CONSUMER_LAG = Gauge(
    "skuflow_kafka_consumer_lag",
    "Messages on the broker not yet read by this process (log end offset - next offset)",
    ["topic", "partition"],
)


DELIVERY_FAILURES = Counter(
    "skuflow_delivery_failures_total", "Messages the broker did not acknowledge (the flow then stops)", ["topic"]
)


class _SharedConsumer:
    """One librdkafka consumer for every partition of the topic that one worker owns.

    Why: a consumer per partition (Bytewax's KafkaSource) means a fetch session, broker
    threads and a small batch per partition, which cost end-to-end latency on a small
    machine (docs/performance.md, "Settings"). Messages are buffered per partition until that
    partition's `next_batch` takes them, so each part's offset (its resume state) only
    ever covers what it has handed to the dataflow."""

    def __init__(self, config: dict[str, Any], topic: str, batch_size: int) -> None:
        self._consumer = Consumer({**config, "stats_cb": self._stats})
        self._topic = topic
        self._batch_size = batch_size
        self._buffers: dict[int, list[RawRecord]] = {}
        self._next: dict[int, int] = {}  # per partition: offset after the last buffered message
        self._eof: set[int] = set()
        self._last_fill = 0.0

    def add(self, partition: int, offset: int) -> None:
        self._buffers[partition] = []
        self._consumer.incremental_assign([TopicPartition(self._topic, partition, offset)])

    def remove(self, partition: int) -> bool:
        """Stop reading `partition`; True when no partition is left (the consumer is closed)."""
        self._buffers.pop(partition, None)
        self._consumer.incremental_unassign([TopicPartition(self._topic, partition)])
        if self._buffers:
            return False
        self._consumer.close()
        return True

    def take(self, partition: int) -> tuple[list[RawRecord], int | None, bool]:
        """(records, offset after them or None if none, at end of partition). Reads from the
        broker only when this partition has nothing buffered: at most one blocking 1 ms wait
        per millisecond, however many partitions ask in a row."""
        if not self._buffers[partition] and partition not in self._eof:
            now = time.monotonic()
            idle = now - self._last_fill >= 0.001 and not any(self._buffers.values())
            self._fill(0.001 if idle else 0)
            self._last_fill = now
        out = self._buffers[partition]
        if not out:
            return out, None, partition in self._eof
        self._buffers[partition] = []
        return out, self._next[partition], False

    def _fill(self, timeout: float) -> None:
        topic, buffers = self._topic, self._buffers
        # up to a batch per partition: catching up, each part still hands over full batches
        for msg in self._consumer.consume(self._batch_size * len(buffers), timeout):
            p = msg.partition()
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and p is not None:
                    self._eof.add(p)
                else:
                    log.warning("Kafka consumer error on %s: %s", topic, error)
                continue
            offset = msg.offset()
            if p is None or offset is None or (buffer := buffers.get(p)) is None:  # unassigned while in flight
                continue
            buffer.append((msg.value() or b"", origin_of(topic, p, offset)))
            self._next[p] = offset + 1
            self._eof.discard(p)

    def _stats(self, raw: str) -> None:
        parts = json.loads(raw).get("topics", {}).get(self._topic, {}).get("partitions", {})
        for p in self._buffers:
            end = parts.get(str(p), {}).get("ls_offset", -1)
            at = self._next.get(p)
            if end >= 0 and at is not None:
                CONSUMER_LAG.labels(self._topic, str(p)).set(end - at)


class _EventPartition(StatefulSourcePartition[RawRecord, int | None]):
    def __init__(
        self,
        shared: _SharedConsumer,
        partition: int,
        offset: int | None,
        stop: Event | None,
        release: Callable[[], None],
    ) -> None:
        self._shared = shared
        self._partition = partition
        self._offset = offset
        self._stop = stop
        self._release = release

    def next_batch(self) -> list[RawRecord]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        records, offset, at_end = self._shared.take(self._partition)
        if offset is not None:
            self._offset = offset
        elif at_end:
            raise StopIteration
        return records

    def snapshot(self) -> int | None:
        return self._offset

    def close(self) -> None:
        self._release()


class KafkaEventSource(FixedPartitionedSource[RawRecord, int | None]):
    """Raw message values of every partition of `topic`, each partition's next offset as
    its resume state. The partitions one worker owns share one consumer (`_SharedConsumer`).
    `until_end` stops at the end of each partition; `stop` ends the input early."""

    def __init__(
        self,
        brokers: Brokers | str,
        topic: str,
        until_end: bool = False,
        stop: Event | None = None,
        batch_size: int = 2000,
    ) -> None:
        self._brokers = as_brokers(brokers)
        self._topic = topic
        self._until_end = until_end
        self._stop = stop
        self._batch_size = batch_size
        self._shared: dict[int, _SharedConsumer] = {}  # per worker thread
        self._lock = Lock()

    def list_parts(self) -> list[str]:
        """`<partition>-<topic>`, as Bytewax's KafkaSource names them (so resume states carry over)."""
        topics = AdminClient(self._brokers.client()).list_topics(self._topic, timeout=30).topics
        meta = topics.get(self._topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise ConnectorError(f"Kafka topic {self._topic!r} not found: {meta.error if meta else 'no metadata'}")
        return [f"{p}-{self._topic}" for p in sorted(meta.partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _EventPartition:
        index, topic = for_part.split("-", 1)
        if topic != self._topic:
            raise ConnectorError(f"resume state is for topic {topic!r}, this flow reads {self._topic!r}")
        partition = int(index)
        worker = threading.get_ident()
        with self._lock:
            shared = self._shared.get(worker)
            if shared is None:
                config = self._brokers.client(
                    **{
                        "group.id": "skuflow-unused",  # offsets live in Bytewax's recovery, not a group
                        "enable.auto.commit": False,
                        "enable.partition.eof": self._until_end,
                        "statistics.interval.ms": 1000,
                        **FETCH_CONFIG,
                    }
                )
                shared = self._shared[worker] = _SharedConsumer(config, self._topic, self._batch_size)
        shared.add(partition, OFFSET_BEGINNING if resume_state is None else resume_state)

        def release() -> None:
            with self._lock:
                if shared.remove(partition):
                    self._shared.pop(worker, None)

        return _EventPartition(shared, partition, resume_state, self._stop, release)


Encode = Callable[[Any], tuple[bytes | None, bytes]]


def producer_config(brokers: Brokers | str) -> dict[str, Any]:
    own = {
        "enable.idempotence": True,
        "acks": "all",
        "delivery.timeout.ms": 60_000,  # bounded retries: give up (and fail) after a minute
        "linger.ms": 2,  # with 2 ms fetch waits (serving.replica.FETCH_CONFIG): see there
        "compression.type": "lz4",
    }
    return as_brokers(brokers).client(**own)


class _SharedProducer:
    """The one producer of a sink's lanes in this process, made when the first lane is
    built (librdkafka producers are thread-safe)."""

    def __init__(self, brokers: Brokers | str) -> None:
        self._config = producer_config(brokers)
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
        if err is not None:
            DELIVERY_FAILURES.labels(self._topic).inc()
            if self._failure is None:
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

    def __init__(self, brokers: Brokers | str, topic: str, partitions: int, encode: Encode) -> None:
        self._producer = _SharedProducer(brokers)
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

    def __init__(self, brokers: Brokers | str, channels: list[str], encode: Encode) -> None:
        self._config = producer_config(brokers)
        self._channels = sorted(channels)
        self._encode = encode

    def list_parts(self) -> list[str]:
        return self._channels

    def part_fn(self, item_key: str) -> int:
        return self._channels.index(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Lane:
        return _Lane(Producer(self._config), channel_topic(for_part), -1, self._encode)  # a producer per channel


def read_to_end(brokers: Brokers | str, topic: str, timeout_s: float = 60) -> list[bytes]:
    """Every message value of `topic`, from the beginning to the end it had when asked (for
    tools such as a re-drive; the dataflow reads through `KafkaEventSource`)."""
    reachable(brokers)
    consumer = Consumer(as_brokers(brokers).client(**{"group.id": "skuflow-tool", "enable.auto.commit": False}))
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise ConnectorError(f"{topic}: not read to its end within {timeout_s:g} s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise ConnectorError(f"{topic}: {msg.error()}")
            out.append(msg.value())
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return out
    finally:
        consumer.close()


def produce_all(
    brokers: Brokers | str,
    topic: str,
    messages: Any,
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Produce `messages` ((key, value) pairs) to `topic` idempotently and wait for every
    delivery; ConnectorError names how many were not delivered. Returns how many were sent."""
    producer = Producer(producer_config(brokers))
    failures: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    sent = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        sent += 1
    left = producer.flush(60)
    if failures or left:
        raise ConnectorError(f"{len(failures) + left} of {sent} messages were not delivered: {failures[:3]}")
    return sent
