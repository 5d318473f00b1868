"""The ledger store against a real RocksDB: versions per generation, roll-back, deferred deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.ledger_store import GroupStore, LedgerStore, LedgerStoreError


def _versions(store: GroupStore, key: str) -> list[int]:
    prefix = b"v" + key.encode() + b"\x00"
    return [int.from_bytes(k[len(prefix) :], "big") for k in store._db.keys() if k.startswith(prefix)]  # noqa: SIM118 (Rdict iterates by index)


def test_get_reads_the_newest_version_of_a_key_and_only_of_that_key(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"A|1": b"a1", "A|10": b"a10"})
    store.commit(2, {"A|1": b"a1-2"})
    assert (store.get("A|1"), store.get("A|10"), store.get("A|")) == (b"a1-2", b"a10", None)
    assert store.get("A|100") is None


def test_restore_rolls_back_what_was_written_after_the_resumed_generation(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"k": b"one", "j": b"j-one"})
    store.commit(2, {"k": b"two", "new": b"x"})  # written, then Bytewax did not commit epoch 2
    store.close()
    store = GroupStore(tmp_path, sync=False)
    store.restore(1)
    assert (store.get("k"), store.get("j"), store.get("new")) == (b"one", b"j-one", None)
    store.commit(2, {"j": b"j-two"})  # the replay writes generation 2 again, differently
    store.restore(2)
    assert (store.get("k"), store.get("j"), store.get("new")) == (b"one", b"j-two", None)


def test_restore_to_nothing_empties_the_group(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"k": b"one"})
    store.restore(None)
    assert store.get("k") is None and list(store._db.keys()) == []


def test_superseded_versions_are_deleted_lag_generations_later(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False, lag=2)
    store.commit(1, {"k": b"1", "cold": b"c"})
    store.commit(2, {"k": b"2"})
    store.commit(3, {"k": b"3"})
    assert _versions(store, "k") == [1, 2, 3]  # a resume from 1 or 2 may still need them
    store.commit(4, {"k": b"4"})  # generation 2 is now 2 behind: what it superseded goes
    assert _versions(store, "k") == [2, 3, 4]
    store.commit(5, {"other": b"o"})
    assert _versions(store, "k") == [3, 4] and _versions(store, "cold") == [1]
    store.restore(3)
    assert (store.get("k"), store.get("cold"), store.get("other")) == (b"3", b"c", None)


def test_a_resume_from_before_deleted_versions_is_refused(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False, lag=1)
    for gen in range(1, 5):
        store.commit(gen, {"k": str(gen).encode()})
    store.close()
    store = GroupStore(tmp_path, sync=False, lag=1)
    with pytest.raises(LedgerStoreError, match="different runs"):
        store.restore(1)
    store.restore(3)
    assert store.get("k") == b"3"


def test_the_key_group_count_is_fixed_for_a_store(tmp_path: Path) -> None:
    LedgerStore(tmp_path, 64).close()
    with pytest.raises(LedgerStoreError, match="64 key groups"):
        LedgerStore(tmp_path, 32)
