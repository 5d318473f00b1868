"""schemathesis against the API's own OpenAPI document, every check enabled: any request
the schema allows (and the negative ones it does not) gets a documented answer in the
documented shape, never a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import settings
from schemathesis.checks import CHECKS, load_all_checks

from connectors.avro import rejected_record
from operators import AvailabilitySnapshot, Buckets, EventType
from operators.anomalies import Anomaly, AnomalyCheck, AnomalyRecord
from operators.changes import Change
from operators.policy import Channel, Policy, RingFence
from operators.publication import SkuChannels
from operators.rejects import Reason, Rejection
from serving.api import create_app
from serving.keys import Keyring, add_key
from serving.store import StoreWriter

_DIR = Path(tempfile.mkdtemp(prefix="skuflow-schemathesis-"))


def _snapshot(sku: str, location: str, sellable: int) -> dict[str, Any]:
    state = Buckets(sellable=sellable, reserved=1)
    return AvailabilitySnapshot.of(sku, location, state, 1, 1_780_000_000_000, "e-1").to_dict()


def _publication(sku: str, channel: str, account: str | None) -> dict[str, Any]:
    return {
        "sku": sku,
        "channel": channel,
        "account": account,
        "available": 5,
        "previous": 4,
        "version": 1,
        "as_of": 1_780_000_000_000,
        "policy_version": "p1",
        "cause_event_ids": ["e-1"],
        "correlation_ids": [],
        "published_at": 1_780_000_000_001,
        "explanation": _explanation(sku, channel, account),
    }


def _explanation(sku: str, channel: str, account: str | None) -> dict[str, Any] | None:
    """The terms the channel stage gives such a figure (stock at one location, the account's fence)."""
    policy = Policy("p1", (Channel(channel),), (RingFence(account, channel, sku, 2),) if account else ())
    snapshot = AvailabilitySnapshot.of(sku, "WH-A", Buckets(sellable=7), 1, 1_780_000_000_000, "e-1")
    pubs = SkuChannels(sku).on_snapshot(snapshot, policy, frozenset())
    return next(p.explanation for p in pubs if p.account == account)


def _rejected(reason: Reason, payload: Any) -> dict[str, Any]:
    return rejected_record(Rejection(reason, "as the test says", payload, "r-1", origin="t.jsonl:1"))


def _reconciled(sku: str, location: str) -> dict[str, Any]:
    return {
        "event_id": "b-1",
        "sku": sku,
        "location": location,
        "source_system": "ERP",
        "bucket": "sellable",
        "reported": 8,
        "computed": 9,
        "delta": -1,
        "status": "divergent",
        "tolerance": "0 units or 0%",
        "as_of": 1_780_000_000_000,
        "version": 2,
        "correlation_id": None,
    }


def _anomaly(sku: str, location: str) -> dict[str, Any]:
    before, after = (5, 0, 3, 0, 0, 0), (5, 0, -47, 0, 0, 0)
    check = AnomalyCheck("s-1", EventType.SHIPMENT_CONFIRMED, Anomaly.OVER_SHIP, "picked", 3, 50, before, after, 1, 4)
    return AnomalyRecord.of(sku, location, check).to_dict()


def _change(sku: str, location: str, version: int) -> dict[str, Any]:
    snapshot = AvailabilitySnapshot.of(sku, location, Buckets(sellable=version), version, 1_780_000_000_000, "e-1")
    return Change.of((version - 1, 0, 0, 0, 0, 0), snapshot, ["e-1"], 1_780_000_000_002).to_dict()


def _app(keyring: Keyring | None = None) -> Any:
    writer = StoreWriter(_DIR / "store")
    writer.put_snapshots([_snapshot(s, loc, 9) for s in ("0", "SKU-1", "A/B", "") for loc in ("0", "WH-A") if s])
    writer.put_publications([_publication("0", "0", None), _publication("SKU-1", "b2b", "ACME")])
    writer.put_reconciliations([_reconciled("0", "0"), _reconciled("SKU-1", "WH-A")])
    writer.put_anomalies([_anomaly("0", "0"), _anomaly("SKU-1", "WH-A")])
    writer.put_changes([_change(s, loc, v) for s, loc in (("0", "0"), ("SKU-1", "WH-A")) for v in (1, 2)])
    writer.put_exceptions(
        [_rejected(Reason.UNKNOWN_UOM, {"source_system": "WMS"}), _rejected(Reason.UNDECODABLE, b"\xff")]
    )
    writer.flush()
    writer.close()
    return create_app(_DIR, keyring=keyring)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
_KEYS = _DIR / "keys.json"
_READER = add_key(_KEYS, "reader", ["inventory:read", "channel:0"])
keyed_schema = schemathesis.openapi.from_asgi("/openapi.json", _app(Keyring(_KEYS)))


@keyed_schema.auth()
class _Reader:
    """The key schemathesis sends (its own mutations of the header aside)."""

    def get(self, case: Any, context: Any) -> str:
        return _READER

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


load_all_checks()
EVERY_CHECK = CHECKS.get_all()


@schema.parametrize()
@settings(max_examples=100, deadline=None)
def test_the_api_keeps_its_openapi_contract(case: Any) -> None:
    case.call_and_validate(checks=EVERY_CHECK)


@keyed_schema.parametrize()
@settings(max_examples=60, deadline=None)
def test_the_api_with_keys_keeps_its_openapi_contract(case: Any) -> None:
    """With keys required: a key with some scopes gets 200/403 (both documented) for any
    request, and a request schemathesis sends without one or with a broken one 401;
    every check, the one that the API refuses a request without a key included."""
    case.call_and_validate(checks=EVERY_CHECK)
