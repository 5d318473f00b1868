"""The Avro schemas (.avsc) shipped with skuflow, versioned by their `skuflow.version`."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

INVENTORY_EVENT = "inventory_event"
AVAILABILITY_SNAPSHOT = "availability_snapshot"
REJECTED_EVENT = "rejected_event"
CHANNEL_AVAILABILITY = "channel_availability"
RECONCILIATION_RECORD = "reconciliation_record"
ANOMALY_RECORD = "anomaly_record"
CHANGE_RECORD = "change_record"


@cache
def load(name: str) -> dict[str, Any]:
    """The current schema `name` (e.g. "inventory_event") as a JSON object."""
    text = files(__package__).joinpath(f"{name}.avsc").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def versions(name: str) -> tuple[dict[str, Any], ...]:
    """Every version of `name` a writer may have used: history/{name}.vN.avsc, then the current one.

    Readers resolve data written with any of them against the current schema.
    """
    history = files(__package__).joinpath("history")
    older = sorted(
        (p for p in history.iterdir() if p.name.startswith(f"{name}.v") and p.name.endswith(".avsc")),
        key=lambda p: int(p.name[len(name) + 2 : -len(".avsc")]),
    )
    return (*(json.loads(p.read_text()) for p in older), load(name))
