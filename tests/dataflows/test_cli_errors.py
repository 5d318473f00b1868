"""Every CLI mistake is one line that names what to fix, never a traceback or a hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import skuflow

pytestmark = pytest.mark.slow


def _one_line_error(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "expected the header"),
        (b"sku,uom,factor\nSKU-1,CS,12\nSKU-1,CS,6\n", "on line 2"),
        (b"\x00\x01\x02binary", "binary file"),
        (b"sku,uom,factor\n\xff\xfe,CS,1\n", "not UTF-8"),
    ],
)
def test_a_bad_item_master_is_one_line(tmp_path: Path, content: bytes, what: str) -> None:
    events = tmp_path / "in.jsonl"
    events.write_text(json.dumps({"event_id": "e"}) + "\n")
    master = tmp_path / "im.csv"
    master.write_bytes(content)
    state = str(tmp_path / "s")
    result = skuflow("replay", str(events), "--state-dir", state, "--item-master", str(master), check=False)
    line = _one_line_error(result)
    assert line.startswith(f"skuflow: {master}") and what in line


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--workers", "0"], ["--batch-size", "x"]])
def test_numeric_options_are_checked(tmp_path: Path, option: list[str]) -> None:
    events = tmp_path / "in.jsonl"
    events.write_text("\n")
    result = skuflow("replay", str(events), "--state-dir", str(tmp_path / "s"), *option, check=False, timeout=60)
    assert option[0] in _one_line_error(result)


@pytest.mark.parametrize(
    "option",
    [["--horizon", "10000000000000000000000d"], ["--dedup-retention", "36526d"], ["--max-ahead", "nan"]],
)
def test_durations_are_checked(tmp_path: Path, option: list[str]) -> None:
    """Out of range (beyond a century, or past what a timedelta holds) or not a duration."""
    events = tmp_path / "in.jsonl"
    events.write_text("\n")
    result = skuflow("replay", str(events), "--state-dir", str(tmp_path / "s"), *option, check=False, timeout=60)
    assert option[0].lstrip("-").replace("-", "_") in _one_line_error(result)


def test_serve_without_a_store_is_one_line(tmp_path: Path) -> None:
    result = skuflow("serve", "--state-dir", str(tmp_path / "nothing"), "--port", "1", check=False, timeout=60)
    assert "no snapshot store" in _one_line_error(result)


@pytest.mark.parametrize("command", ["run", "produce"])
def test_an_unreachable_broker_fails_within_ten_seconds_in_one_line(tmp_path: Path, command: str) -> None:
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events = tmp_path / "in.jsonl"
    events.write_text("\n")
    args = ["run", "--state-dir", str(tmp_path / "s")] if command == "run" else ["produce", str(events)]
    started = time.monotonic()
    result = skuflow(*args, "--bootstrap", f"127.0.0.1:{port}", check=False, timeout=60)
    took = time.monotonic() - started
    line = _one_line_error(result)
    assert "no Kafka broker answered" in line and took < 15, (took, result.stderr)
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
