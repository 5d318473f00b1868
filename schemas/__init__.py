"""The Avro schemas (.avsc) shipped with skuflow, versioned by their `skuflow.version`."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

INVENTORY_EVENT = "inventory_event"
AVAILABILITY_SNAPSHOT = "availability_snapshot"
REJECTED_EVENT = "rejected_event"


@cache
def load(name: str) -> dict[str, Any]:
    """The schema `name` (e.g. "inventory_event") as a JSON object."""
    text = files(__package__).joinpath(f"{name}.avsc").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema
