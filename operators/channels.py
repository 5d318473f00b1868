"""Channel availability: the exact formulas, pure functions of (policy, one SKU's locations).

For SKU s and channel c with eligible locations L(c):

  a(l)      = the location's available, max(0, sellable - reserved); for a stale location
              (its authoritative source silent too long): 0 (exclude) or min(a(l), cap) (cap)
  u(f)      = max(0, f.quantity - consumed(f)): the unconsumed part of ring-fence f, where
              consumed(f) = f.account's net reservations of s in f's scope
  F(l)      = sum of u(f) for fences at location l (other accounts' only, in an account view)
  P(c)      = sum of u(f) for pool fences whose pool overlaps L(c) (same proviso)
  pooled(c) = max(0, sum over l in L(c) of max(0, a(l) - F(l))  -  P(c))
  ss(c)     = safety stock of c for s (SKU override > longest prefix > channel default;
              units + percent of pooled(c)), plus that of every channel of higher priority
  figure(c) = min(max(0, pooled(c) - ss(c)), floor(allocation_cap(c) * pooled(c))),
              then 0 if it is below the channel's low-stock threshold.

An account's view is its channel's figure with its own fences left in the pool.
A kit's figure on c is min over components i of floor(figure_i(c) / quantity_i).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from operators.fold import INT64_MAX
from operators.policy import Bundle, Channel, Policy, RingFence, StaleMode
from operators.ratios import share


@dataclass(frozen=True, slots=True)
class LocationView:
    """What the channel stage knows of one location of a SKU."""

    location: str
    available: int
    consumed: Mapping[str, int] = field(default_factory=dict)  # account -> net reserved here
    stale: bool = False


def effective_available(policy: Policy, view: LocationView) -> int:
    available = max(0, view.available)
    if not view.stale:
        return available
    rule = policy.stale_rule(view.location)
    if rule is None:
        return available
    return 0 if rule.mode is StaleMode.EXCLUDE else min(available, rule.cap_units)


def _pool_locations(policy: Policy, fence: RingFence, views: Iterable[LocationView]) -> set[str]:
    if fence.location is not None:
        return {fence.location}
    channel = policy.channel(fence.channel)
    return {v.location for v in views if channel.eligible(v.location)}


def _consumed(fence: RingFence, scope: set[str], views: list[LocationView]) -> int:
    """The fence's account's net reservations at the locations of its scope."""
    return max(0, sum(v.consumed.get(fence.account, 0) for v in views if v.location in scope))


def unconsumed(policy: Policy, fence: RingFence, views: Iterable[LocationView]) -> int:
    views = list(views)
    return max(0, fence.quantity - _consumed(fence, _pool_locations(policy, fence, views), views))


def _stale_rule(policy: Policy, view: LocationView) -> str | None:
    rule = policy.stale_rule(view.location) if view.stale else None
    if rule is None:
        return None
    return "exclude" if rule.mode is StaleMode.EXCLUDE else f"cap {rule.cap_units}"


@dataclass(frozen=True, slots=True)
class LocationTerm:
    """One location's part in a channel's figure."""

    location: str
    eligible: bool
    available: int  # max(0, the snapshot's available)
    stale: bool
    stale_rule: str | None  # "exclude" or "cap N" when the location is stale and a rule covers it
    effective: int  # a(l): after the stale rule
    fenced: int  # F(l): other accounts' unconsumed fences here
    contributes: int  # max(0, a(l) - F(l)) when eligible, else 0


@dataclass(frozen=True, slots=True)
class FenceTerm:
    """A ring-fence of the SKU and what is left of it."""

    account: str
    channel: str
    location: str | None  # None: the pool of its channel's locations
    quantity: int
    consumed: int  # the account's net reservations in the fence's scope
    unconsumed: int  # u(f)
    counted: str | None  # "location" (in F(l)), "pool" (in P(c)), or None (own fence, or out of scope)


@dataclass(frozen=True, slots=True)
class SafetyTerm:
    """Safety stock one channel holds back from this channel's pool."""

    channel: str
    units: int
    percent: float
    held: int


@dataclass(frozen=True, slots=True)
class FigureTerms:
    """Every term of one channel's (or account's) figure, as computed: `figure` follows
    from them by the formula above."""

    channel: str
    account: str | None
    locations: tuple[LocationTerm, ...]
    fences: tuple[FenceTerm, ...]
    pool_fenced: int  # P(c)
    pooled: int
    safety: tuple[SafetyTerm, ...]
    after_safety: int  # max(0, pooled - ss(c))
    allocation_cap: float
    cap_units: int  # floor(allocation_cap * pooled)
    low_stock_below: int
    figure: int

    def to_dict(self) -> dict[str, Any]:
        out = _fields(self)
        for name in ("locations", "fences", "safety"):
            out[name] = [_fields(term) for term in out[name]]
        return out


def _fields(term: Any) -> dict[str, Any]:
    """A flat terms dataclass as a dict (dataclasses.asdict deep-copies: ~3x the figure's own cost)."""
    return {name: getattr(term, name) for name in term.__dataclass_fields__}


def figure_terms(
    policy: Policy, channel: Channel, sku: str, views: list[LocationView], account: str | None = None
) -> FigureTerms:
    """The figure of `channel` (in `account`'s view: its own fences stay in the pool) and
    every term it is computed from."""
    eligible_names = {v.location for v in views if channel.eligible(v.location)}
    fences: list[FenceTerm] = []
    by_location: dict[str, int] = {}
    pool_fenced = 0
    for f in policy.fences_for(sku):
        scope = _pool_locations(policy, f, views)
        consumed = _consumed(f, scope, views)
        u = max(0, f.quantity - consumed)
        counted: str | None = None
        if f.account == account:
            pass
        elif f.location is not None:
            by_location[f.location] = by_location.get(f.location, 0) + u
            counted = "location"
        elif f.channel == channel.name or scope & eligible_names:
            pool_fenced += u
            counted = "pool"
        fences.append(FenceTerm(f.account, f.channel, f.location, f.quantity, consumed, u, counted))
    locations: list[LocationTerm] = []
    for v in views:
        effective = effective_available(policy, v)
        fenced = by_location.get(v.location, 0)
        ok = v.location in eligible_names
        contributes = max(0, effective - fenced) if ok else 0
        locations.append(
            LocationTerm(
                v.location, ok, max(0, v.available), v.stale, _stale_rule(policy, v), effective, fenced, contributes
            )
        )
    pool = max(0, sum(t.contributes for t in locations) - pool_fenced)
    safety = [_safety(channel, sku, pool)]
    safety += [_safety(other, sku, pool) for other in policy.channels if other.priority > channel.priority]
    after_safety = max(0, pool - sum(t.held for t in safety))
    cap_units = share(pool, channel.allocation_cap)
    figure = min(after_safety, cap_units, INT64_MAX)  # a figure is an Avro long
    figure = 0 if figure < channel.low_stock_below else figure
    return FigureTerms(
        channel.name,
        account,
        tuple(locations),
        tuple(fences),
        pool_fenced,
        pool,
        tuple(safety),
        after_safety,
        channel.allocation_cap,
        cap_units,
        channel.low_stock_below,
        figure,
    )


def _safety(channel: Channel, sku: str, pool: int) -> SafetyTerm:
    rule = channel.safety_stock_for(sku)
    return SafetyTerm(channel.name, rule.units, rule.percent, rule.of(pool))


def channel_figure(
    policy: Policy, channel: Channel, sku: str, views: list[LocationView], account: str | None = None
) -> int:
    return figure_terms(policy, channel, sku, views, account).figure


def channel_terms(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, FigureTerms]:
    """Every channel's figure for one SKU, with its terms."""
    return {c.name: figure_terms(policy, c, sku, views) for c in policy.channels}


def account_terms(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, FigureTerms]:
    """The figure of every account with a fence on this SKU (its channel, plus its own
    fences), with its terms."""
    out: dict[str, FigureTerms] = {}
    for f in policy.fences_for(sku):
        if f.account not in out:
            out[f.account] = figure_terms(policy, policy.channel(f.channel), sku, views, account=f.account)
    return out


def channel_figures(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, int]:
    """Every channel's figure for one SKU."""
    return {name: t.figure for name, t in channel_terms(policy, sku, views).items()}


def account_figures(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, int]:
    """The figure of every account with a fence on this SKU."""
    return {account: t.figure for account, t in account_terms(policy, sku, views).items()}


def kit_terms(bundle: Bundle, component_figures: Mapping[str, int]) -> dict[str, Any]:
    """A kit's figure and each component's part in it: the limiting one allows the fewest kits."""
    parts: list[dict[str, Any]] = []
    for sku, qty in bundle.components:
        figure = max(0, component_figures.get(sku, 0))
        parts.append({"sku": sku, "quantity": qty, "figure": figure, "allows": figure // qty})
    limiting = min(parts, key=lambda p: int(p["allows"])) if parts else None
    return {
        "components": parts,
        "limiting": limiting["sku"] if limiting else None,
        "figure": limiting["allows"] if limiting else 0,
    }


def kit_figure(bundle: Bundle, component_figures: Mapping[str, int]) -> int:
    """How many kits the components' figures allow; a component with no figure allows none."""
    figure: int = kit_terms(bundle, component_figures)["figure"]
    return figure
