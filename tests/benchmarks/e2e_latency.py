"""End-to-end latency: produce to Kafka -> visible in an API replica, at a steady rate.

    python -m tests.benchmarks.e2e_latency --bootstrap 127.0.0.1:9092 [--rate 5000] [--seconds 30]

Starts `skuflow run` (tailing) and one `skuflow serve --bootstrap` replica, produces
simulated distributor events at a steady rate with 20 probe events a second mixed in
(each a RECEIPT on a key of its own), and times each probe from produce() until the
replica's API answers 200 for its key (polled every 2 ms for the first 250 ms, every
20 ms to 1 s, then every 100 ms: figures carry that polling granularity, and late
probes do not flood the replica they are waiting on). Prints p50/p99/max and the rate achieved.
"""

from __future__ import annotations

import argparse
import http.client
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
from tests.helpers import free_port, wait_http


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--probes-per-s", type=float, default=20)
    ap.add_argument(
        "--warmup",
        type=float,
        default=15,
        help="seconds at the rate before probes are timed (15): the broker's JIT alone took ~90%% of a core "
        "for its first 15 s, then ~40%%",
    )
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
    flow = subprocess.Popen(
        [
            *py,
            "run",
            "--bootstrap",
            args.bootstrap,
            "--topic",
            topic,
            "--snapshots-topic",
            snaps,
            "--exceptions-topic",
            excs,
            "--state-dir",
            str(work / "flow"),
            "--item-master",
            str(im),
            *args.flow_arg,
        ],
        stderr=subprocess.DEVNULL,
    )
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
        latencies: list[float] = []
        lock = threading.Lock()

        def watch(path: str, sent: float) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while (waited := time.perf_counter() - sent) < 10:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    with lock:
                        latencies.append(time.perf_counter() - sent)
                    return
                time.sleep(0.002 if waited < 0.25 else 0.02 if waited < 1 else 0.1)

        # Warm up: one probe through the whole path, so the flow and the replica are
        # consuming before the clock starts; then `--warmup` seconds at the rate, unmeasured.
        ready = {**sim._event("RECEIPT", f"READY-{tag}", "LAT", 1, int(time.time() * 1000), "WMS")}
        producer.produce(topic, wire.encode_single_object(ready), ready["sku"].encode())
        producer.flush(10)
        watch(f"/v1/availability/{ready['sku']}/LAT", time.perf_counter())
        if not latencies:
            raise SystemExit("the pipeline did not show a warm-up event within 10 s")
        latencies.clear()
        start = time.perf_counter()
        probe_every = args.rate / args.probes_per_s
        watchers = []
        for i, (key, value) in enumerate(payloads):
            # Paced in 1 ms steps: what is due goes out, then one sleep until the next step
            # (a sleep per event cost this process more CPU than the events did).
            due = start + i / args.rate
            if (lag := due - time.perf_counter()) > 0:
                time.sleep(max(lag, 0.001))
            producer.produce(topic, value, key)
            if i % int(probe_every) == 0 and i / args.rate > args.warmup:
                n = len(watchers)
                probe = {**sim._event("RECEIPT", f"PROBE-{tag}-{n}", "LAT", 1, int(time.time() * 1000), "WMS")}
                sent = time.perf_counter()
                producer.produce(topic, wire.encode_single_object(probe), probe["sku"].encode())
                producer.poll(0)
                w = threading.Thread(target=watch, args=(f"/v1/availability/{probe['sku']}/LAT", sent), daemon=True)
                w.start()
                watchers.append(w)
            if i % 500 == 0:
                producer.poll(0)
        producer.flush(30)
        elapsed = time.perf_counter() - start
        for w in watchers:
            w.join(15)
        lat = sorted(x * 1000 for x in latencies)
        q = statistics.quantiles(lat, n=100)
        print(f"produced {total:,} events in {elapsed:.1f} s ({total / elapsed:,.0f} events/s)")
        print(f"probes visible: {len(lat)}/{len(watchers)}")
        print(
            f"end-to-end latency produce -> replica API: p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {lat[-1]:.1f} ms"
        )
    finally:
        for p in (flow, replica):
            p.terminate()
            p.wait(30)


if __name__ == "__main__":
    main()
