"""Authoritative sources: which source systems may change which stock, where.

The policy's `sources:` rules, in order. The first rule whose event types and locations
cover an event decides it: sent by one of the rule's systems, it is authorized; otherwise
it is rejected `unauthorized_source` or, with `mode: flag`, applied and reported as an
anomaly. An event no rule covers is authorized (end with a rule that covers everything
to make the list an allowlist). No rules at all: everything is authorized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from operators.events import EventType, InventoryEvent
from operators.rejects import Reason, Rejection


class SourceMode(StrEnum):
    REJECT = "reject"  # nothing applied; the event is an exception with its payload
    FLAG = "flag"  # applied as sent, and an `unauthorized_source` anomaly on its key


@dataclass(frozen=True, slots=True)
class SourceRule:
    """Events of `event_types` (None: every type) at `locations` (None: everywhere; an
    entry ending in `*` is a prefix) may come from `systems` only."""

    systems: frozenset[str]
    event_types: frozenset[EventType] | None = None
    locations: tuple[str, ...] | None = None
    mode: SourceMode = SourceMode.REJECT

    def covers(self, event_type: EventType, location: str) -> bool:
        if self.event_types is not None and event_type not in self.event_types:
            return False
        return self.locations is None or any(_matches(p, location) for p in self.locations)


def _matches(pattern: str, location: str) -> bool:
    return location.startswith(pattern[:-1]) if pattern.endswith("*") else location == pattern


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """Why an event's source may not send it, and what the rule says to do."""

    mode: SourceMode
    detail: str

    def rejection(self, event: InventoryEvent) -> Rejection:
        return Rejection.of_event(event, Reason.UNAUTHORIZED_SOURCE, self.detail)


_CACHE_MOST = 65_536  # distinct (system, type, location) verdicts kept; cleared beyond (hostile keys)


@dataclass(frozen=True)
class SourceRules:
    """The policy's rules; `judge` is memoized per (system, event type, location)."""

    rules: tuple[SourceRule, ...] = ()
    _decided: dict[tuple[str, EventType, str], Unauthorized | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __bool__(self) -> bool:
        return bool(self.rules)

    def judge(self, event: InventoryEvent) -> Unauthorized | None:
        """None when `event.source_system` may send it; else the rule's verdict."""
        where = (event.source_system, event.event_type, event.location)
        try:
            return self._decided[where]
        except KeyError:
            pass
        if len(self._decided) >= _CACHE_MOST:
            self._decided.clear()
        verdict = self._decided[where] = self._decide(*where)
        return verdict

    def _decide(self, system: str, event_type: EventType, location: str) -> Unauthorized | None:
        for i, rule in enumerate(self.rules):
            if rule.covers(event_type, location):
                if system in rule.systems:
                    return None
                allowed = ", ".join(sorted(rule.systems)) or "no system"
                return Unauthorized(
                    rule.mode,
                    f"{system} is not an authoritative source of {event_type.value} at {location} "
                    f"(sources rule {i + 1} allows {allowed})",
                )
        return None
