"""Where each validated item goes: the (sku, location) keys of the fold, or straight out."""

from __future__ import annotations

from operators.events import InventoryEvent
from operators.fold import Posting, postings
from operators.rejects import Rejection

Routed = tuple[str | None, Posting | Rejection]


def key_of(sku: str, location: str) -> str:
    """The stream key of one (sku, location); also the Kafka message key."""
    return f"{sku}|{location}"


def route(item: InventoryEvent | Rejection) -> list[Routed]:
    """Postings go to their keys. Rejections with a key go there too, so a re-sent
    bad event is reported once; those without one (no id or no key) go out directly (None)."""
    if isinstance(item, Rejection):
        if item.sku is not None and item.location is not None:
            return [(key_of(item.sku, item.location), item)]
        return [(None, item)]
    return [(key_of(*p.key), p) for p in postings(item)]
