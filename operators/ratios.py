"""Shares of quantities by the ratios a policy writes (0.8, 12.5 %), in exact integers."""

from __future__ import annotations

from fractions import Fraction
from functools import cache


@cache
def _exact(ratio: float) -> tuple[int, int]:
    exact = Fraction(repr(ratio))  # as written: 0.8 is 4/5, not the float nearest it
    return exact.numerator, exact.denominator


def share(quantity: int, ratio: float, per: int = 1) -> int:
    """floor(quantity * ratio / per), exactly (no float rounding of quantities beyond 2**53)."""
    numerator, denominator = _exact(ratio)
    return quantity * numerator // (denominator * per)
