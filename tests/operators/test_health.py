"""Location freshness: stale after its authoritative source's silence, fresh on its next event."""

from __future__ import annotations

from operators.health import LocationHealth, LocationStatus
from operators.policy import StaleMode, StaleRule

RULE = StaleRule("3PL", after_ms=10_000, mode=StaleMode.EXCLUDE)


def test_stale_after_silence_and_fresh_again_on_the_next_event() -> None:
    h = LocationHealth("3PL-CENTRAL", since=100.0)
    assert h.deadline(RULE) == 110.0  # never heard from: counts from when tracking began
    assert h.check(105.0, RULE) is None
    assert h.on_arrival("3PL", 106.0, RULE) is None and h.deadline(RULE) == 116.0
    assert h.on_arrival("WMS", 115.0, RULE) is None  # other sources do not keep it fresh
    assert h.check(116.0, RULE) == LocationStatus("3PL-CENTRAL", True)
    assert h.deadline(RULE) is None and h.check(200.0, RULE) is None  # reported once
    assert h.on_arrival("3PL", 201.0, RULE) == LocationStatus("3PL-CENTRAL", False)


def test_a_rule_removed_by_a_policy_reload_makes_the_location_fresh() -> None:
    h = LocationHealth("L", since=0.0)
    assert h.check(20.0, RULE) == LocationStatus("L", True)
    assert h.check(21.0, None) == LocationStatus("L", False)
