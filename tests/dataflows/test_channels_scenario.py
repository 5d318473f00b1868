"""The channel stages end to end: the simulator's distributor under a policy with every feature."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.policy_file import parse_policy
from operators.channels import LocationView, account_figures, channel_figures, kit_figure
from operators.policy import Policy
from serving.api import create_app
from tests.helpers import read_jsonl, skuflow
from tests.support.explain import recompute

POLICY = """
version: "scenario-1"
channels:
  b2b: {safety_stock: {units: 10}, priority: 3}
  edi: {locations: [WH-EAST, WH-WEST], safety_stock: {percent: 5}, low_stock_below: 3, priority: 2}
  amazon:
    locations: [WH-EAST, WH-WEST]
    safety_stock: {percent: 10}
    safety_stock_overrides: [{prefix: SKU-010000, units: 30}, {sku: SKU-0100003, units: 7}]
    allocation_cap: 0.6
    low_stock_below: 5
    priority: 1
  dtc: {locations: [WH-EAST], safety_stock: {units: 5}, max_updates_per_second: 20}
ring_fences:
{fences}
stale_sources:
  3PL-CENTRAL: {{source: 3PL, after: 15m, mode: cap, cap_units: 10}}
bundles:
  KIT-A: {{SKU-0100001: 1, SKU-0100002: 2}}
  KIT-B: {{SKU-0100003: 3, SKU-0100004: 1, SKU-0100005: 2}}
"""


def busiest_accounts(events: Path, n: int) -> list[tuple[str, str, str, int]]:
    """(account, sku, location, net reserved) with the most reservations: fences that get consumed."""
    net: Counter[tuple[str, str, str]] = Counter()
    for e in read_jsonl(events):
        if e["event_type"] == "RESERVATION_CREATED" and e["account_id"]:
            net[(e["account_id"], e["sku"], e["location"])] += e["quantity"]
    return [(*key, qty) for key, qty in net.most_common(n)]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Policy]:
    work = tmp_path_factory.mktemp("channels")
    events, item_master = work / "events.jsonl", work / "im.csv"
    skuflow(
        "simulate",
        "--events",
        "20000",
        "--skus",
        "120",
        "--format",
        "jsonl",
        "--out",
        str(events),
        "--item-master-out",
        str(item_master),
    )
    fences = []
    for i, (account, sku, location, qty) in enumerate(busiest_accounts(events, 3)):
        channel = "b2b" if i % 2 == 0 else "edi"
        where = f", location: {location}" if i == 0 else ""  # one location fence, the others on the pool
        fences.append(f"  - {{account: {account}, channel: {channel}, sku: {sku}, quantity: {qty * 2}{where}}}")
    text = POLICY.replace("{fences}", "\n".join(fences)).replace("{{", "{").replace("}}", "}")
    policy_file = work / "policy.yaml"
    policy_file.write_text(text)
    skuflow(
        "replay",
        str(events),
        "--state-dir",
        str(work / "state"),
        "--item-master",
        str(item_master),
        "--policy",
        str(policy_file),
    )
    return work / "state", parse_policy(text)


def final_publications(state: Path) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    """Replay every channel's stream: the last figure per (channel, account, sku)."""
    last: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for path in sorted((state / "channels").glob("*.jsonl")):
        for pub in read_jsonl(path):
            assert pub["channel"] == path.stem  # each channel's stream holds only its own figures
            last[(pub["channel"], pub["account"], pub["sku"])] = pub
    return last


def test_published_streams_equal_figures_computed_from_the_final_snapshots(scenario: tuple[Path, Policy]) -> None:
    state, policy = scenario
    assert policy.ring_fences and policy.bundles and any(c.max_updates_per_s for c in policy.channels)
    snapshots = [json.loads(x) for x in skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines()]
    views: dict[str, list[LocationView]] = {}
    for s in snapshots:
        views.setdefault(s["sku"], []).append(LocationView(s["location"], s["available"], s["accounts"]))
    expected: dict[tuple[str, str | None, str], int] = {}
    figures_by_sku = {}
    for sku, vs in views.items():
        figures_by_sku[sku] = channel_figures(policy, sku, vs)
        for channel, figure in figures_by_sku[sku].items():
            expected[(channel, None, sku)] = figure
        for account, figure in account_figures(policy, sku, vs).items():
            channel = next(f.channel for f in policy.ring_fences if f.account == account)
            expected[(channel, account, sku)] = figure
    for bundle in policy.bundles:
        for channel in (c.name for c in policy.channels):
            parts = {sku: figures_by_sku.get(sku, {}).get(channel, 0) for sku, _ in bundle.components}
            expected[(channel, None, bundle.sku)] = kit_figure(bundle, parts)
    got = {k: v["available"] for k, v in final_publications(state).items()}
    assert got == expected
    consumed = [
        f for f in policy.ring_fences if expected[(f.channel, f.account, f.sku)] > expected[(f.channel, None, f.sku)]
    ]
    assert consumed  # the fences matter: accounts see more than their channel


def test_the_throttled_channel_keeps_its_rate_and_the_others_are_not_held(scenario: tuple[Path, Policy]) -> None:
    state, policy = scenario
    streams = {p.stem: read_jsonl(p) for p in (state / "channels").glob("*.jsonl")}
    dtc = sorted(p["published_at"] for p in streams["dtc"])
    per_s = policy.channel("dtc").max_updates_per_s
    assert per_s is not None
    # A token bucket with one second of burst: never more than 2 x per_s in any second.
    for i, t in enumerate(dtc):
        assert sum(1 for u in dtc[i:] if u < t + 1000) <= 2 * per_s
    # Coalescing: dtc published fewer figures than the unthrottled b2b, yet ended exact (test above).
    assert len(streams["dtc"]) < len(streams["b2b"])
    # The others went out at once: done long before the throttled channel finished draining.
    for channel in ("b2b", "edi", "amazon"):
        assert max(p["published_at"] for p in streams[channel]) < dtc[-1] - 1500, channel


def test_every_published_figure_is_explained_by_terms_that_add_up(scenario: tuple[Path, Policy]) -> None:
    state, policy = scenario
    snapshots = {
        (s["sku"], s["location"]): s
        for s in map(json.loads, skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines())
    }
    kits = {b.sku for b in policy.bundles}
    source_of = {e["event_id"]: e["source_system"] for e in read_jsonl(state.parent / "events.jsonl")}
    with TestClient(create_app(state)) as client:
        for (channel, account, sku), pub in sorted(final_publications(state).items(), key=str):
            url = f"/v1/accounts/{account}" if account else f"/v1/channels/{channel}"
            r = client.get(f"{url}/availability/{sku}/explain")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["figure"]["available"] == pub["available"] == recompute(body["explanation"])
            if sku in kits:
                assert {p["sku"] for p in body["explanation"]["components"]} == {
                    c for b in policy.bundles if b.sku == sku for c, _ in b.components
                }
                continue
            # As computed when published: each location at the version the figure saw.
            terms = body["explanation"]["locations"]
            assert sum(loc["version"] for loc in terms) == body["figure"]["version"]
            for loc in terms:
                assert loc["version"] <= snapshots[(sku, loc["location"])]["version"]
                change = client.get(
                    f"/v1/changes/{sku}/{loc['location']}", params={"after_version": loc["version"] - 1, "limit": 1}
                ).json()["changes"][0]
                assert change["version"] == loc["version"]
                # Its sources are those of the events that made that change, each once.
                causes = {source_of[e] for e in change["cause_event_ids"]}
                assert len(loc["source_systems"]) == len(set(loc["source_systems"])) >= 1
                assert set(loc["source_systems"]) == causes or change["cause_count"] > len(change["cause_event_ids"])
                assert (loc["available"], loc["as_of"]) == (max(0, change["after"]["available"]), change["as_of"])
                assert loc["stale_rule"] is None or loc["location"] == "3PL-CENTRAL"
        assert client.get("/v1/channels/b2b/availability/NO-SUCH-SKU/explain").status_code == 404
        assert client.get("/v1/accounts/NO-SUCH/availability/SKU-0100001/explain").status_code == 404


def test_a_keys_history_is_its_change_log_newest_first(scenario: tuple[Path, Policy]) -> None:
    state, _ = scenario
    with TestClient(create_app(state)) as client:
        snaps = map(json.loads, skuflow("snapshot", "--state-dir", str(state)).stdout.splitlines())
        busiest = max(snaps, key=lambda s: s["version"])
        sku, location = busiest["sku"], busiest["location"]
        log = client.get(f"/v1/changes/{sku}/{location}", params={"limit": 1000}).json()["changes"]
        assert len(log) >= 3
        half = len(log) // 2
        newest = client.get(f"/v1/availability/{sku}/{location}/history", params={"limit": half}).json()
        assert newest["changes"] == log[::-1][:half]
        older = client.get(
            f"/v1/availability/{sku}/{location}/history",
            params={"limit": 1000, "before_version": newest["next_before_version"]},
        ).json()
        assert newest["changes"] + older["changes"] == log[::-1] and older["next_before_version"] is None
        assert (
            newest["changes"][0]["after"]["available"]
            == client.get(f"/v1/availability/{sku}/{location}").json()["available"]
        )
