"""Reconciliation: what a source system says it holds for a key (a BALANCE_SNAPSHOT) against
what skuflow computed at the same position in event order, and the verdict a tolerance gives.

The ledger makes a `BalanceCheck` when a balance snapshot folds in order, and again (with a
higher version) for each one after a late posting that re-folds history before it, so the
check with the highest version per event is the one of the sorted log, whatever the arrival
order. The verdict is the shell's, from the running policy's tolerance."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from operators.events import EventType, InventoryEvent, Status
from operators.ratios import share


class Bucket(StrEnum):
    """What a balance snapshot reports: `status` null is on hand, else that bucket."""

    ON_HAND = "on_hand"
    SELLABLE = "sellable"
    QUARANTINE = "quarantine"
    DAMAGED = "damaged"


BUCKET_OF_STATUS: dict[Status | None, Bucket] = {
    None: Bucket.ON_HAND,
    Status.SELLABLE: Bucket.SELLABLE,
    Status.QUARANTINE: Bucket.QUARANTINE,
    Status.DAMAGED: Bucket.DAMAGED,
}
BUCKETS: tuple[Bucket, ...] = tuple(BUCKET_OF_STATUS.values())  # by status code: 0 none, then Status order


class BalanceCheck(NamedTuple):
    """A balance snapshot against the fold's state at its position."""

    event_id: str
    source_system: str | None
    correlation_id: str | None
    bucket: Bucket
    reported: int
    computed: int
    as_of: int  # the snapshot's occurred_at
    version: int  # the key's version when checked: the highest per event_id stands
    adopted: bool = False  # the policy adopts its figure: the fold set the bucket to it


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a reported figure may be from the computed one and still match: `units`, or
    `percent` of the computed figure, whichever is larger."""

    units: int = 0
    percent: float = 0.0

    def allows(self, delta: int, computed: int) -> bool:
        return abs(delta) <= max(self.units, share(abs(computed), self.percent, 100))

    def __str__(self) -> str:
        return f"{self.units} units or {self.percent:g}%"


@dataclass(frozen=True, slots=True)
class ReconciliationRule:
    """The tolerance of balance snapshots at `location` from `source` (None: any), and
    whether their figure is adopted (the fold sets the bucket to it at their place)."""

    location: str | None = None
    source: str | None = None
    tolerance: Tolerance = Tolerance()
    adopt: bool = False

    def specificity(self, location: str, source: str | None) -> int | None:
        """How closely the rule fits (location and source 3, location 2, source 1, neither 0),
        or None when it does not apply."""
        if self.location not in (None, location) or self.source not in (None, source):
            return None
        return 2 * (self.location is not None) + (self.source is not None)


def rule_for(rules: tuple[ReconciliationRule, ...], location: str, source: str | None) -> ReconciliationRule:
    """The closest-fitting rule (the first listed among equals); none: exact, reported."""
    best: tuple[int, ReconciliationRule] | None = None
    for rule in rules:
        fit = rule.specificity(location, source)
        if fit is not None and (best is None or fit > best[0]):
            best = (fit, rule)
    return best[1] if best is not None else ReconciliationRule()


class Adoption:
    """Which balance snapshots the rules adopt, decided once per (location, source)."""

    __slots__ = ("_decided", "_rules")

    def __init__(self, rules: tuple[ReconciliationRule, ...]) -> None:
        self._rules = rules
        self._decided: dict[tuple[str, str | None], bool] = {}

    def __bool__(self) -> bool:
        return any(r.adopt for r in self._rules)

    def adopts(self, event: InventoryEvent) -> bool:
        if event.event_type is not EventType.BALANCE_SNAPSHOT:
            return False
        where = (event.location, event.source_system)
        decided = self._decided.get(where)
        if decided is None:
            decided = self._decided[where] = rule_for(self._rules, *where).adopt
        return decided


class Reconciliation(NamedTuple):
    """A check on its key, as the fold stage emits it."""

    sku: str
    location: str
    check: BalanceCheck

    def record(self, rules: tuple[ReconciliationRule, ...] = ()) -> ReconciliationRecord:
        tolerance = rule_for(rules, self.location, self.check.source_system).tolerance
        return verdict(self.check, self.sku, self.location, tolerance)


class ReconciliationRecord(NamedTuple):
    """One balance snapshot's reconciliation: keep the highest `version` per `event_id`."""

    event_id: str
    sku: str
    location: str
    source_system: str | None
    bucket: str
    reported: int
    computed: int
    delta: int  # reported - computed
    status: str  # match | divergent | adopted
    tolerance: str
    as_of: int
    version: int
    correlation_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def _status(check: BalanceCheck, delta: int, tolerance: Tolerance) -> str:
    """An adopted figure that differed is `adopted` (the fold took it, whatever the tolerance);
    else within the tolerance is `match`."""
    if check.adopted:
        return "adopted" if delta else "match"
    return "match" if tolerance.allows(delta, check.computed) else "divergent"


def verdict(check: BalanceCheck, sku: str, location: str, tolerance: Tolerance = Tolerance()) -> ReconciliationRecord:
    """The reconciliation record of a check."""
    delta = check.reported - check.computed
    return ReconciliationRecord(
        event_id=check.event_id,
        sku=sku,
        location=location,
        source_system=check.source_system,
        bucket=check.bucket.value,
        reported=check.reported,
        computed=check.computed,
        delta=delta,
        status=_status(check, delta, tolerance),
        tolerance=str(tolerance),
        as_of=check.as_of,
        version=check.version,
        correlation_id=check.correlation_id,
    )
