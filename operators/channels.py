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


def unconsumed(policy: Policy, fence: RingFence, views: Iterable[LocationView]) -> int:
    views = list(views)
    scope = _pool_locations(policy, fence, views)
    consumed = sum(v.consumed.get(fence.account, 0) for v in views if v.location in scope)
    return max(0, fence.quantity - max(0, consumed))


def pooled(policy: Policy, channel: Channel, sku: str, views: list[LocationView], account: str | None = None) -> int:
    """Available to `channel` across its eligible locations after other accounts' fences."""
    fences = [f for f in policy.fences_for(sku) if f.account != account]
    eligible = [v for v in views if channel.eligible(v.location)]
    eligible_names = {v.location for v in eligible}
    by_location: dict[str, int] = {}
    pool_fenced = 0
    for f in fences:
        u = unconsumed(policy, f, views)
        if f.location is not None:
            by_location[f.location] = by_location.get(f.location, 0) + u
        elif f.channel == channel.name or _pool_locations(policy, f, views) & eligible_names:
            pool_fenced += u
    total = sum(max(0, effective_available(policy, v) - by_location.get(v.location, 0)) for v in eligible)
    return max(0, total - pool_fenced)


def safety_stock(policy: Policy, channel: Channel, sku: str, pool: int) -> int:
    held = channel.safety_stock_for(sku).of(pool)
    for other in policy.channels:
        if other.priority > channel.priority:
            held += other.safety_stock_for(sku).of(pool)
    return held


def channel_figure(
    policy: Policy, channel: Channel, sku: str, views: list[LocationView], account: str | None = None
) -> int:
    pool = pooled(policy, channel, sku, views, account)
    figure = max(0, pool - safety_stock(policy, channel, sku, pool))
    figure = min(figure, share(pool, channel.allocation_cap), INT64_MAX)  # a figure is an Avro long
    return 0 if figure < channel.low_stock_below else figure


def channel_figures(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, int]:
    """Every channel's figure for one SKU."""
    return {c.name: channel_figure(policy, c, sku, views) for c in policy.channels}


def account_figures(policy: Policy, sku: str, views: list[LocationView]) -> dict[str, int]:
    """The figure of every account with a fence on this SKU: its channel, plus its own fences."""
    out: dict[str, int] = {}
    for f in policy.fences_for(sku):
        if f.account not in out:
            out[f.account] = channel_figure(policy, policy.channel(f.channel), sku, views, account=f.account)
    return out


def kit_figure(bundle: Bundle, component_figures: Mapping[str, int]) -> int:
    """How many kits the components' figures allow; a component with no figure allows none."""
    if not bundle.components:
        return 0
    return min(max(0, component_figures.get(sku, 0)) // qty for sku, qty in bundle.components)
