"""The ledger store against a real RocksDB: versions per generation, deltas, roll-back, deferred deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.ledger_store import GroupStore, LedgerStore, LedgerStoreError

W, D = True, False  # a whole state, a delta


def _versions(store: GroupStore, key: str) -> list[int]:
    prefix = b"v" + key.encode() + b"\x00"
    keys = store._db.keys()
    return [int.from_bytes(k[len(prefix) :], "big") for k in keys if k.startswith(prefix)]


def _reopened(store: GroupStore, gen: int, lag: int = 4) -> GroupStore:
    """As after a restart: nothing known of the keys' chains, Bytewax resuming from `gen`."""
    store.close()
    again = GroupStore(store.path, sync=False, lag=lag)
    again.restore(gen)
    return again


def test_get_reads_the_newest_whole_state_and_the_deltas_after_it(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"A|1": (W, b"a1"), "A|10": (W, b"a10")})
    store.commit(2, {"A|1": (D, b"+2")})
    store.commit(3, {"A|1": (D, b"+3"), "A|10": (W, b"a10-3")})

    def check(s: GroupStore) -> None:
        assert s.get("A|1") == [b"a1", b"+2", b"+3"]
        assert s.get("A|10") == [b"a10-3"]
        assert s.get("A|") == [] and s.get("A|100") == []

    check(store)
    check(store)  # known chains: read by generation
    check(_reopened(store, 3))  # found by seeking


def test_a_delta_needs_a_whole_state_before_it(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    with pytest.raises(LedgerStoreError, match="no whole state"):
        store.commit(1, {"k": (D, b"+1")})


def test_restore_rolls_back_what_was_written_after_the_resumed_generation(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"k": (W, b"one"), "j": (W, b"j-one")})
    store.commit(2, {"k": (D, b"+two"), "new": (W, b"x")})  # written, then Bytewax did not commit epoch 2
    store = _reopened(store, 1)
    assert (store.get("k"), store.get("j"), store.get("new")) == ([b"one"], [b"j-one"], [])
    store.commit(2, {"j": (D, b"+j-two")})  # the replay writes generation 2 again, differently
    store = _reopened(store, 2)
    assert (store.get("k"), store.get("j"), store.get("new")) == ([b"one"], [b"j-one", b"+j-two"], [])


def test_restore_to_nothing_empties_the_group(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False)
    store.commit(1, {"k": (W, b"one")})
    store.restore(None)
    assert store.get("k") == [] and list(store._db.keys()) == []


def test_what_a_whole_state_supersedes_is_deleted_lag_generations_later(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False, lag=2)
    store.commit(1, {"k": (W, b"1"), "cold": (W, b"c")})
    store.commit(2, {"k": (D, b"+2")})
    store.commit(3, {"k": (W, b"3")})
    store.commit(4, {"k": (D, b"+4")})
    assert _versions(store, "k") == [1, 2, 3, 4]  # a resume from 1 or 2 may still need 1 and 2
    store.commit(5, {"other": (W, b"o")})  # generation 3 is now 2 behind: what it superseded goes
    assert _versions(store, "k") == [3, 4] and _versions(store, "cold") == [1]
    store = _reopened(store, 4, lag=2)
    assert (store.get("k"), store.get("cold"), store.get("other")) == ([b"3", b"+4"], [b"c"], [])


def test_a_resume_from_before_deleted_versions_is_refused(tmp_path: Path) -> None:
    store = GroupStore(tmp_path, sync=False, lag=1)
    for gen in range(1, 5):
        store.commit(gen, {"k": (W, str(gen).encode())})
    store.close()
    store = GroupStore(tmp_path, sync=False, lag=1)
    with pytest.raises(LedgerStoreError, match="different runs"):
        store.restore(1)
    store.restore(3)
    assert store.get("k") == [b"3"]


def test_the_key_group_count_is_fixed_for_a_store(tmp_path: Path) -> None:
    LedgerStore(tmp_path, 64).close()
    with pytest.raises(LedgerStoreError, match="64 key groups"):
        LedgerStore(tmp_path, 32)
