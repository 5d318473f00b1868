"""The availability snapshot of one (sku, location): what the store serves and the change stream carries."""

from __future__ import annotations

from typing import Any, NamedTuple

from operators.fold import Buckets


class AvailabilitySnapshot(NamedTuple):
    """Exact state of one key after `version` distinct accepted events.

    `version` only grows and its final value does not depend on arrival order or
    restarts, so consumers keep the snapshot with the highest version. A NamedTuple:
    one is built per changed key per batch, at C speed.
    """

    sku: str
    location: str
    sellable: int
    reserved: int
    picked: int
    quarantine: int
    damaged: int
    in_transit: int
    on_hand: int
    available: int
    version: int
    as_of: int
    last_event_id: str
    correlation_ids: tuple[str, ...] = ()
    accounts: tuple[tuple[str, int], ...] = ()  # net reservations per account, sorted
    source_systems: tuple[str, ...] = ()  # of the events behind this change, in order

    @classmethod
    def of(
        cls,
        sku: str,
        location: str,
        state: Buckets,
        version: int,
        as_of: int,
        last_event_id: str,
        correlation_ids: tuple[str, ...] = (),
        accounts: tuple[tuple[str, int], ...] = (),
        source_systems: tuple[str, ...] = (),
    ) -> AvailabilitySnapshot:
        return cls(
            sku,
            location,
            state.sellable,
            state.reserved,
            state.picked,
            state.quarantine,
            state.damaged,
            state.in_transit,
            state.on_hand,
            state.available,
            version,
            as_of,
            last_event_id,
            correlation_ids,
            accounts,
            source_systems,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "location": self.location,
            "sellable": self.sellable,
            "reserved": self.reserved,
            "picked": self.picked,
            "quarantine": self.quarantine,
            "damaged": self.damaged,
            "in_transit": self.in_transit,
            "on_hand": self.on_hand,
            "available": self.available,
            "version": self.version,
            "as_of": self.as_of,
            "last_event_id": self.last_event_id,
            "correlation_ids": list(self.correlation_ids),
            "accounts": dict(self.accounts),
            "source_systems": list(self.source_systems),
        }
