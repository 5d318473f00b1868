"""`make bench`: each benchmark beside its baseline, in the same run, several rounds.

    python -m tests.benchmarks.run [--events 1000000] [--rounds 3]

Inputs are generated deterministically (the simulator's distributor, seed 7, Avro) and
cached under .skuflow/bench/. Prints a table (median, min, max, ratio to the baseline,
target) and writes bench-results.json. Figures move with the machine: compare ratios.

Benchmarks so far: fold throughput (`skuflow replay` of the file vs a minimal Bytewax
flow over the same file). The other rows of the performance issue are still to come.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
CACHE = ROOT / ".skuflow" / "bench"


@dataclass
class Result:
    name: str
    unit: str
    rounds: list[float]
    baseline: list[float] = field(default_factory=list)
    target: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def ratio(self) -> float | None:
        return self.median / statistics.median(self.baseline) if self.baseline else None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dataflows.cli", *args], capture_output=True, text=True, check=True)


def events_file(n: int) -> tuple[Path, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    events, item_master = CACHE / f"events-{n}.avro", CACHE / f"item-master-{n}.csv"
    if not events.exists():
        print(f"generating {n:,} simulated events (cached in {CACHE}) ...", file=sys.stderr)
        _cli(
            "simulate",
            "--events",
            str(n),
            "--out",
            str(events) + ".tmp",
            "--format",
            "avro",
            "--item-master-out",
            str(item_master),
        )
        Path(str(events) + ".tmp").rename(events)
    return events, item_master


def fold_throughput(n: int, rounds: int) -> Result:
    events, item_master = events_file(n)
    result = Result("fold throughput: skuflow replay", "events/s", [], [], ">= 0.6x baseline")
    for i in range(rounds):
        out = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.baseline_fold", str(events)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = re.search(r"events (\d+) seconds ([\d.]+)", out)
        assert m, out
        result.baseline.append(int(m.group(1)) / float(m.group(2)))
        with tempfile.TemporaryDirectory(prefix="skuflow-bench-") as state:
            err = _cli("replay", str(events), "--state-dir", state, "--item-master", str(item_master)).stderr
        m = re.search(r"replayed ([\d,]+) records in ([\d.]+) s", err)
        assert m, err
        result.rounds.append(int(m.group(1).replace(",", "")) / float(m.group(2)))
        print(
            f"  round {i + 1}: baseline {result.baseline[-1]:,.0f}, skuflow {result.rounds[-1]:,.0f} events/s",
            file=sys.stderr,
        )
    return result


def table(results: list[Result]) -> str:
    rows = ["| benchmark | median | min | max | baseline median | ratio | target |", "|---|---|---|---|---|---|---|"]
    for r in results:
        base = f"{statistics.median(r.baseline):,.0f} {r.unit}" if r.baseline else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        rows.append(
            f"| {r.name} | {r.median:,.0f} {r.unit} | {min(r.rounds):,.0f} | {max(r.rounds):,.0f} | "
            f"{base} | {ratio} | {r.target} |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"fold throughput, {args.events:,} events, {args.rounds} rounds:", file=sys.stderr)
    results = [fold_throughput(args.events, args.rounds)]
    print(table(results))
    payload = [{**asdict(r), "median": r.median, "ratio": r.ratio} for r in results]
    Path("bench-results.json").write_text(json.dumps(payload, indent=2) + "\n")
    print("wrote bench-results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
