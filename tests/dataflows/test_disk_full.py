"""A full disk stops a replay with one line naming the path, never a panic or a traceback,
and once there is space again the resume is exact: the store, the change stream and the
exceptions equal those of a replay that never ran short. The state dir is on a real,
small tmpfs (mounted here; the suite runs as root in CI)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import skuflow

pytestmark = pytest.mark.slow

EVENTS = 120_000


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    size = f"size={request.param}"
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _resize(mount: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("events")
    path, master = where / "events.jsonl", where / "items.csv"
    skuflow("simulate", "--events", str(EVENTS), "--out", str(path), "--item-master-out", str(master))
    return path, master


def _replay(events: tuple[Path, Path], state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    path, master = events
    args = ["replay", str(path), "--item-master", str(master), "--state-dir", str(state)]
    return skuflow(*args, "--epoch-interval", "0.2s", *extra, check=False, timeout=300)


def _outputs(state: Path) -> tuple[list[str], list[dict[str, Any]], bytes]:
    """The snapshots, the change log (less its wall-clock `emitted_at`) and the exceptions."""
    rows = sorted(skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines())
    changes = [json.loads(line) for line in (state / "changes.jsonl").read_bytes().splitlines()]
    for change in changes:
        del change["emitted_at"]
    return rows, changes, (state / "exceptions.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("small_disk", "reserve", "says"),
    [("6m", "0", "no space left on device;"), ("64m", "60MiB", "bytes free, --min-free-disk is 62,914,560")],
    indirect=["small_disk"],
    ids=["a-write-fails", "the-reserve-stops-it"],
)
def test_a_full_disk_stops_with_one_line_and_resumes_exactly(
    tmp_path: Path, small_disk: Path, events: tuple[Path, Path], reserve: str, says: str
) -> None:
    """Without a reserve a write fails (ENOSPC: RocksDB's, or a file's); with one, the
    check before an epoch's write stops the flow first."""
    state = small_disk / "state"
    stopped = _replay(events, state, "--min-free-disk", reserve)
    assert stopped.returncode == os.EX_IOERR, stopped.stderr
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1, stopped.stderr
    assert lines[0].startswith(f"skuflow: {state}/") and says in lines[0], lines
    assert "panicked" not in stopped.stderr and "Traceback" not in stopped.stderr

    _resize(small_disk, "256m")
    resumed = _replay(events, state, "--min-free-disk", reserve)
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    assert _replay(events, whole).returncode == 0
    assert _outputs(state) == _outputs(whole)
