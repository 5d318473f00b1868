"""API keys through the real app over a real store: every route x {no key, bad key, wrong
scope, right scope} answers exactly 401/401/403/200; a channel's key never sees another
channel's or an account's figure, whatever it asks; a revoked key is refused without a
restart; a key over its rate limit gets 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.rejects import Reason
from serving.api import create_app
from serving.keys import Keyring, add_key, read_keys, revoke_key
from serving.store import StoreWriter
from tests.serving.test_api import make
from tests.serving.test_api_schema import _anomaly, _change, _publication, _reconciled, _rejected

# (method, route, a path of it, body, the scope it needs): every route of the API (checked below)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/availability/{sku}/{location}", "/v1/availability/SKU-1/WH-A", None, "inventory:read"),
    ("GET", "/v1/availability/{sku}", "/v1/availability/SKU-1", None, "inventory:read"),
    ("POST", "/v1/availability:batch", "/v1/availability:batch", {"skus": ["SKU-1"]}, "inventory:read"),
    ("GET", "/v1/channels/{channel}/availability/{sku}", "/v1/channels/amazon/availability/SKU-1", None, "channel:"),
    (
        "POST",
        "/v1/channels/{channel}/availability:batch",
        "/v1/channels/amazon/availability:batch",
        {"skus": ["SKU-1"]},
        "channel:",
    ),
    ("GET", "/v1/accounts/{account}/availability/{sku}", "/v1/accounts/ACCT-1/availability/SKU-1", None, "account:"),
    ("GET", "/v1/skus", "/v1/skus", None, "inventory:read"),
    (
        "GET",
        "/v1/channels/{channel}/availability/{sku}/explain",
        "/v1/channels/amazon/availability/SKU-1/explain",
        None,
        "channel:",
    ),
    (
        "GET",
        "/v1/accounts/{account}/availability/{sku}/explain",
        "/v1/accounts/ACCT-1/availability/SKU-1/explain",
        None,
        "account:",
    ),
    ("GET", "/v1/availability/{sku}/{location}/history", "/v1/availability/SKU-1/WH-A/history", None, "inventory:read"),
    ("GET", "/v1/exceptions", "/v1/exceptions", None, "inventory:read"),
    ("GET", "/v1/channels", "/v1/channels", None, "inventory:read"),
    ("GET", "/v1/ops", "/v1/ops", None, "admin"),
    ("GET", "/v1/reconciliation/{sku}/{location}", "/v1/reconciliation/SKU-1/WH-A", None, "inventory:read"),
    ("GET", "/v1/reconciliation", "/v1/reconciliation", None, "inventory:read"),
    ("GET", "/v1/changes/{sku}/{location}", "/v1/changes/SKU-1/WH-A", None, "inventory:read"),
    ("GET", "/v1/anomalies/{sku}/{location}", "/v1/anomalies/SKU-1/WH-A", None, "inventory:read"),
    ("GET", "/v1/anomalies", "/v1/anomalies", None, "inventory:read"),
    ("GET", "/metrics", "/metrics", None, "admin"),
]
_CONCRETE = {"channel:": "channel:amazon", "account:": "account:ACCT-1"}
_TEMPLATE = {"channel:": "channel:{channel}", "account:": "account:{account}"}
SCOPES = ["inventory:read", "channel:amazon", "channel:b2b", "account:ACCT-1", "admin"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path, Clock]]:
    writer = StoreWriter(tmp_path / "store")
    writer.put_snapshots([make("SKU-1", "WH-A", 10, 3)])
    writer.put_publications(
        [
            _publication("SKU-1", "amazon", None),
            _publication("SKU-1", "b2b", None),
            _publication("SKU-1", "b2b", "ACCT-1"),
        ]
    )
    writer.put_reconciliations([_reconciled("SKU-1", "WH-A")])
    writer.put_anomalies([_anomaly("SKU-1", "WH-A")])
    writer.put_changes([_change("SKU-1", "WH-A", 1)])
    writer.put_exceptions([_rejected(Reason.UNKNOWN_UOM, {"source_system": "WMS"})])
    writer.flush()
    path = tmp_path / "keys.json"
    keys = {scope: add_key(path, scope.replace(":", "-"), [scope]) for scope in SCOPES}
    keys["limited"] = add_key(path, "limited", ["inventory:read"], rate_per_second=2)
    clock = Clock()
    with TestClient(create_app(tmp_path, keyring=Keyring(path, clock))) as client:
        yield client, keys, path, clock
    writer.close()


def _call(client: TestClient, method: str, path: str, body: Any, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return client.request(method, path, json=body, headers=headers)


def test_every_route_is_in_the_matrix(keyed: Any) -> None:
    client, *_ = keyed
    documented = {
        (method.upper(), path)
        for path, ops in client.get("/openapi.json").json()["paths"].items()
        for method in ops
        if path not in ("/healthz", "/readyz")
    }
    assert documented == {(method, route) for method, route, *_ in ROUTES}


@pytest.mark.parametrize(("method", "route", "path", "body", "needed"), ROUTES)
def test_each_route_answers_exactly_by_key_and_scope(
    keyed: Any, method: str, route: str, path: str, body: Any, needed: str
) -> None:
    client, keys, *_ = keyed
    needed = _CONCRETE.get(needed, needed)
    for key, status, error in ((None, 401, "unauthorized"), ("skf_not-a-key", 401, "unauthorized")):
        r = _call(client, method, path, body, key)
        assert (r.status_code, r.json()["error"]) == (status, error)
        assert r.headers["www-authenticate"].startswith("Bearer")
    for scope in SCOPES:
        r = _call(client, method, path, body, keys[scope])
        if scope in (needed, "admin"):
            assert r.status_code == 200, (scope, r.text)
        else:
            assert (r.status_code, r.json()["error"]) == (403, "forbidden"), scope
            assert needed in r.json()["message"]


def test_healthz_and_readyz_need_no_key_and_say_only_that_it_is_up(keyed: Any) -> None:
    client, *_ = keyed
    for probe in ("/healthz", "/readyz"):
        r = client.get(probe)
        assert r.status_code == 200 and r.json() == {"status": "ok"}


_NAMES = st.one_of(st.sampled_from(["amazon", "b2b", "ACCT-1", "Amazon", "amazon "]), st.text(min_size=1, max_size=12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channel=_NAMES, sku=st.sampled_from(["SKU-1", "SKU-2"]), batch=st.booleans(), account=st.booleans())
def test_a_channel_key_sees_its_channel_only(keyed: Any, channel: str, sku: str, batch: bool, account: bool) -> None:
    client, keys, *_ = keyed

    where = f"/v1/{'accounts' if account else 'channels'}/{quote(channel, safe='')}/availability"
    if batch:
        r = client.post(
            f"{where}:batch",
            json={"skus": [sku, "SKU-1"]},
            headers={"Authorization": f"Bearer {keys['channel:amazon']}"},
        )
    else:
        r = client.get(f"{where}/{sku}", headers={"Authorization": f"Bearer {keys['channel:amazon']}"})
    if account or channel != "amazon":
        assert r.status_code in (403, 404, 405), r.text  # 404/405: no such route (an empty or odd segment)
        assert '"b2b"' not in r.text and "ACCT-1" not in r.text.replace(channel, "")
    else:
        assert r.status_code in (200, 404)
        assert '"b2b"' not in r.text and "ACCT-1" not in r.text


def test_a_revoked_key_is_refused_without_a_restart(keyed: Any) -> None:
    client, keys, path, clock = keyed
    url = "/v1/availability/SKU-1/WH-A"
    assert _call(client, "GET", url, None, keys["inventory:read"]).status_code == 200
    revoke_key(path, "inventory-read")
    assert "inventory-read" not in {k.name for k in read_keys(path).keys}
    clock.now += 1.0  # the keyring looks at the file at most once a second
    assert _call(client, "GET", url, None, keys["inventory:read"]).status_code == 401
    assert _call(client, "GET", url, None, keys["admin"]).status_code == 200  # the others stay
    added = add_key(path, "late", ["inventory:read"])
    clock.now += 1.0
    assert _call(client, "GET", url, None, added).status_code == 200  # and a new one works


def test_a_broken_keys_file_keeps_the_keys_read_before(keyed: Any) -> None:
    client, keys, path, clock = keyed
    path.write_text("{not json")
    clock.now += 1.0
    assert _call(client, "GET", "/v1/skus", None, keys["inventory:read"]).status_code == 200


def _denied(reason: str) -> float:
    from serving.auth import DENIED

    return DENIED.labels(reason)._value.get()  # type: ignore[no-any-return]


def test_refusals_are_counted_by_reason(keyed: Any) -> None:
    client, keys, *_ = keyed
    before = {r: _denied(r) for r in ("no_key", "bad_key", "scope")}
    _call(client, "GET", "/v1/skus", None, None)
    _call(client, "GET", "/v1/skus", None, "skf_nope")
    _call(client, "GET", "/metrics", None, keys["inventory:read"])
    assert {r: _denied(r) - n for r, n in before.items()} == {"no_key": 1, "bad_key": 1, "scope": 1}


def test_over_the_rate_limit_is_429_with_retry_after(keyed: Any) -> None:
    client, keys, _, clock = keyed
    url = "/v1/availability/SKU-1/WH-A"
    before = _denied("rate_limit")
    codes = [_call(client, "GET", url, None, keys["limited"]).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # a burst of one second's worth (2), then refused
    r = _call(client, "GET", url, None, keys["limited"])
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.json()["error"] == "too_many_requests"
    assert _denied("rate_limit") - before == 2
    assert _call(client, "GET", url, None, keys["inventory:read"]).status_code == 200  # per key
    clock.now += 0.5
    assert _call(client, "GET", url, None, keys["limited"]).status_code == 200


def test_the_openapi_document_declares_the_scheme_and_each_scope(keyed: Any) -> None:
    client, *_ = keyed
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for method, route, _, _, needed in ROUTES:
        op = doc["paths"][route][method.lower()]
        assert op["security"] == [{"apiKey": []}] and op["x-required-scope"] == _TEMPLATE.get(needed, needed)
        assert {"401", "403", "429"} <= set(op["responses"])
    assert "security" not in doc["paths"]["/healthz"]["get"]
