"""The channel policy: governed rules every channel's availability figure is computed by.

Plain frozen dataclasses; the YAML file that declares them is validated at the edge
(connectors/policy_file.py). Every formula is in operators/channels.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from operators.ratios import share
from operators.reconciliation import ReconciliationRule
from operators.sources import SourceRules


@dataclass(frozen=True, slots=True)
class SafetyStock:
    """Held back from a channel: `units`, or `percent` of the channel's pooled available."""

    units: int = 0
    percent: float = 0.0

    def of(self, pooled: int) -> int:
        return self.units + share(pooled, self.percent, 100)  # percent rounds down: never hold back less


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    locations: frozenset[str] | None = None  # eligible locations; None = all
    safety_stock: SafetyStock = SafetyStock()
    # Per-SKU (exact) and per-prefix overrides; the longest matching prefix wins, an exact SKU beats any prefix.
    safety_stock_by_sku: tuple[tuple[str, SafetyStock], ...] = ()
    safety_stock_by_prefix: tuple[tuple[str, SafetyStock], ...] = ()
    allocation_cap: float = 1.0  # share of pooled available the channel may see
    low_stock_below: int = 0  # publish 0 when the figure is below this
    priority: int = 0  # higher first: lower-priority channels also hold back higher ones' safety stock
    max_updates_per_s: float | None = None  # publication rate limit (None: unlimited)
    publication_slo_s: float | None = None  # event to publication, the channel's objective (for alerts)

    def eligible(self, location: str) -> bool:
        return self.locations is None or location in self.locations

    def safety_stock_for(self, sku: str) -> SafetyStock:
        for exact, rule in self.safety_stock_by_sku:
            if exact == sku:
                return rule
        best: tuple[int, SafetyStock] | None = None
        for prefix, rule in self.safety_stock_by_prefix:
            if sku.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rule)
        return best[1] if best else self.safety_stock


@dataclass(frozen=True, slots=True)
class RingFence:
    """Contract stock for one account: only that account's view may consume it.

    `location` None means the pool (any of the account channel's eligible locations).
    Consumption is the account's net reservations (created minus released) of the SKU
    at the fence's location(s), as folded from the events.
    """

    account: str
    channel: str
    sku: str
    quantity: int
    location: str | None = None


class StaleMode(StrEnum):
    EXCLUDE = "exclude"
    CAP = "cap"


@dataclass(frozen=True, slots=True)
class StaleRule:
    """A location whose authoritative source has been silent for `after_ms` is published
    conservatively: excluded, or capped at `cap_units` (absolute, per SKU)."""

    source: str
    after_ms: int
    mode: StaleMode = StaleMode.EXCLUDE
    cap_units: int = 0


@dataclass(frozen=True, slots=True)
class Bundle:
    """A kit SKU made of components: {component sku: quantity per kit}."""

    sku: str
    components: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    channels: tuple[Channel, ...]
    ring_fences: tuple[RingFence, ...] = ()
    stale: tuple[tuple[str, StaleRule], ...] = ()  # location -> rule
    bundles: tuple[Bundle, ...] = ()
    reconciliation: tuple[ReconciliationRule, ...] = ()
    sources: SourceRules = field(default_factory=SourceRules)
    _by_name: dict[str, Channel] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.channels})

    def channel(self, name: str) -> Channel:
        return self._by_name[name]

    def fences_for(self, sku: str) -> tuple[RingFence, ...]:
        return tuple(f for f in self.ring_fences if f.sku == sku)

    def stale_rule(self, location: str) -> StaleRule | None:
        for loc, rule in self.stale:
            if loc == location:
                return rule
        return None
