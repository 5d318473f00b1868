"""SeenIds: one flat array of (id hash, digest, time) triples."""

from __future__ import annotations

import pickle

from operators.dedup import SeenIds


def test_a_hash_equal_to_another_ids_digest_or_time_is_not_seen() -> None:
    seen = SeenIds()
    seen.add(1, 777, 555)
    assert seen.digest_of(777) is None and seen.digest_of(555) is None
    seen.add(555, 9, 10)  # an id whose hash equals the first one's time
    assert seen.digest_of(555) == 9 and seen.digest_of(1) == 777


def test_lookup_is_the_same_below_and_above_the_index_threshold_and_after_pickling() -> None:
    seen = SeenIds()
    for i in range(200):
        seen.add(i * 3 + 1, -i, 1000 + i)
        assert seen.digest_of(i * 3 + 1) == -i
        assert seen.digest_of(1000 + i) is None  # times are not ids (no id up to here equals one)
    restored = pickle.loads(pickle.dumps(seen))
    assert [restored.digest_of(i * 3 + 1) for i in range(200)] == [-i for i in range(200)]
    assert restored.forget_before(1100) == 100 and len(restored) == 100
    assert restored.digest_of(1) is None and restored.digest_of(100 * 3 + 1) == -100
