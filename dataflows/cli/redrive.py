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

from dataflows.cli.options import control_arg, flow_args, flow_config, policy_arg


def _since(text: str) -> int:
    """An argparse type: epoch milliseconds or an ISO-8601 time."""
    from operators.validation import to_epoch_millis

    value = to_epoch_millis(int(text) if text.lstrip("-").isdigit() else text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not epoch milliseconds or an ISO-8601 time: {text!r}")
    return value


def _by_reason(counter: Any) -> Counter[str]:
    return Counter({s.labels["reason"]: s.value for m in counter.collect() for s in m.samples if "reason" in s.labels})


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


def cmd_redrive(args: argparse.Namespace) -> int:
    from connectors.durable import atomic_write
    from connectors.files import EventFileSource, json_line
    from dataflows import metrics
    from dataflows.runner import run
    from operators import Rejection, validate
    from operators.redrive import REDRIVABLE, select
    from operators.rejects import Reason

    config = flow_config(args)
    if not config.exceptions_path.is_file():
        raise SystemExit(f"skuflow: {config.exceptions_path}: no exceptions to re-drive")
    entries, torn = _exceptions(config.exceptions_path)
    reasons = frozenset(Reason(r) for r in args.reason) if args.reason else REDRIVABLE
    chosen = select(entries, reasons, args.since)
    if torn:
        chosen.skipped["not a JSON object"] += torn
    master = config.load_item_master()
    verdicts = Counter(
        v.reason.value if isinstance(v, Rejection) else "valid"
        for v in map(lambda e: validate(e, master), chosen.events)
    )
    again = Counter({k: n for k, n in verdicts.items() if k != "valid"})
    print(
        f"{len(chosen.events):,} dead-lettered events to re-drive ({_listed(chosen.skipped)} skipped): "
        f"{verdicts['valid']:,} valid now, rejected again: {_listed(again)}",
        file=sys.stderr,
    )
    if args.dry_run or not chosen.events:
        return 0
    batch = config.state_dir / "redrive" / f"redrive-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    batch.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(batch, b"".join(json_line(e) for e in chosen.events))  # the audit trail, and the input
    applied, duplicates, rejected = (
        metrics.total(metrics.APPLIED),
        metrics.total(metrics.DUPLICATES),
        _by_reason(metrics.REJECTED),
    )
    stop = threading.Event()
    policy = policy_arg(args)
    run(EventFileSource(batch, stop), config, stop=stop, policy=policy, control=control_arg(args, policy, False, stop))
    rejected = _by_reason(metrics.REJECTED) - rejected
    print(
        f"re-drove {len(chosen.events):,} events from {batch}: "
        f"{metrics.total(metrics.APPLIED) - applied:,.0f} postings applied, "
        f"{metrics.total(metrics.DUPLICATES) - duplicates:,.0f} already applied or already reported, "
        f"new exceptions: {_listed(rejected)}",
        file=sys.stderr,
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Register redrive."""
    from operators.redrive import REDRIVABLE

    redrive = sub.add_parser(
        "redrive",
        help="send dead-lettered events through the flow again, once their cause is fixed",
        description="Read DIR/exceptions.jsonl, select the events rejected for --reason (default: every "
        "reason a re-drive can change) dated at or after --since, and fold them into DIR again, with the "
        "flow options given now (e.g. the fixed --item-master). Reports what was applied and what was "
        "rejected again, and why. Each event is applied at most once however often it is re-driven.",
    )
    redrive.add_argument("--state-dir", type=Path, required=True)
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
