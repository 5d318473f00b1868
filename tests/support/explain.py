"""The README's channel formula re-applied to an explanation's terms: what the explain
endpoint's numbers must add up to (the product computes them once, in operators/channels.py)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def recompute(terms: dict[str, Any]) -> int:
    """The figure the terms imply, checking each derived term on the way."""
    if "components" in terms:  # a kit
        allows = {p["sku"]: p["figure"] // p["quantity"] for p in terms["components"]}
        assert all(p["allows"] == allows[p["sku"]] for p in terms["components"])
        fewest = min(allows.values(), default=0)
        assert terms["limiting"] is None or allows[terms["limiting"]] == fewest
        return fewest
    fenced_at: dict[str, int] = {}
    for f in terms["fences"]:
        assert f["unconsumed"] == max(0, f["quantity"] - f["consumed"])
        if f["counted"] == "location":
            fenced_at[f["location"]] = fenced_at.get(f["location"], 0) + f["unconsumed"]
    for loc in terms["locations"]:
        rule = loc["stale_rule"]
        if rule is None:
            assert loc["effective"] == loc["available"]
        elif rule == "exclude":
            assert loc["stale"] and loc["effective"] == 0
        else:
            assert loc["stale"] and loc["effective"] == min(loc["available"], int(rule.removeprefix("cap ")))
        assert loc["fenced"] == fenced_at.get(loc["location"], 0)
        assert loc["contributes"] == (max(0, loc["effective"] - loc["fenced"]) if loc["eligible"] else 0)
    pool_fenced = sum(f["unconsumed"] for f in terms["fences"] if f["counted"] == "pool")
    assert terms["pool_fenced"] == pool_fenced
    pooled = max(0, sum(loc["contributes"] for loc in terms["locations"]) - pool_fenced)
    assert terms["pooled"] == pooled
    for part in terms["safety"]:
        assert part["held"] == part["units"] + int(pooled * Fraction(repr(part["percent"])) // 100)
    after = max(0, pooled - sum(part["held"] for part in terms["safety"]))
    assert terms["after_safety"] == after
    cap = int(pooled * Fraction(repr(terms["allocation_cap"])) // 1)
    assert terms["cap_units"] == cap
    figure = min(after, cap)
    return 0 if figure < terms["low_stock_below"] else figure
