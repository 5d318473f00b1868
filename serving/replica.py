"""An API replica's materializer: the snapshots topic into the local RocksDB store.

Consumes every partition of `inventory.snapshots.v1` with manually assigned
partitions (no consumer group: each replica is independent), keeps the highest
version per key, and stores the next offset per partition in the same atomic
RocksDB write as the snapshots, so a restart resumes exactly where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from prometheus_client import Gauge

from serving.store import StoreWriter

# Fetch in up to 64 KB or 2 ms, whichever comes first. librdkafka's defaults (1 byte, up to
# 500 ms) answer every fetch as soon as one message is there: a steady stream then costs
# the broker a request per few messages per consumer (measured: docs/performance.md, "Settings").
FETCH_CONFIG = {"fetch.min.bytes": 65536, "fetch.wait.max.ms": 2}

log = logging.getLogger(__name__)

LAG = Gauge(
    "skuflow_replica_lag_messages",
    "Messages on the broker this replica has not stored yet (high watermark - next offset)",
    ["topic", "partition"],
    multiprocess_mode="max",
)
LAG_EVERY_S = 1.0

Decode = Any  # Callable[[bytes], dict[str, Any]] (an AvroWire.decode: timestamps in epoch ms)


class Materializer:
    """One topic into the store: location snapshots, (`publications`) channel figures, or
    what `write` (a StoreWriter method: records and offsets) takes."""

    def __init__(
        self,
        client: dict[str, Any],
        topic: str,
        store: StoreWriter,
        decode: Decode,
        publications: bool = False,
        write: Any = None,
    ) -> None:
        self.client = client  # the cluster's librdkafka settings (bootstrap.servers, security, ...)
        self.topic = topic
        self.store = store
        self.decode = decode
        self.write = write or (store.put_publications if publications else store.put_snapshots)
        self.applied = 0
        self.undecodable = 0
        self.caught_up = threading.Event()  # every partition read to its end once (readiness)

    def _wait_for_topic(self, consumer: Consumer, stop: threading.Event | None) -> list[int] | None:
        """Replicas may start before the dataflow has created the topic: wait for it."""
        warned = False
        while stop is None or not stop.is_set():
            meta = consumer.list_topics(self.topic, timeout=30).topics.get(self.topic)
            if meta is not None and meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            if not warned:
                log.warning("waiting for topic %s to exist", self.topic)
                warned = True
            time.sleep(0.5)
        return None

    def run(self, until_end: bool = False, stop: threading.Event | None = None) -> int:
        """Materialize until `stop` is set (or, with `until_end`, until every partition
        is read to its end); returns the number of messages stored."""
        consumer = Consumer(
            {
                **self.client,
                "group.id": "skuflow-replica",  # required by librdkafka; offsets live in RocksDB
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                **FETCH_CONFIG,
            }
        )
        try:
            partitions = self._wait_for_topic(consumer, stop)
            if partitions is None:
                return self.applied
            stored = self.store.offsets(self.topic)
            consumer.assign([TopicPartition(self.topic, p, stored.get(p, OFFSET_BEGINNING)) for p in partitions])
            at_end: set[int] = set()
            position = {p: stored.get(p, 0) for p in partitions}
            lag_at = 0.0
            while stop is None or not stop.is_set():
                if time.monotonic() - lag_at >= LAG_EVERY_S:
                    self._observe_lag(consumer, position)
                    lag_at = time.monotonic()
                # What is there now; else wait for the next message, not for a full batch
                # (librdkafka's consume waits out its timeout until `num` have arrived).
                msgs = consumer.consume(500, 0) or consumer.consume(1, 0.1)
                snapshots: list[dict[str, Any]] = []
                offsets: dict[tuple[str, int], int] = {}
                for msg in msgs:
                    err, partition, offset = msg.error(), msg.partition() or 0, msg.offset() or 0
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            at_end.add(partition)
                        else:
                            log.warning("snapshot consumer error: %s", err)
                        continue
                    at_end.discard(partition)
                    offsets[(self.topic, partition)] = offset + 1
                    try:
                        snapshots.append(self.decode(msg.value()))
                    except Exception as exc:  # a bad message must not stop the replica
                        self.undecodable += 1
                        log.error(
                            "undecodable snapshot at %s/%s@%s: %s", self.topic, msg.partition(), msg.offset(), exc
                        )
                if offsets:
                    self.write(snapshots, offsets)
                    self.applied += len(snapshots)
                    for (_, partition), offset in offsets.items():
                        position[partition] = offset
                if len(at_end) == len(partitions):
                    self.caught_up.set()
                    if until_end:
                        break
            self._observe_lag(consumer, position)
            return self.applied
        finally:
            consumer.close()

    def _observe_lag(self, consumer: Consumer, position: dict[int, int]) -> None:
        """Each partition's lag from the high watermark of the last fetch (no broker round trip)."""
        for partition, offset in position.items():
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
            if high >= 0:
                LAG.labels(self.topic, str(partition)).set(max(0, high - max(offset, low)))
