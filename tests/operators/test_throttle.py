"""Fair, risk-first throttling: a waiting SKU keeps its place, no SKU starves, and a fall to
zero overtakes waiting increases."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.publication import MAX_IDS, ChannelPublication, Throttle

RATE = 10.0  # publications a second
TICK = 0.01  # the timer's resolution in the simulation


def pub(sku: str, available: int, previous: int | None, n: int) -> ChannelPublication:
    return ChannelPublication(sku, "amazon", available, previous, n, n, "v1", (f"e-{sku}-{n}",), (f"c-{n}",))


def simulate(seconds: float, drop_at: float | None = None) -> dict[str, object]:
    """200 cool SKUs that rise once a second each, one hot SKU that changes every tick, and
    (at `drop_at`) one SKU falling to zero, through a 10/s channel."""
    rng = random.Random(7)
    throttle = Throttle(RATE, refilled_at=0.0, low_stock=5)
    told: dict[str, int] = {}  # what the channel was last told
    figure: dict[str, int] = {f"S{i}": 100 for i in range(200)} | {"HOT": 1000, "DROP": 50}
    out: list[tuple[float, ChannelPublication]] = []
    n, now, dropped_at = 0, 0.0, None
    while now < seconds:
        offered = []
        n += 1
        figure["HOT"] += rng.choice((-3, 2))
        offered.append(pub("HOT", figure["HOT"], told.get("HOT"), n))
        if int(now * 100) % 100 == 0:  # once a second every cool SKU rises
            for i in range(200):
                sku = f"S{i}"
                figure[sku] += 1
                offered.append(pub(sku, figure[sku], told.get(sku), n))
        if drop_at is not None and dropped_at is None and now >= drop_at:
            dropped_at = now
            offered.append(pub("DROP", 0, told.get("DROP", 50), n))
        for p in throttle.offer(offered, now):
            told[p.sku] = p.available
            out.append((now, p))
        now = round(now + TICK, 6)
    hot = [t for t, p in out if p.sku == "HOT"]
    gaps = [b - a for a, b in itertools.pairwise(hot)]
    drop_wait = next((t - dropped_at for t, p in out if p.sku == "DROP"), None) if dropped_at is not None else None
    return {"out": out, "hot": hot, "max_gap": max(gaps, default=0.0), "drop_wait": drop_wait, "throttle": throttle}


def test_a_hot_sku_is_published_every_queue_cycle() -> None:
    result = simulate(60.0)
    out, hot = result["out"], result["hot"]
    assert isinstance(out, list) and isinstance(hot, list)
    assert len(out) <= 60 * RATE + RATE  # the rate holds (one second of burst)
    cycle = 202 / RATE  # every waiting SKU published once
    assert result["max_gap"] <= cycle + 1.0, result["max_gap"]
    assert len(hot) >= 60 / (cycle + 1.0) - 1
    assert all(len(p.cause_event_ids) <= MAX_IDS and len(p.correlation_ids) <= MAX_IDS for _, p in out)
    print(f"\nhot SKU: {len(hot)} publications in 60 s at {RATE:.0f}/s, longest gap {result['max_gap']:.2f} s")


def test_a_drop_to_zero_overtakes_waiting_increases() -> None:
    result = simulate(40.0, drop_at=30.005)
    wait = result["drop_wait"]
    throttle = result["throttle"]
    assert isinstance(throttle, Throttle)
    # within two tokens (overdue figures take every other one), though ~200 increases wait
    assert wait is not None and wait <= 2 / RATE + TICK, wait
    print(f"\ndrop to zero waited {wait * 1000:.0f} ms with {throttle.depth} figures queued")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 20), st.integers(0, 3)), min_size=1, max_size=60
    ),
    st.sampled_from([None, 1.0, 3.0]),
)
def test_nothing_but_superseded_figures_is_dropped(changes: list[tuple[str, int, int]], rate: float | None) -> None:
    """Whatever the order and rate, the last figure offered per SKU is the last published,
    and a SKU is never published twice in a row with the same figure it was not offered."""
    throttle = Throttle(rate, refilled_at=0.0, low_stock=2)
    told: dict[str, int] = {}
    last: dict[str, int] = {}
    now = 0.0
    published: list[ChannelPublication] = []
    for i, (sku, available, ticks) in enumerate(changes):
        last[sku] = available
        published += throttle.offer([pub(sku, available, told.get(sku), i)], now)
        for p in published[-10:]:
            told[p.sku] = p.available
        now += ticks * 0.25
    while throttle.depth:
        now += 0.25
        published += throttle.release(now)
    final = {p.sku: p.available for p in published}
    assert final == last
