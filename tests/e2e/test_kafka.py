"""Against a real Kafka broker: Avro on the wire, the round trip, and mixed framings."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

import schemas
from connectors.kafka import TopicSpec, ensure_topics
from connectors.wire import AvroWire
from tests.conftest import LocalKafka
from tests.helpers import (
    GOLDEN,
    SASL_USER,
    assert_matches_expected,
    read_jsonl,
    record_topics,
    run_args,
    run_command,
    run_done,
    scrape,
    skuflow,
)
from tests.support.explain import recompute
from tests.support.registry import SchemaRegistry

pytestmark = pytest.mark.slow
MEDIUM = GOLDEN / "medium"
GARBAGE = [b"", b"\x00\x00", b"\xc3\x01" + b"\xff" * 12, b"not avro at all"]
# A JSON message is read as the same line in a file would be: this one has no event_type.
JSON_GARBAGE = b'{"event_id": "json-no-type"}'


def topics() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {"events": "ev", "snapshots": "sn", "exceptions": "ex", "reconciliation": "rc", "anomalies": "an"}
    return {name: f"{short}-{tag}" for name, short in {**names, "changes": "ch"}.items()}


def run_flow(bootstrap: str, t: dict[str, str], state: Path, *extra: str) -> None:
    skuflow(*run_args(bootstrap, t, state, MEDIUM / "item_master.csv", *extra))


def simulated_topic(bootstrap: str, tmp_path: Path, events: int, skus: int) -> tuple[Path, Path, dict[str, str]]:
    """A simulated distributor's events in a file and, produced, in a fresh 4-partition topic."""
    path, item_master = tmp_path / "events.jsonl", tmp_path / "im.csv"
    skuflow(
        "simulate",
        "--events",
        str(events),
        "--skus",
        str(skus),
        "--format",
        "jsonl",
        "--out",
        str(path),
        "--item-master-out",
        str(item_master),
    )
    t = topics()
    ensure_topics(bootstrap, [TopicSpec(t["events"], 4)])
    skuflow("produce", str(path), "--bootstrap", bootstrap, "--topic", t["events"])
    return path, item_master, t


def materialized(bootstrap: str, t: dict[str, str], state: Path, *extra: str) -> list[dict[str, Any]]:
    skuflow(
        "materialize",
        "--bootstrap",
        bootstrap,
        "--topic",
        t["snapshots"],
        *record_topics(t),
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
    produce_raw(kafka_bootstrap, t["events"], [*GARBAGE, JSON_GARBAGE])
    run_flow(kafka_bootstrap, t, tmp_path / "flow")

    assert_matches_expected(
        materialized(kafka_bootstrap, t, tmp_path / "replica"), read_jsonl(MEDIUM / "expected_snapshots.jsonl")
    )

    wire = AvroWire(schemas.REJECTED_EVENT)
    rejects = [(m, wire.decode(m.value())) for m in consume_all(kafka_bootstrap, t["exceptions"])]
    # every line of the file means what it means in file replay (JSON lines Avro cannot carry
    # faithfully travel as JSON); the garbage is reported with its bytes
    garbage = [r for _, r in rejects if r["payload_bytes"] is not None]
    assert sorted(r["payload_bytes"] for r in garbage) == sorted(GARBAGE)
    assert all(r["reason"] == "undecodable" for r in garbage)
    from_file = sorted((r["event_id"], r["reason"]) for _, r in rejects if r["payload_bytes"] is None)
    expected = [(r["event_id"], r["reason"]) for r in read_jsonl(MEDIUM / "expected_rejects.jsonl")]
    assert from_file == sorted([*expected, ("json-no-type", "undecodable")])
    for r in garbage:
        assert r["topic"] == t["events"] and r["partition"] in range(4) and r["offset"] >= 0 and r["detail"]


def test_round_trip_over_sasl_and_a_wrong_password_is_one_line(
    kafka: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """produce, run and materialize against the SASL_PLAINTEXT (SCRAM-SHA-512) listener with
    --kafka-config, the password from the environment; the same with a wrong one stops at
    once with one line that names the refusal and prints no password."""
    if kafka.sasl_bootstrap is None:
        pytest.skip("an external KAFKA_BOOTSTRAP has no SASL listener of ours")
    config = tmp_path / "client.properties"
    config.write_text(
        "# the broker of tests/conftest.py\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.username={SASL_USER}\nsasl.password=${{SKUFLOW_KAFKA_PASSWORD}}\n"
    )
    secure = ("--kafka-config", str(config))
    monkeypatch.setenv("SKUFLOW_KAFKA_PASSWORD", kafka.sasl_password or "")
    t = topics()
    skuflow(
        "produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka.sasl_bootstrap, "--topic", t["events"], *secure
    )
    run_flow(kafka.sasl_bootstrap, t, tmp_path / "flow", *secure)
    assert_matches_expected(
        materialized(kafka.sasl_bootstrap, t, tmp_path / "replica", *secure),
        read_jsonl(MEDIUM / "expected_snapshots.jsonl"),
    )
    rejects = [
        AvroWire(schemas.REJECTED_EVENT).decode(m.value()) for m in consume_all(kafka.bootstrap, t["exceptions"])
    ]
    expected = read_jsonl(MEDIUM / "expected_rejects.jsonl")
    assert sorted(r["event_id"] for r in rejects) == sorted(r["event_id"] for r in expected)

    monkeypatch.setenv("SKUFLOW_KAFKA_PASSWORD", "not-the-password")
    for command in (
        ["produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka.sasl_bootstrap, "--topic", t["events"]],
        run_args(kafka.sasl_bootstrap, t, tmp_path / "flow", MEDIUM / "item_master.csv"),
    ):
        proc = skuflow(*command, *secure, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused the credentials" in lines[0] and "SASL authentication" in lines[0]
        assert "not-the-password" not in proc.stderr


def test_a_message_at_the_size_limit_is_rejected_and_the_flow_goes_on(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Its reject (the payload cut, with size and digest) fits the exceptions topic; before,
    MSG_SIZE_TOO_LARGE stopped the run at that message on every restart."""
    from connectors.avro import MAX_REJECTED_PAYLOAD

    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 1)])
    big = b"\xc3\x01" + b"\xee" * 999_000
    good = read_jsonl(MEDIUM / "events.jsonl")[:50]
    wire = AvroWire(schemas.INVENTORY_EVENT)
    produce_raw(kafka_bootstrap, t["events"], [big, *(wire.encode_single_object(e) for e in good)])
    run_flow(kafka_bootstrap, t, tmp_path / "flow")
    run_flow(kafka_bootstrap, t, tmp_path / "flow")  # a restart makes progress too: nothing left
    rejects = [
        AvroWire(schemas.REJECTED_EVENT).decode(m.value()) for m in consume_all(kafka_bootstrap, t["exceptions"])
    ]
    cut = [r for r in rejects if r["payload_bytes"] is not None and r["payload_bytes"].startswith(b"\xc3\x01\xee")]
    assert len(cut) == 1 and len(cut[0]["payload_bytes"]) == MAX_REJECTED_PAYLOAD
    assert f"of {len(big)} bytes, blake2b-128 " in cut[0]["detail"]
    assert materialized(kafka_bootstrap, t, tmp_path / "replica")  # the events after it were folded


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


def oracle(path: Path, item_master: Path) -> dict[tuple[str, str], dict[str, int]]:
    """The pure fold of a file of events: each id once, sorted per key, no dataflow involved."""
    from collections import defaultdict

    from operators import EMPTY, InventoryEvent, ItemMaster, fold, postings, validate

    im = ItemMaster.parse(Path(item_master).read_text())
    first: dict[str, InventoryEvent] = {}
    for raw in read_jsonl(path):
        event = validate(raw, im)
        if isinstance(event, InventoryEvent):
            first.setdefault(event.event_id, event)
    per_key = defaultdict(list)
    for event in sorted(first.values(), key=lambda e: e.order_key):
        for p in postings(event):
            per_key[p.key].append(p)
    out = {}
    for key, ps in per_key.items():
        s = fold(ps, EMPTY)
        out[key] = {
            "sellable": s.sellable,
            "reserved": s.reserved,
            "picked": s.picked,
            "quarantine": s.quarantine,
            "damaged": s.damaged,
            "in_transit": s.in_transit,
            "version": len(ps),
        }
    return out


def as_state(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    fields = ("sellable", "reserved", "picked", "quarantine", "damaged", "in_transit", "version")
    return {(r["sku"], r["location"]): {f: r[f] for f in fields} for r in rows}


def test_two_processes_give_the_single_process_result(kafka_bootstrap: str, tmp_path: Path) -> None:
    import subprocess

    from tests.helpers import communicate_all, free_port

    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 4)])
    skuflow("produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    args = run_command(kafka_bootstrap, t, tmp_path / "flow", MEDIUM / "item_master.csv", "--addresses", addresses)
    procs = [subprocess.Popen([*args, "--process-id", str(i)], stderr=subprocess.PIPE, text=True) for i in range(2)]
    errs = communicate_all(procs, timeout=120)
    assert [p.returncode for p in procs] == [0, 0], errs
    counts = [run_done(e)[0] for e in errs]
    assert all(counts) and sum(counts) == len(read_jsonl(MEDIUM / "events.jsonl"))  # both did real work
    assert_matches_expected(
        materialized(kafka_bootstrap, t, tmp_path / "replica"), read_jsonl(MEDIUM / "expected_snapshots.jsonl")
    )


def _await_commit(recovery_dir: Path, newer_than: int, proc: Any) -> int:
    """Wait until Bytewax commits an epoch after `newer_than` (or `proc` exits); the epoch."""
    import time

    deadline = time.monotonic() + 60
    while (epoch := _committed_epoch(recovery_dir)) <= newer_than and proc.poll() is None:
        assert time.monotonic() < deadline, "no epoch committed in 60 s"
        time.sleep(0.05)
    return epoch


def _committed_epoch(recovery_dir: Path) -> int:
    """The epoch Bytewax last committed in the first recovery partition (0: none yet)."""
    import sqlite3

    db = recovery_dir / "part-0.sqlite3"
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            row = conn.execute("SELECT MAX(commit_epoch) FROM commits").fetchone()
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0
    return int(row[0] or 0)


def test_sigkill_at_three_points_loses_nothing_and_counts_nothing_twice(kafka_bootstrap: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    n = 400_000  # enough that the third kill still lands mid-run (the native fold reads ~60k events/s)
    events, item_master, t = simulated_topic(kafka_bootstrap, tmp_path, n, 800)
    args = run_command(kafka_bootstrap, t, tmp_path / "flow", item_master, "--epoch-interval", "1s")
    killed, committed = 0, 0
    for delay in (0.0, 0.3, 0.6):  # each after the run committed an epoch of its own, while it consumes
        proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        committed = _await_commit(tmp_path / "flow" / "recovery", committed, proc)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
    assert killed == 3, "the run finished before it could be killed: make the input bigger"
    final = subprocess.run(args, check=True, stderr=subprocess.PIPE, text=True, timeout=300)  # resume to the end
    resumed = run_done(final.stderr)[0]
    assert 0 < resumed < n, final.stderr  # it picked up from the recovery snapshot, not from the start
    got = as_state(materialized(kafka_bootstrap, t, tmp_path / "replica"))
    expected = oracle(events, item_master)
    assert got.keys() == expected.keys()
    wrong = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert not wrong, list(wrong.items())[:3]


def test_api_replicas_converge(kafka_bootstrap: str, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from tests.helpers import free_port, http_get, wait_http

    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 4)])
    ports = [free_port(), free_port()]
    replicas = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dataflows.cli",
                "serve",
                "--bootstrap",
                kafka_bootstrap,
                "--topic",
                t["snapshots"],
                "--state-dir",
                str(tmp_path / f"r{i}"),
                "--port",
                str(port),
                *(["--workers", "2"] if i else []),  # its /metrics: its workers' and its materializers'
            ]
        )
        for i, port in enumerate(ports)
    ]
    try:
        # The replicas start before the snapshots topic exists: they wait for the dataflow to create it.
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 503  # alive, not ready: no topic yet
        skuflow("produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
        run_flow(kafka_bootstrap, t, tmp_path / "flow")
        deadline = time.monotonic() + 30
        while any(http_get(f"http://127.0.0.1:{port}/readyz")[0] != 200 for port in ports):
            assert time.monotonic() < deadline, "a replica never became ready"
            time.sleep(0.1)
        expected = read_jsonl(MEDIUM / "expected_snapshots.jsonl")
        deadline = time.monotonic() + 30
        for row in expected:
            for port in ports:
                while True:
                    status, body = http_get(f"http://127.0.0.1:{port}/v1/availability/{row['sku']}/{row['location']}")
                    if status == 200 and {k: body[k] for k in row} == row:
                        break
                    assert time.monotonic() < deadline, (port, row, status, body)
                    time.sleep(0.05)
        a = http_get(f"http://127.0.0.1:{ports[0]}/v1/skus?limit=1000")[1]
        b = http_get(f"http://127.0.0.1:{ports[1]}/v1/skus?limit=1000")[1]
        assert a == b and len(a["skus"]) == len({r["sku"] for r in expected})
        for port in ports:  # caught up: every partition's lag 0, and the API's latency by route and status
            page: dict[Any, float] = {}
            lags: dict[str, float] = {}
            while len(lags) < 4 or any(lags.values()):
                assert time.monotonic() < deadline + 10, (ports.index(port), lags, sorted(n for n, _ in page)[-30:])
                time.sleep(0.2)
                page = scrape(f"http://127.0.0.1:{port}/metrics")
                lags = {
                    dict(labels)["partition"]: v
                    for (name, labels), v in page.items()
                    if name == "skuflow_replica_lag_messages" and dict(labels)["topic"] == t["snapshots"]
                }
            route = frozenset({("route", "/v1/availability/{sku}/{location}"), ("status", "200")})
            assert page.get(("skuflow_api_request_seconds_count", route), 0) >= len(expected), sorted(page)[:50]
    finally:
        for r in replicas:
            r.terminate()
            r.wait(15)


def test_rescale_from_one_process_to_two_after_a_crash(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Bytewax rescaling: stop (here: SIGKILL), then resume from recovery with another process count."""
    import signal
    import subprocess

    from tests.helpers import communicate_all, free_port

    n = 240_000  # the crash must land mid-run (one process reads ~50k events/s)
    events, item_master, t = simulated_topic(kafka_bootstrap, tmp_path, n, 600)
    common = run_command(kafka_bootstrap, t, tmp_path / "flow", item_master, "--epoch-interval", "1s")
    one = subprocess.Popen(common, stderr=subprocess.DEVNULL)
    _await_commit(tmp_path / "flow" / "recovery", 0, one)  # the crash must follow a commit
    assert one.poll() is None, "finished before the crash: make the input bigger"
    one.send_signal(signal.SIGKILL)
    one.wait(30)
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    two = [
        subprocess.Popen([*common, "--addresses", addresses, "--process-id", str(i)], stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    errs = communicate_all(two, timeout=180)
    assert [p.returncode for p in two] == [0, 0], errs
    resumed = sum(run_done(e)[0] for e in errs)
    assert 0 < resumed < n  # the two processes took over from the snapshot
    got = as_state(materialized(kafka_bootstrap, t, tmp_path / "replica"))
    assert got == oracle(events, item_master)


def test_a_failed_delivery_stops_the_dataflow_loudly(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The broker refuses every snapshot (topic max.message.bytes too small): the flow must
    fail with the delivery error, not carry on as if the snapshots were published."""
    t = topics()
    ensure_topics(
        kafka_bootstrap, [TopicSpec(t["events"], 4), TopicSpec(t["snapshots"], 4, {"max.message.bytes": "64"})]
    )
    skuflow("produce", str(GOLDEN / "small" / "events.jsonl"), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
    proc = skuflow(
        *run_args(kafka_bootstrap, t, tmp_path / "flow", GOLDEN / "small" / "item_master.csv"),
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"delivery to {t['snapshots']}/" in proc.stderr and "nothing may be lost" in proc.stderr


def test_channel_topics_and_replica_channel_api(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`run --policy` publishes every channel to its own topic; a replica materializes them and
    answers the channel API; the figures equal those of the same events replayed from a file."""
    import subprocess
    import sys
    import time

    from connectors.kafka import channel_topic
    from tests.dataflows.test_channels_scenario import POLICY, busiest_accounts
    from tests.helpers import free_port, http_get, wait_http

    events, item_master, t = simulated_topic(kafka_bootstrap, tmp_path, 8000, 60)
    account, sku, _, qty = busiest_accounts(events, 1)[0]
    text = POLICY.replace("{fences}", f"  - {{account: {account}, channel: b2b, sku: {sku}, quantity: {qty * 2}}}")
    text = (
        text.replace("{{", "{").replace("}}", "}").replace("max_updates_per_second: 20", "max_updates_per_second: 500")
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    skuflow(
        "replay",
        str(events),
        "--state-dir",
        str(tmp_path / "file"),
        "--item-master",
        str(item_master),
        "--policy",
        str(policy),
    )
    expected: dict[tuple[str, str | None, str], int] = {}
    for path in (tmp_path / "file" / "channels").glob("*.jsonl"):
        for pub in read_jsonl(path):
            expected[(pub["channel"], pub["account"], pub["sku"])] = pub["available"]

    skuflow(*run_args(kafka_bootstrap, t, tmp_path / "flow", item_master, "--policy", str(policy)))
    wire = AvroWire(schemas.CHANNEL_AVAILABILITY)
    got: dict[tuple[str, str | None, str], int] = {}
    for channel in ("b2b", "edi", "amazon", "dtc"):
        for msg in consume_all(kafka_bootstrap, channel_topic(channel)):
            pub = wire.decode(msg.value())
            assert pub["channel"] == channel
            assert msg.key() == (f"{pub['sku']}|{pub['account']}" if pub["account"] else pub["sku"]).encode()
            if pub["policy_version"] == "scenario-1":
                got[(channel, pub["account"], pub["sku"])] = pub["available"]
    assert got == expected

    port = free_port()
    replica = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dataflows.cli",
            "serve",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            t["snapshots"],
            "--state-dir",
            str(tmp_path / "replica"),
            "--port",
            str(port),
        ]
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        deadline = time.monotonic() + 30
        for (channel, acct, s), figure in sorted(expected.items(), key=str)[:40]:
            url = (
                f"http://127.0.0.1:{port}/v1/accounts/{acct}/availability/{s}"
                if acct
                else f"http://127.0.0.1:{port}/v1/channels/{channel}/availability/{s}"
            )
            while True:
                status, body = http_get(url)
                if status == 200 and body["available"] == figure:
                    break
                assert time.monotonic() < deadline, (url, status, body, figure)
                time.sleep(0.05)
            status, explained = http_get(f"{url}/explain")  # the terms travel on the channel topic
            assert status == 200 and explained["figure"]["version"] == body["version"], (url, explained)
            assert recompute(explained["explanation"]) == explained["figure"]["available"] == figure
    finally:
        replica.terminate()
        replica.wait(15)


def test_record_topics_and_replica_api(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`run` publishes each balance snapshot's check, each anomaly and each change to their
    topics (key sku|location); a replica materializes them and answers the reconciliation,
    anomalies and change log APIs with what a replay of the same events from a file has."""
    events, item_master, t = simulated_topic(kafka_bootstrap, tmp_path, 20_000, 60)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: r1\nchannels:\n  b2b: {}\nreconciliation:\n  - {source: ERP, tolerance_units: 1}\n")
    file_state = tmp_path / "file"
    skuflow(
        "replay",
        str(events),
        "--state-dir",
        str(file_state),
        "--item-master",
        str(item_master),
        "--policy",
        str(policy),
    )

    def latest(records: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        out: dict[str, dict[str, Any]] = {}
        for r in records:
            if r["event_id"] not in out or r["version"] > out[r["event_id"]]["version"]:
                out[r["event_id"]] = r
        return {k: (r["sku"], r["location"], r["reported"], r["computed"], r["status"]) for k, r in out.items()}

    expected = latest(read_jsonl(file_state / "reconciliation.jsonl"))
    assert len(expected) > 50 and any(v[4] == "divergent" for v in expected.values())
    flow = ["--policy", str(policy), "--changes-format", "jsonl"]  # the change log on the topic and in a file
    skuflow(*run_args(kafka_bootstrap, t, tmp_path / "flow", item_master, *flow))
    wire = AvroWire(schemas.RECONCILIATION_RECORD)
    messages = consume_all(kafka_bootstrap, t["reconciliation"])
    records = [wire.decode(m.value()) for m in messages]
    assert all(m.key() == f"{r['sku']}|{r['location']}".encode() for m, r in zip(messages, records, strict=True))
    assert latest(records) == expected

    materialized(kafka_bootstrap, t, tmp_path / "replica")
    from fastapi.testclient import TestClient

    from serving.api import create_app

    with TestClient(create_app(tmp_path / "replica")) as api:
        page = api.get("/v1/reconciliation", params={"limit": 1000}).json()
        assert latest(page["records"]) == expected and page["next_after"] is None
        anomalies = _all_pages(api, "/v1/anomalies")
        sku, location = next((r["sku"], r["location"]) for r in read_jsonl(file_state / "changes.jsonl"))
        changes = api.get(f"/v1/changes/{sku}/{location}", params={"limit": 1000}).json()["changes"]
        rejected = api.get("/v1/exceptions", params={"limit": 1000}).json()["records"]
    # the exceptions topic, materialized: every rejection of the file replay, with its payload
    from_file = read_jsonl(file_state / "exceptions.jsonl")
    assert 0 < len(from_file) < 1000
    assert sorted((r["event_id"], r["reason"], r["payload_json"] is not None) for r in rejected) == sorted(
        (r["event_id"], r["reason"], True) for r in from_file
    )

    def standing(records: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[Any, ...]]:
        out: dict[tuple[str, ...], dict[str, Any]] = {}
        for r in records:
            flag = (r["sku"], r["location"], r["event_id"], r["reason"])
            if flag not in out or r["version"] > out[flag]["version"]:
                out[flag] = r
        return {f: (r["status"], r["figure"], r["before"], r["after"]) for f, r in out.items()}

    file_anomalies = standing(read_jsonl(file_state / "anomalies.jsonl"))
    assert len(file_anomalies) > 10, len(file_anomalies)
    assert standing(anomalies) == file_anomalies
    assert len(consume_all(kafka_bootstrap, t["anomalies"])) >= len(file_anomalies)
    # a key's change log: every version's change, each starting where the last one ended
    assert changes and all(a["after"] == b["before"] for a, b in itertools.pairwise(changes))
    assert sum(c["cause_count"] for c in changes) == changes[-1]["version"]
    file_twin = read_jsonl(tmp_path / "flow" / "changes.jsonl")
    assert len(file_twin) == len(consume_all(kafka_bootstrap, t["changes"])) > 0
    final = next(
        r
        for r in materialized(kafka_bootstrap, t, tmp_path / "replica")
        if (r["sku"], r["location"]) == (sku, location)
    )
    assert changes[-1]["after"]["available"] == final["available"] and changes[-1]["version"] == final["version"]


def _all_pages(api: Any, path: str) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        page = api.get(path, params={"limit": 1000, **({"after": after} if after else {})}).json()
        out += page["records"]
        after = page["next_after"]
        if after is None:
            return out


def test_redrive_on_kafka_applies_a_fixed_dead_letter_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`skuflow redrive --bootstrap`: the exceptions topic's unknown_uom event, produced to the
    input topic again once the item master has its row, is applied by the flow once, however
    often it is re-driven."""
    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 2)])
    base = {"event_type": "RECEIPT", "sku": "SKU-1", "location": "WH-A", "source_system": "WMS"}
    events = [
        {**base, "event_id": "k-1", "quantity": 5, "occurred_at": 1_780_000_000_000, "source_sequence": 1},
        {**base, "event_id": "k-2", "quantity": 2, "uom": "CS", "occurred_at": 1_780_000_000_001, "source_sequence": 2},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    skuflow("produce", str(path), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
    before, fixed = tmp_path / "before.csv", tmp_path / "fixed.csv"
    before.write_text("sku,uom,factor\nSKU-2,CS,6\n")
    fixed.write_text("sku,uom,factor\nSKU-1,CS,12\n")
    flow = tmp_path / "flow"
    skuflow(*run_args(kafka_bootstrap, t, flow, before))

    redrive = ["redrive", "--bootstrap", kafka_bootstrap, "--exceptions-topic", t["exceptions"], "--topic", t["events"]]
    first = skuflow(*redrive, "--item-master", str(fixed)).stderr
    assert "1 dead-lettered events to re-drive" in first and "1 valid now" in first, first
    assert "re-drove 1 events into" in first, first
    headers = [m.headers() for m in consume_all(kafka_bootstrap, t["events"])]
    assert sum(1 for h in headers if h and h[0][0] == "skuflow-redrive") == 1
    skuflow(*run_args(kafka_bootstrap, t, flow, fixed))
    rows = as_state(materialized(kafka_bootstrap, t, tmp_path / "replica"))
    assert rows[("SKU-1", "WH-A")]["sellable"] == 5 + 24 and rows[("SKU-1", "WH-A")]["version"] == 2

    skuflow(*redrive, "--item-master", str(fixed))  # again: the flow folds it as a duplicate
    skuflow(*run_args(kafka_bootstrap, t, flow, fixed))
    rows = as_state(materialized(kafka_bootstrap, t, tmp_path / "replica2"))
    assert rows[("SKU-1", "WH-A")]["sellable"] == 29 and rows[("SKU-1", "WH-A")]["version"] == 2


def test_topics_take_replication_and_min_insync_replicas_from_options(kafka_bootstrap: str, tmp_path: Path) -> None:
    """One broker cannot hold two replicas: creation says so in one line. What it can hold is
    created with the options' min.insync.replicas."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    t = topics()
    events = MEDIUM / "events.jsonl"
    base = ["produce", str(events), "--bootstrap", kafka_bootstrap, "--topic", t["events"]]
    proc = skuflow(*base, "--replication-factor", "2", check=False)
    assert proc.returncode != 0 and proc.stderr.strip().startswith(f"skuflow: cannot create topic {t['events']}")
    assert "replication factor" in proc.stderr.lower()
    proc = skuflow(*base, "--replication-factor", "1", "--min-insync-replicas", "2", check=False)
    assert proc.stderr.strip() == "skuflow: --min-insync-replicas cannot exceed --replication-factor"
    skuflow(*base, "--min-insync-replicas", "1")
    resource = ConfigResource("topic", t["events"])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    described = admin.describe_configs([resource])[resource].result()
    isr = described["min.insync.replicas"]
    assert isr.value == "1" and not isr.is_default  # set on the topic, not the broker's default


def test_run_serves_metrics_and_writes_json_logs(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A tailing `skuflow run --metrics-port P --log-format json --log-level info`: its metrics (consumer lag per
    partition, events in, rejects by reason and source) on P while it runs; every stderr line a
    JSON object, each rejection one with its event id and correlation id."""
    import signal
    import subprocess
    import time
    import urllib.request

    from tests.helpers import free_port

    t = topics()
    ensure_topics(kafka_bootstrap, [TopicSpec(t["events"], 2)])
    skuflow("produce", str(MEDIUM / "events.jsonl"), "--bootstrap", kafka_bootstrap, "--topic", t["events"])
    port = free_port()
    command = run_command(
        kafka_bootstrap, t, tmp_path / "flow", MEDIUM / "item_master.csv", "--metrics-port", str(port),
        "--log-format", "json", "--log-level", "info", "--epoch-interval", "1s", until_end=False,
    )  # fmt: skip
    flow = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    events = len(read_jsonl(MEDIUM / "events.jsonl"))
    text = ""
    try:
        deadline = time.monotonic() + 60
        lag = f'skuflow_kafka_consumer_lag{{partition="0",topic="{t["events"]}"}} 0.0'  # read to the end
        while f"skuflow_events_in_total {events:.1f}" not in text or lag not in text:
            assert flow.poll() is None and time.monotonic() < deadline, text[-2000:]
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        assert 'skuflow_events_rejected_total{reason="unknown_uom",source="' in text
        page = scrape(f"http://127.0.0.1:{port}/metrics")
        while not page.get(("skuflow_epoch_state_write_seconds_count", frozenset())):  # an epoch's end, 1 s on
            assert time.monotonic() < deadline
            time.sleep(0.2)
            page = scrape(f"http://127.0.0.1:{port}/metrics")
        duplicates = {
            dict(labels)["source"]: v for (name, labels), v in page.items() if name == "skuflow_events_duplicate_total"
        }
        assert duplicates.get("WMS", 0) > 0 and duplicates.get("OMS", 0) > 0, duplicates  # by source
        folded = page[("skuflow_event_age_at_fold_seconds_count", frozenset())]
        assert (
            0 < folded <= events
            and page[("skuflow_event_age_at_fold_seconds_bucket", frozenset({("le", "+Inf")}))] == folded
        )
    finally:
        flow.send_signal(signal.SIGINT)
        _, err = flow.communicate(timeout=60)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert len(lines) == len([line for line in err.splitlines() if line.strip()]) - 1  # but the closing summary
    rejected = [r for r in lines if r["logger"] == "skuflow.exceptions"]
    expected = read_jsonl(MEDIUM / "expected_rejects.jsonl")
    assert len(rejected) == len(expected) and {r["event_id"] for r in rejected} == {e["event_id"] for e in expected}
    assert all(r["level"] == "INFO" and "correlation_id" in r and r["time"].endswith("+00:00") for r in rejected)
