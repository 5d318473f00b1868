"""Options, types and the flow configuration the commands share."""

from __future__ import annotations

import argparse
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dataflows.config import RECOVERY_PARTITIONS

if TYPE_CHECKING:
    from connectors.kafka import Durability
    from connectors.kafka_config import Brokers
    from connectors.policy_file import ControlSource
    from dataflows.config import FlowConfig
    from operators.policy import Policy


DEFAULT_PORT = 8000


def logging_args(p: argparse.ArgumentParser, level: str = "warning") -> None:
    """--log-format and --log-level (dataflows.logs)."""
    from dataflows.logs import FORMATS, LEVELS

    p.add_argument("--log-format", choices=FORMATS, default="text", help="text, or JSON lines for a collector (text)")
    p.add_argument("--log-level", choices=LEVELS, default=level, help=f"({level})")


def serve_metrics(port: int, host: str = "0.0.0.0") -> str:
    """Prometheus metrics of this process on `port` (0: none); a line saying where, or why not."""
    if not port:
        return "metrics: off (--metrics-port 0)"
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        return f"metrics: not served, port {port}: {exc.strerror}"
    return f"metrics: http://{host}:{port}/metrics"


def kafka_args(p: argparse.ArgumentParser, required: bool = True, help: str = "Kafka bootstrap servers") -> None:
    """--bootstrap and --kafka-config: which cluster, and how to reach it."""
    p.add_argument("--bootstrap", required=required, help=help)
    p.add_argument(
        "--kafka-config",
        type=Path,
        help="librdkafka properties for every Kafka client (security.protocol, sasl.*, ssl.*, ...); "
        "${NAME} in a value is read from the environment",
    )


def brokers_arg(args: argparse.Namespace) -> Brokers | None:
    """The cluster of --bootstrap and --kafka-config (None without --bootstrap)."""
    bootstrap = getattr(args, "bootstrap", None)
    config = getattr(args, "kafka_config", None)
    if bootstrap is None:
        if config is not None:
            raise SystemExit("skuflow: --kafka-config goes with --bootstrap")
        return None
    from connectors.kafka_config import Brokers, load_kafka_config

    return load_kafka_config(config, bootstrap) if config is not None else Brokers(bootstrap)


def durability_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--replication-factor",
        type=whole_number(1, 32),
        default=1,
        help="replicas of each topic this creates (1 fits a single broker; 3 for a production cluster)",
    )
    p.add_argument(
        "--min-insync-replicas",
        type=whole_number(1, 32),
        help="min.insync.replicas of each topic this creates (default: the broker's; 2 with 3 replicas)",
    )


def durability_arg(args: argparse.Namespace) -> Durability:
    from connectors.kafka import Durability

    if args.min_insync_replicas is not None and args.min_insync_replicas > args.replication_factor:
        raise SystemExit("skuflow: --min-insync-replicas cannot exceed --replication-factor")
    return Durability(args.replication_factor, args.min_insync_replicas)


def whole_number(low: int, high: int = 2**31 - 1) -> Any:
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


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def duration_arg(text: str, most: timedelta = timedelta(days=1)) -> timedelta:
    """An argparse type: a duration (`90s`, `5m`) above 0 and at most a day (or `most`)."""
    from operators.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, timedelta) or not timedelta(0) < value <= most:
        raise argparse.ArgumentTypeError(f"{text} must be a duration above 0 and at most {most.days}d")
    return value


def retention_arg(text: str) -> timedelta:
    """A topic retention: above 0, at most ten years."""
    return duration_arg(text, timedelta(days=3650))


PORT = whole_number(1, 65535)


REPLAY_BATCH = 8192  # a bulk job: coalesce more per key (like Kafka Streams' record cache)


EVENTS, SNAPSHOTS, EXCEPTIONS = "inventory.events.v1", "inventory.snapshots.v1", "inventory.exceptions.v1"
RECONCILIATION = "inventory.reconciliation.v1"
ANOMALIES, CHANGES = "inventory.anomalies.v1", "inventory.changes.v1"


def flow_args(p: argparse.ArgumentParser, changes_file: str | None = "jsonl") -> None:
    """The dataflow's options; `changes_file`: the change log file's default format (None: none)."""
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
    p.add_argument(
        "--changes-format",
        choices=("jsonl", "avro"),
        default=changes_file,
        help=f"the change log file STATE_DIR/changes.FORMAT ({changes_file or 'not written unless given'})",
    )
    p.add_argument("--workers", type=whole_number(1, 64), default=1, help="Bytewax worker threads (default 1)")
    p.add_argument("--epoch-interval", default="10s", help="how often state is snapshotted for recovery (default 10s)")
    p.add_argument("--policy", type=Path, help="channel policy (YAML): publish every channel's availability")
    p.add_argument(
        "--recovery-partitions",
        type=whole_number(1, 4096),
        default=RECOVERY_PARTITIONS,
        help=f"SQLite files a new recovery dir spreads state over (default {RECOVERY_PARTITIONS}; "
        "more keys restart faster with more)",
    )


def policy_arg(args: argparse.Namespace) -> Policy | None:
    if args.policy is None:
        return None
    from connectors.policy_file import PolicyError, load_policy

    try:
        return load_policy(args.policy)
    except PolicyError as exc:
        raise SystemExit(f"skuflow: {exc}") from None


def control_arg(
    args: argparse.Namespace, policy: Policy | None, live: bool, stop: threading.Event
) -> ControlSource | None:
    """The policy's control input: watch lists, and reloads on SIGHUP when `live`."""
    if policy is None:
        return None
    from connectors.policy_file import ControlEvents, ControlSource

    return ControlSource(args.policy, policy, live, ControlEvents(stop=stop))


def flow_config(args: argparse.Namespace, **extra: object) -> FlowConfig:
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
