"""Source rules: the first rule covering an event decides, over any system, type and location."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from operators import InventoryEvent, validate
from operators.events import EventType
from operators.sources import SourceMode, SourceRule, SourceRules
from tests.operators.strategies import ITEM_MASTER

WMS_AT_WH = SourceRule(frozenset({"WMS"}), frozenset({EventType.CYCLE_COUNT, EventType.RECEIPT}), ("WH-*",))
ERP_FLAGGED = SourceRule(frozenset({"ERP"}), frozenset({EventType.BALANCE_SNAPSHOT}), None, SourceMode.FLAG)
NOBODY_ELSE = SourceRule(frozenset())


def _event(event_type: str, location: str, system: str) -> InventoryEvent:
    raw = {
        "event_id": "e-1",
        "event_type": event_type,
        "sku": "SKU-1",
        "location": location,
        "quantity": 5,
        "occurred_at": 1_780_000_000_000,
        "source_system": system,
        "order_id": "O-1",
        "channel": "b2b",
    }
    event = validate(raw, ITEM_MASTER)
    assert isinstance(event, InventoryEvent)
    return event


def test_the_first_covering_rule_decides() -> None:
    rules = SourceRules((WMS_AT_WH, ERP_FLAGGED))
    assert rules.judge(_event("CYCLE_COUNT", "WH-EAST", "WMS")) is None
    verdict = rules.judge(_event("CYCLE_COUNT", "WH-EAST", "MARKETPLACE"))
    assert verdict is not None and verdict.mode is SourceMode.REJECT
    assert verdict.detail == (
        "MARKETPLACE is not an authoritative source of CYCLE_COUNT at WH-EAST (sources rule 1 allows WMS)"
    )
    assert rules.judge(_event("CYCLE_COUNT", "3PL-CENTRAL", "MARKETPLACE")) is None  # no rule covers it
    assert rules.judge(_event("RESERVATION_CREATED", "WH-EAST", "OMS")) is None
    flagged = rules.judge(_event("BALANCE_SNAPSHOT", "3PL-CENTRAL", "3PL"))
    assert flagged is not None and flagged.mode is SourceMode.FLAG


def test_a_rule_covering_everything_makes_an_allowlist() -> None:
    rules = SourceRules((WMS_AT_WH, NOBODY_ELSE))
    verdict = rules.judge(_event("RECEIPT", "STORE-1", "WMS"))
    assert verdict is not None and "sources rule 2 allows no system" in verdict.detail


def test_no_rules_authorize_everything() -> None:
    assert not SourceRules()
    assert SourceRules().judge(_event("CYCLE_COUNT", "WH-EAST", "MARKETPLACE")) is None


_LETTERS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))  # no blank key
_TEXT = st.text(_LETTERS, min_size=1, max_size=8)
_SYSTEMS = st.one_of(st.sampled_from(["WMS", "ERP", "3PL", "MARKETPLACE"]), _TEXT)
_PATTERN = st.one_of(_TEXT, _TEXT.map(lambda t: t + "*"), st.sampled_from(["WH-*", "WH-EAST", "3PL-*"]))
_RULES = st.lists(
    st.builds(
        SourceRule,
        st.frozensets(_SYSTEMS, max_size=3),
        st.none() | st.frozensets(st.sampled_from(list(EventType)), min_size=1),
        st.none() | st.lists(_PATTERN, min_size=1, max_size=3).map(tuple),
        st.sampled_from(list(SourceMode)),
    ),
    max_size=5,
)


def _covers(rule: SourceRule, event_type: EventType, location: str) -> bool:
    """Coverage spelt out again: every type or one of them; every location, an exact one, or a prefix."""
    if rule.event_types is not None and event_type not in rule.event_types:
        return False
    if rule.locations is None:
        return True
    return any(location == p or (p[-1] == "*" and location[: len(p) - 1] == p[:-1]) for p in rule.locations)


@given(
    rules=_RULES,
    event_type=st.sampled_from(["RECEIPT", "CYCLE_COUNT", "BALANCE_SNAPSHOT", "ADJUSTMENT"]),
    location=st.one_of(_TEXT, st.sampled_from(["WH-EAST", "WH-", "3PL-CENTRAL", "W"])),
    system=_SYSTEMS,
)
def test_the_verdict_is_the_first_covering_rules_whatever_the_input(
    rules: list[SourceRule], event_type: str, location: str, system: str
) -> None:
    event = _event(event_type, location, system)
    first = next((r for r in rules if _covers(r, event.event_type, location)), None)
    judged = SourceRules(tuple(rules))
    verdict = judged.judge(event)
    if first is None or system in first.systems:
        assert verdict is None
    else:
        assert verdict is not None and verdict.mode is first.mode
        assert system in verdict.detail and location in verdict.detail
    assert judged.judge(event) == verdict  # memoized: the same answer
