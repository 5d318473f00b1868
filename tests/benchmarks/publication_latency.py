"""Publication latency on the embedded default: event in -> channel figure out.

    python -m tests.benchmarks.publication_latency [--seconds 30] [--rate 1000]

Runs `skuflow up` with deploy/policy.example.yaml for a while. The simulator stamps each
event's occurred_at with the wall clock when it enters the dataflow, and the publisher
stamps published_at when a figure leaves for its channel; a publication's as_of is the
newest occurred_at behind it. So published_at - as_of is the time from the newest event
entering to the figure going out. Figures of the first 5 s (opening stock) are left out;
the throttled channel (amazon, 100/s) is reported apart, since its figures wait by design.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from tests.helpers import free_port, read_jsonl, up_command

POLICY = Path(__file__).parent.parent.parent / "deploy" / "policy.example.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=1000)
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="skuflow-pub-")) / "up"
    subprocess.run(
        up_command(state, free_port(), args.rate, "--duration", str(args.seconds), "--policy", str(POLICY)),
        check=True,
        stderr=subprocess.DEVNULL,
    )
    pubs = [p for f in (state / "channels").glob("*.jsonl") for p in read_jsonl(f)]
    start = min(p["published_at"] for p in pubs)
    live = [p for p in pubs if p["published_at"] - start > 5000]
    for label, group in (
        ("unthrottled (b2b, edi, dtc)", [p for p in live if p["channel"] != "amazon"]),
        ("throttled (amazon, 100/s)", [p for p in live if p["channel"] == "amazon"]),
    ):
        lat = sorted(p["published_at"] - p["as_of"] for p in group)
        q = statistics.quantiles(lat, n=100)
        print(
            f"{label}: {len(lat):,} publications, latency p50 {q[49]:.0f} ms, p99 {q[98]:.0f} ms, max {lat[-1]:.0f} ms"
        )


if __name__ == "__main__":
    main()
