"""The policy file: the example loads as documented, and every mistake names its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.policy_file import PolicyError, load_policy, parse_policy
from operators.policy import StaleMode

EXAMPLE = Path(__file__).parent.parent.parent / "deploy" / "policy.example.yaml"


def test_the_example_policy_loads_with_every_feature() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.version == "2026-11-01"
    amazon = policy.channel("amazon")
    assert amazon.locations == frozenset({"WH-EAST", "WH-WEST"}) and amazon.allocation_cap == 0.6
    assert amazon.low_stock_below == 5 and amazon.max_updates_per_s == 100
    assert amazon.safety_stock_for("SKU-0100042").units == 25
    assert amazon.safety_stock_for("SKU-0100001").percent == 20
    assert amazon.safety_stock_for("SKU-0200001").percent == 10
    assert policy.channel("b2b").priority == 3 and policy.channel("dtc").locations == frozenset({"WH-EAST"})
    assert [(f.account, f.location, f.quantity) for f in policy.ring_fences] == [
        ("ACCT-001", "WH-EAST", 200),
        ("ACCT-002", None, 100),
    ]
    assert len(policy.sources.rules) == 7 and policy.sources.rules[-1].systems == frozenset()
    rule = policy.stale_rule("3PL-CENTRAL")
    assert rule is not None and rule.mode is StaleMode.CAP and rule.after_ms == 900_000 and rule.cap_units == 10
    assert policy.bundles[0].components == (("SKU-0100001", 1), ("SKU-0100002", 2))


def problems(text: str) -> str:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "p.yaml")
    return str(err.value)


BASE = 'version: "v1"\nchannels:\n  dtc: {locations: [WH-EAST]}\n'


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  amazon:\n    allocation_cap: 1.5\n",
            "p.yaml:5: channels.amazon.allocation_cap: Input should be less than or equal to 1",
        ),
        ("  amazon:\n    locatons: [WH-EAST]\n", "p.yaml:5: channels.amazon.locatons: Extra inputs are not permitted"),
        ("  amazon:\n    safety_stock: {percent: 120}\n", "p.yaml:5: channels.amazon.safety_stock.percent"),
        (
            "  amazon:\n    safety_stock_overrides:\n      - {units: 3}\n",
            "p.yaml:6: channels.amazon.safety_stock_overrides.0",
        ),
        (
            "ring_fences:\n  - {account: A, channel: nope, sku: S, quantity: 5}\n",
            "p.yaml:5: ring_fences.0.channel: unknown channel 'nope'",
        ),
        (
            "ring_fences:\n  - {account: A, channel: dtc, sku: S, quantity: 5, location: WH-WEST}\n",
            "p.yaml:5: ring_fences.0.location",
        ),
        ("ring_fences:\n  - {account: A, channel: dtc, sku: S, quantity: -1}\n", "p.yaml:5: ring_fences.0.quantity"),
        ("stale_sources:\n  WH-EAST: {source: WMS, after: soon}\n", "p.yaml:5: stale_sources.WH-EAST.after"),
        ("stale_sources:\n  WH-EAST: {source: WMS, after: 5m, mode: shrug}\n", "p.yaml:5: stale_sources.WH-EAST.mode"),
        ("bundles:\n  KIT: {C1: 0}\n", "p.yaml:5: bundles.KIT.C1"),
        ("bundles:\n  KIT: {KIT: 1}\n", "p.yaml:5: bundles.KIT.KIT: a kit cannot contain itself"),
        ("  dtc: {}\n", "p.yaml:4: duplicate key 'dtc' (first on line 3)"),
        ("channels: [\n", "p.yaml:5: not valid YAML"),
    ],
)
def test_mistakes_are_reported_with_their_line(extra: str, expected: str) -> None:
    assert expected in problems(BASE + extra)


def test_missing_required_fields_point_at_the_parent() -> None:
    assert "p.yaml:1: version: Field required" in problems("channels:\n  dtc: {}\n")
    assert "p.yaml:1: channels: Field required" in problems('version: "v1"\n')


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")


def test_a_policy_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"version", b"vers\xffion", 1))
    with pytest.raises(PolicyError, match=r"policy.yaml: not UTF-8 text"):
        load_policy(path)


def test_a_reload_that_adds_a_channel_is_refused_and_the_running_policy_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from connectors.policy_file import ControlEvents, CurrentPolicy, _ControlPartition

    path = tmp_path / "policy.yaml"
    text = EXAMPLE.read_text()
    path.write_text(text)
    policy = load_policy(path)
    current = CurrentPolicy(path, policy)
    part = _ControlPartition(current, True, ControlEvents())
    part.next_batch()  # the watch list
    added = text.replace("channels:\n", "channels:\n  ebay:\n    locations: [WH-EAST]\n", 1)
    assert "ebay" in [c.name for c in parse_policy(added).channels]  # a valid policy on its own
    path.write_text(added.replace("2026-11-01", "2026-12-01", 1))
    current.request()
    assert part.next_batch() == [] and part.policy is policy
    assert "policy reload refused, keeping version 2026-11-01: channels" in caplog.text
    path.write_text(text.replace("2026-11-01", "2026-12-02", 1))  # same channels: applied
    current.request()
    assert part.next_batch() and part.policy.version == "2026-12-02"


def test_a_reload_applies_source_rules_to_the_next_batch_only(tmp_path: Path) -> None:
    from connectors.codec import Decoder
    from connectors.policy_file import CurrentPolicy
    from operators import ItemMaster, Posting, Rejection

    path = tmp_path / "policy.yaml"
    path.write_text("version: a\nchannels:\n  b2b: {}\n")
    current = CurrentPolicy(path, load_policy(path))
    decoder = Decoder(ItemMaster({}), policy=current.get)
    count = {
        "event_id": "c-1",
        "event_type": "CYCLE_COUNT",
        "sku": "SKU-1",
        "location": "WH-EAST",
        "quantity": 5,
        "occurred_at": 1_780_000_000_000,
        "source_system": "MARKETPLACE",
    }

    def decoded(event_id: str) -> type:
        [(_, (_, item))] = decoder([(json.dumps({**count, "event_id": event_id}), "test")])  # type: ignore[misc]
        return type(item)

    assert decoded("c-1") is Posting
    path.write_text("version: b\nchannels:\n  b2b: {}\nsources:\n  - {events: [CYCLE_COUNT], systems: [WMS]}\n")
    assert decoded("c-2") is Posting  # not reloaded yet
    current.request()
    assert decoded("c-3") is Rejection and current.get().version == "b"
    path.write_text("version: c\nchannels:\n  b2b: {}\nsources: {}\n")  # invalid: refused, rules kept
    current.request()
    assert decoded("c-4") is Rejection and current.get().version == "b"


def test_a_sources_mistake_names_its_line() -> None:
    text = (
        "version: a\nchannels:\n  b2b: {}\nsources:\n  - events: [CYCLE_COUNT]\n    systems: [WMS]\n"
        "  - events: [CYCLE]\n    locations: ['W*H']\n    systems: [WMS]\n    mode: warn\n"
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    lines = str(caught.value).splitlines()[1:]
    assert [line.strip().split(": ")[0:2] for line in lines] == [
        ["p.yaml:7", "sources.1.events.0"],
        ["p.yaml:8", "sources.1.locations.0"],
        ["p.yaml:10", "sources.1.mode"],
    ]
