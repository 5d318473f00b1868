"""Commands on files and a state dir: replay, snapshot, simulate."""

from __future__ import annotations

import argparse
import csv
import sys
import threading
from itertools import islice
from pathlib import Path
from typing import Any

from dataflows.cli.options import (
    REPLAY_BATCH,
    control_arg,
    flow_args,
    flow_config,
    logging_args,
    policy_arg,
    positive_number,
    whole_number,
)


def cmd_replay(args: argparse.Namespace) -> int:
    from connectors.files import EventFileSource
    from dataflows.runner import run

    if not args.file.is_file():
        raise SystemExit(f"skuflow: no such file: {args.file}")
    config = flow_config(args, recovery=not args.no_recovery)
    stop = threading.Event()
    policy = policy_arg(args)
    summary = run(
        EventFileSource(args.file, stop, args.batch_size),
        config,
        stop=stop,
        policy=policy,
        control=control_arg(args, policy, False, stop),
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


def add_parsers(sub: Any) -> None:
    """Register replay, snapshot, simulate."""
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
        type=whole_number(1, 1_000_000),
        default=REPLAY_BATCH,
        help=f"records read per batch ({REPLAY_BATCH:,}); a key's changes within a batch "
        "coalesce into one snapshot that carries all their correlation ids",
    )
    flow_args(replay)
    logging_args(replay)
    replay.set_defaults(func=cmd_replay)

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
    simulate.add_argument("--events", type=whole_number(0, 10**10), required=True, help="how many events")
    simulate.add_argument("--out", type=Path, required=True, help="output file")
    simulate.add_argument("--format", choices=("jsonl", "avro"), default="avro")
    simulate.add_argument("--item-master-out", type=Path, required=True, help="CSV to write the item master to")
    simulate.add_argument("--skus", type=whole_number(1), default=2000)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument(
        "--rate", type=positive_number, default=2000, help="simulated events per second of event time"
    )
    simulate.add_argument("--start-ms", type=int, default=1_780_000_000_000, help="event time of the first event")
    simulate.set_defaults(func=cmd_simulate)
