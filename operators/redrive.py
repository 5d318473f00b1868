"""Dead letters to send through the flow again once their cause is fixed: which entries of
the exceptions stream are events that can be re-driven, each once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from operators.rejects import APPLIED_REASONS, Reason
from operators.validation import to_epoch_millis

# Re-driving these cannot change anything: they were applied, or another payload of their id was.
NOT_REDRIVEN = APPLIED_REASONS | {Reason.CONFLICTING_DUPLICATE}
REDRIVABLE = frozenset(r for r in Reason if r not in NOT_REDRIVEN)


@dataclass
class Selection:
    """The events to send again, in the order they were rejected, and why others are not."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def select(
    records: Iterable[Mapping[str, Any]], reasons: frozenset[Reason] = REDRIVABLE, since_ms: int | None = None
) -> Selection:
    """The payloads of `records` (exceptions stream entries) rejected for one of `reasons`
    that are events (a JSON object with an `event_id`), dated at or after `since_ms` when
    given, each distinct payload once."""
    out = Selection()
    seen: set[str] = set()
    for record in records:
        reason, payload = record.get("reason"), record.get("payload")
        if reason not in reasons:
            out.skipped[f"reason {reason}"] += 1
        elif not isinstance(payload, dict) or not isinstance(payload.get("event_id"), str):
            out.skipped["not an event"] += 1
        elif since_ms is not None and (to_epoch_millis(payload.get("occurred_at")) or 0) < since_ms:
            out.skipped["before --since"] += 1
        elif (identity := repr(sorted(payload.items()))) in seen:
            out.skipped["listed twice"] += 1
        else:
            seen.add(identity)
            out.events.append(payload)
    return out
