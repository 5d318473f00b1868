"""Avro on the Kafka wire, in both framings, detected per message.

- Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro
  body; the writer schema comes from the schema registry (`--schema-registry URL`).
- Avro single-object encoding: 0xC3 0x01, the 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema, then the body; the writer schema is one of the
  versions shipped in `schemas/` (no registry needed).

Data written with an older compatible schema version is resolved against the
current (reader) schema. Decoding reads `timestamp-millis` as the epoch-millisecond long
it is on the wire: the engine and the API work in epoch milliseconds, and fastavro's
datetime (then converted back) took a fifth of the decode.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas
from connectors.exceptions import ConnectorError
from operators.validation import MAX_OCCURRED_AT, MIN_OCCURRED_AT, to_epoch_millis

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class WireError(ConnectorError):
    """Bytes that are not a decodable message."""


def _epoch_millis(schema: Any) -> Any:
    """`schema` with its timestamp-millis annotations dropped: the same binary encoding
    (a long), read as an int."""
    if isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-millis":
            return {k: v for k, v in schema.items() if k != "logicalType"}
        return {k: _epoch_millis(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_epoch_millis(v) for v in schema]
    return schema


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, as the 8 little-endian bytes of the header."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class AvroWire:
    """Encoder/decoder of one record type (e.g. "inventory_event") on the wire."""

    def __init__(self, name: str, registry_url: str | None = None) -> None:
        self.name = name
        self.current = schemas.load(name)
        self.reader = fastavro.parse_schema(self.current)  # for encoding
        self._header = SINGLE_OBJECT_MAGIC + schema_fingerprint(self.current)
        # For decoding, keyed by the fingerprint of the schema as published. The current
        # version's entry is the reader itself, so its messages skip schema resolution.
        self._decoder = fastavro.parse_schema(_epoch_millis(self.current))
        self._by_fingerprint = {
            schema_fingerprint(v): fastavro.parse_schema(_epoch_millis(v)) for v in schemas.versions(name)[:-1]
        }
        self._by_fingerprint[schema_fingerprint(self.current)] = self._decoder
        self._registry_url = registry_url
        self._registry: Any = None
        self._by_id: dict[int, Any] = {}
        self._shipped_ids: set[int] = set()  # registry ids whose writer is a shipped version
        self._confluent_header: bytes | None = None

    # -- decoding --------------------------------------------------------------

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record in `data` (either framing), resolved to the current schema."""
        if data[:2] == SINGLE_OBJECT_MAGIC and len(data) >= 10:
            writer = self._by_fingerprint.get(data[2:10])
            if writer is None:
                raise WireError(f"single-object message with unknown schema fingerprint {data[2:10].hex()}")
            return self._read(data, 10, writer)
        if data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            return self._read(data, 5, self._writer_for_id(int.from_bytes(data[1:5], "big")))
        raise WireError("neither Confluent (0x00 + schema id) nor single-object (0xC3 0x01) Avro framing")

    def shipped_writer(self, data: bytes) -> tuple[Any, int] | None:
        """The writer schema of a message (parsed, timestamps as longs) and where its body
        starts, when it is one of the versions in `schemas/` (their enums are the reader's,
        so reading without resolution gives what resolution would); else None."""
        if data[:2] == SINGLE_OBJECT_MAGIC and len(data) >= 10:
            writer = self._by_fingerprint.get(data[2:10])
            return None if writer is None else (writer, 10)
        if data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            schema_id = int.from_bytes(data[1:5], "big")
            return (self._by_id[schema_id], 5) if schema_id in self._shipped_ids else None
        return None

    def _read(self, data: bytes, start: int, writer: Any) -> dict[str, Any]:
        buf = io.BytesIO(data)
        buf.seek(start)
        try:
            record = fastavro.schemaless_reader(buf, writer, None if writer is self._decoder else self._decoder)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise WireError(f"Avro body does not decode: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise WireError(f"{len(data) - buf.tell()} trailing bytes after the Avro record")
        if not isinstance(record, dict):
            raise WireError("the Avro body is not a record")
        return record

    def _client(self) -> Any:
        if self._registry_url is None:
            raise WireError("Confluent-framed message but no --schema-registry was given")
        if self._registry is None:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient({"url": self._registry_url})
        return self._registry

    def _writer_for_id(self, schema_id: int) -> Any:
        writer = self._by_id.get(schema_id)
        if writer is None:
            try:
                found = json.loads(self._client().get_schema(schema_id).schema_str)
                shipped = self._by_fingerprint.get(schema_fingerprint(found))  # the current one: no resolution
                writer = shipped or fastavro.parse_schema(_epoch_millis(found))
                if shipped is not None:
                    self._shipped_ids.add(schema_id)
            except WireError:
                raise
            except Exception as exc:
                raise WireError(f"schema id {schema_id} not resolved by the registry: {exc}") from exc
            self._by_id[schema_id] = writer
        return writer

    # -- encoding --------------------------------------------------------------

    def encode_single_object(self, record: dict[str, Any], schema: dict[str, Any] | None = None) -> bytes:
        """Single-object encoding with the current schema (or an older `schema` version)."""
        if schema is None:
            header, parsed = self._header, self.reader
        else:
            header, parsed = (
                SINGLE_OBJECT_MAGIC + schema_fingerprint(schema),
                _parsed(json.dumps(schema, sort_keys=True)),
            )
        buf = io.BytesIO()
        buf.write(header)
        fastavro.schemaless_writer(buf, parsed, record)
        return buf.getvalue()

    def encode_confluent(self, record: dict[str, Any], subject: str) -> bytes:
        """Confluent wire format; registers the current schema under `subject` once."""
        buf = io.BytesIO()
        buf.write(self.header(subject))
        fastavro.schemaless_writer(buf, self.reader, record)
        return buf.getvalue()

    def header(self, subject: str | None = None) -> bytes:
        """What precedes a body written with the current schema: the Confluent header of
        its id under `subject` (registered once), or without a subject the single-object one."""
        if subject is None:
            return self._header
        if self._confluent_header is None:
            from confluent_kafka.schema_registry import Schema

            schema_id = self._client().register_schema(subject, Schema(to_parsing_canonical_form(self.current), "AVRO"))
            self._confluent_header = CONFLUENT_MAGIC + int(schema_id).to_bytes(4, "big")
        return self._confluent_header


@cache
def _parsed(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


_LONGS = ("quantity", "source_sequence")


def avro_faithful(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON event as the Avro record that means the same (`occurred_at` in ISO-8601 as
    epoch millis, a missing `source_sequence` as 0, `uom` as EA), or None when Avro would
    change its meaning (a boolean where a number goes, a time that does not parse): such a
    line is sent as JSON, and the flow judges it as file replay does."""
    if record is None or any(isinstance(v, bool) for v in record.values()):
        return None
    out = dict(record)
    occurred_at = to_epoch_millis(out.get("occurred_at"))
    if occurred_at is None or not MIN_OCCURRED_AT <= occurred_at <= MAX_OCCURRED_AT:
        return None
    out["occurred_at"] = occurred_at
    if out.get("source_sequence") is None:
        out["source_sequence"] = 0
    if out.get("uom") is None:
        out["uom"] = "EA"
    if any(type(out.get(name)) is not int for name in _LONGS):
        return None
    return out


def message_value(
    line: bytes, parsed: dict[str, Any] | None, encode: Callable[[dict[str, Any]], bytes]
) -> bytes | None:
    """What `skuflow produce` sends for one JSON line: its Avro encoding where Avro keeps
    its meaning, else None (the line goes as it is; the flow reads it as a file line)."""
    record = avro_faithful(parsed)
    if record is None:
        return None
    try:
        return encode(record)
    except Exception:
        return None
