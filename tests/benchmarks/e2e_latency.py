"""End-to-end latency: produce to Kafka -> visible in an API replica, at a steady rate.

    python -m tests.benchmarks.e2e_latency --bootstrap 127.0.0.1:9092 [--rate 5000] [--seconds 30]

Starts `skuflow run` (tailing) and one `skuflow serve --bootstrap` replica, produces
simulated distributor events at a steady rate with 20 probe events a second mixed in
(each a RECEIPT on a key of its own), and times each probe from produce() until the
replica's batch API lists its SKU (one poller asks for every outstanding probe every
2 ms: figures carry that granularity plus a request's round trip). Prints p50/p99/max
and the rate achieved.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from itertools import islice
from pathlib import Path

from confluent_kafka import Producer

import schemas
from connectors.kafka import TopicSpec, ensure_topics
from connectors.simulator import Distributor, SimConfig
from connectors.wire import AvroWire
from tests.helpers import free_port, run_command, wait_http

_JSON = {"Content-Type": "application/json"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--metrics-off", action="store_true", help="the flow with every metric a no-op")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--probes-per-s", type=float, default=20)
    ap.add_argument(
        "--warmup",
        type=float,
        default=15,
        help="seconds at the rate before probes are timed (15): the broker's JIT alone took ~90%% of a core "
        "for its first 15 s, then ~40%%",
    )
    ap.add_argument("--trace", type=Path, help="write each probe's (seconds into the run, latency ms) here")
    ap.add_argument("--flow-arg", action="append", default=[], help="extra `skuflow run` argument (repeatable)")
    args = ap.parse_args()

    tag = uuid.uuid4().hex[:6]
    topic, snaps, excs = f"lat-ev-{tag}", f"lat-sn-{tag}", f"lat-ex-{tag}"
    ensure_topics(
        args.bootstrap, [TopicSpec(topic, 4), TopicSpec(snaps, 4, {"cleanup.policy": "compact"}), TopicSpec(excs, 4)]
    )
    work = Path(tempfile.mkdtemp(prefix="skuflow-lat-"))
    sim = Distributor(SimConfig(skus=2000, seed=11))
    total = int(args.rate * (args.warmup + args.seconds))
    wire = AvroWire(schemas.INVENTORY_EVENT)
    now = int(time.time() * 1000)
    print(f"encoding {total:,} events ...", file=sys.stderr)
    payloads = [(e["sku"].encode(), wire.encode_single_object(e)) for e in islice(sim.stream(now, args.rate), total)]
    im = work / "im.csv"
    im.write_text("sku,uom,factor\n" + "".join(f"{s},{u},{f}\n" for s, u, f in sim.item_master_rows()))

    port = free_port()
    py = [sys.executable, "-m", "dataflows.cli"]
    t = {"events": topic, "snapshots": snaps, "exceptions": excs}
    flow_cmd = run_command(args.bootstrap, t, work / "flow", im, *args.flow_arg, until_end=False)
    if args.metrics_off:  # the baseline of the observability row: every metric a no-op, logs at warning
        flow_cmd[flow_cmd.index("dataflows.cli")] = "tests.benchmarks.metrics_off"
    flow = subprocess.Popen(flow_cmd, stderr=subprocess.DEVNULL)
    replica = subprocess.Popen(
        [
            *py,
            "serve",
            "--bootstrap",
            args.bootstrap,
            "--topic",
            snaps,
            "--state-dir",
            str(work / "replica"),
            "--port",
            str(port),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 1, "enable.idempotence": True})
        timeline: list[tuple[float, float]] = []  # (produced, latency) of each probe seen
        pending: dict[str, float] = {}  # probe SKU -> when it was produced
        lock = threading.Lock()
        done = threading.Event()

        def watch() -> None:
            """One poller for every outstanding probe: a batch request every 2 ms while
            any is outstanding. A thread and a connection per probe, each polling its own
            key, cost this 2-core machine more CPU (here and in the replica) than the
            pipeline under test once probes queued up."""
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while not done.is_set() or pending:
                with lock:
                    waiting = dict(pending)
                if not waiting:
                    time.sleep(0.001)
                    continue
                try:
                    conn.request("POST", "/v1/availability:batch", json.dumps({"skus": list(waiting)}), _JSON)
                    body = json.loads(conn.getresponse().read())
                except (ConnectionError, http.client.HTTPException):  # an idle keep-alive closed
                    conn.close()
                    continue
                seen = time.perf_counter()
                missing = set(body["missing"])
                with lock:
                    for sku, sent in waiting.items():
                        if sku not in missing:
                            timeline.append((sent, seen - sent))
                            del pending[sku]
                        elif seen - sent > 10:
                            del pending[sku]  # never visible: counted as missing
                time.sleep(0.002)

        def probe(sku: str) -> None:
            with lock:
                pending[sku] = time.perf_counter()

        poller = threading.Thread(target=watch, daemon=True)
        poller.start()
        # Warm up: one probe through the whole path, so the flow and the replica are
        # consuming before the clock starts; then `--warmup` seconds at the rate, unmeasured.
        ready = {**sim._event("RECEIPT", f"READY-{tag}", "LAT", 1, int(time.time() * 1000), "WMS")}
        probe(ready["sku"])
        producer.produce(topic, wire.encode_single_object(ready), ready["sku"].encode())
        producer.flush(10)
        deadline = time.monotonic() + 10
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)
        if not timeline:
            raise SystemExit("the pipeline did not show a warm-up event within 10 s")
        timeline.clear()
        start = time.perf_counter()
        probe_every = args.rate / args.probes_per_s
        probes = 0
        for i, (key, value) in enumerate(payloads):
            # Paced in 1 ms steps: what is due goes out, then one sleep until the next step
            # (a sleep per event cost this process more CPU than the events did).
            due = start + i / args.rate
            if (lag := due - time.perf_counter()) > 0:
                time.sleep(max(lag, 0.001))
            producer.produce(topic, value, key)
            if i % int(probe_every) == 0 and i / args.rate > args.warmup:
                event = {**sim._event("RECEIPT", f"PROBE-{tag}-{probes}", "LAT", 1, int(time.time() * 1000), "WMS")}
                probes += 1
                probe(event["sku"])
                producer.produce(topic, wire.encode_single_object(event), event["sku"].encode())
                producer.poll(0)
            if i % 500 == 0:
                producer.poll(0)
        producer.flush(30)
        elapsed = time.perf_counter() - start
        done.set()
        poller.join(15)
        lat = sorted(x * 1000 for _, x in timeline)
        if args.trace:
            args.trace.write_text("".join(f"{t - start:.3f} {x * 1000:.1f}\n" for t, x in sorted(timeline)))
        q = statistics.quantiles(lat, n=100)
        print(f"produced {total:,} events in {elapsed:.1f} s ({total / elapsed:,.0f} events/s)")
        print(f"probes visible: {len(lat)}/{probes}")
        print(
            f"end-to-end latency produce -> replica API: p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {lat[-1]:.1f} ms"
        )
    finally:
        for p in (flow, replica):
            p.terminate()
            p.wait(30)


if __name__ == "__main__":
    main()
