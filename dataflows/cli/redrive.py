"""`skuflow redrive`: send dead-lettered events through the flow again once their cause is
fixed (an item master row added, a payload corrected upstream and re-sent, ...)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dataflows.cli.options import EVENTS, EXCEPTIONS, control_arg, flow_args, flow_config, kafka_args, policy_arg


def _since(text: str) -> int:
    """An argparse type: epoch milliseconds or an ISO-8601 time."""
    from operators.validation import to_epoch_millis

    value = to_epoch_millis(int(text) if text.lstrip("-").isdigit() else text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not epoch milliseconds or an ISO-8601 time: {text!r}")
    return value


def _by_reason(counter: Any) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in counter.collect():
        for sample in m.samples:
            if "reason" in sample.labels and sample.name.endswith("_total"):
                out[sample.labels["reason"]] += int(sample.value)
    return out


def _listed(counts: Counter[str]) -> str:
    return ", ".join(f"{why} {n:,}" for why, n in sorted(counts.items()) if n) or "none"


def _exceptions(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The entries of an exceptions file, and how many lines were not one (a torn tail)."""
    import orjson

    entries, torn = [], 0
    with open(path, "rb") as f:
        for line in f:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                torn += 1
                continue
            if isinstance(entry, dict):
                entries.append(entry)
            else:
                torn += 1
    return entries, torn


def _kafka_exceptions(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The entries of the exceptions topic (RejectedEvent records), as the file holds them."""
    import orjson

    import schemas
    from connectors.kafka import read_to_end
    from connectors.wire import AvroWire, WireError

    wire = AvroWire(schemas.REJECTED_EVENT, args.schema_registry)
    entries = []
    for value in read_to_end(args.brokers, args.exceptions_topic):
        try:
            record = wire.decode(value)
        except WireError:
            continue
        text = record.pop("payload_json", None)
        try:
            payload = orjson.loads(text) if text is not None else record.get("payload_bytes")
        except orjson.JSONDecodeError:
            payload = text  # an undecodable line, kept as its text
        entries.append({**record, "payload": payload})
    return entries


def _plan(args: argparse.Namespace, entries: list[dict[str, Any]], torn: int, master: Any) -> list[dict[str, Any]]:
    """The events to re-drive, and a line on what a re-drive would do with them now."""
    from operators import Rejection, validate
    from operators.redrive import REDRIVABLE, select
    from operators.rejects import Reason
    from operators.sources import SourceMode

    policy = policy_arg(args)
    sources = policy.sources if policy is not None else None

    reasons = frozenset(Reason(r) for r in args.reason) if args.reason else REDRIVABLE
    chosen = select(entries, reasons, args.since)
    if torn:
        chosen.skipped["not a JSON object"] += torn
    verdicts: Counter[str] = Counter()
    for event in chosen.events:
        verdict = validate(event, master)
        if sources and not isinstance(verdict, Rejection):
            judged = sources.judge(verdict)
            if judged is not None and judged.mode is SourceMode.REJECT:
                verdict = judged.rejection(verdict)
        verdicts[verdict.reason.value if isinstance(verdict, Rejection) else "valid"] += 1
    again = Counter({k: n for k, n in verdicts.items() if k != "valid"})
    print(
        f"{len(chosen.events):,} dead-lettered events to re-drive ({_listed(chosen.skipped)} skipped): "
        f"{verdicts['valid']:,} valid now, rejected again: {_listed(again)}",
        file=sys.stderr,
    )
    return chosen.events


def _batch_name() -> str:
    return f"redrive-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def _to_kafka(args: argparse.Namespace, events: list[dict[str, Any]]) -> None:
    """Produce the events to the input topic, each marked with a `skuflow-redrive` header."""
    import schemas
    from connectors.exceptions import ConnectorError
    from connectors.files import json_line
    from connectors.kafka import produce_all
    from connectors.wire import AvroWire, message_value

    wire = AvroWire(schemas.INVENTORY_EVENT, args.schema_registry)
    batch = _batch_name()

    def messages() -> Any:
        for event in events:
            line = json_line(event)
            value = message_value(line, event, wire.encode_single_object)
            sku = event.get("sku")
            yield (sku.encode() if isinstance(sku, str) else None), line if value is None else value

    try:
        sent = produce_all(args.brokers, args.topic, messages(), headers=[("skuflow-redrive", batch.encode())])
    except ConnectorError as exc:
        raise SystemExit(f"skuflow: {exc}") from None
    print(f"re-drove {sent:,} events into {args.topic} (header skuflow-redrive: {batch})", file=sys.stderr)


def _to_state_dir(args: argparse.Namespace, config: Any, events: list[dict[str, Any]]) -> None:
    """Fold the events into the state dir, the batch kept under redrive/ as the audit trail."""
    from connectors.durable import atomic_write
    from connectors.files import EventFileSource, json_line
    from dataflows import metrics
    from dataflows.runner import run

    batch = config.state_dir / "redrive" / f"{_batch_name()}.jsonl"
    batch.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(batch, b"".join(json_line(e) for e in events))
    applied, duplicates = metrics.total(metrics.APPLIED), metrics.total(metrics.DUPLICATES)
    rejected = _by_reason(metrics.REJECTED)
    stop = threading.Event()
    policy = policy_arg(args)
    run(EventFileSource(batch, stop), config, stop=stop, policy=policy, control=control_arg(args, policy, False, stop))
    rejected = _by_reason(metrics.REJECTED) - rejected
    print(
        f"re-drove {len(events):,} events from {batch}: "
        f"{metrics.total(metrics.APPLIED) - applied:,.0f} postings applied, "
        f"{metrics.total(metrics.DUPLICATES) - duplicates:,.0f} already applied or already reported, "
        f"new exceptions: {_listed(rejected)}",
        file=sys.stderr,
    )


def cmd_redrive(args: argparse.Namespace) -> int:
    if args.bootstrap is None and args.state_dir is None:
        raise SystemExit("skuflow: redrive needs --state-dir DIR (files) or --bootstrap B (Kafka)")
    if args.brokers is not None:
        from dataflows.config import read_item_master

        master = read_item_master(args.item_master)
        events = _plan(args, _kafka_exceptions(args), 0, master)
        if not args.dry_run and events:
            _to_kafka(args, events)
        return 0
    config = flow_config(args)
    if not config.exceptions_path.is_file():
        raise SystemExit(f"skuflow: {config.exceptions_path}: no exceptions to re-drive")
    entries, torn = _exceptions(config.exceptions_path)
    events = _plan(args, entries, torn, config.load_item_master())
    if not args.dry_run and events:
        _to_state_dir(args, config, events)
    return 0


def add_parsers(sub: Any) -> None:
    """Register redrive."""
    from operators.redrive import REDRIVABLE

    redrive = sub.add_parser(
        "redrive",
        help="send dead-lettered events through the flow again, once their cause is fixed",
        description="Read DIR/exceptions.jsonl (or, with --bootstrap, the exceptions topic), select the "
        "events rejected for --reason (default: every reason a re-drive can change) dated at or after "
        "--since, and fold them into DIR again with the flow options given now (e.g. the fixed "
        "--item-master), or produce them to the input topic for the running flow (header "
        "skuflow-redrive). Says what is valid now and what would be rejected again, and why. Each event "
        "is applied at most once however often it is re-driven.",
    )
    redrive.add_argument("--state-dir", type=Path, help="files: the state dir whose exceptions.jsonl to re-drive")
    kafka_args(redrive, required=False, help="Kafka: read the exceptions topic, produce to the input topic")
    redrive.add_argument("--exceptions-topic", default=EXCEPTIONS, help=f"with --bootstrap ({EXCEPTIONS})")
    redrive.add_argument("--topic", default=EVENTS, help=f"with --bootstrap: the input topic ({EVENTS})")
    redrive.add_argument("--schema-registry", help="with --bootstrap: for Confluent-framed records")
    redrive.add_argument(
        "--reason",
        action="append",
        choices=sorted(r.value for r in REDRIVABLE),
        help="only events rejected for this reason (repeat for more)",
    )
    redrive.add_argument("--since", type=_since, help="only events dated at or after this (epoch ms or ISO-8601)")
    redrive.add_argument("--dry-run", action="store_true", help="say what a re-drive would do; change nothing")
    flow_args(redrive)
    redrive.set_defaults(func=cmd_redrive)
