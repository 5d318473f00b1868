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
