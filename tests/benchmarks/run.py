"""`make bench`: each benchmark beside its baseline, in the same run, several rounds.

    python -m tests.benchmarks.run [--events 1000000] [--rounds 3] [--only NAME ...]

Inputs are generated deterministically (the simulator's distributor, seed 7, Avro) and
cached under .skuflow/bench/. Prints a table (median, min, max, ratio to the baseline,
target) and writes bench-results.json. Figures move with the machine: compare ratios.

Rows: fold (`skuflow replay` vs a minimal Bytewax flow), reconciliation (the log with its
balance snapshots vs without them), sources (the example policy's source rules vs none),
memory (peak RSS folding 1M distinct keys), recovery (SIGKILL with those 1M keys in state -> processing again),
api (single-key GET vs a bare ASGI app, wrk; with API keys vs without), batch (100 SKUs per request), e2e
(produce -> API replica at 5,000 events/s, real broker), publication (event in ->
channel figure out), scaleout (2 processes vs 1 on a 4-partition topic).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.helpers import free_port, run_command, run_done

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


def _simulated(events: Path, item_master: Path, *sizes: str) -> tuple[Path, Path]:
    """`skuflow simulate` into the cache once (seeded, so always the same file)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if not events.exists():
        print(f"generating {events.name} (cached in {CACHE}) ...", file=sys.stderr)
        tmp = f"{events}.tmp"
        _cli("simulate", *sizes, "--out", tmp, "--format", "avro", "--item-master-out", str(item_master))
        Path(tmp).rename(events)
    return events, item_master


def events_file(n: int) -> tuple[Path, Path]:
    return _simulated(CACHE / f"events-{n}.avro", CACHE / f"item-master-{n}.csv", "--events", str(n))


def _replay(events: Path, item_master: Path, state: Path, *extra: str, cli: str = "dataflows.cli") -> list[str]:
    cmd = [sys.executable, "-m", cli, "replay", str(events), "--state-dir", str(state)]
    return [*cmd, "--item-master", str(item_master), *extra]


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
            replay = _replay(events, item_master, Path(state))
            err = subprocess.run(replay, capture_output=True, text=True, check=True).stderr
        m = re.search(r"replayed ([\d,]+) records in ([\d.]+) s", err)
        assert m, err
        result.rounds.append(int(m.group(1).replace(",", "")) / float(m.group(2)))
        print(
            f"  round {i + 1}: baseline {result.baseline[-1]:,.0f}, skuflow {result.rounds[-1]:,.0f} events/s",
            file=sys.stderr,
        )
    return result


def _replay_rate(events: Path, item_master: Path, *extra: str, cli: str = "dataflows.cli") -> float:
    with tempfile.TemporaryDirectory(prefix="skuflow-bench-") as state:
        replay = _replay(events, item_master, Path(state), *extra, cli=cli)
        err = subprocess.run(replay, capture_output=True, text=True, check=True)
    m = re.search(r"replayed ([\d,]+) records in ([\d.]+) s", err.stderr)
    assert m, err.stderr
    records = int(m.group(1).replace(",", "")) if cli != METRICS_OFF else _events_in(events)  # its counter counts 0
    return records / float(m.group(2))


@functools.cache
def _events_in(events: Path) -> int:
    """The records in an Avro container file (what replay's counter would have read)."""
    from connectors.avro import read_container

    with open(events, "rb") as f:
        return sum(1 for _ in read_container(f))


def reconciliation_cost(n: int, rounds: int) -> Result:
    """The simulator's log (balance snapshots from the ERP, ~1% of events, each reconciled)
    against the same log without them: what checking and writing the records costs."""
    from connectors.avro import read_container, write_events

    events, item_master = events_file(n)
    without = CACHE / f"events-{n}-no-balance.avro"
    if not without.exists():
        with open(events, "rb") as f:
            kept = [e for e in read_container(f) if e["event_type"] != "BALANCE_SNAPSHOT"]
        write_events(f"{without}.tmp", kept)
        Path(f"{without}.tmp").rename(without)
    result = Result("fold with reconciliation", "events/s", [], [], ">= 0.95x baseline (without balance snapshots)")
    for i in range(rounds):
        result.baseline.append(_replay_rate(without, item_master))
        result.rounds.append(_replay_rate(events, item_master))
        print(
            f"  round {i + 1}: without {result.baseline[-1]:,.0f}, with {result.rounds[-1]:,.0f} events/s",
            file=sys.stderr,
        )
    return result


def sources_cost(n: int, rounds: int, work: Path) -> Result:
    """The example policy's `sources:` rules (seven, every event judged; the simulator's
    marketplace counts rejected) against the same one-channel policy without them."""
    import yaml

    events, item_master = events_file(n)
    example = yaml.safe_load((Path(__file__).parents[2] / "deploy" / "policy.example.yaml").read_text())
    plain, ruled = work / "policy-plain.yaml", work / "policy-sources.yaml"
    plain.write_text(yaml.safe_dump({"version": "bench", "channels": {"b2b": {}}}))
    ruled.write_text(yaml.safe_dump({"version": "bench", "channels": {"b2b": {}}, "sources": example["sources"]}))
    result = Result("fold with source rules", "events/s", [], [], ">= 0.95x baseline (the policy without them)")
    for i in range(rounds):
        result.baseline.append(_replay_rate(events, item_master, "--policy", str(plain)))
        result.rounds.append(_replay_rate(events, item_master, "--policy", str(ruled)))
        print(
            f"  round {i + 1}: without {result.baseline[-1]:,.0f}, with {result.rounds[-1]:,.0f} events/s",
            file=sys.stderr,
        )
    return result


METRICS_OFF = "tests.benchmarks.metrics_off"  # skuflow with every metric a no-op
LOGS_ON = ("--log-format", "json", "--log-level", "info")  # a JSON line per rejection


def observability_cost(n: int, rounds: int) -> Result:
    """The fold with its metrics and JSON logs at info (a line per rejection) against the same
    replay with every metric a no-op and logs at warning."""
    events, item_master = events_file(n)
    result = Result("fold with metrics and JSON logs", "events/s", [], [], ">= 0.95x baseline (metrics and logs off)")
    for i in range(rounds):
        result.baseline.append(_replay_rate(events, item_master, cli=METRICS_OFF))
        result.rounds.append(_replay_rate(events, item_master, *LOGS_ON))
        print(
            f"  round {i + 1}: off {result.baseline[-1]:,.0f}, on {result.rounds[-1]:,.0f} events/s",
            file=sys.stderr,
        )
    return result


def keys_file() -> tuple[Path, Path]:
    """1.2M events over 333,334 SKUs x 3 warehouses: every one of 1,000,002 keys opens
    with a counted balance, then the distributor's usual flow."""
    sizes = ("--events", "1200000", "--skus", "333334")
    return _simulated(CACHE / "keys-1m.avro", CACHE / "keys-1m-item-master.csv", *sizes)


def state_memory_and_recovery(work: Path) -> list[Result]:
    """Fold the 1M-key file (peak RSS of that process), then SIGKILL a replay running
    on top of that state and time its restart until it writes output again."""
    events, item_master = keys_file()
    state = work / "keys"
    proc = subprocess.Popen(_replay(events, item_master, state), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, proc.stderr.read() if proc.stderr else status
    rss_mb = usage.ru_maxrss / 1024
    print(f"  memory: peak RSS {rss_mb:,.0f} MB folding 1,000,002 keys", file=sys.stderr)
    memory = Result("state memory: 1M distinct keys, peak RSS", "MB", [rss_mb], target="<= 1,536 MB")

    more, more_im = events_file(1_000_000)  # long enough to be killed part way through
    cmd = _replay(more, more_im, state, "--epoch-interval", "2s")
    changes = state / "changes.jsonl"
    victim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start_size = changes.stat().st_size
    while changes.stat().st_size - start_size < 2_000_000:  # well into the run, epochs committed
        time.sleep(0.2)
    time.sleep(3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = changes.stat().st_size
    t0 = time.perf_counter()
    restarted = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    low = killed_at
    while True:  # the sink truncates back to the last epoch, then new output appends
        size = changes.stat().st_size
        low = min(low, size)
        if size > low:
            break
        if restarted.poll() is not None:
            raise RuntimeError("the restarted replay exited before writing anything")
        time.sleep(0.01)
    seconds = time.perf_counter() - t0
    restarted.kill()  # measured; the rest of the replay is not
    restarted.wait()
    print(f"  recovery: processing again {seconds:.1f} s after restart", file=sys.stderr)
    recovery = Result("recovery: SIGKILL, 1M keys in state -> processing", "s", [seconds], target="<= 30 s")
    return [memory, recovery]


def api_rows(rounds: int, seconds: float, work: Path) -> list[Result]:
    from serving.keys import add_key
    from tests.benchmarks import api

    if not api.wrk_available():
        print("  api: wrk is not installed (apt install wrk): rows skipped", file=sys.stderr)
        return []
    events, item_master = events_file(100_000)
    state = work / "api"
    subprocess.run(_replay(events, item_master, state, "--no-recovery"), check=True, capture_output=True)
    single, batch = api.single_key_lua(state), api.batch_lua(state)
    keys = work / "api-keys.json"
    keys.unlink(missing_ok=True)
    keyed = api.single_key_lua(state, add_key(keys, "bench", ["inventory:read"]))
    one = Result("API single-key GET, 32 conn (wrk)", "req/s", [], [], ">= 0.5x baseline, p99 <= 5 ms")
    p99 = Result("API single-key GET p99", "ms", [], [], "<= 5 ms")
    auth = Result("API single-key GET with API keys vs without", "req/s", [], [], "reported")
    auth_p99 = Result("API single-key GET p99 with API keys vs without", "ms", [], [], "reported")
    many = Result(f"API batch of 100 SKUs p99, {BATCH_CONNECTIONS} conn", "ms", [], target="<= 25 ms")
    for i in range(rounds):
        with api.bare_api(state, 1) as url:
            base_rps, _, base_p99 = api.wrk(url, single, seconds)
        with api.skuflow_api(state, 1) as url:
            rps, p50, tail = api.wrk(url, single, seconds)
            b_rps, _, b_p99 = api.wrk(url, batch, seconds, connections=BATCH_CONNECTIONS)
        with api.skuflow_api(state, 1, "--api-keys", str(keys)) as url:
            k_rps, _, k_p99 = api.wrk(url, keyed, seconds)
        auth.rounds.append(k_rps)
        auth.baseline.append(rps)
        auth_p99.rounds.append(k_p99)
        auth_p99.baseline.append(tail)
        one.rounds.append(rps)
        one.baseline.append(base_rps)
        p99.rounds.append(tail)
        p99.baseline.append(base_p99)
        many.rounds.append(b_p99)
        print(
            f"  round {i + 1}: bare ASGI {base_rps:,.0f} req/s p99 {base_p99:.1f} ms; skuflow {rps:,.0f} req/s "
            f"p50 {p50:.1f} p99 {tail:.1f} ms; with API keys {k_rps:,.0f} req/s p99 {k_p99:.1f} ms; "
            f"batch {b_rps:,.0f} req/s p99 {b_p99:.1f} ms",
            file=sys.stderr,
        )
    return [one, p99, auth, auth_p99, many]


def _figure(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, text
    return float(m.group(1).replace(",", ""))


def publication_latency(seconds: float) -> Result:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.publication_latency", "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print("  " + out.strip().replace("\n", "\n  "), file=sys.stderr)
    p99 = _figure(r"unthrottled.*?p99 (\d+) ms", out)
    return Result("publication latency p99 (unthrottled channels)", "ms", [p99], target="<= 250 ms")


def kafka_rows(seconds: float, work: Path, observability: bool) -> list[Result]:
    """End-to-end latency (metrics served, JSON logs at info; with `observability`, beside the
    same run with metrics and logs off) and scale-out."""
    from tests.helpers import kafka_broker

    with kafka_broker(work / "kafka") as (bootstrap, error):
        if error:
            raise RuntimeError(f"the Kafka broker did not start: {error}")
        e2e_cmd = [sys.executable, "-m", "tests.benchmarks.e2e_latency", "--bootstrap", bootstrap]
        e2e_cmd += ["--rate", "5000", "--seconds", str(seconds)]
        observed = [f"--flow-arg={a}" for a in (*LOGS_ON, "--metrics-port", str(free_port()))]
        out = subprocess.run([*e2e_cmd, *observed], capture_output=True, text=True, check=True).stdout
        print("  " + out.strip().replace("\n", "\n  "), file=sys.stderr)
        e2e = [
            Result("end-to-end p50 @5,000 ev/s (produce -> replica API)", "ms", [_figure(r"p50 ([\d.]+) ms", out)]),
            Result("end-to-end p99 @5,000 ev/s", "ms", [_figure(r"p99 ([\d.]+) ms", out)], target="<= 100 ms"),
        ]
        e2e[0].target = "<= 20 ms"
        if not observability:
            return [*e2e, scale_out(bootstrap, work)]
        off = subprocess.run(
            [*e2e_cmd, "--metrics-off", "--flow-arg=--metrics-port", "--flow-arg=0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print("  metrics and logs off: " + off.strip().replace("\n", "\n  "), file=sys.stderr)
        for row, pattern in zip(e2e, (r"p50 ([\d.]+) ms", r"p99 ([\d.]+) ms"), strict=True):
            row.baseline = [_figure(pattern, off)]
            row.name += " (baseline: metrics and logs off)"
        return [*e2e, scale_out(bootstrap, work)]


def scale_out(bootstrap: str, work: Path) -> Result:
    """200k events in a 4-partition topic, read to the end by 1 process, then by 2."""
    events, item_master = events_file(200_000)
    tag = uuid.uuid4().hex[:8]
    topic = f"bench.events.{tag}"
    _cli("produce", str(events), "--bootstrap", bootstrap, "--topic", topic, "--partitions", "4")
    rates = []
    for procs in (1, 2):
        addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(procs))
        t = {"events": topic, "snapshots": f"bench.snapshots.{tag}.{procs}", "exceptions": f"bench.exc.{tag}.{procs}"}
        running = []
        for i in range(procs):
            cmd = run_command(bootstrap, t, work / f"scale-{procs}-{i}", item_master)
            cmd += ["--recovery-dir", str(work / f"recovery-{procs}")]
            if procs > 1:
                cmd += ["--process-id", str(i), "--addresses", addresses]
            running.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        done = [run_done(p.communicate(timeout=1800)[1]) for p in running]
        total = sum(n for n, _ in done)
        rates.append(total / max(s for _, s in done))
        print(f"  scale-out: {procs} process(es) {rates[-1]:,.0f} events/s ({total:,} events)", file=sys.stderr)
    return Result("scale-out: 2 processes vs 1, 4 partitions", "events/s", [rates[1]], [rates[0]], ">= 1.6x")


BATCH_CONNECTIONS = 4  # a checkout page's fan-out, not a flood: 32 would only measure queueing

ROWS = (
    "fold",
    "reconciliation",
    "sources",
    "observability",
    "memory",
    "recovery",
    "api",
    "batch",
    "publication",
    "e2e",
    "scaleout",
)


def table(results: list[Result]) -> str:
    rows = ["| benchmark | median | min | max | baseline median | ratio | target |", "|---|---|---|---|---|---|---|"]
    for r in results:
        f = ",.1f" if r.unit in ("ms", "s") else ",.0f"
        base = f"{statistics.median(r.baseline):{f}} {r.unit}" if r.baseline else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        rows.append(
            f"| {r.name} | {r.median:{f}} {r.unit} | {min(r.rounds):{f}} | {max(r.rounds):{f}} | "
            f"{base} | {ratio} | {r.target} |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10, help="wrk duration per API run (10)")
    ap.add_argument("--latency-seconds", type=float, default=30, help="e2e and publication runs (30)")
    ap.add_argument("--only", nargs="*", choices=ROWS, help="run only these rows")
    args = ap.parse_args()
    wanted = set(args.only or ROWS)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="skuflow-bench-") as tmp:
        work = Path(tmp)
        if "fold" in wanted:
            print(f"fold throughput, {args.events:,} events, {args.rounds} rounds:", file=sys.stderr)
            results.append(fold_throughput(args.events, args.rounds))
        if "reconciliation" in wanted:
            print(f"reconciliation cost, {args.events:,} events, {args.rounds} rounds:", file=sys.stderr)
            results.append(reconciliation_cost(args.events, args.rounds))
        if "sources" in wanted:
            print(f"source rules cost, {args.events:,} events, {args.rounds} rounds:", file=sys.stderr)
            results.append(sources_cost(args.events, args.rounds, work))
        if "observability" in wanted:
            print(f"metrics and logs cost, {args.events:,} events, {args.rounds} rounds:", file=sys.stderr)
            results.append(observability_cost(args.events, args.rounds))
        if wanted & {"memory", "recovery"}:
            print("state memory and recovery, 1M keys:", file=sys.stderr)
            results += state_memory_and_recovery(work)
        if wanted & {"api", "batch"}:
            print(f"API, {args.rounds} rounds of {args.seconds:g} s per server:", file=sys.stderr)
            results += api_rows(args.rounds, args.seconds, work)
        if "publication" in wanted:
            print(f"publication latency, {args.latency_seconds:g} s:", file=sys.stderr)
            results.append(publication_latency(args.latency_seconds))
        if wanted & {"e2e", "scaleout"}:
            print("Kafka: end-to-end latency and scale-out (a broker of its own):", file=sys.stderr)
            results += kafka_rows(args.latency_seconds, work, "observability" in wanted)
    print(table(results))
    payload = [{**asdict(r), "median": r.median, "ratio": r.ratio} for r in results]
    Path("bench-results.json").write_text(json.dumps(payload, indent=2) + "\n")
    print("wrote bench-results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
