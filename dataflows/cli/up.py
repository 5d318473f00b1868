"""`skuflow up`: the embedded default (simulator, dataflow, store, API)."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from dataflows.cli.options import (
    DEFAULT_PORT,
    PORT,
    control_arg,
    flow_args,
    flow_config,
    policy_arg,
    positive_number,
    serve_metrics,
    whole_number,
)


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
    config = flow_config(args, recovery=False, epoch_interval="5s")
    policy = policy_arg(args)

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
            *(["--api-keys", str(args.api_keys)] if args.api_keys else []),
            *(["--flow-metrics", f"http://{args.host}:{args.metrics_port}/metrics"] if args.metrics_port else []),
        ],
        start_new_session=True,
    )
    try:
        _wait_healthy(f"{base}/healthz", api)
        metrics_note = f"  dataflow {serve_metrics(args.metrics_port, args.host)}\n" if args.metrics_port else ""
        fast = max(range(len(sim.skus)), key=lambda i: sim.weights[i])
        sku = sim.skus[fast]
        third = (
            f"{base}/v1/channels/{policy.channels[0].name}/availability/{sku}"
            if policy is not None
            else f"'{base}/v1/skus?limit=5'"
        )
        curl = "curl -H 'Authorization: Bearer <key>'" if args.api_keys else "curl"
        lines = [
            f"skuflow up: {len(sim.skus):,} SKUs x {len(sim_config.locations)} locations, "
            f"channels dtc/amazon/b2b/edi, ~{args.rate:,.0f} operations/s. Try:",
            f"  {curl} {base}/v1/availability/{sku}/{sim_config.locations[0]}",
            f"  {curl} {base}/v1/availability/{sku}",
            f"  {curl} {third}",
            f"  {curl} '{base}/v1/anomalies?status=open&limit=5'  (and /v1/changes/{sku}/{sim_config.locations[0]})",
            f"  (API docs: {base}/docs, metrics: {base}/metrics; the console: {base}/ui/)",
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
        control = control_arg(args, policy, True, stop)
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


def add_parsers(sub: Any) -> None:
    """Register up."""
    up = sub.add_parser(
        "up",
        help="the embedded default: simulator -> dataflow -> store -> API",
        description="Run a simulated distributor through the real dataflow and serve the API.",
    )
    up.add_argument("--port", type=PORT, default=int(os.environ.get("PORT", DEFAULT_PORT)), help="API port (8000)")
    up.add_argument("--host", default="127.0.0.1", help="API address (127.0.0.1)")
    up.add_argument("--duration", type=positive_number, help="stop after this many seconds (default: until Ctrl-C)")
    up.add_argument(
        "--rate",
        type=positive_number,
        default=1000,
        help="simulated operations per second, about 0.8 events each (1000)",
    )
    up.add_argument("--skus", type=whole_number(1), default=2000, help="SKUs in the simulated catalogue (2000)")
    up.add_argument("--seed", type=int, default=7, help="simulator seed")
    up.add_argument(
        "--metrics-port",
        type=whole_number(0, 65535),
        default=None,
        help="port for the dataflow's Prometheus metrics (default: API port + 1; 0 = off)",
    )
    up.add_argument("--state-dir", type=Path, default=Path(".skuflow/up"), help="wiped at start (.skuflow/up)")
    up.add_argument("--api-keys", type=Path, help="keys file (skuflow keys add): the API requires keys (serve --help)")
    flow_args(up)
    up.set_defaults(func=cmd_up)
