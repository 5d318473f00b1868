"""`skuflow up` (what `make run` starts): simulator -> dataflow -> store -> API, then a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, http_get, up_command

pytestmark = pytest.mark.slow


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        up_command(tmp_path / "up", port, 800, *extra),
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port


def read_until(proc: subprocess.Popen[str], pattern: str, timeout_s: float = 60) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(lines)}")


EXAMPLE_POLICY = str(Path(__file__).parent.parent.parent / "deploy" / "policy.example.yaml")


@pytest.mark.parametrize("extra", [(), ("--policy", EXAMPLE_POLICY, "--skus", "300")], ids=["plain", "make-run"])
def test_up_serves_live_availability_and_stops_by_itself(tmp_path: Path, extra: tuple[str, ...]) -> None:
    proc, port = start(tmp_path, "--duration", "12", *extra)
    try:
        lines = read_until(proc, r"Ctrl-C stops")
        urls = re.findall(r"curl '?(http://\S+?)'?\s*$", "".join(lines), re.M)
        assert len(urls) == 3 and all(f":{port}/" in u for u in urls)
        assert ("/v1/channels/" in urls[2]) == bool(extra)
        time.sleep(4)
        for url in urls:
            status, body = http_get(url)
            assert status == 200, (url, body)
        status, one = http_get(urls[0])
        assert one["version"] >= 1 and "available" in one
        time.sleep(1.5)
        assert http_get(urls[0])[1]["as_of"] >= one["as_of"]  # live: state moves on
        rest = proc.communicate(timeout=60)[1]
        assert proc.returncode == 0, rest
        assert re.search(r"events/s\s+[\d,]+ \| keys\s+[\d,]+ \| rejects", rest), rest
        assert "done:" in rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    proc, port = start(tmp_path)
    try:
        read_until(proc, r"Ctrl-C stops")
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, rest
        with pytest.raises(OSError):  # the API went down with it
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
