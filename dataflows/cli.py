"""`skuflow`: the command line. Every subcommand documents itself with --help."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dataflows.config import RECOVERY_PARTITIONS
from operators.exceptions import SkuflowError

if TYPE_CHECKING:
    from connectors.policy_file import ControlSource
    from dataflows.config import FlowConfig
    from operators.policy import Policy
    from serving.replica import Materializer
    from serving.store import StoreWriter

DEFAULT_PORT = 8000


def _count(low: int, high: int = 2**31 - 1) -> Any:
    """An argparse type: an integer from `low` to `high`, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def _positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def _timeout(text: str) -> timedelta:
    """An argparse type: a duration (`90s`, `5m`) above 0 and at most a day."""
    from operators.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, timedelta) or not timedelta(0) < value <= timedelta(days=1):
        raise argparse.ArgumentTypeError(f"{text} must be a duration above 0 and at most 1d")
    return value


PORT = _count(1, 65535)
REPLAY_BATCH = 8192  # a bulk job: coalesce more per key (like Kafka Streams' record cache)
EVENTS, SNAPSHOTS, EXCEPTIONS = "inventory.events.v1", "inventory.snapshots.v1", "inventory.exceptions.v1"


def _flow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--item-master", type=Path, help="CSV `sku,uom,factor` for unit conversion to EA")
    p.add_argument("--horizon", default="24h", help="lateness horizon: exact re-ordering window (default 24h)")
    p.add_argument("--dedup-retention", default="7d", help="how long event ids are remembered (default 7d)")
    p.add_argument(
        "--max-ahead",
        default="1h",
        help="reject events dated further ahead of the clock at arrival as future_event (default 1h; 0: off)",
    )
    p.add_argument(
        "--min-free-disk",
        default="64MiB",
        help="stop, resumably, when the recovery dir's disk has less free before an epoch (default 64MiB; 0: off)",
    )
    p.add_argument("--changes-format", choices=("jsonl", "avro"), default="jsonl", help="change stream file format")
    p.add_argument("--workers", type=_count(1, 64), default=1, help="Bytewax worker threads (default 1)")
    p.add_argument("--epoch-interval", default="10s", help="how often state is snapshotted for recovery (default 10s)")
    p.add_argument("--policy", type=Path, help="channel policy (YAML): publish every channel's availability")
    p.add_argument(
        "--recovery-partitions",
        type=_count(1, 4096),
        default=RECOVERY_PARTITIONS,
        help=f"SQLite files a new recovery dir spreads state over (default {RECOVERY_PARTITIONS}; "
        "more keys restart faster with more)",
    )


def _policy(args: argparse.Namespace) -> Policy | None:
    if args.policy is None:
        return None
    from connectors.policy_file import PolicyError, load_policy

    try:
        return load_policy(args.policy)
    except PolicyError as exc:
        raise SystemExit(f"skuflow: {exc}") from None


def _control(
    args: argparse.Namespace, policy: Policy | None, live: bool, stop: threading.Event
) -> ControlSource | None:
    """The policy's control input: watch lists, and reloads on SIGHUP when `live`."""
    if policy is None:
        return None
    from connectors.policy_file import ControlEvents, ControlSource

    return ControlSource(args.policy, policy, live, ControlEvents(stop=stop))


def _config(args: argparse.Namespace, **extra: object) -> FlowConfig:
    from dataflows.config import FlowConfig

    try:
        return FlowConfig(
            state_dir=args.state_dir,
            item_master=args.item_master,
            horizon=args.horizon,
            dedup_retention=args.dedup_retention,
            max_ahead=args.max_ahead,
            min_free_disk=args.min_free_disk,
            changes_format=args.changes_format,
            workers=args.workers,
            recovery_partitions=args.recovery_partitions,
            **({"epoch_interval": args.epoch_interval} | extra),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"skuflow: invalid configuration: {problems}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    from connectors.files import EventFileSource
    from dataflows.runner import run

    if not args.file.is_file():
        raise SystemExit(f"skuflow: no such file: {args.file}")
    config = _config(args, recovery=not args.no_recovery)
    stop = threading.Event()
    policy = _policy(args)
    summary = run(
        EventFileSource(args.file, stop, args.batch_size),
        config,
        stop=stop,
        policy=policy,
        control=_control(args, policy, False, stop),
    )
    if stop.is_set():
        print("interrupted: the state is saved, run the same command again to resume", file=sys.stderr)
    print(
        f"replayed {summary.records_in:,} records in {summary.seconds:.2f} s "
        f"({summary.events_per_s:,.0f} events/s): {summary.snapshots:,} snapshots, "
        f"{summary.rejects:,} exceptions, {summary.duplicates:,} duplicates -> {config.state_dir}",
        file=sys.stderr,
    )
    return 0


def _materializers(args: argparse.Namespace) -> tuple[list[Materializer], StoreWriter]:
    """The snapshots topic and every channel topic there is now, into DIR/store."""
    from confluent_kafka.admin import AdminClient

    import schemas
    from connectors.wire import AvroWire
    from serving.replica import Materializer
    from serving.store import StoreWriter

    store = StoreWriter(args.state_dir / "store")
    snapshots = AvroWire(schemas.AVAILABILITY_SNAPSHOT, args.schema_registry)
    channels = AvroWire(schemas.CHANNEL_AVAILABILITY, args.schema_registry)
    topics = AdminClient({"bootstrap.servers": args.bootstrap}).list_topics(timeout=30).topics
    channel_topics = sorted(t for t in topics if t.startswith("inventory.availability.") and t.endswith(".v1"))
    return [
        Materializer(args.bootstrap, args.topic, store, snapshots.decode),
        *(Materializer(args.bootstrap, t, store, channels.decode, publications=True) for t in channel_topics),
    ], store


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serving.api import create_app
    from serving.exceptions import StoreError
    from serving.store import StoreReader

    replicas: list[threading.Thread] = []
    stop = threading.Event()
    store = None
    if args.bootstrap:  # an API replica: materialize the topics, then serve them
        materializers, store = _materializers(args)
        for m in materializers:
            t = threading.Thread(target=m.run, kwargs={"stop": stop}, name=f"materialize {m.topic}", daemon=True)
            t.start()
            replicas.append(t)
    try:
        if store is None:  # fail here in one line, not in uvicorn's startup (or every worker's)
            StoreReader(args.state_dir / "store").close()
        if args.workers > 1:  # worker processes import the app; each opens its own secondary
            os.environ["SKUFLOW_STATE_DIR"] = str(args.state_dir)
            uvicorn.run(
                "serving.api:app_from_env",
                factory=True,
                workers=args.workers,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
                access_log=False,
            )
        else:
            app = create_app(args.state_dir, StoreReader.beside(store) if store is not None else None)
            uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    except StoreError as exc:
        raise SystemExit(f"skuflow: {exc}") from None
    finally:
        stop.set()
        for t in replicas:
            t.join(10)
        if store is not None:
            store.close()
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    materializers, store = _materializers(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counts: dict[str, int] = {}
    try:
        if args.until_end:
            for m in materializers:
                counts[m.topic] = m.run(until_end=True, stop=stop)
        else:
            threads = [threading.Thread(target=m.run, kwargs={"stop": stop}, daemon=True) for m in materializers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            counts = {m.topic: m.applied for m in materializers}
    finally:
        store.close()
    summary = ", ".join(f"{n:,} from {topic}" for topic, n in counts.items())
    print(f"materialized {summary} into {args.state_dir / 'store'}", file=sys.stderr)
    return 0


def _read_events(path: Path) -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    """Raw bytes and the parsed record (None when a line is not a JSON object)."""
    from connectors.avro import is_avro_container, read_container

    if is_avro_container(path):
        with open(path, "rb") as f:
            for record in read_container(f):
                yield b"", record
        return
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            yield line, parsed if isinstance(parsed, dict) else None


def cmd_produce(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    import schemas
    from connectors.kafka import TopicSpec, ensure_topics, producer_config
    from connectors.wire import AvroWire, message_value

    if not args.file.is_file():
        raise SystemExit(f"skuflow: no such file: {args.file}")
    if args.framing == "confluent" and not args.schema_registry:
        raise SystemExit("skuflow: --framing confluent needs --schema-registry URL")
    ensure_topics(args.bootstrap, [TopicSpec(args.topic, args.partitions)])
    wire = AvroWire(schemas.INVENTORY_EVENT, args.schema_registry)
    producer = Producer(producer_config(args.bootstrap))
    failures: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    sent = raw = 0

    def encode(record: dict[str, Any]) -> bytes:
        if args.framing == "confluent":
            return wire.encode_confluent(record, f"{args.topic}-value")
        return wire.encode_single_object(record)

    for line, record in _read_events(args.file):
        # a container's records are Avro already; a JSON line goes as Avro only where Avro keeps its meaning
        encoded = encode(record) if not line and record is not None else message_value(line, record, encode)
        value = line if encoded is None else encoded
        raw += encoded is None
        key = record.get("sku") if record else None
        while True:
            try:
                producer.produce(
                    args.topic,
                    value,
                    key.encode("utf-8", "replace") if isinstance(key, str) else None,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        sent += 1
    left = producer.flush(60)
    if failures or left:
        raise SystemExit(f"skuflow: {len(failures) + left} of {sent} messages were not delivered: {failures[:3]}")
    print(
        f"produced {sent:,} events to {args.topic} ({args.framing}; {raw:,} sent as their JSON line, which "
        f"the flow reads as file replay does, because Avro would not keep their meaning)",
        file=sys.stderr,
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import schemas
    from connectors.kafka import KafkaEventSource, TopicSpec, channel_topic, ensure_topics
    from connectors.wire import AvroWire
    from dataflows.runner import kafka_outputs, run

    addresses = [a for a in args.addresses.split(";") if a] if args.addresses else None
    if (args.process_id is None) != (addresses is None):
        raise SystemExit("skuflow: --process-id and --addresses go together")
    compact = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    policy = _policy(args)
    partitions = ensure_topics(
        args.bootstrap,
        [
            TopicSpec(args.topic, args.partitions),
            TopicSpec(args.snapshots_topic, args.partitions, compact),
            TopicSpec(args.exceptions_topic, args.partitions),
            *(TopicSpec(channel_topic(c.name), args.partitions, compact) for c in (policy.channels if policy else ())),
        ],
    )
    config = _config(args, recovery=not args.no_recovery, recovery_path=args.recovery_dir)
    stop = threading.Event()
    source = KafkaEventSource(args.bootstrap, args.topic, until_end=args.until_end, stop=stop)
    outputs = kafka_outputs(
        args.bootstrap, partitions, args.snapshots_topic, args.exceptions_topic, args.schema_registry, policy
    )
    wire = AvroWire(schemas.INVENTORY_EVENT, args.schema_registry)
    control = _control(args, policy, not args.until_end, stop)
    summary = run(
        source,
        config,
        outputs,
        stop=stop,
        wire=wire,
        process_id=args.process_id,
        addresses=addresses,
        policy=policy,
        control=control,
        cluster_timeout=args.cluster_timeout,
    )
    print(
        f"{'stopped' if stop.is_set() else 'done'}: {summary.records_in:,} events in {summary.seconds:.2f} s "
        f"({summary.events_per_s:,.0f} events/s), {summary.snapshots:,} snapshots, {summary.rejects:,} exceptions",
        file=sys.stderr,
    )
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from serving.exceptions import StoreError
    from serving.store import StoreReader

    try:
        reader = StoreReader(args.state_dir / "store")
    except StoreError as exc:
        raise SystemExit(f"skuflow: {exc}") from None
    out = sys.stdout.buffer
    try:
        for body in reader.scan():
            out.write(body + b"\n")
        out.flush()
    except BrokenPipeError:
        pass
    finally:
        reader.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from connectors.avro import write_events
    from connectors.files import json_line
    from connectors.simulator import Distributor, SimConfig

    sim = Distributor(SimConfig(skus=args.skus, seed=args.seed))
    events = islice(sim.stream(args.start_ms, args.rate), args.events)
    if args.format == "avro":
        count = write_events(args.out, events)
    else:
        count = 0
        with open(args.out, "wb") as f:
            for e in events:
                f.write(json_line(e))
                count += 1
    with open(args.item_master_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "uom", "factor"])
        w.writerows(sim.item_master_rows())
    print(f"wrote {count:,} events to {args.out} and the item master to {args.item_master_out}", file=sys.stderr)
    return 0


def _wait_healthy(url: str, api: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise SystemExit(f"skuflow: the API exited with code {api.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"skuflow: the API did not answer on {url} within {timeout_s:.0f} s")


def cmd_up(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from connectors.simulator import Distributor, SimConfig, SimulatorSource
    from dataflows.runner import run
    from dataflows.status import StatusLine
    from serving.store import StoreWriter

    state_dir: Path = args.state_dir
    if state_dir.exists():
        shutil.rmtree(state_dir)  # a live simulation starts from a clean slate
    state_dir.mkdir(parents=True)
    sim_config = SimConfig(skus=args.skus, seed=args.seed)
    sim = Distributor(sim_config)
    item_master = state_dir / "item_master.csv"
    with open(item_master, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "uom", "factor"])
        w.writerows(sim.item_master_rows())
    StoreWriter(state_dir / "store").close()  # create it, so the API can open it right away
    args.item_master = item_master
    config = _config(args, recovery=False, epoch_interval="5s")
    policy = _policy(args)

    base = f"http://{args.host}:{args.port}"
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dataflows.cli",
            "serve",
            "--state-dir",
            str(state_dir),
            "--host",
            args.host,
            "--port",
            str(args.port),
        ],
        start_new_session=True,
    )
    try:
        _wait_healthy(f"{base}/healthz", api)
        metrics_note = ""
        if args.metrics_port:
            try:
                start_http_server(args.metrics_port, addr=args.host)
                metrics_note = f"  dataflow metrics: http://{args.host}:{args.metrics_port}/metrics\n"
            except OSError as exc:
                metrics_note = f"  (dataflow metrics not served: port {args.metrics_port}: {exc.strerror})\n"
        fast = max(range(len(sim.skus)), key=lambda i: sim.weights[i])
        sku = sim.skus[fast]
        third = (
            f"{base}/v1/channels/{policy.channels[0].name}/availability/{sku}"
            if policy is not None
            else f"'{base}/v1/skus?limit=5'"
        )
        lines = [
            f"skuflow up: {len(sim.skus):,} SKUs x {len(sim_config.locations)} locations, "
            f"channels dtc/amazon/b2b/edi, ~{args.rate:,.0f} operations/s. Try:",
            f"  curl {base}/v1/availability/{sku}/{sim_config.locations[0]}",
            f"  curl {base}/v1/availability/{sku}",
            f"  curl {third}",
            f"  (API docs: {base}/docs, metrics: {base}/metrics)",
        ]
        if policy is not None:
            lines.append(
                f"  policy {args.policy} (version {policy.version}): channels "
                f"{', '.join(c.name for c in policy.channels)}; edit it and send SIGHUP to reload"
            )
        print(
            "\n".join(lines) + "\n" + metrics_note + f"  state: {state_dir}  -  Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        status = StatusLine()
        status.start()
        stop = threading.Event()
        control = _control(args, policy, True, stop)
        done = control.events.input_done if control is not None else None
        source = SimulatorSource(sim_config, rate=args.rate, duration_s=args.duration, stop=stop, done=done)
        try:
            summary = run(source, config, stop=stop, policy=policy, control=control)
        finally:
            status.stop()
        print(
            f"{'stopped (Ctrl-C)' if stop.is_set() else 'done'}: {summary.records_in:,} events in "
            f"{summary.seconds:.0f} s, {summary.snapshots:,} snapshots, {summary.rejects:,} exceptions, "
            f"{summary.duplicates:,} duplicates",
            file=sys.stderr,
        )
    finally:
        if api.poll() is None:
            api.send_signal(signal.SIGTERM)
            try:
                api.wait(10)
            except subprocess.TimeoutExpired:
                api.kill()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skuflow",
        description="Real-time inventory availability: validate, deduplicate, order and fold inventory events "
        "into exact per sku x location snapshots, served from RocksDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="the embedded default: simulator -> dataflow -> store -> API",
        description="Run a simulated distributor through the real dataflow and serve the API.",
    )
    up.add_argument("--port", type=PORT, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="API port (8000)")
    up.add_argument("--host", default="127.0.0.1", help="API address (127.0.0.1)")
    up.add_argument("--duration", type=_positive_number, help="stop after this many seconds (default: until Ctrl-C)")
    up.add_argument(
        "--rate",
        type=_positive_number,
        default=1000,
        help="simulated operations per second, about 0.8 events each (1000)",
    )
    up.add_argument("--skus", type=_count(1), default=2000, help="SKUs in the simulated catalogue (2000)")
    up.add_argument("--seed", type=int, default=7, help="simulator seed")
    up.add_argument(
        "--metrics-port",
        type=_count(0, 65535),
        default=None,
        help="port for the dataflow's Prometheus metrics (default: API port + 1; 0 = off)",
    )
    up.add_argument("--state-dir", type=Path, default=Path(".skuflow/up"), help="wiped at start (.skuflow/up)")
    _flow_args(up)
    up.set_defaults(func=cmd_up)

    replay = sub.add_parser(
        "replay",
        help="fold a file of events (Avro container or JSON Lines) and exit",
        description="Fold an Avro container file or a JSON Lines file of events through the "
        "dataflow into DIR (store/, changes.*, exceptions.jsonl). Exits 0 when the input ends. "
        "State is kept in DIR/recovery: replaying more files continues the same state, and "
        "replaying a file again counts nothing twice.",
    )
    replay.add_argument("file", type=Path, help="events: .avro container or JSON Lines")
    replay.add_argument("--state-dir", type=Path, required=True, help="where the store and outputs live")
    replay.add_argument("--no-recovery", action="store_true", help="do not keep Bytewax recovery state")
    replay.add_argument(
        "--batch-size",
        type=_count(1, 1_000_000),
        default=REPLAY_BATCH,
        help=f"records read per batch ({REPLAY_BATCH:,}); a key's changes within a batch "
        "coalesce into one snapshot that carries all their correlation ids",
    )
    _flow_args(replay)
    replay.set_defaults(func=cmd_replay)

    serve = sub.add_parser(
        "serve",
        help="the availability API over a store (an API replica with --bootstrap)",
        description="Serve the HTTP API over DIR/store (opened read-only; follows a live writer). "
        "With --bootstrap, this is an API replica: it materializes the snapshots topic into "
        "DIR/store (offsets kept there, so a restart resumes) and serves it.",
    )
    serve.add_argument("--state-dir", type=Path, required=True)
    serve.add_argument("--port", type=PORT, default=DEFAULT_PORT)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--workers", type=_count(1, 256), default=1, help="HTTP worker processes (1)")
    serve.add_argument("--bootstrap", help="Kafka bootstrap servers: materialize the snapshots topic")
    serve.add_argument("--topic", default=SNAPSHOTS, help=f"snapshots topic ({SNAPSHOTS})")
    serve.add_argument("--schema-registry", help="schema registry URL, for Confluent-framed snapshots")
    serve.set_defaults(func=cmd_serve)

    materialize = sub.add_parser(
        "materialize",
        help="the snapshots topic into a local store, without the API",
        description="Materialize the snapshots topic into DIR/store; keeps the highest version per key "
        "and the offsets in the same store.",
    )
    materialize.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    materialize.add_argument("--state-dir", type=Path, required=True)
    materialize.add_argument("--topic", default=SNAPSHOTS, help=f"snapshots topic ({SNAPSHOTS})")
    materialize.add_argument("--schema-registry", help="schema registry URL, for Confluent-framed snapshots")
    materialize.add_argument("--until-end", action="store_true", help="exit at the end of the topic")
    materialize.set_defaults(func=cmd_materialize)

    produce = sub.add_parser(
        "produce",
        help="a JSON Lines or Avro file of events into Kafka",
        description="Produce every event of FILE to TOPIC as Avro (key: sku). Lines that are not events "
        "that fit the schema are sent as they are, so the dataflow reports them.",
    )
    produce.add_argument("file", type=Path)
    produce.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    produce.add_argument("--topic", default=EVENTS, help=f"input topic ({EVENTS})")
    produce.add_argument("--framing", choices=("single-object", "confluent"), default="single-object")
    produce.add_argument("--schema-registry", help="schema registry URL (needed for --framing confluent)")
    produce.add_argument(
        "--partitions", type=_count(1, 10_000), default=4, help="partitions if the topic is created (4)"
    )
    produce.set_defaults(func=cmd_produce)

    runp = sub.add_parser(
        "run",
        help="the production dataflow: Kafka in, Kafka out",
        description="Consume Avro events from TOPIC, fold them, and publish snapshots (compacted topic, "
        "key sku|location) and exceptions. Scale out with --process-id/--addresses (one process per "
        "address, same arguments otherwise).",
    )
    runp.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    runp.add_argument("--topic", default=EVENTS, help=f"input topic ({EVENTS})")
    runp.add_argument("--snapshots-topic", default=SNAPSHOTS)
    runp.add_argument("--exceptions-topic", default=EXCEPTIONS)
    runp.add_argument("--partitions", type=_count(1, 10_000), default=4, help="partitions of topics this creates (4)")
    runp.add_argument("--schema-registry", help="schema registry URL (Confluent framing in and out)")
    runp.add_argument("--state-dir", type=Path, required=True)
    runp.add_argument("--recovery-dir", type=Path, help="Bytewax recovery dir (default STATE_DIR/recovery)")
    runp.add_argument("--no-recovery", action="store_true")
    runp.add_argument("--process-id", type=_count(0, 4095), help="this process's index in --addresses")
    runp.add_argument("--addresses", help='every process, "host1:port;host2:port"')
    runp.add_argument(
        "--cluster-timeout",
        type=_timeout,
        default=timedelta(seconds=60),
        help="give up when the cluster has not formed by then (default 60s)",
    )
    runp.add_argument("--until-end", action="store_true", help="stop once every input partition is read to its end")
    _flow_args(runp)
    runp.set_defaults(func=cmd_run)

    snapshot = sub.add_parser(
        "snapshot",
        help="every current snapshot as JSON Lines on stdout",
        description="Print every snapshot in DIR/store, one JSON object per line, "
        "fields as in the API, in (sku, location) order.",
    )
    snapshot.add_argument("--state-dir", type=Path, required=True)
    snapshot.set_defaults(func=cmd_snapshot)

    simulate = sub.add_parser(
        "simulate",
        help="write simulated distributor events to a file",
        description="Generate a deterministic event file (and its item master) from the "
        "simulator, for replays, tests and benchmarks.",
    )
    simulate.add_argument("--events", type=_count(0, 10**10), required=True, help="how many events")
    simulate.add_argument("--out", type=Path, required=True, help="output file")
    simulate.add_argument("--format", choices=("jsonl", "avro"), default="avro")
    simulate.add_argument("--item-master-out", type=Path, required=True, help="CSV to write the item master to")
    simulate.add_argument("--skus", type=_count(1), default=2000)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument(
        "--rate", type=_positive_number, default=2000, help="simulated events per second of event time"
    )
    simulate.add_argument("--start-ms", type=int, default=1_780_000_000_000, help="event time of the first event")
    simulate.set_defaults(func=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "metrics_port", 0) is None:
        args.metrics_port = args.port + 1
    try:
        return int(args.func(args))
    except SkuflowError as exc:  # a bad input file or setting: one line that says what to fix
        print(f"skuflow: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
