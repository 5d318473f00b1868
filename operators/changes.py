"""The change log: every snapshot change of a key, as analysts replay history from it.

Snapshots say what a key holds; a change also says what it held before and which events
moved it, so a non-compacted topic (or `changes.jsonl`) answers "what moved SKU-X at WH-EAST
yesterday, and from where" without rebuilding the fold."""

from __future__ import annotations

from typing import Any, NamedTuple

from operators.fold import BUCKETS
from operators.snapshot import AvailabilitySnapshot

MAX_CAUSES = 256  # event ids a change names, the newest of its batch; `cause_count` has them all

Quantities = tuple[int, int, int, int, int, int]


def figures(q: Quantities) -> dict[str, int]:
    """The six buckets, with on hand and available as the snapshot has them."""
    sellable, reserved, picked, quarantine, damaged, _ = q
    out = dict(zip(BUCKETS, q, strict=True))
    out["on_hand"] = sellable + picked + quarantine + damaged
    out["available"] = max(0, sellable - reserved)
    return out


class Change(NamedTuple):
    """One key's change: `before` the batch, `after` it (the snapshot), and its causes."""

    sku: str
    location: str
    version: int
    before: Quantities
    after: Quantities
    cause_event_ids: tuple[str, ...]
    cause_count: int
    correlation_ids: tuple[str, ...]
    as_of: int
    emitted_at: int
    snapshot: AvailabilitySnapshot | None = None  # the snapshot it made, carried for the shell's stages
    json: bytes | None = None  # `to_dict()` as JSON, when the shell rendered it once for its sinks

    @classmethod
    def of(cls, before: Quantities, snapshot: AvailabilitySnapshot, causes: list[str], emitted_at: int) -> Change:
        s = snapshot
        after: Quantities = (s.sellable, s.reserved, s.picked, s.quarantine, s.damaged, s.in_transit)
        named = tuple(causes[-MAX_CAUSES:])
        return cls(
            s.sku, s.location, s.version, before, after, named, len(causes), s.correlation_ids, s.as_of, emitted_at, s
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "location": self.location,
            "version": self.version,
            "before": figures(self.before),
            "after": figures(self.after),
            "cause_event_ids": list(self.cause_event_ids),
            "cause_count": self.cause_count,
            "correlation_ids": list(self.correlation_ids),
            "as_of": self.as_of,
            "emitted_at": self.emitted_at,
        }
