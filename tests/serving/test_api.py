"""The HTTP API over a real RocksDB store (FastAPI's TestClient drives the ASGI app)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from operators import AvailabilitySnapshot, Buckets
from serving.api import create_app
from serving.store import StoreWriter


def make(sku: str, location: str, sellable: int, reserved: int = 0, version: int = 1) -> dict[str, Any]:
    return AvailabilitySnapshot.of(
        sku, location, Buckets(sellable=sellable, reserved=reserved), version, 1_780_000_000_000, f"e-{version}"
    ).to_dict()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    writer = StoreWriter(tmp_path / "store")
    writer.put_snapshots(
        [make("SKU-1", "WH-A", 10, 3), make("SKU-1", "WH-B", 5, 9), make("SKU-2", "WH-A", 7)]
        + [make(f"SKU-P{i:03d}", "WH-A", i) for i in range(25)]
    )
    with TestClient(create_app(tmp_path)) as c:
        c.writer = writer  # type: ignore[attr-defined]
        yield c
    writer.close()


def test_one_key(client: TestClient) -> None:
    r = client.get("/v1/availability/SKU-1/WH-A")
    assert r.status_code == 200
    body = r.json()
    assert body["sellable"] == 10 and body["reserved"] == 3 and body["available"] == 7
    for field in (
        "sku",
        "location",
        "picked",
        "quarantine",
        "damaged",
        "in_transit",
        "on_hand",
        "version",
        "as_of",
        "last_event_id",
    ):
        assert field in body


def test_sku_with_totals(client: TestClient) -> None:
    body = client.get("/v1/availability/SKU-1").json()
    assert [loc["location"] for loc in body["locations"]] == ["WH-A", "WH-B"]
    assert body["total"]["sellable"] == 15 and body["total"]["reserved"] == 12
    assert body["total"]["available"] == 7  # 7 + max(0, 5 - 9)


def test_unknown_keys_are_404_with_a_message(client: TestClient) -> None:
    for url, named in (("/v1/availability/NOPE", "NOPE"), ("/v1/availability/SKU-1/NOWHERE", "NOWHERE")):
        r = client.get(url)
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"
        assert named in r.json()["message"]


def test_batch(client: TestClient) -> None:
    r = client.post("/v1/availability:batch", json={"skus": ["SKU-2", "SKU-1", "MISSING", "SKU-2"]})
    assert r.status_code == 200
    body = r.json()
    assert [x["sku"] for x in body["results"]] == ["SKU-2", "SKU-1"] and body["missing"] == ["MISSING"]


@pytest.mark.parametrize(
    "payload",
    [{"skus": []}, {"skus": [f"S{i}" for i in range(1001)]}, {"sku": ["SKU-1"]}, {"skus": "SKU-1"}],
)
def test_batch_bad_input_is_422_with_a_clear_message(client: TestClient, payload: dict[str, Any]) -> None:
    r = client.post("/v1/availability:batch", json=payload)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request" and "skus" in r.json()["message"]


def test_sku_paging(client: TestClient) -> None:
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 10}
        if after:
            params["after"] = after
        body = client.get("/v1/skus", params=params).json()
        seen += body["skus"]
        after = body["next_after"]
        if after is None:
            break
    assert seen == sorted(["SKU-1", "SKU-2"] + [f"SKU-P{i:03d}" for i in range(25)])
    assert client.get("/v1/skus", params={"limit": 0}).status_code == 422
    assert "limit" in client.get("/v1/skus", params={"limit": 5000}).json()["message"]


def test_new_snapshots_are_served(client: TestClient) -> None:
    client.writer.put_snapshots([make("SKU-1", "WH-A", 99, version=2)])  # type: ignore[attr-defined]
    import time

    deadline = time.monotonic() + 1
    while client.get("/v1/availability/SKU-1/WH-A").json()["sellable"] != 99:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_health_metrics_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    client.get("/v1/availability/SKU-1/WH-A")
    metrics = client.get("/metrics").text
    assert 'skuflow_api_request_seconds_count{route="/v1/availability/{sku}/{location}",status="200"}' in metrics
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/availability/{sku}/{location}",
        "/v1/availability/{sku}",
        "/v1/availability:batch",
        "/v1/skus",
        "/healthz",
        "/metrics",
    ):
        assert path in spec["paths"]
    one = spec["paths"]["/v1/availability/{sku}/{location}"]["get"]["responses"]
    assert "404" in one and one["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Snapshot")


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "status", "error"),
    [
        ("GET", "/v1/nowhere", None, {}, 404, "not_found"),
        ("DELETE", "/v1/skus", None, {}, 405, "method_not_allowed"),
        ("POST", "/v1/availability:batch", b"hello", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        ("POST", "/v1/availability:batch", b"a=b", {"content-type": "application/x-www-form-urlencoded"}, 415, None),
        ("POST", "/v1/availability:batch", b"\xff\xfe", {"content-type": "application/json"}, 422, "invalid_request"),
        ("POST", "/v1/availability:batch", b'{"skus": []}', {"content-type": "application/json"}, 422, None),
        ("GET", "/v1/skus?limit=0", None, {}, 422, "invalid_request"),
    ],
)
def test_every_error_has_the_documented_shape(
    client: TestClient,
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
    error: str | None,
) -> None:
    r = client.request(method, url, content=body, headers=headers)
    assert r.status_code == status, r.text
    problem = r.json()
    assert isinstance(problem["message"], str) and problem["message"]
    assert problem["error"] == (error or problem["error"]) and isinstance(problem["error"], str)


def test_key_parts_with_slashes_and_separators_are_reachable(client: TestClient) -> None:
    from urllib.parse import quote

    client.writer.put_snapshots([make("A/B|%x y", "L/1 ?#", 4)])  # type: ignore[attr-defined]
    client.writer.flush()  # type: ignore[attr-defined]
    sku, loc = quote("A/B|%x y", safe=""), quote("L/1 ?#", safe="")
    for _ in range(50):  # the secondary catches up within ~20 ms
        r = client.get(f"/v1/availability/{sku}/{loc}")
        if r.status_code == 200:
            break
        time.sleep(0.01)
    assert r.status_code == 200 and r.json()["sku"] == "A/B|%x y" and r.json()["location"] == "L/1 ?#"
    assert [x["location"] for x in client.get(f"/v1/availability/{sku}").json()["locations"]] == ["L/1 ?#"]


def test_an_oversized_body_is_413_in_the_error_shape(client: TestClient) -> None:
    from serving.api import MAX_BODY

    big = b'{"skus": ["' + b"x" * MAX_BODY + b'"]}'
    r = client.post("/v1/availability:batch", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "request_entity_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"skus": ["'
        for _ in range(MAX_BODY // 65536 + 1):
            yield b"x" * 65536
        yield b'"]}'

    r = client.post(
        "/v1/channels/b2b/availability:batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["message"].startswith("the body must be at most")
    assert client.post("/v1/availability:batch", json={"skus": ["SKU-1"]}).status_code == 200


def _reconciled(sku: str, location: str, event_id: str, source: str, delta: int, version: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sku": sku,
        "location": location,
        "source_system": source,
        "bucket": "on_hand",
        "reported": 10 + delta,
        "computed": 10,
        "delta": delta,
        "status": "match" if delta == 0 else "divergent",
        "tolerance": "0 units or 0%",
        "as_of": 1_780_000_000_000,
        "version": version,
        "correlation_id": None,
    }


def test_reconciliation_by_key_and_filtered_pages(client: TestClient) -> None:
    writer: StoreWriter = client.writer  # type: ignore[attr-defined]
    writer.put_reconciliations(
        [
            _reconciled("SKU-1", "WH-A", "b-1", "ERP", -3, 5),
            _reconciled("SKU-1", "WH-A", "b-1", "ERP", 0, 4),  # older: does not replace
            _reconciled("SKU-1", "WH-A", "b-2", "WMS", 0, 6),
            _reconciled("SKU-2", "WH-A", "b-3", "ERP", 2, 1),
            _reconciled("A/B", "WH 1", "b-4", "ERP", 0, 1),
        ]
    )
    writer.flush()
    deadline = time.monotonic() + 5
    while (answer := client.get("/v1/reconciliation/SKU-1/WH-A")).status_code == 404:  # the reader catches up
        assert time.monotonic() < deadline
        time.sleep(0.01)
    one = answer.json()
    assert [(r["event_id"], r["delta"], r["version"]) for r in one["records"]] == [("b-1", -3, 5), ("b-2", 0, 6)]
    assert client.get("/v1/reconciliation/A%2FB/WH%201").json()["records"][0]["event_id"] == "b-4"
    assert client.get("/v1/reconciliation/SKU-9/WH-A").status_code == 404
    divergent = client.get("/v1/reconciliation", params={"status": "divergent", "source": "ERP"}).json()
    assert [r["event_id"] for r in divergent["records"]] == ["b-1", "b-3"] and divergent["next_after"] is None
    pages, after = [], None
    while True:
        page = client.get("/v1/reconciliation", params={"limit": 2, **({"after": after} if after else {})}).json()
        pages.append([r["event_id"] for r in page["records"]])
        after = page["next_after"]
        if after is None:
            break
    assert [e for p in pages for e in p] == ["b-4", "b-1", "b-2", "b-3"]
    assert divergent["records"][0]["event_id"] == "b-1"
    later = client.get("/v1/reconciliation", params={"after": "SKU-1|WH-A|b-1"}).json()  # any text is a place
    assert [r["event_id"] for r in later["records"]] == ["b-2", "b-3"]
    assert [r["event_id"] for r in client.get("/v1/reconciliation", params={"after": "SKU-2"}).json()["records"]] == [
        "b-3"
    ]


def test_totals_beyond_64_bits_are_exact(client: TestClient) -> None:
    """Three locations at int64's maximum: their total needs more than 64 bits (orjson's
    integers stop there; the API falls back, exactly)."""
    writer: StoreWriter = client.writer  # type: ignore[attr-defined]
    writer.put_snapshots([make("BIG", f"L{i}", 2**63 - 1) for i in range(3)])
    writer.flush()
    deadline = time.monotonic() + 5
    while (answer := client.get("/v1/availability/BIG")).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert answer.status_code == 200 and answer.json()["total"]["sellable"] == 3 * (2**63 - 1)


def test_exceptions_newest_first_filtered_and_paged_with_their_payloads(client: TestClient) -> None:
    from operators.rejects import Reason
    from tests.serving.test_api_schema import _rejected

    writer: StoreWriter = client.writer  # type: ignore[attr-defined]
    sent = [(Reason.UNKNOWN_UOM, {"source_system": "WMS", "n": i}) for i in range(5)]
    sent += [(Reason.UNAUTHORIZED_SOURCE, {"source_system": "MARKETPLACE", "n": 5}), (Reason.UNDECODABLE, b"\xff\x00")]
    writer.put_exceptions(_rejected(reason, payload) for reason, payload in sent)
    writer.flush()
    deadline = time.monotonic() + 1  # the reader catches up with the writer at most every 20 ms
    while len((every := client.get("/v1/exceptions").json())["records"]) < len(sent):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert [r["reason"] for r in every["records"]] == [r.value for r, _ in reversed(sent)]
    assert every["next_before"] is None
    raw = every["records"][0]
    assert (raw["payload_json"], raw["payload_base64"], raw["source_system"]) == (None, "/wA=", None)
    wms = client.get("/v1/exceptions", params={"source": "WMS", "limit": 2}).json()
    assert [orjson.loads(r["payload_json"])["n"] for r in wms["records"]] == [4, 3]
    rest = client.get("/v1/exceptions", params={"source": "WMS", "before": wms["next_before"]}).json()
    assert [orjson.loads(r["payload_json"])["n"] for r in rest["records"]] == [2, 1, 0]
    only = client.get("/v1/exceptions", params={"reason": "unauthorized_source"}).json()["records"]
    assert [r["source_system"] for r in only] == ["MARKETPLACE"]
    assert client.get("/v1/exceptions", params={"before": 0}).status_code == 422
