"""A kill at any instant of a start leaves a dir that resumes: half-made recovery dirs and a
torn KEY_GROUPS file (what a SIGKILL during the first start used to leave) are repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bytewax.recovery import init_db_dir

from connectors.files import EventFileSource
from connectors.ledger_store import LedgerStore, LedgerStoreError
from dataflows.config import FlowConfig
from dataflows.runner import run
from serving.store import StoreReader

EVENTS = [
    {
        "event_id": f"e-{i}",
        "event_type": "RECEIPT",
        "sku": f"SKU-{i % 7}",
        "location": "WH-A",
        "quantity": 2,
        "occurred_at": 1_780_000_000_000 + i,
        "source_system": "WMS",
        "source_sequence": i,
    }
    for i in range(70)
]


def _replay(tmp_path: Path, state: Path) -> dict[str, int]:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    config = FlowConfig(state_dir=state)
    run(EventFileSource(path), config)
    reader = StoreReader(config.store_dir)
    try:
        return {json.loads(b)["sku"]: json.loads(b)["sellable"] for b in reader.scan()}
    finally:
        reader.close()


@pytest.mark.parametrize("left", ["one partition", "every partition", "a scratch dir", "torn partition"])
def test_a_start_killed_while_making_the_recovery_dir_resumes(tmp_path: Path, left: str) -> None:
    state = tmp_path / "state"
    recovery = state / "recovery"
    recovery.mkdir(parents=True)
    if left == "one partition":
        scratch = tmp_path / "made"
        scratch.mkdir()
        init_db_dir(scratch, 4)
        (scratch / "part-0.sqlite3").rename(recovery / "part-0.sqlite3")
    elif left == "every partition":  # made, but killed before the marker
        init_db_dir(recovery, 4)
    elif left == "a scratch dir":
        (recovery / ".init-dead").mkdir()
        init_db_dir(recovery / ".init-dead", 2)
    else:
        (recovery / "part-0.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00" * 40)
    assert _replay(tmp_path, state) == {f"SKU-{k}": 20 for k in range(7)}
    assert (recovery / ".initialised").exists() and not list(recovery.glob(".init-*"))
    assert _replay(tmp_path, state) == {f"SKU-{k}": 20 for k in range(7)}  # and resumes, counting nothing twice


@pytest.mark.parametrize("content", [b"", b"1", b"\xff\xfe", None])
def test_a_torn_or_missing_key_groups_file_is_made_again(tmp_path: Path, content: bytes | None) -> None:
    root = tmp_path / "ledgers"
    (root / "g03").mkdir(parents=True)
    if content is not None:
        (root / "KEY_GROUPS").write_bytes(content)
    if content == b"1":  # whole, and different: refused
        with pytest.raises(LedgerStoreError, match="written with 1 key groups"):
            LedgerStore(root, 16)
        return
    LedgerStore(root, 16).close()
    assert (root / "KEY_GROUPS").read_text() == "16\n"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_key_groups_of_another_layout_are_not_guessed(tmp_path: Path) -> None:
    root = tmp_path / "ledgers"
    (root / "g63").mkdir(parents=True)  # from a 64-group store
    with pytest.raises(LedgerStoreError, match="missing or unreadable"):
        LedgerStore(root, 16)
