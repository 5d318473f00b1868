"""Commands on Kafka: the production dataflow (run) and produce."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from dataflows.cli.options import (
    ANOMALIES,
    CHANGES,
    EVENTS,
    EXCEPTIONS,
    RECONCILIATION,
    SNAPSHOTS,
    control_arg,
    durability_arg,
    durability_args,
    duration_arg,
    flow_args,
    flow_config,
    kafka_args,
    logging_args,
    policy_arg,
    retention_arg,
    serve_metrics,
    whole_number,
)

log = logging.getLogger("skuflow.run")


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
    import schemas
    from connectors.exceptions import ConnectorError
    from connectors.kafka import TopicSpec, ensure_topics, produce_all
    from connectors.wire import AvroWire, message_value

    if not args.file.is_file():
        raise SystemExit(f"skuflow: no such file: {args.file}")
    if args.framing == "confluent" and not args.schema_registry:
        raise SystemExit("skuflow: --framing confluent needs --schema-registry URL")
    ensure_topics(args.brokers, [TopicSpec(args.topic, args.partitions)], durability=durability_arg(args))
    wire = AvroWire(schemas.INVENTORY_EVENT, args.schema_registry)
    raw = 0

    def encode(record: dict[str, Any]) -> bytes:
        if args.framing == "confluent":
            return wire.encode_confluent(record, f"{args.topic}-value")
        return wire.encode_single_object(record)

    def messages() -> Iterator[tuple[bytes | None, bytes]]:
        nonlocal raw
        for line, record in _read_events(args.file):
            # a container's records are Avro already; a JSON line goes as Avro only where Avro keeps its meaning
            encoded = encode(record) if not line and record is not None else message_value(line, record, encode)
            raw += encoded is None
            key = record.get("sku") if record else None
            yield (
                (key.encode("utf-8", "replace") if isinstance(key, str) else None),
                line if encoded is None else encoded,
            )

    try:
        sent = produce_all(args.brokers, args.topic, messages())
    except ConnectorError as exc:
        raise SystemExit(f"skuflow: {exc}") from None
    print(
        f"produced {sent:,} events to {args.topic} ({args.framing}; {raw:,} sent as their JSON line, which "
        f"the flow reads as file replay does, because Avro would not keep their meaning)",
        file=sys.stderr,
    )
    return 0


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)


def cmd_run(args: argparse.Namespace) -> int:
    import schemas
    from connectors.kafka import KafkaEventSource, TopicSpec, channel_topic, ensure_topics
    from connectors.wire import AvroWire
    from dataflows.runner import changes_file, kafka_outputs, run

    addresses = [a for a in args.addresses.split(";") if a] if args.addresses else None
    if (args.process_id is None) != (addresses is None):
        raise SystemExit("skuflow: --process-id and --addresses go together")
    compact = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    policy = policy_arg(args)
    partitions = ensure_topics(
        args.brokers,
        [
            TopicSpec(args.topic, args.partitions),
            TopicSpec(args.snapshots_topic, args.partitions, compact),
            TopicSpec(args.exceptions_topic, args.partitions),
            TopicSpec(args.reconciliation_topic, args.partitions),
            TopicSpec(args.anomalies_topic, args.partitions),
            TopicSpec(args.changes_topic, args.partitions, {"retention.ms": str(_ms(args.changes_retention))}),
            *(TopicSpec(channel_topic(c.name), args.partitions, compact) for c in (policy.channels if policy else ())),
        ],
        durability=durability_arg(args),
    )
    config = flow_config(args, recovery=not args.no_recovery, recovery_path=args.recovery_dir)
    stop = threading.Event()
    source = KafkaEventSource(args.brokers, args.topic, until_end=args.until_end, stop=stop)
    outputs = kafka_outputs(
        args.brokers,
        partitions,
        args.snapshots_topic,
        args.exceptions_topic,
        args.schema_registry,
        policy,
        args.reconciliation_topic,
        args.anomalies_topic,
        args.changes_topic,
    )
    outputs = replace(outputs, changes=(*outputs.changes, *changes_file(config)))  # the file twin, if asked for
    wire = AvroWire(schemas.INVENTORY_EVENT, args.schema_registry)
    control = control_arg(args, policy, not args.until_end, stop)
    port = args.metrics_port if args.metrics_port is not None else 8001 + (args.process_id or 0)
    note = serve_metrics(port)
    (log.warning if "not served" in note else log.info)(note, extra={"metrics_port": port})
    from dataflows.status import StatusLine

    status = StatusLine() if sys.stderr.isatty() and args.log_format == "text" else None
    if status is not None:
        status.start()
    try:
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
    finally:
        if status is not None:
            status.stop()
    print(
        f"{'stopped' if stop.is_set() else 'done'}: {summary.records_in:,} events in {summary.seconds:.2f} s "
        f"({summary.events_per_s:,.0f} events/s), {summary.snapshots:,} snapshots, {summary.rejects:,} exceptions",
        file=sys.stderr,
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Register produce, runp."""
    produce = sub.add_parser(
        "produce",
        help="a JSON Lines or Avro file of events into Kafka",
        description="Produce every event of FILE to TOPIC as Avro (key: sku). Lines that are not events "
        "that fit the schema are sent as they are, so the dataflow reports them.",
    )
    produce.add_argument("file", type=Path)
    kafka_args(produce)
    durability_args(produce)
    produce.add_argument("--topic", default=EVENTS, help=f"input topic ({EVENTS})")
    produce.add_argument("--framing", choices=("single-object", "confluent"), default="single-object")
    produce.add_argument("--schema-registry", help="schema registry URL (needed for --framing confluent)")
    produce.add_argument(
        "--partitions", type=whole_number(1, 10_000), default=4, help="partitions if the topic is created (4)"
    )
    produce.set_defaults(func=cmd_produce)

    runp = sub.add_parser(
        "run",
        help="the production dataflow: Kafka in, Kafka out",
        description="Consume Avro events from TOPIC, fold them, and publish snapshots (compacted topic, "
        "key sku|location) and exceptions. Scale out with --process-id/--addresses (one process per "
        "address, same arguments otherwise).",
    )
    kafka_args(runp)
    durability_args(runp)
    runp.add_argument("--topic", default=EVENTS, help=f"input topic ({EVENTS})")
    runp.add_argument("--snapshots-topic", default=SNAPSHOTS)
    runp.add_argument("--exceptions-topic", default=EXCEPTIONS)
    runp.add_argument(
        "--reconciliation-topic", default=RECONCILIATION, help=f"balance snapshot checks ({RECONCILIATION})"
    )
    runp.add_argument("--anomalies-topic", default=ANOMALIES, help=f"anomalies found in the books ({ANOMALIES})")
    runp.add_argument("--changes-topic", default=CHANGES, help=f"the change log, not compacted ({CHANGES})")
    runp.add_argument(
        "--changes-retention",
        type=retention_arg,
        default=timedelta(days=7),
        help="retention of the change log topic when this creates it (default 7d)",
    )
    runp.add_argument(
        "--partitions", type=whole_number(1, 10_000), default=4, help="partitions of topics this creates (4)"
    )
    runp.add_argument("--schema-registry", help="schema registry URL (Confluent framing in and out)")
    runp.add_argument("--state-dir", type=Path, required=True)
    runp.add_argument("--recovery-dir", type=Path, help="Bytewax recovery dir (default STATE_DIR/recovery)")
    runp.add_argument("--no-recovery", action="store_true")
    runp.add_argument("--process-id", type=whole_number(0, 4095), help="this process's index in --addresses")
    runp.add_argument("--addresses", help='every process, "host1:port;host2:port"')
    runp.add_argument(
        "--cluster-timeout",
        type=duration_arg,
        default=timedelta(seconds=60),
        help="give up when the cluster has not formed by then (default 60s)",
    )
    runp.add_argument("--until-end", action="store_true", help="stop once every input partition is read to its end")
    runp.add_argument(
        "--metrics-port",
        type=whole_number(0, 65535),
        help="Prometheus metrics of this process (default 8001 + --process-id; 0 = off)",
    )
    logging_args(runp)
    flow_args(runp, changes_file=None)
    runp.set_defaults(func=cmd_run)
