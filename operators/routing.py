"""Where each validated item goes: the (sku, location) keys of the fold, or straight out."""

from __future__ import annotations

import zlib

from operators.events import InventoryEvent
from operators.fold import Posting, postings
from operators.rejects import Rejection

Routed = tuple[str | None, Posting | Rejection]
GroupRouted = tuple[str | None, tuple[str, Posting | Rejection] | Rejection]
"""(key group, (sku|location, item)), or (None, rejection) for an item without a key."""

KEY_GROUPS = 16
"""How many groups the keys are hashed into: the unit the fold's state is stored and
moved between workers by, so also the most workers the fold can use. Fixed for the life
of a state dir (a key's group must not change under its stored state). Each group's
store is synced at every epoch end while the flow waits, so fewer groups mean shorter
pauses (measured: docs/performance.md, "Settings")."""
GROUPS: tuple[str, ...] = tuple(f"g{i:02d}" for i in range(KEY_GROUPS))


_ESCAPES = str.maketrans({"%": "%25", "|": "%7C"})


def key_of(sku: str, location: str) -> str:
    """The stream key of one (sku, location), also the Kafka message key: `sku|location`
    with `%` and `|` percent-escaped in each part, so no two pairs share a key (the
    native decoder makes the same)."""
    return f"{sku.translate(_ESCAPES)}|{location.translate(_ESCAPES)}"


def join_parts(*parts: str) -> str:
    """Texts joined by `|`, each escaped as in `key_of` (a cursor over several key parts)."""
    return "|".join(p.translate(_ESCAPES) for p in parts)


def split_parts(text: str, most: int) -> list[str]:
    """`join_parts`'s inverse, for any text: at most `most` parts (the last takes the rest)."""
    return [_unescape(p) for p in text.split("|", most - 1)]


def parts_of(key: str) -> tuple[str, str]:
    """The (sku, location) of a stream key: `key_of`'s inverse."""
    sku, location = key.split("|")
    return _unescape(sku), _unescape(location)


def _unescape(part: str) -> str:
    return part.replace("%7C", "|").replace("%25", "%")


def group_of(key: str) -> str:
    """The key group of a stream key (stable across processes and runs, unlike `hash`)."""
    return GROUPS[zlib.crc32(key.encode()) % KEY_GROUPS]


def route(item: InventoryEvent | Rejection) -> list[Routed]:
    """Postings go to their keys. Rejections with a key go there too, so a re-sent
    bad event is reported once; those without one (no id or no key) go out directly (None)."""
    if isinstance(item, Rejection):
        if item.sku is not None and item.location is not None:
            return [(key_of(item.sku, item.location), item)]
        return [(None, item)]
    return [(key_of(*p.key), p) for p in postings(item)]
