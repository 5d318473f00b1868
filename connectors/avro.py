"""Avro codecs for skuflow's records (fastavro), from the schemas in `schemas/`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any

import fastavro

import schemas
from operators.rejects import Rejection

AVRO_CONTAINER_MAGIC = b"Obj\x01"


@cache
def parsed(name: str) -> Any:
    """A parsed schema by name (e.g. "inventory_event")."""
    return fastavro.parse_schema(schemas.load(name))


def is_avro_container(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == AVRO_CONTAINER_MAGIC


def write_events(path: str | Path, events: Iterable[dict[str, Any]], codec: str = "null") -> int:
    """Write InventoryEvent records to an Avro container file; returns the count."""
    rows = list(events)
    with open(path, "wb") as f:
        fastavro.writer(f, parsed(schemas.INVENTORY_EVENT), rows, codec=codec)
    return len(rows)


def read_container(fo: IO[bytes]) -> Iterator[dict[str, Any]]:
    """Records of an Avro container file, resolved against skuflow's reader schema."""
    yield from fastavro.reader(fo)


MAX_REJECTED_PAYLOAD = 256 * 1024
"""The most of a rejected payload a RejectedEvent carries: an input message may be as large
as the broker allows, and its reject, with the reason around it, must still fit."""


def rejected_record(rejection: Rejection) -> dict[str, Any]:
    """A Rejection as a RejectedEvent record (the payload as JSON, or raw bytes). A payload
    over MAX_REJECTED_PAYLOAD bytes is cut to that, and the detail gives its whole size and
    digest, so the record always fits a Kafka message."""
    payload = rejection.payload
    payload_json: str | None = None
    payload_bytes: bytes | None = None
    if isinstance(payload, bytes | bytearray):
        payload_bytes = bytes(payload)
    elif isinstance(payload, str):
        payload_json = payload
    else:
        payload_json = json.dumps(payload, default=json_default)
    record = rejection.to_record()
    record.pop("payload")
    whole = payload_bytes if payload_bytes is not None else (payload_json or "").encode("utf-8", "surrogatepass")
    if len(whole) > MAX_REJECTED_PAYLOAD:
        digest = hashlib.blake2b(whole, digest_size=16).hexdigest()
        record["detail"] = (
            f"{record['detail']} [payload cut to {MAX_REJECTED_PAYLOAD} of {len(whole)} bytes, blake2b-128 {digest}]"
        )
        if payload_bytes is not None:
            payload_bytes = whole[:MAX_REJECTED_PAYLOAD]
        else:
            payload_json = whole[:MAX_REJECTED_PAYLOAD].decode("utf-8", "ignore")
    record["payload_json"] = payload_json
    record["payload_bytes"] = payload_bytes
    kafka = _KAFKA_ORIGIN.match(rejection.origin or "")
    record["topic"] = kafka.group(1) if kafka else None
    record["partition"] = int(kafka.group(2)) if kafka else None
    record["offset"] = int(kafka.group(3)) if kafka else None
    return record


_KAFKA_ORIGIN = re.compile(r"^(.+)/(\d+)@(\d+)$")  # connectors.kafka.origin_of


def json_default(value: Any) -> Any:
    """JSON for what the stdlib encoder refuses: bytes as {"base64": ...}, datetimes as ISO."""
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)
