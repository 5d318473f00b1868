"""Channel formulas: the governed invariants hold for any policy and any stock picture."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.channels import (
    LocationView,
    account_figures,
    account_terms,
    channel_figure,
    channel_figures,
    channel_terms,
    effective_available,
    kit_figure,
    kit_terms,
    unconsumed,
)
from operators.policy import Bundle, Channel, Policy, RingFence, SafetyStock, StaleMode, StaleRule
from tests.support.explain import recompute

LOCATIONS = ["L1", "L2", "L3"]
ACCOUNTS = ["A1", "A2"]


def safety_stocks(percents: bool = True) -> st.SearchStrategy[SafetyStock]:
    return st.builds(
        SafetyStock, units=st.integers(0, 30), percent=st.sampled_from([0.0, 5.0, 10.0, 25.0] if percents else [0.0])
    )


@st.composite
def policies(draw: Any, percents: bool = True) -> Policy:
    safety = safety_stocks(percents)
    names = draw(st.lists(st.sampled_from(["dtc", "amazon", "b2b", "edi"]), min_size=1, max_size=4, unique=True))
    channels = tuple(
        Channel(
            name=n,
            locations=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(LOCATIONS), min_size=1))),
            safety_stock=draw(safety),
            safety_stock_by_prefix=tuple(
                draw(st.lists(st.tuples(st.sampled_from(["S", "SK", "X"]), safety), max_size=2))
            ),
            allocation_cap=draw(st.sampled_from([1.0, 0.6, 0.25])),
            low_stock_below=draw(st.integers(0, 10)),
            priority=draw(st.integers(0, 3)),
        )
        for n in names
    )
    fences = tuple(
        RingFence(
            draw(st.sampled_from(ACCOUNTS)),
            draw(st.sampled_from(names)),
            "SKU-1",
            draw(st.integers(0, 60)),
            draw(st.one_of(st.none(), st.sampled_from(LOCATIONS))),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    stale = tuple(
        (loc, StaleRule("WMS", 60_000, draw(st.sampled_from(list(StaleMode))), draw(st.integers(0, 20))))
        for loc in draw(st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=2))
    )
    return Policy("v1", channels, fences, stale)


views_strategy = st.lists(
    st.builds(
        LocationView,
        location=st.sampled_from(LOCATIONS),
        available=st.integers(-10, 150),
        consumed=st.dictionaries(st.sampled_from(ACCOUNTS), st.integers(-5, 40), max_size=2),
        stale=st.booleans(),
    ),
    max_size=3,
    unique_by=lambda v: v.location,
)


kit_components = st.lists(
    st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.integers(1, 5)), min_size=1, max_size=3, unique_by=lambda c: c[0]
)
component_figures = st.dictionaries(st.sampled_from(["C1", "C2", "C3"]), st.integers(-3, 100))


def held(policy: Policy, channel: Channel, views: list[LocationView]) -> int:
    """What the channel's eligible locations physically make available (after staleness)."""
    return sum(effective_available(policy, v) for v in views if channel.eligible(v.location))


@settings(max_examples=400, deadline=None)
@given(policy=policies(), views=views_strategy)
def test_never_negative_never_above_what_eligible_locations_hold(policy: Policy, views: list[LocationView]) -> None:
    for name, figure in channel_figures(policy, "SKU-1", views).items():
        assert 0 <= figure <= held(policy, policy.channel(name), views)
    for account, figure in account_figures(policy, "SKU-1", views).items():
        fence = next(f for f in policy.ring_fences if f.account == account)
        assert 0 <= figure <= held(policy, policy.channel(fence.channel), views)


@settings(max_examples=400, deadline=None)
@given(policy=policies(), views=views_strategy)
def test_ring_fenced_stock_is_never_published_to_other_channels(policy: Policy, views: list[LocationView]) -> None:
    figures = channel_figures(policy, "SKU-1", views)
    for channel in policy.channels:
        eligible = [v for v in views if channel.eligible(v.location)]
        names = {v.location for v in eligible}
        total = sum(effective_available(policy, v) for v in eligible)
        # Fenced stock physically present in the channel's locations (location fences capped by
        # what the location holds), plus pool fences on an overlapping pool.
        at = {v.location: effective_available(policy, v) for v in eligible}
        fenced = 0
        for loc in names:
            fenced += min(at[loc], sum(unconsumed(policy, f, views) for f in policy.ring_fences if f.location == loc))
        pools = [
            f
            for f in policy.ring_fences
            if f.location is None
            and (
                f.channel == channel.name
                or names & {v.location for v in views if policy.channel(f.channel).eligible(v.location)}
            )
        ]
        fenced += sum(unconsumed(policy, f, views) for f in pools)
        assert figures[channel.name] <= max(0, total - fenced)


@settings(max_examples=300, deadline=None)
@given(policy=policies(percents=False), views=views_strategy)
def test_an_account_sees_at_least_what_its_channel_sees(policy: Policy, views: list[LocationView]) -> None:
    """Its own fences go back into its pool. (With percentage safety stock summed over several
    channels above 100 %, a bigger pool can hold back more than it adds, so units only here.)"""
    figures = channel_figures(policy, "SKU-1", views)
    for account, figure in account_figures(policy, "SKU-1", views).items():
        channel = policy.channel(next(f for f in policy.ring_fences if f.account == account).channel)
        assert figure >= figures[channel.name]


@settings(max_examples=300, deadline=None)
@given(components=kit_components, figures=component_figures)
def test_kits_never_exceed_any_components_limit(components: list[tuple[str, int]], figures: dict[str, int]) -> None:
    kits = kit_figure(Bundle("KIT", tuple(components)), figures)
    assert kits >= 0
    for sku, qty in components:
        assert kits * qty <= max(0, figures.get(sku, 0))
    # and it is the largest such number
    assert any((kits + 1) * qty > max(0, figures.get(sku, 0)) for sku, qty in components)


def test_worked_example() -> None:
    """The README's worked example, number for number."""
    policy = Policy(
        "2026-11-01",
        (
            Channel("b2b", None, SafetyStock(units=10), priority=2),
            Channel(
                "amazon",
                frozenset({"WH-EAST", "WH-WEST"}),
                SafetyStock(percent=10),
                allocation_cap=0.6,
                low_stock_below=5,
                priority=1,
            ),
            Channel("dtc", frozenset({"WH-EAST"}), SafetyStock(units=5), priority=0),
        ),
        (RingFence("ACME", "b2b", "SKU-1", 50, "WH-EAST"),),
        (("3PL-CENTRAL", StaleRule("3PL", 900_000, StaleMode.EXCLUDE)),),
    )
    views = [
        LocationView("WH-EAST", 120, {"ACME": 20}),  # ACME has reserved 20 of its 50: 30 still fenced
        LocationView("WH-WEST", 40),
        LocationView("3PL-CENTRAL", 25, stale=True),  # its 3PL feed went quiet: excluded
    ]
    figures = channel_figures(policy, "SKU-1", views)
    assert figures["b2b"] == 120
    assert figures["amazon"] == 78
    assert figures["dtc"] == 90 - 5 - 10 - 9
    assert account_figures(policy, "SKU-1", views) == {"ACME": 150}  # its own 30 back in: 160 - 10


def test_safety_stock_overrides() -> None:
    channel = Channel(
        "dtc",
        safety_stock=SafetyStock(units=1),
        safety_stock_by_sku=(("SKU-12", SafetyStock(units=7)),),
        safety_stock_by_prefix=(("SKU-", SafetyStock(units=3)), ("SKU-1", SafetyStock(units=5))),
    )
    assert channel.safety_stock_for("SKU-12").units == 7
    assert channel.safety_stock_for("SKU-13").units == 5  # longest prefix
    assert channel.safety_stock_for("SKU-2").units == 3
    assert channel.safety_stock_for("OTHER").units == 1
    assert channel_figure(Policy("v", (channel,)), channel, "SKU-12", [LocationView("L", 10)]) == 3


@settings(max_examples=300)
@given(
    available=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=4),
    cap=st.sampled_from([1.0, 0.8, 0.35, 0.1, 0.999]),
    percent=st.sampled_from([0.0, 12.5, 33.3, 0.5]),
)
def test_figures_are_exact_beyond_2_53_and_stay_an_avro_long(available: list[int], cap: float, percent: float) -> None:
    """The cap and the percent are the ratios as written (0.8 is 4/5), applied in integers:
    float arithmetic was off by one past 2**53 (about 9,008 receipts of 10**12); a figure
    summed over locations is held to int64, the largest figure a channel topic can carry."""
    from fractions import Fraction

    channel = Channel("b2b", allocation_cap=cap, safety_stock=SafetyStock(units=1, percent=percent))
    views = [LocationView(f"L{i}", a) for i, a in enumerate(available)]
    pool = sum(available)
    held = 1 + (pool * Fraction(repr(percent)) / 100).__floor__()
    expected = min(max(0, pool - held), (pool * Fraction(repr(cap))).__floor__(), 2**63 - 1)
    assert channel_figure(Policy("v", (channel,)), channel, "SKU-1", views) == expected


@settings(max_examples=400, deadline=None)
@given(policy=policies(), views=views_strategy)
def test_the_terms_of_every_figure_recompute_it_exactly(policy: Policy, views: list[LocationView]) -> None:
    """What explain shows adds up: the README's formula over the terms gives the figure."""
    for name, terms in channel_terms(policy, "SKU-1", views).items():
        t = terms.to_dict()
        assert recompute(t) == t["figure"] == channel_figures(policy, "SKU-1", views)[name]
        assert [loc["location"] for loc in t["locations"]] == [v.location for v in views]
        assert t["safety"][0]["channel"] == name
        assert {s["channel"] for s in t["safety"][1:]} == {
            c.name for c in policy.channels if c.priority > policy.channel(name).priority
        }
        assert len(t["fences"]) == len(policy.fences_for("SKU-1"))
    for account, terms in account_terms(policy, "SKU-1", views).items():
        t = terms.to_dict()
        assert t["account"] == account and recompute(t) == t["figure"]
        assert all(f["counted"] is None for f in t["fences"] if f["account"] == account)  # its own stay in the pool


@settings(max_examples=200, deadline=None)
@given(components=kit_components, figures=component_figures)
def test_a_kits_terms_name_its_limiting_component(components: list[tuple[str, int]], figures: dict[str, int]) -> None:
    terms = kit_terms(Bundle("KIT", tuple(components)), figures)
    assert recompute(terms) == terms["figure"] == kit_figure(Bundle("KIT", tuple(components)), figures)
    limiting = next(p for p in terms["components"] if p["sku"] == terms["limiting"])
    assert limiting["allows"] == terms["figure"]
