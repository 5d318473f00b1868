"""Against a real Kafka broker: Avro on the wire, the round trip, and mixed framings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

import schemas
from connectors.kafka import TopicSpec, ensure_topics
from connectors.wire import AvroWire
from tests.helpers import GOLDEN, assert_matches_expected, read_jsonl, skuflow
from tests.support.registry import SchemaRegistry

pytestmark = pytest.mark.slow
MEDIUM = GOLDEN / "medium"
GARBAGE = [b"", b"\x00\x00", b"\xc3\x01" + b"\xff" * 12, b"not avro at all", b'{"event_id": "json-is-not-avro"}']


def topics() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"events": f"ev-{tag}", "snapshots": f"sn-{tag}", "exceptions": f"ex-{tag}"}


def run_flow(bootstrap: str, t: dict[str, str], state: Path, *extra: str) -> None:
    skuflow(
        "run",
        "--bootstrap",
        bootstrap,
        "--topic",
        t["events"],
        "--snapshots-topic",
        t["snapshots"],
        "--exceptions-topic",
        t["exceptions"],
        "--state-dir",
        str(state),
        "--item-master",
        str(MEDIUM / "item_master.csv"),
        "--until-end",
        *extra,
    )


def materialized(bootstrap: str, t: dict[str, str], state: Path, *extra: str) -> list[dict[str, Any]]:
    skuflow(
        "materialize",
        "--bootstrap",
        bootstrap,
        "--topic",
        t["snapshots"],
        "--state-dir",
        str(state),
        "--until-end",
        *extra,
    )
    return [json.loads(x) for x in skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines()]


def consume_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.subscribe([topic])
    out, done = [], set()
    while len(done) < len(meta.partitions):
        for msg in consumer.consume(500, 1.0):
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                continue
            out.append(msg)
    consumer.close()
    return out


def produce_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        producer.produce(topic, v)
    assert producer.flush(30) == 0


def test_round_trip_with_garbage(kafka_bootstrap: str, tmp_path: Path) -> None:
    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 4)])
    skuflow("produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
    produce_raw(kafka_bootstrap, t["events"], GARBAGE)
    run_flow(kafka_bootstrap, t, tmp_path / "flow")

    assert_matches_expected(
        materialized(kafka_bootstrap, t, tmp_path / "replica"), read_jsonl(MEDIUM / "expected_snapshots.jsonl")
    )

    wire = AvroWire(schemas.REJECTED_EVENT)
    rejects = [(m, wire.decode(m.value())) for m in consume_all(kafka_bootstrap, t["exceptions"])]
    keyed = sorted((r["event_id"], r["reason"]) for _, r in rejects if r["reason"] != "undecodable")
    assert keyed == sorted((r["event_id"], r["reason"]) for r in read_jsonl(MEDIUM / "expected_rejects.jsonl"))
    garbage = [r for _, r in rejects if r["reason"] == "undecodable"]
    assert sorted(r["payload_bytes"] for r in garbage) == sorted(GARBAGE)
    for r in garbage:
        assert r["topic"] == t["events"] and r["partition"] in range(4) and r["offset"] >= 0 and r["detail"]


def test_both_framings_and_an_older_schema_version(kafka_bootstrap: str, tmp_path: Path) -> None:
    t = topics()
    events = read_jsonl(MEDIUM / "events.jsonl")
    v1 = schemas.versions(schemas.INVENTORY_EVENT)[0]
    with SchemaRegistry() as registry:
        wire = AvroWire(schemas.INVENTORY_EVENT, registry.url)
        values = []
        for i, e in enumerate(events):
            if i % 3 == 0:
                values.append(wire.encode_confluent(e, f"{t['events']}-value"))
            elif i % 3 == 1:
                values.append(wire.encode_single_object(e))
            else:  # a producer still on schema v1 (no lot_id)
                old = {k: v for k, v in e.items() if k != "lot_id"}
                values.append(wire.encode_single_object(old, schema=v1))
                assert values[-1][2:10] != wire.encode_single_object(e)[2:10]
        ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 4)])
        produce_raw(kafka_bootstrap, t["events"], values)
        run_flow(kafka_bootstrap, t, tmp_path / "flow", "--schema-registry", registry.url)
        # Snapshots come out Confluent-framed too when the flow has a registry.
        got = materialized(kafka_bootstrap, t, tmp_path / "replica", "--schema-registry", registry.url)
    assert_matches_expected(got, read_jsonl(MEDIUM / "expected_snapshots.jsonl"))
