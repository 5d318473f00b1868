"""Shared test helpers: golden data paths, running the real CLI, free ports, HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "data" / "golden"
KAFKA_SH = Path(__file__).parent.parent / "deploy" / "kafka" / "kafka.sh"


def skuflow(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `skuflow` CLI in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "dataflows.cli", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skuflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def up_command(state: Path, port: int, rate: float, *extra: str) -> list[str]:
    """`skuflow up` in a subprocess: the API on `port`, no metrics port, simulated at `rate`."""
    cli = [sys.executable, "-m", "dataflows.cli", "up", "--port", str(port), "--metrics-port", "0"]
    return [*cli, "--state-dir", str(state), "--rate", f"{rate:g}", *extra]


def run_args(
    bootstrap: str, t: dict[str, str], state: Path, item_master: Path, *extra: str, until_end: bool = True
) -> list[str]:
    """The arguments of `skuflow run` over the topics `t` (events, snapshots, exceptions):
    `--until-end` unless `until_end` is False (a tailing run)."""
    topics = ["--topic", t["events"], "--snapshots-topic", t["snapshots"], "--exceptions-topic", t["exceptions"]]
    topics += record_topics(t)
    paths = ["--state-dir", str(state), "--item-master", str(item_master)]
    end = ["--until-end"] if until_end else []
    return ["run", "--bootstrap", bootstrap, *topics, *paths, *end, *extra]


def record_topics(t: dict[str, str]) -> list[str]:
    """The record topic options (reconciliation, anomalies, changes, exceptions) of those `t` names."""
    names = ("reconciliation", "anomalies", "changes", "exceptions")
    return [arg for name in names if name in t for arg in (f"--{name}-topic", t[name])]


def run_command(
    bootstrap: str, t: dict[str, str], state: Path, item_master: Path, *extra: str, until_end: bool = True
) -> list[str]:
    """`skuflow run` over the topics `t` (as `run_args`), as a command line for Popen."""
    args = run_args(bootstrap, t, state, item_master, *extra, until_end=until_end)
    return [sys.executable, "-m", "dataflows.cli", *args]


def communicate_all(procs: list[subprocess.Popen[str]], timeout: float) -> list[str]:
    """Each process's stderr, read concurrently: a cluster member blocked on a full pipe would
    stall the others while a sequential `communicate` waits on the first."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(procs)) as pool:
        return [e for _, e in pool.map(lambda p: p.communicate(timeout=timeout), procs)]


def run_done(stderr: str) -> tuple[int, float]:
    """(events, seconds) of `skuflow run`'s closing line ("done: N events in S s ...")."""
    m = re.search(r"done: ([\d,]+) events in ([\d.]+) s", stderr)
    assert m, stderr
    return int(m.group(1).replace(",", "")), float(m.group(2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A /metrics page as {(sample name, its labels): value} (empty while it cannot be read)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_http(url: str, timeout_s: float = 20, headers: dict[str, str] | None = None) -> None:
    """Until `url` answers 2xx."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def snapshots_by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["sku"], r["location"]): r for r in rows}


def assert_matches_expected(got_rows: list[dict[str, Any]], expected_rows: list[dict[str, Any]]) -> None:
    """Every expected key present with every expected field equal, and no extra keys."""
    got, expected = snapshots_by_key(got_rows), snapshots_by_key(expected_rows)
    assert set(got) == set(expected), (sorted(set(got) - set(expected))[:5], sorted(set(expected) - set(got))[:5])
    wrong = [(k, {f: (got[k][f], v) for f, v in e.items() if got[k][f] != v}) for k, e in expected.items()]
    wrong = [w for w in wrong if w[1]]
    assert not wrong, wrong[:5]


SASL_USER = "skuflow"


@contextmanager
def kafka_broker(data_dir: Path, sasl: tuple[int, str] | None = None) -> Iterator[tuple[str, str | None]]:
    """A real single-node KRaft broker on free ports (deploy/kafka/kafka.sh), stopped at the
    end; with `sasl` (port, password), a SASL_PLAINTEXT/SCRAM-SHA-512 listener for SASL_USER
    too. Yields (bootstrap, None), or (bootstrap, why) when it did not start."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA_DIR": str(data_dir),
    }
    if sasl is not None:
        env |= {"KAFKA_SASL_PORT": str(sasl[0]), "KAFKA_SASL_USER": SASL_USER, "KAFKA_SASL_PASSWORD": sasl[1]}
    started = subprocess.run([str(KAFKA_SH), "up"], env=env, capture_output=True, text=True, timeout=600)
    try:
        yield f"127.0.0.1:{port}", (started.stderr or "failed") if started.returncode != 0 else None
    finally:
        subprocess.run([str(KAFKA_SH), "down"], env=env, capture_output=True, timeout=120)


def drain(part: Any, batches: int | None = None) -> list[Any]:
    """The items of a source partition's next `batches` batches (None: until it ends)."""
    out: list[Any] = []
    while batches is None or batches > 0:
        try:
            out.extend(part.next_batch())
        except StopIteration:
            break
        batches = None if batches is None else batches - 1
    return out
