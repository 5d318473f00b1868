"""A cluster member whose peer never starts gives up after `cluster_timeout` with one line
(it used to retry once a second forever); a peer that starts late, within it, still forms
the cluster. Real Bytewax processes on loopback, a file source (no broker needed)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_MEMBER = """
import sys
from datetime import timedelta
from pathlib import Path
from connectors.files import EventFileSource
from dataflows.config import FlowConfig
from dataflows.runner import run
events, state, pid, addresses, timeout = sys.argv[1:]
config = FlowConfig(state_dir=Path(state), recovery=False)
run(EventFileSource(Path(events)), config, process_id=int(pid), addresses=addresses.split(";"),
    cluster_timeout=timedelta(seconds=float(timeout)))
print("done")
"""


def _addresses() -> str:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ";".join(f"127.0.0.1:{p}" for p in ports)


def _member(tmp_path: Path, pid: int, addresses: str, timeout: float) -> subprocess.Popen[str]:
    events = tmp_path / "events.jsonl"
    if not events.exists():
        event = {"event_type": "RECEIPT", "sku": "S", "location": "L", "quantity": 1, "source_system": "WMS"}
        lines = [
            {**event, "event_id": f"e-{i}", "occurred_at": 1_780_000_000_000 + i, "source_sequence": i}
            for i in range(9)
        ]
        events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    args = [str(events), str(tmp_path / f"state{pid}"), str(pid), addresses, str(timeout)]
    return subprocess.Popen(
        [sys.executable, "-c", _MEMBER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_member_whose_peer_never_starts_gives_up_in_one_line(tmp_path: Path) -> None:
    addresses = _addresses()
    started = time.monotonic()
    member = _member(tmp_path, 1, addresses, timeout=2)
    out, err = member.communicate(timeout=60)
    took = time.monotonic() - started
    assert member.returncode == 69, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("skuflow: process 1 of 2 could not form the cluster within 2 s"), err
    assert addresses.split(";")[0] in last and "Traceback" not in err and "done" not in out
    assert took < 15, took


def test_a_peer_that_starts_late_within_the_timeout_forms_the_cluster(tmp_path: Path) -> None:
    addresses = _addresses()
    waiting = _member(tmp_path, 1, addresses, timeout=30)
    time.sleep(3)  # process 1 retries meanwhile
    late = _member(tmp_path, 0, addresses, timeout=30)
    for member in (late, waiting):
        out, err = member.communicate(timeout=90)
        assert member.returncode == 0 and out.strip().splitlines()[-1] == "done", err
