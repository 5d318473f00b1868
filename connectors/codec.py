"""Turn raw input records into validated, routed items for the fold.

A raw record is `(payload, origin)`: payload is JSON text/bytes, or a record
already decoded by a container reader; origin says where it came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from connectors.avro_records import AvroRecords, RecordsDecoder
from connectors.wire import AvroWire, WireError
from operators import InventoryEvent, ItemMaster, Posting, Reason, Rejection, validate
from operators.policy import Policy
from operators.reconciliation import Adoption
from operators.routing import GroupRouted, group_of, route
from operators.sources import SourceMode, SourceRules
from operators.validation import MAX_OCCURRED_AT

RawRecord = tuple[Any, str]
"""(payload, origin): a payload is JSON text/bytes, a decoded record, Avro message bytes
(Kafka), or `AvroRecords` (a run of a container file's records; origin: its first)."""


def parse(payload: Any, origin: str, wire: AvroWire | None = None) -> Mapping[str, Any] | Rejection:
    """A record from a container reader as it is; bytes through the Avro `wire` when
    given (Kafka), else JSON text or bytes (files, and Kafka messages that are a JSON
    object: they mean what the same JSON line means in a file). Anything unreadable is an
    `undecodable` rejection that keeps the original payload."""
    if isinstance(payload, Mapping):
        return payload
    if wire is not None and isinstance(payload, bytes | bytearray) and not _json_text(payload):
        try:
            return wire.decode(bytes(payload))
        except WireError as exc:
            return Rejection(Reason.UNDECODABLE, str(exc), bytes(payload), origin=origin)
    if isinstance(payload, bytes | bytearray | str):
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        try:
            # orjson: strict UTF-8, no unpaired surrogates, NaN or Infinity, and a depth
            # limit, so no line can raise anything but its own decode error.
            parsed = orjson.loads(payload.removeprefix(_BOM))
        except orjson.JSONDecodeError as exc:
            text = bytes(payload).decode("utf-8", "replace")
            return Rejection(Reason.UNDECODABLE, f"not JSON: {exc}", text, origin=origin)
        if isinstance(parsed, Mapping):
            return parsed
        return Rejection(Reason.UNDECODABLE, "JSON value is not an object", parsed, origin=origin)
    return Rejection(
        Reason.UNDECODABLE, f"unsupported payload type {type(payload).__name__}", repr(payload), origin=origin
    )


_BOM = b"\xef\xbb\xbf"


def _json_text(payload: bytes | bytearray) -> bool:
    """A message that is JSON, not Avro: both Avro framings start with 0x00 or 0xC3."""
    return payload.removeprefix(_BOM).lstrip()[:1] == b"{"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Decoder:
    """Batch function for the dataflow: raw records -> routed postings and rejections,
    each `(key group, (sku|location, item))`, or `(None, rejection)` when it has no key.

    `max_ahead_ms` is the future guard: an event dated further ahead of `clock()` at its
    arrival is a `future_event` rejection (0: no guard). `policy()`, asked every batch, gives
    the source rules in force (a reload applies from the next batch on); `adoption`, the
    balance snapshots the reconciliation rules adopt."""

    def __init__(
        self,
        item_master: ItemMaster,
        wire: AvroWire | None = None,
        max_ahead_ms: int = 0,
        clock: Callable[[], int] = wall_clock_ms,
        adoption: Adoption | None = None,
        policy: Callable[[], Policy] | None = None,
    ) -> None:
        self.item_master = item_master
        self.wire = wire
        self.max_ahead_ms = max_ahead_ms
        self.clock = clock
        self.adoption = adoption if adoption else None  # only when some rule adopts: it costs a pass
        self.policy = policy
        self._runs = RecordsDecoder(item_master, self.one)

    def latest(self) -> int:
        """The newest `occurred_at` accepted now."""
        if self.max_ahead_ms <= 0:
            return MAX_OCCURRED_AT
        return min(MAX_OCCURRED_AT, self.clock() + self.max_ahead_ms)

    def __call__(self, batch: list[RawRecord]) -> list[GroupRouted]:
        out: list[GroupRouted] = []
        runs, wire, latest = self._runs, self.wire, self.latest()
        for payload, origin in batch:
            kind = type(payload)
            if kind is AvroRecords:
                out.extend(runs(payload, latest))
            elif kind is Rejection:  # a source's own (a damaged file region)
                out.append((None, payload))
            elif kind is bytes and wire is not None:
                out.extend(runs.message(payload, origin, wire, latest))
            else:
                out.extend(self.one(payload, origin, latest))
        sources = self.policy().sources if self.policy is not None else None
        if not sources and self.adoption is None:
            return out
        return self._governed(out, sources or None, self.adoption)

    @staticmethod
    def _governed(out: list[GroupRouted], sources: SourceRules | None, adoption: Adoption | None) -> list[GroupRouted]:
        """The postings as the policy marks them: an event from a source not authoritative for
        it becomes one `unauthorized_source` rejection on its own key (mode reject) or is
        flagged (mode flag); a balance snapshot the reconciliation rules adopt is adopted."""
        kept: list[GroupRouted] = []
        for entry in out:
            group, routed = entry
            if group is not None:
                key, item = routed  # type: ignore[misc]
                if type(item) is Posting:
                    event = item.event
                    verdict = sources.judge(event) if sources is not None else None
                    if verdict is not None and verdict.mode is SourceMode.REJECT:
                        if item.counterpart:
                            continue  # a transfer's receiving side: rejected with the event, on its key
                        kept.append((group, (key, verdict.rejection(event))))
                        continue
                    flagged = verdict is not None and not item.counterpart
                    adopt = adoption is not None and adoption.adopts(event)
                    if flagged or adopt:
                        entry = (group, (key, item._replace(flagged=flagged, adopt=adopt)))
            kept.append(entry)
        return kept

    def one(self, payload: Any, origin: str, latest: int = MAX_OCCURRED_AT) -> list[GroupRouted]:
        """One record the Python way (the reference the native core must equal)."""
        raw = parse(payload, origin, self.wire)
        if isinstance(raw, Rejection):
            item: InventoryEvent | Rejection = raw
        else:  # a JSON object keeps itself as sent, for its rejections at the fold stage
            sent_as_json = not isinstance(payload, Mapping) and (
                self.wire is None or isinstance(payload, str) or _json_text(payload)
            )
            item = validate(raw, self.item_master, origin, latest, keep_original=sent_as_json)
        return [(group_of(key), (key, it)) if key is not None else (None, it) for key, it in route(item)]


def records_in(batch: list[RawRecord]) -> int:
    """How many input records a batch holds (a run of Avro records counts each)."""
    return sum(p.count if type(p) is AvroRecords else 1 for p, _ in batch)
