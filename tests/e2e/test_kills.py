"""SIGKILL of `skuflow run` (one process, and both of two) at the instants that matter,
each triggered by the file it makes appearing: the fresh recovery dir, its first partition
file, the ledger store's first write, and the first epoch commit. Every resume must reach
the exact result (each event once), never a dir that cannot start again."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_kafka import _committed_epoch, as_state, materialized, oracle, simulated_topic
from tests.helpers import free_port, run_command

pytestmark = pytest.mark.slow


def _ledger_written(recovery: Path) -> bool:
    """A key group's RocksDB has its first write-ahead log bytes (an epoch's ledger batch)."""
    return any(log.stat().st_size > 0 for log in recovery.glob("ledgers/g*/*.log"))


TRIGGERS: dict[str, Callable[[Path], bool]] = {
    "fresh-recovery-dir": lambda r: r.exists(),
    "first-partition-file": lambda r: any(r.glob("part-*.sqlite3")) or any(r.glob(".init-*/part-*.sqlite3")),
    "ledger-write": _ledger_written,
    "epoch-commit": lambda r: _committed_epoch(r) > 0,
}


@pytest.fixture(scope="module")
def topic(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    return simulated_topic(kafka_bootstrap, tmp_path_factory.mktemp("kills"), 60_000, 300)


def _start(args: list[str], processes: int) -> list[subprocess.Popen[bytes]]:
    if processes == 1:
        return [subprocess.Popen(args, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)]
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    return [
        subprocess.Popen(
            [*args, "--addresses", addresses, "--process-id", str(i)],
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for i in range(processes)
    ]


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("instant", list(TRIGGERS))
def test_a_kill_when_a_file_appears_resumes_exactly(
    kafka_bootstrap: str, tmp_path: Path, topic: tuple[Path, Path, dict[str, str]], instant: str, processes: int
) -> None:
    events, item_master, t = topic
    state = tmp_path / "flow"
    recovery = state / "recovery"
    args = run_command(kafka_bootstrap, t, state, item_master, "--epoch-interval", "0.5s")
    procs = _start(args, processes)
    deadline = time.monotonic() + 60
    while not TRIGGERS[instant](recovery):
        assert all(p.poll() is None for p in procs), f"a process ended before {instant}"
        assert time.monotonic() < deadline, f"no {instant} in 60 s"
        time.sleep(0.001)
    alive = [p.poll() is None for p in procs]
    for p in procs:
        p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait(30)
    assert all(alive), f"not every process was still running at {instant}: {alive}"
    resumed = _start(args, processes)
    for p in resumed:
        assert p.wait(300) == 0, f"the resume after a kill at {instant} failed"
    got = as_state(materialized(kafka_bootstrap, t, tmp_path / "replica"))
    expected = oracle(events, item_master)
    assert got.keys() == expected.keys()
    wrong = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert not wrong, list(wrong.items())[:3]
