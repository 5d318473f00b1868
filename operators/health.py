"""Source freshness per location: when its authoritative source goes quiet, the location
is stale and channels publish it conservatively (operators/channels.py).

Time here is wall-clock seconds of *arrival*: a feed is silent when nothing reaches
skuflow from it, whatever the events' own timestamps say (a replayed file is fresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from operators.policy import Policy, StaleRule


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """A new policy (reloaded): every stage that depends on it recomputes."""

    policy: Policy


@dataclass(frozen=True, slots=True)
class LocationStatus:
    """A location became stale, or fresh again."""

    location: str
    stale: bool


@dataclass(slots=True)
class LocationHealth:
    location: str
    since: float  # when tracking began: a source never heard from counts from here
    last_seen: dict[str, float] = field(default_factory=dict)
    stale: bool = False

    def on_arrival(self, source: str, now: float, rule: StaleRule | None) -> LocationStatus | None:
        """Record an event from `source`; returns a status change, if any."""
        self.last_seen[source] = max(now, self.last_seen.get(source, now))
        if self.stale and rule is not None and source == rule.source:
            self.stale = False
            return LocationStatus(self.location, False)
        return None

    def check(self, now: float, rule: StaleRule | None) -> LocationStatus | None:
        """Re-evaluate at `now` (on a timer or a policy change); returns a change, if any."""
        stale = rule is not None and now - self.last_seen.get(rule.source, self.since) >= rule.after_ms / 1000
        if stale != self.stale:
            self.stale = stale
            return LocationStatus(self.location, stale)
        return None

    def deadline(self, rule: StaleRule | None) -> float | None:
        """When the location turns stale if nothing arrives from its source before then."""
        if rule is None or self.stale:
            return None
        return self.last_seen.get(rule.source, self.since) + rule.after_ms / 1000


@dataclass(frozen=True, slots=True)
class Watch:
    """Start watching a location (so a source that never speaks still turns it stale)."""

    location: str
