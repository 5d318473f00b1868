"""Durations as people write them in configs: '250ms', '30s', '15m', '24h', '7d', or seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """A timedelta from a duration string or a number of seconds; anything else is returned
    as it is (for pydantic to reject with its own message)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", value)
        if not m:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 7d)")
        value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise ValueError(f"duration out of range: {value} s") from None
    return value
