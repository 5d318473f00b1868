"""Per-SKU channel state and per-channel throttling: pure, so the dataflow only wires them.

`SkuChannels` keeps one SKU's location views and what was last published per channel
and per account; feeding it a location snapshot, a new policy or a staleness change
returns the publications whose figure changed. `Throttle` enforces a channel's
publication rate: while throttled it keeps only the newest publication per SKU
(coalescing), so nothing but superseded figures is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from operators.channels import FigureTerms, LocationView, account_terms, channel_terms, kit_terms
from operators.policy import Bundle, Policy
from operators.snapshot import AvailabilitySnapshot

MAX_IDS = 32  # ids kept on a publication that coalesces many changes


@dataclass(frozen=True, slots=True)
class ChannelPublication:
    """A channel's (or an account's) figure for one SKU, published when it changed.

    `version` is the number of events folded into the SKU across its locations: it
    grows with every event; a policy or staleness change republishes at the same
    version (consumers keep the highest version, the later message on a tie).
    """

    sku: str
    channel: str
    available: int
    previous: int | None
    version: int
    as_of: int
    policy_version: str
    cause_event_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()
    account: str | None = None
    published_at: int | None = None  # wall clock (ms) when the publisher let it out
    explanation: dict[str, Any] | None = None  # the terms the figure was computed from (the API's explain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "channel": self.channel,
            "account": self.account,
            "available": self.available,
            "previous": self.previous,
            "version": self.version,
            "as_of": self.as_of,
            "policy_version": self.policy_version,
            "cause_event_ids": list(self.cause_event_ids),
            "correlation_ids": list(self.correlation_ids),
            "published_at": self.published_at,
            "explanation": self.explanation,
        }


@dataclass(slots=True)
class _Location:
    available: int
    accounts: dict[str, int]
    version: int
    as_of: int
    last_event_id: str
    correlation_ids: tuple[str, ...] = ()
    source_systems: tuple[str, ...] = ()


def _explained(terms: FigureTerms, locations: dict[str, _Location]) -> dict[str, Any]:
    """The terms, each location's with the events that last changed it."""
    out = terms.to_dict()
    for term in out["locations"]:
        loc = locations[term["location"]]
        term["version"], term["as_of"] = loc.version, loc.as_of
        term["last_event_id"] = loc.last_event_id
        term["correlation_ids"] = list(getattr(loc, "correlation_ids", ()))  # absent in state from before
        term["source_systems"] = list(getattr(loc, "source_systems", ()))
    return out


@dataclass(slots=True)
class SkuChannels:
    sku: str
    locations: dict[str, _Location] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)  # channel -> last figure
    published_accounts: dict[str, int] = field(default_factory=dict)  # account -> last figure

    def on_snapshot(
        self, snap: AvailabilitySnapshot, policy: Policy, stale: frozenset[str]
    ) -> list[ChannelPublication]:
        self.locations[snap.location] = _Location(
            snap.available,
            dict(snap.accounts),
            snap.version,
            snap.as_of,
            snap.last_event_id,
            snap.correlation_ids,
            snap.source_systems,
        )
        return self.recompute(policy, stale, (snap.last_event_id,), snap.correlation_ids)

    def terms(self, policy: Policy, stale: frozenset[str]) -> tuple[dict[str, FigureTerms], dict[str, FigureTerms]]:
        views = [LocationView(loc, s.available, s.accounts, loc in stale) for loc, s in sorted(self.locations.items())]
        return channel_terms(policy, self.sku, views), account_terms(policy, self.sku, views)

    def recompute(
        self,
        policy: Policy,
        stale: frozenset[str],
        causes: tuple[str, ...] = (),
        correlation_ids: tuple[str, ...] = (),
    ) -> list[ChannelPublication]:
        """Publications for every channel and account whose figure changed."""
        by_channel, by_account = self.terms(policy, stale)
        version = sum(s.version for s in self.locations.values())
        as_of = max((s.as_of for s in self.locations.values()), default=0)
        for channel in [c for c in self.published if c not in by_channel]:
            del self.published[channel]  # a channel the new policy no longer has
        fence_channels = {f.account: f.channel for f in policy.fences_for(self.sku)}
        views: list[tuple[str, str | None, FigureTerms, dict[str, int]]] = [
            (channel, None, terms, self.published) for channel, terms in by_channel.items()
        ]
        views += [(fence_channels[a], a, terms, self.published_accounts) for a, terms in by_account.items()]
        out: list[ChannelPublication] = []
        for channel, account, terms, published in views:
            previous, figure = published.get(account or channel), terms.figure
            if previous != figure:
                published[account or channel] = figure
                out.append(
                    ChannelPublication(
                        self.sku,
                        channel,
                        figure,
                        previous,
                        version,
                        as_of,
                        policy.version,
                        causes,
                        correlation_ids,
                        account,
                        explanation=_explained(terms, self.locations),
                    )
                )
        return out


@dataclass(slots=True)
class KitChannels:
    """One kit: its components' latest channel figures, and what was last published."""

    kit: str
    components: dict[str, dict[str, int]] = field(default_factory=dict)  # component -> channel -> figure
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)  # component -> (version, as_of)
    published: dict[str, int] = field(default_factory=dict)

    def on_component(self, pub: ChannelPublication, bundle: Bundle, policy_version: str) -> list[ChannelPublication]:
        if pub.account is not None:
            return []
        self.components.setdefault(pub.sku, {})[pub.channel] = pub.available
        self.versions[pub.sku] = (pub.version, pub.as_of)
        return self.recompute(bundle, policy_version, pub.cause_event_ids, pub.correlation_ids)

    def recompute(
        self, bundle: Bundle, policy_version: str, causes: tuple[str, ...] = (), correlation_ids: tuple[str, ...] = ()
    ) -> list[ChannelPublication]:
        channels = {c for figures in self.components.values() for c in figures}
        version = sum(v for v, _ in self.versions.values())
        as_of = max((a for _, a in self.versions.values()), default=0)
        out = []
        for channel in sorted(channels):
            figures = {sku: self.components.get(sku, {}).get(channel, 0) for sku, _ in bundle.components}
            terms = kit_terms(bundle, figures)
            previous, figure = self.published.get(channel), terms["figure"]
            if previous != figure:
                self.published[channel] = figure
                out.append(
                    ChannelPublication(
                        bundle.sku,
                        channel,
                        figure,
                        previous,
                        version,
                        as_of,
                        policy_version,
                        causes,
                        correlation_ids,
                        explanation=terms,
                    )
                )
        return out


def _merged(older: tuple[str, ...], newer: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(older + newer))[-MAX_IDS:]


URGENT, DECREASE, INCREASE = 0, 1, 2
"""Risk classes of a waiting figure, against what the channel was last told: a fall to
zero or below the low-stock threshold, or by half or more (an unpublished decrease is an
oversell); any other decrease; an increase or a first figure (only a missed sale)."""

PubKey = tuple[str, str | None]


def risk(p: ChannelPublication, low_stock: int) -> int:
    """The risk class of publishing `p` late (see URGENT)."""
    if p.previous is None or p.available >= p.previous:
        return INCREASE
    if p.available == 0 or p.available < low_stock or 2 * p.available <= p.previous:
        return URGENT
    return DECREASE


@dataclass(slots=True)
class Waiting:
    """A coalesced publication and since when its SKU has waited (wall-clock seconds)."""

    pub: ChannelPublication
    since: float


def _coalesced(waiting: ChannelPublication, p: ChannelPublication) -> ChannelPublication:
    """The newest figure, against the oldest `previous` (what the channel was last told),
    with the newest of both publications' ids (at most MAX_IDS each)."""
    return replace(
        p,
        previous=waiting.previous,
        cause_event_ids=_merged(waiting.cause_event_ids, p.cause_event_ids),
        correlation_ids=_merged(waiting.correlation_ids, p.correlation_ids),
    )


@dataclass(slots=True)
class Throttle:
    """At most `per_s` publications a second for one channel (None: no limit), as a token
    bucket of one second's burst. While throttled, the newest figure per SKU waits in the
    place its SKU first took, in one queue per risk class: urgent figures go out first,
    then decreases, then increases; but a figure that has waited a whole queue cycle (the
    time to publish everything waiting once) goes before newer ones, taking turns with
    urgent figures, so no SKU starves."""

    per_s: float | None
    tokens: float = 0.0
    refilled_at: float = 0.0
    low_stock: int = 0
    queues: tuple[dict[PubKey, Waiting], ...] = field(default_factory=lambda: ({}, {}, {}))
    overdue_turn: bool = False  # whose turn it is when urgent and overdue figures both wait

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.per_s, self.tokens, self.refilled_at, self.low_stock, self.queues, self.overdue_turn)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        if len(state) == 4:  # from before the risk queues: (per_s, tokens, refilled_at, {key: publication})
            per_s, tokens, refilled_at, pending = state
            state = (per_s, tokens, refilled_at, 0, ({}, {}, {}), False)
            self.__setstate__(state)
            for key, pub in pending.items():
                self.queues[risk(pub, 0)][key] = Waiting(pub, refilled_at)
            return
        self.per_s, self.tokens, self.refilled_at, self.low_stock, self.queues, self.overdue_turn = state

    @property
    def depth(self) -> int:
        """How many SKUs (and account views) wait."""
        return sum(len(q) for q in self.queues)

    def oldest_wait(self, now: float) -> float:
        """How long the longest-waiting figure has waited, in seconds (0 when none waits)."""
        heads = [next(iter(q.values())).since for q in self.queues[1:] if q]
        heads += [w.since for w in self.queues[URGENT].values()]  # promoted ones keep their age
        return max(0.0, now - min(heads)) if heads else 0.0

    def offer(self, pubs: list[ChannelPublication], now: float) -> list[ChannelPublication]:
        """Queue `pubs` (newest wins per SKU) and return what may go out at `now`."""
        for p in pubs:
            key = (p.sku, p.account)
            held = next((c for c, q in enumerate(self.queues) if key in q), None)
            if held is None:
                self.queues[risk(p, self.low_stock)][key] = Waiting(p, now)
                continue
            waiting = self.queues[held][key]
            waiting.pub = _coalesced(waiting.pub, p)  # in place: the SKU keeps its place
            now_risk = risk(waiting.pub, self.low_stock)
            if now_risk < held:  # it became riskier: move up
                del self.queues[held][key]
                self.queues[now_risk][key] = waiting
        return self.release(now)

    def _take(self, now: float, patience: float) -> ChannelPublication:
        """The next figure to go out: the head of the riskiest class that has one, but a
        lower class's oldest once it has waited `patience`; when urgent figures and such
        overdue ones both wait, they take turns, so neither can starve the other."""
        due = [
            (q[k].since, c)
            for c in (DECREASE, INCREASE)
            if (q := self.queues[c]) and now - q[k := next(iter(q))].since >= patience
        ]
        urgent = bool(self.queues[URGENT])
        if due and urgent:
            self.overdue_turn = not self.overdue_turn
        if due and (self.overdue_turn or not urgent):
            cls = min(due)[1]
        else:
            cls = next(c for c, q in enumerate(self.queues) if q)
        queue = self.queues[cls]
        return queue.pop(next(iter(queue))).pub

    def release(self, now: float) -> list[ChannelPublication]:
        """What may go out at `now` (wall-clock seconds), stamped with `published_at`."""
        depth = self.depth
        if self.per_s is None:
            n, patience = depth, float("inf")
        else:
            self.tokens = min(self.per_s, self.tokens + (now - self.refilled_at) * self.per_s)
            self.refilled_at = now
            n = min(int(self.tokens), depth)
            if n <= 0:
                return []
            self.tokens -= n
            patience = max(1.0, depth / self.per_s)
        stamp = int(now * 1000)
        return [replace(self._take(now, patience), published_at=stamp) for _ in range(n)]

    def next_release(self, now: float) -> float | None:
        """When the next waiting publication may go out, or None if nothing waits."""
        if not self.depth:
            return None
        if self.per_s is None:
            return now
        return now + max(0.0, (1.0 - self.tokens) / self.per_s)
