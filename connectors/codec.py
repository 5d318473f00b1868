"""Turn raw input records into validated, routed items for the fold.

A raw record is `(payload, origin)`: payload is JSON text/bytes, or a record
already decoded by a container reader; origin says where it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.wire import AvroWire, WireError
from operators import ItemMaster, Reason, Rejection, validate
from operators.routing import Routed, route

RawRecord = tuple[Any, str]


def parse(payload: Any, origin: str, wire: AvroWire | None = None) -> Mapping[str, Any] | Rejection:
    """A record from a container reader as it is; bytes through the Avro `wire` when
    given (Kafka), else JSON text or bytes (files). Anything unreadable is an
    `undecodable` rejection that keeps the original payload."""
    if isinstance(payload, Mapping):
        return payload
    if wire is not None and isinstance(payload, bytes | bytearray):
        try:
            return wire.decode(bytes(payload))
        except WireError as exc:
            return Rejection(Reason.UNDECODABLE, str(exc), bytes(payload), origin=origin)
    if isinstance(payload, bytes | bytearray | str):
        try:
            parsed = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else payload
            return Rejection(Reason.UNDECODABLE, f"not JSON: {exc}", text, origin=origin)
        if isinstance(parsed, Mapping):
            return parsed
        return Rejection(Reason.UNDECODABLE, "JSON value is not an object", parsed, origin=origin)
    return Rejection(
        Reason.UNDECODABLE, f"unsupported payload type {type(payload).__name__}", repr(payload), origin=origin
    )


class Decoder:
    """Batch function for the dataflow: raw records -> routed postings and rejections."""

    def __init__(self, item_master: ItemMaster, wire: AvroWire | None = None) -> None:
        self.item_master = item_master
        self.wire = wire

    def __call__(self, batch: list[RawRecord]) -> list[Routed]:
        out: list[Routed] = []
        item_master, wire = self.item_master, self.wire
        for payload, origin in batch:
            raw = parse(payload, origin, wire)
            if isinstance(raw, Rejection):
                out.append((None, raw))
            else:
                out.extend(route(validate(raw, item_master, origin)))
        return out
