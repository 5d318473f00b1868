"""Hostile inputs: every event lands on its own key with the right figure or is rejected
with a reason and its payload; no input stops the flow, in any format."""

from __future__ import annotations

import io
import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastavro
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from connectors.avro import parsed, write_events
from connectors.codec import Decoder
from connectors.files import EventFileSource
from connectors.wire import AvroWire
from dataflows.config import FlowConfig
from dataflows.runner import run
from operators import ItemMaster, Reason, Rejection, route, validate
from operators.routing import key_of, parts_of
from serving.api import create_app
from serving.store import StoreReader
from tests.helpers import drain, read_jsonl

INT64 = 2**63 - 1
# Keys from the whole Unicode range, separators and escapes of every layer included.
KEY_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["|", "%", "/", "\x00", "\x01", "\x7f", "\x85", " ", "\ud800", "\udfff", "%7C", "?", "#"]),
        st.characters(codec=None),
    ),
    max_size=8,
).map("".join)


def is_good_key(text: Any) -> bool:
    """A key part the README's rules accept: not blank, no control character or lone
    surrogate, at most 256 UTF-8 bytes (written here independently of the product)."""
    if not isinstance(text, str) or not text.strip():
        return False
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        return False
    return len(text.encode("utf-8")) <= 256


def receipt(i: int, sku: Any, location: Any, qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{i}",
        "event_type": "RECEIPT",
        "sku": sku,
        "location": location,
        "quantity": qty,
        "occurred_at": 1_780_000_000_000 + i,
        "source_system": "WMS",
        "source_sequence": i,
        **extra,
    }


def replay(path: Path, state: Path, **config: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Store rows and exception records after replaying `path`."""
    cfg = FlowConfig(state_dir=state, **config)
    run(EventFileSource(path), cfg)
    rows = []
    if (cfg.store_dir / "CURRENT").exists():
        reader = StoreReader(cfg.store_dir)
        try:
            rows = [json.loads(b) for b in reader.scan()]
        finally:
            reader.close()
    return rows, read_jsonl(cfg.exceptions_path) if cfg.exceptions_path.exists() else []


@given(st.text(), st.text())
def test_key_of_is_injective(sku: str, location: str) -> None:
    assert parts_of(key_of(sku, location)) == (sku, location)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.tuples(KEY_TEXT, KEY_TEXT, st.integers(1, 10**9)), min_size=1, max_size=12))
def test_any_unicode_key_lands_on_its_own_key_or_is_rejected(
    tmp_path_factory: Any, keys: list[tuple[str, str, int]]
) -> None:
    tmp = tmp_path_factory.mktemp("keys")
    # what a JSON reader makes of the text: an escaped surrogate pair is one character
    keys = [(json.loads(json.dumps(sku)), json.loads(json.dumps(loc)), qty) for sku, loc, qty in keys]
    events = [receipt(i, sku, loc, qty) for i, (sku, loc, qty) in enumerate(keys)]
    path = tmp / "in.jsonl"
    # ensure_ascii: lone surrogates travel as \\ud800 escapes, as a careless producer sends them
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    rows, rejects = replay(path, tmp / "state")

    want: Counter[tuple[str, str]] = Counter()
    for sku, loc, qty in keys:
        if is_good_key(sku) and is_good_key(loc):
            want[(sku, loc)] += qty
    assert {(r["sku"], r["location"]): r["sellable"] for r in rows} == dict(want)
    rejected = {r["origin"] for r in rejects}  # a line that is not UTF-8 JSON has no readable id
    for line, e in enumerate(events, start=1):
        good = is_good_key(e["sku"]) and is_good_key(e["location"])
        assert (f"in.jsonl:{line}" in rejected) != good, e
    assert all(r["reason"] in ("missing_key", "bad_key", "undecodable") for r in rejects)
    if not want:
        return

    with TestClient(create_app(tmp / "state")) as client:
        for (sku, loc), qty in want.items():
            one = client.get(f"/v1/availability/{quote(sku, safe='')}/{quote(loc, safe='')}")
            assert one.status_code == 200 and one.json()["sellable"] == qty
            locations = client.get(f"/v1/availability/{quote(sku, safe='')}").json()["locations"]
            assert {x["location"] for x in locations} == {lo for s, lo in want if s == sku}
        skus = client.get("/v1/skus", params={"limit": 1000}).json()["skus"]
        assert skus == sorted({s for s, _ in want}, key=lambda s: s.encode())


def _verdict(items: list[Any]) -> tuple[str, ...]:
    """What became of one input: the reasons of its rejections, or 'applied'."""
    return tuple(sorted(it.reason.value if isinstance(it, Rejection) else "applied" for _, (_, it) in items)) or (
        "none",
    )


def _items(routed: list[Any]) -> list[Any]:
    return [(g, x if isinstance(x, tuple) else (None, x)) for g, x in routed]


TIMES = st.one_of(
    st.integers(-INT64, INT64),
    st.sampled_from(
        [-INT64, INT64, -62_135_596_800_001, -62_135_596_800_000, 253_402_300_799_999, 253_402_300_800_000]
    ),
    st.integers(1_780_000_000_000 - 10, 1_780_000_000_000 + 7_200_000),
)


@settings(max_examples=200, deadline=None)
@given(occurred_at=TIMES, quantity=st.one_of(st.integers(-INT64, INT64), st.sampled_from([0, 1, 10**12, 10**12 + 1])))
def test_json_avro_file_and_kafka_agree_on_times_and_quantities(occurred_at: int, quantity: int) -> None:
    """One validity range in every format, and the future guard against one clock."""
    event = receipt(0, "SKU-1", "WH-A", quantity, occurred_at=occurred_at)
    decoder = Decoder(ItemMaster(), None, max_ahead_ms=3_600_000, clock=lambda: 1_780_000_000_000)
    as_json = _verdict(_items(decoder([(json.dumps(event).encode(), "in.jsonl:1")])))

    buf = io.BytesIO()
    fastavro.writer(buf, parsed(schemas.INVENTORY_EVENT), [event], validator=False)
    avro_path = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")
    f = avro_path / f"skuflow-hostile-{id(buf)}.avro"
    try:
        f.write_bytes(buf.getvalue())
        runs = drain(EventFileSource(f).build_part("in", "events", None))
    finally:
        f.unlink()
    as_file = _verdict(_items(decoder(runs)))

    wire = AvroWire(schemas.INVENTORY_EVENT)
    kafka = Decoder(ItemMaster(), wire, max_ahead_ms=3_600_000, clock=lambda: 1_780_000_000_000)
    as_kafka = _verdict(_items(kafka([(wire.encode_single_object(event), "t/0@0")])))

    assert as_json == as_file == as_kafka
    if as_json == ("applied",):
        assert -62_135_596_800_000 <= occurred_at <= 1_780_000_000_000 + 3_600_000
        assert 0 < quantity <= 10**12
    if occurred_at > 1_780_000_000_000 + 3_600_000 and occurred_at <= 253_402_300_799_999 and quantity > 0:
        assert as_json == ("future_event",)


def test_future_guard_off_and_a_future_event_cannot_poison_its_key(tmp_path: Path) -> None:
    """A 30-days-ahead event is rejected by the default guard; the key's later valid
    events still apply. With --max-ahead 0 it is accepted, and poisons the key."""
    now = 1_780_000_000_000
    far = now + 30 * 86_400_000
    from connectors.codec import wall_clock_ms

    base = wall_clock_ms()
    events = [
        receipt(0, "SKU-1", "WH-A", 5, occurred_at=base - 1000),
        receipt(1, "SKU-1", "WH-A", 7, occurred_at=base + (far - now)),
        receipt(2, "SKU-1", "WH-A", 11, occurred_at=base - 500),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    rows, rejects = replay(path, tmp_path / "guarded")
    assert [r["sellable"] for r in rows] == [16]
    assert [(r["event_id"], r["reason"]) for r in rejects] == [("e-1", "future_event")]
    # without the guard the far-future event is applied, and the key's next valid event is
    # then older than the dedup retention behind it: what the guard is for
    rows, rejects = replay(path, tmp_path / "unguarded", max_ahead="0")
    assert [r["sellable"] for r in rows] == [12]
    assert [(r["event_id"], r["reason"]) for r in rejects] == [("e-2", "beyond_retention")]


POISON_LINES = [
    b'{"event_id": "p-1", "sku": "\\ud800", "location": "L"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"\xff\xfe\x00garbage",
    b'{"event_id": "p-2", "quantity": NaN}',
    b'{"event_id": "p-3", "quantity": 1e400}',
    b'"just a string"',
    b"\xef\xbb\xbf{broken",
]


def test_poison_json_lines_are_rejected_and_the_flow_goes_on(tmp_path: Path) -> None:
    good = [receipt(i, "SKU-1", "WH-A", 1) for i in range(3)]
    lines = [json.dumps(good[0]).encode(), *POISON_LINES[:4], json.dumps(good[1]).encode(), *POISON_LINES[4:]]
    lines.append(json.dumps(good[2]).encode())
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")  # a BOM before the first line too
    rows, rejects = replay(path, tmp_path / "state")
    assert [r["sellable"] for r in rows] == [3]
    assert len(rejects) == len(POISON_LINES)
    assert all(r["reason"] == "undecodable" and r["origin"].startswith("in.jsonl:") for r in rejects)
    # the same file again: resumes, nothing reported twice, nothing crashes
    rows, again = replay(path, tmp_path / "state")
    assert [r["sellable"] for r in rows] == [3] and len(again) == len(POISON_LINES)


def _container(path: Path, events: list[dict[str, Any]], per_block: int) -> list[int]:
    """Write events in blocks of `per_block`; returns each block's start offset."""
    with open(path, "wb") as f:
        writer = fastavro.write.Writer(f, parsed(schemas.INVENTORY_EVENT), sync_interval=1 << 30)
        starts = []
        for i in range(0, len(events), per_block):
            writer.flush()
            starts.append(f.tell())
            for e in events[i : i + per_block]:
                writer.write(e)
        writer.flush()
    return starts


def _damage_cases(tmp_path: Path) -> list[tuple[str, Path, int]]:
    """(name, file, events still intact) for truncation, trailing garbage, a broken block."""
    events = [receipt(i, "SKU-1", f"WH-{i % 3}", 1) for i in range(40)]
    cases = []
    whole = tmp_path / "whole.avro"
    starts = _container(whole, events, 10)
    data = whole.read_bytes()
    cut = tmp_path / "truncated.avro"
    cut.write_bytes(data[: starts[3] + 25])
    cases.append(("truncated", cut, 30))
    trailing = tmp_path / "trailing.avro"
    trailing.write_bytes(data + b"\x00garbage\xff" * 7)
    cases.append(("trailing", trailing, 40))
    broken = bytearray(data)
    broken[starts[1] : starts[1] + 3] = b"\xff\xff\xff"  # block 2's count and size
    middle = tmp_path / "broken.avro"
    middle.write_bytes(bytes(broken))
    cases.append(("broken block", middle, 30))
    return cases


def test_damaged_containers_apply_every_intact_block(tmp_path: Path) -> None:
    for name, path, intact in _damage_cases(tmp_path):
        rows, rejects = replay(path, tmp_path / f"state-{name}")
        assert sum(r["sellable"] for r in rows) == intact, name
        assert len(rejects) == 1 and rejects[0]["reason"] == "undecodable", (name, rejects)
        assert "@" in rejects[0]["origin"] and "bytes at" in rejects[0]["detail"]


def test_damaged_container_resumes_without_reporting_twice(tmp_path: Path) -> None:
    for name, path, intact in _damage_cases(tmp_path):
        for batch in (1, 7):
            source = EventFileSource(path, batch_size=batch)
            for stop_after in range(0, 8):
                part = source.build_part("in", "events", None)
                first = drain(part, stop_after)
                rest = drain(source.build_part("in", "events", part.snapshot()))
                items = first + rest
                damaged = [p for p, _ in items if isinstance(p, Rejection)]
                records = sum(p.count for p, _ in items if not isinstance(p, Rejection))
                assert len(damaged) == 1 and damaged[0].reason is Reason.UNDECODABLE, (name, batch, stop_after)
                assert records == intact, (name, batch, stop_after)


def test_a_file_whose_header_is_damaged_is_one_rejection(tmp_path: Path) -> None:
    path = tmp_path / "bad.avro"
    path.write_bytes(b"Obj\x01\xff\xff\xff\xff garbage")
    rows, rejects = replay(path, tmp_path / "state")
    assert rows == [] and [r["reason"] for r in rejects] == ["undecodable"]


def test_blank_counterpart_is_no_location(tmp_path: Path) -> None:
    """A whitespace-only counterpart is as missing as a whitespace-only location."""
    events = [
        receipt(0, "SKU-1", "WH-A", 10),
        {**receipt(1, "SKU-1", "WH-A", 3), "event_type": "TRANSFER_SHIPPED", "counterpart_location": "  \t"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    rows, rejects = replay(path, tmp_path / "state")
    assert [(r["location"], r["sellable"]) for r in rows] == [("WH-A", 10)]
    assert [r["reason"] for r in rejects] == ["bad_counterpart"]


def test_long_and_control_keys_are_bad_key_in_every_format(tmp_path: Path) -> None:
    events = [receipt(0, "S" * 257, "WH-A"), receipt(1, "SKU\x00X", "WH-A"), receipt(2, "SKU-1", "WH\tB")]
    events.append(receipt(3, "S" * 256, "WH-A"))
    events.append(
        {
            **receipt(4, "SKU-1", "WH-A"),
            "event_type": "RESERVATION_CREATED",
            "order_id": "O",
            "channel": "b2b",
            "account_id": "A\x00",
        }
    )
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    avro = tmp_path / "in.avro"
    write_events(avro, events)
    for path in (jsonl, avro):
        rows, rejects = replay(path, tmp_path / f"state-{path.suffix}")
        assert [r["sku"] for r in rows] == ["S" * 256]
        assert sorted((r["event_id"], r["reason"]) for r in rejects) == [
            ("e-0", "bad_key"),
            ("e-1", "bad_key"),
            ("e-2", "bad_key"),
            ("e-4", "bad_key"),
        ]


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True),
    st.sampled_from(["", " ", "2026-05-28T10:00:00Z", "2026-05-28", "not a time", "EA", "CS", "\ud800"]),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "quantity": JSON_VALUES,
            "occurred_at": JSON_VALUES,
            "source_sequence": JSON_VALUES,
            "uom": JSON_VALUES,
            "location": JSON_VALUES,
            "order_id": JSON_VALUES,
        },
    )
)
def test_produce_then_the_kafka_flow_means_what_file_replay_means(fields: dict[str, Any]) -> None:
    """A JSON line through `skuflow produce` and the Kafka decode gives what the same line
    gives through file replay: the same event, or the same reason."""
    from connectors.wire import message_value

    event = {**receipt(0, "SKU-1", "WH-A", 3, occurred_at=1_780_000_000_000), **fields}
    line = json.dumps(event).encode()
    as_file = Decoder(ItemMaster({("SKU-1", "CS"): 12}))([(line, "in.jsonl:1")])
    wire = AvroWire(schemas.INVENTORY_EVENT)
    value = message_value(line, json.loads(line), wire.encode_single_object)
    kafka = Decoder(ItemMaster({("SKU-1", "CS"): 12}), wire)
    as_kafka = kafka([(line if value is None else value, "t/0@0")])
    assert _verdict(_items(as_kafka)) == _verdict(_items(as_file))
    events = [(x if isinstance(x, tuple) else (None, x))[1] for _, x in as_file]
    for got, want in zip([(x if isinstance(x, tuple) else (None, x))[1] for _, x in as_kafka], events, strict=True):
        if not isinstance(want, Rejection):  # the same event, field for field, read elsewhere
            assert got.counterpart == want.counterpart
            assert got.event._replace(origin=None, original=None) == want.event._replace(origin=None, original=None)
            assert (got.event.origin, want.event.origin) == ("t/0@0", "in.jsonl:1")


def test_rejects_of_the_fold_stage_say_where_they_were_read(tmp_path: Path) -> None:
    """conflicting_duplicate, late_beyond_horizon and beyond_retention name their line or
    record, from JSON Lines (the Python path) and Avro files (the native decode) alike."""
    day = 86_400_000
    events = [
        receipt(0, "SKU-1", "WH-A", 5, occurred_at=1_780_000_000_000),
        {**receipt(0, "SKU-1", "WH-A", 6, occurred_at=1_780_000_000_000)},  # same id, other payload
        receipt(2, "SKU-1", "WH-A", 1, occurred_at=1_780_000_000_000 + 10 * day),
        receipt(3, "SKU-1", "WH-A", 1, occurred_at=1_780_000_000_000 + 10 * day - 2 * day),  # beyond the horizon
        receipt(4, "SKU-1", "WH-A", 1, occurred_at=1_780_000_000_000 + 10 * day - 8 * day),  # beyond retention
    ]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    avro = tmp_path / "in.avro"
    write_events(avro, events)
    for path, at in ((jsonl, lambda i: f"in.jsonl:{i + 1}"), (avro, lambda i: f"in.avro#{i}")):
        _, rejects = replay(path, tmp_path / f"state{path.suffix}", max_ahead="0")
        got = sorted((r["reason"], r["origin"]) for r in rejects)
        assert got == sorted(
            [("conflicting_duplicate", at(1)), ("late_beyond_horizon", at(3)), ("beyond_retention", at(4))]
        ), path


def test_a_rejected_event_sent_again_is_reported_once(tmp_path: Path) -> None:
    """Within the dedup retention, the same conflicting payload again, the same event
    beyond the retention again, the same record without a key again, or the whole file
    again under another name, adds no report: the first one stands (JSON Lines and Avro
    files alike; a line that is not JSON, too)."""
    day = 86_400_000
    t = 1_780_000_000_000 + 10 * day
    events = [
        receipt(0, "SKU-1", "WH-A", 5, occurred_at=t),
        receipt(0, "SKU-1", "WH-A", 6, occurred_at=t),  # same id, other payload
        receipt(0, "SKU-1", "WH-A", 6, occurred_at=t),  # that conflict again
        receipt(0, "SKU-1", "WH-A", 7, occurred_at=t),  # another conflict: reported
        receipt(1, "SKU-1", "WH-A", 1, occurred_at=t - 8 * day),  # beyond retention
        receipt(1, "SKU-1", "WH-A", 1, occurred_at=t - 8 * day),  # again
        receipt(2, " ", "WH-A", 1, occurred_at=t),  # no key: missing_key
        receipt(2, " ", "WH-A", 1, occurred_at=t),  # again
    ]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\nnot json\n")
    avro = tmp_path / "in.avro"
    write_events(avro, events)
    for path, at in ((jsonl, lambda i: f"in.jsonl:{i + 1}"), (avro, lambda i: f"in.avro#{i}")):
        state = tmp_path / f"state{path.suffix}"
        rows, rejects = replay(path, state, max_ahead="0")
        expected = [("beyond_retention", at(4)), ("conflicting_duplicate", at(1)), ("conflicting_duplicate", at(3))]
        expected += [("missing_key", at(6))] + ([("undecodable", at(8))] if path is jsonl else [])
        assert sorted((r["reason"], r["origin"]) for r in rejects) == expected, path
        assert [r["sellable"] for r in rows] == [5]
        copy = path.with_name(f"renamed{path.suffix}")
        copy.write_bytes(path.read_bytes())
        rows, again = replay(copy, state, max_ahead="0")
        assert sorted((r["reason"], r["origin"]) for r in again) == expected, path
        assert [r["sellable"] for r in rows] == [5]


def test_rejects_of_the_fold_stage_carry_the_payload_as_sent(tmp_path: Path) -> None:
    """A JSON line with an ISO time, omitted nulls and a field skuflow does not know is
    rejected at the fold (conflicting_duplicate) with that object, not a rewritten one."""
    first = receipt(0, "SKU-1", "WH-A", 5, occurred_at=1_780_000_000_000)
    sent = {
        "event_id": first["event_id"],
        "event_type": "RECEIPT",
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": 6,
        "occurred_at": "2026-05-28T20:26:40Z",
        "source_system": "WMS",
        "source_sequence": 0,
        "x_vendor_note": "pallet 7",
    }
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(sent) + "\n")
    _, rejects = replay(path, tmp_path / "state", max_ahead="0")
    assert [(r["reason"], r["payload"]) for r in rejects] == [("conflicting_duplicate", sent)]


@pytest.mark.parametrize(
    "field", ["event_id", "correlation_id", "order_id", "source_system", "reason", "lot_id", "uom", "event_type"]
)
def test_a_field_too_long_for_an_output_message_is_rejected_without_it(tmp_path: Path, field: str) -> None:
    """Any text beyond 1,024 UTF-8 bytes (here 700 two-byte characters) is `field_too_long`,
    in JSON Lines and Avro alike; the rejection keeps it only in its (capped) payload, so no
    snapshot, rejection or publication can outgrow a broker's message limit."""
    event = {**receipt(0, "SKU-1", "WH-A", 3, occurred_at=1_780_000_000_000), field: "é" * 700}
    good = receipt(1, "SKU-1", "WH-A", 2, occurred_at=1_780_000_000_001)
    paths = [tmp_path / "in.jsonl"] + ([tmp_path / "in.avro"] if field != "event_type" else [])  # Avro: an enum
    for path in paths:
        if path.suffix == ".avro":
            write_events(path, [event, good])
        else:
            path.write_text(json.dumps(event) + "\n" + json.dumps(good) + "\n")
        rows, rejects = replay(path, tmp_path / f"state{path.suffix}", max_ahead="0")
        assert [(r["reason"], r["event_id"], r["correlation_id"]) for r in rejects] == [("field_too_long", None, None)]
        assert field in rejects[0]["detail"] and rejects[0]["payload"][field] == "é" * 700
        assert [(r["sellable"], r["version"]) for r in rows] == [(2, 1)]


def test_a_snapshot_carries_at_most_32_correlation_ids_and_sources(tmp_path: Path) -> None:
    """A batch of 100 events on one key, each with its own correlation id and source: the
    snapshot keeps the newest 32 of each (native and Python ledgers alike), so its size is
    bounded."""
    from operators import FoldSettings, KeyLedger
    from operators.ledger import NativeLedgers

    events = [
        {
            **receipt(i, "SKU-1", "WH-A", 1, occurred_at=1_780_000_000_000 + i),
            "correlation_id": f"c-{i:03d}",
            "source_system": f"S-{i // 2:03d}",
        }
        for i in range(100)
    ]
    items = [item for e in events for _, item in route(validate(e, ItemMaster()))]
    natives = NativeLedgers(FoldSettings())
    native = natives.fold(natives.new("SKU-1", "WH-A"), items).snapshot
    reference = KeyLedger("SKU-1", "WH-A").on_batch(items).snapshot
    assert native == reference
    assert native is not None and native.correlation_ids == tuple(f"c-{i:03d}" for i in range(68, 100))
    assert native.source_systems == tuple(f"S-{i:03d}" for i in range(18, 50))  # each once, newest 32


def test_a_rejection_detail_does_not_grow_with_its_input(tmp_path: Path) -> None:
    """An event_type, status or uom that is a 100,000-item list (not text, so not
    field_too_long) is quoted short in the detail: the record stays within its capped payload."""
    bad = [
        {**receipt(0, "SKU-1", "WH-A", 1), "event_type": list(range(100_000))},
        {**receipt(1, "SKU-1", "WH-A", 1), "status": list(range(100_000))},
        {**receipt(2, "SKU-1", "WH-A", 1), "uom": list(range(100_000))},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in bad))
    _, rejects = replay(path, tmp_path / "state", max_ahead="0")
    assert len(rejects) == 3 and all(len(r["detail"]) < 200 for r in rejects), [r["detail"][:80] for r in rejects]
