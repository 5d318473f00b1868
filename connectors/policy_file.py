"""The policy file: YAML, validated by pydantic, every error reported with its line.

`load_policy(path)` returns an `operators.policy.Policy` or raises `PolicyError` whose
message lists each problem as `file:line: where: what`. See deploy/policy.example.yaml.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from connectors.exceptions import ConnectorError
from operators.durations import parse_duration
from operators.events import EventType
from operators.health import PolicyUpdate, Watch
from operators.policy import Bundle, Channel, Policy, RingFence, SafetyStock, StaleMode, StaleRule
from operators.reconciliation import ReconciliationRule, Tolerance
from operators.sources import SourceMode, SourceRule, SourceRules

log = logging.getLogger(__name__)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class PolicyError(ConnectorError):
    """The policy file is invalid; the message names every problem and its line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SafetyStockModel(_Strict):
    units: int = Field(0, ge=0, description="Units held back from the channel.")
    percent: float = Field(0, ge=0, le=100, description="Percent of the channel's pooled available held back.")


class OverrideModel(SafetyStockModel):
    sku: str | None = Field(None, min_length=1, description="Exactly this SKU.")
    prefix: str | None = Field(None, min_length=1, description="Every SKU starting with this.")

    @model_validator(mode="after")
    def _one_target(self) -> OverrideModel:
        if (self.sku is None) == (self.prefix is None):
            raise ValueError("give exactly one of sku or prefix")
        return self


class ChannelModel(_Strict):
    locations: list[str] | None = Field(None, min_length=1, description="Eligible locations; omit for all.")
    safety_stock: SafetyStockModel = SafetyStockModel()
    safety_stock_overrides: list[OverrideModel] = []
    allocation_cap: float = Field(1.0, gt=0, le=1, description="Share of pooled available the channel may see.")
    low_stock_below: int = Field(0, ge=0, description="Publish 0 when the figure is below this.")
    priority: int = Field(0, description="Higher first; lower ones also hold back higher ones' safety stock.")
    max_updates_per_second: float | None = Field(None, gt=0, description="Publication rate limit.")
    publication_slo: Duration | None = Field(
        None, description="Objective for an event's age when its figure is published, e.g. 5s (alerted on)."
    )


class RingFenceModel(_Strict):
    account: str = Field(min_length=1)
    channel: str = Field(min_length=1, description="The channel the account buys through.")
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=0, description="Contract quantity; the account's net reservations consume it.")
    location: str | None = Field(None, min_length=1, description="Omit for the channel's pool.")


class StaleModel(_Strict):
    source: str = Field(min_length=1, description="The location's authoritative source system, e.g. WMS or 3PL.")
    after: Duration = Field(description="Silence after which the location is stale, e.g. 15m.")
    mode: StaleMode = StaleMode.EXCLUDE
    cap_units: int = Field(0, ge=0, description="With mode cap: the most a stale location may publish per SKU.")


class ReconciliationModel(_Strict):
    location: str | None = Field(None, min_length=1, description="Only this location; omit for all.")
    source: str | None = Field(None, min_length=1, description="Only balance snapshots from this source system.")
    tolerance_units: int = Field(0, ge=0, description="A reported figure this close to the computed one matches.")
    tolerance_percent: float = Field(0, ge=0, le=100, description="Or this percent of the computed figure.")
    mode: Literal["report", "adopt"] = Field(
        "report",
        description="report: a record per snapshot; adopt: the reported figure also becomes the bucket's there.",
    )


def _location_pattern(text: str) -> str:
    if "*" in text[:-1]:
        raise ValueError(f"{text!r}: `*` may only end a location (a prefix)")
    if text == "*":
        raise ValueError("'*' covers every location: omit locations instead")
    return text


LocationPattern = Annotated[str, Field(min_length=1), AfterValidator(_location_pattern)]


class SourceRuleModel(_Strict):
    events: list[EventType] | None = Field(
        None, min_length=1, description="The event types the rule covers; omit for every type."
    )
    locations: list[LocationPattern] | None = Field(
        None, min_length=1, description="Locations it covers, exact or a prefix ending in *; omit for all."
    )
    systems: list[Annotated[str, Field(min_length=1)]] = Field(
        description="The source systems authoritative for what the rule covers ([] for none)."
    )
    mode: SourceMode = Field(
        SourceMode.REJECT,
        description="reject: unauthorized_source exception, nothing applied; flag: applied and an anomaly.",
    )

    def to_rule(self) -> SourceRule:
        return SourceRule(
            frozenset(self.systems),
            frozenset(self.events) if self.events is not None else None,
            tuple(self.locations) if self.locations is not None else None,
            self.mode,
        )


class PolicyModel(_Strict):
    version: str = Field(min_length=1, description="Published with every figure as policy_version.")
    channels: dict[str, ChannelModel] = Field(min_length=1)
    ring_fences: list[RingFenceModel] = []
    stale_sources: dict[str, StaleModel] = {}
    bundles: dict[str, dict[str, Annotated[int, Field(ge=1)]]] = {}
    reconciliation: list[ReconciliationModel] = []
    sources: list[SourceRuleModel] = []

    @model_validator(mode="after")
    def _references(self) -> PolicyModel:
        for i, f in enumerate(self.ring_fences):
            channel = self.channels.get(f.channel)
            if channel is None:
                raise _AtError(("ring_fences", i, "channel"), f"unknown channel {f.channel!r}")
            if f.location and channel.locations is not None and f.location not in channel.locations:
                raise _AtError(("ring_fences", i, "location"), f"{f.location!r} is not eligible for {f.channel!r}")
        for kit, components in self.bundles.items():
            if not components:
                raise _AtError(("bundles", kit), "a bundle needs at least one component")
            if kit in components:
                raise _AtError(("bundles", kit, kit), "a kit cannot contain itself")
        return self

    def to_policy(self) -> Policy:
        channels = tuple(
            Channel(
                name=name,
                locations=frozenset(c.locations) if c.locations is not None else None,
                safety_stock=SafetyStock(c.safety_stock.units, c.safety_stock.percent),
                safety_stock_by_sku=tuple(
                    (o.sku, SafetyStock(o.units, o.percent)) for o in c.safety_stock_overrides if o.sku
                ),
                safety_stock_by_prefix=tuple(
                    (o.prefix, SafetyStock(o.units, o.percent)) for o in c.safety_stock_overrides if o.prefix
                ),
                allocation_cap=c.allocation_cap,
                low_stock_below=c.low_stock_below,
                priority=c.priority,
                max_updates_per_s=c.max_updates_per_second,
                publication_slo_s=c.publication_slo.total_seconds() if c.publication_slo is not None else None,
            )
            for name, c in self.channels.items()
        )
        return Policy(
            version=self.version,
            channels=channels,
            ring_fences=tuple(RingFence(f.account, f.channel, f.sku, f.quantity, f.location) for f in self.ring_fences),
            stale=tuple(
                (loc, StaleRule(s.source, int(s.after.total_seconds() * 1000), s.mode, s.cap_units))
                for loc, s in self.stale_sources.items()
            ),
            bundles=tuple(Bundle(kit, tuple(parts.items())) for kit, parts in self.bundles.items()),
            reconciliation=tuple(
                ReconciliationRule(
                    r.location, r.source, Tolerance(r.tolerance_units, r.tolerance_percent), r.mode == "adopt"
                )
                for r in self.reconciliation
            ),
            sources=SourceRules(tuple(r.to_rule() for r in self.sources)),
        )


class _AtError(ValueError):
    """A cross-reference error that knows where in the document it is."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node on `loc` (the parent's, for a missing key)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _duplicate_keys(node: yaml.Node | None, where: str) -> list[str]:
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if k.value in seen:
                problems.append(
                    f"{where}:{k.start_mark.line + 1}: duplicate key {k.value!r} (first on line {seen[k.value]})"
                )
            seen.setdefault(k.value, k.start_mark.line + 1)
            problems += _duplicate_keys(v, where)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item, where)
    return problems


def parse_policy(text: str, where: str = "policy") -> Policy:
    """Validate policy YAML text; `where` names it in messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else "?"
        raise PolicyError(f"{where}:{line}: not valid YAML: {exc.problem}") from None
    problems = _duplicate_keys(root, where)
    if problems:
        raise PolicyError("invalid policy:\n  " + "\n  ".join(problems))
    if not isinstance(data, dict):
        raise PolicyError(f"{where}:1: a policy is a mapping with version, channels, ...")
    try:
        return PolicyModel.model_validate(data).to_policy()
    except ValidationError as exc:
        for err in exc.errors():
            cause = (err.get("ctx") or {}).get("error")
            loc = cause.loc if isinstance(cause, _AtError) else tuple(err["loc"])
            message = str(cause) if isinstance(cause, _AtError) else err["msg"]
            path = ".".join(str(p) for p in loc) or "(top)"
            problems.append(f"{where}:{_line_of(root, loc)}: {path}: {message}")
        raise PolicyError("invalid policy:\n  " + "\n  ".join(problems)) from None


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_policy(text, str(path))


# -- the policy a process runs by, and the control source that publishes its reloads -------

Control = tuple[str, str | None, Any]  # (target: "health" | "all", key, payload)


class CurrentPolicy:
    """The policy one process runs by: the file's at start, then each version a reload
    (`request()`, on SIGHUP) validates. The decoder reads it every batch (source rules),
    the control source every poll (channel rules); whichever asks first loads the file."""

    def __init__(self, path: Path | None, policy: Policy) -> None:
        self.path = path
        self._policy = policy
        self.requested = threading.Event()
        self._lock = threading.Lock()

    def request(self) -> None:
        self.requested.set()

    def get(self) -> Policy:
        if self.requested.is_set():
            with self._lock:
                if self.requested.is_set():
                    self.requested.clear()
                    self._policy = self._reloaded(self._policy)
        return self._policy

    def _reloaded(self, old: Policy) -> Policy:
        if self.path is None:
            return old
        try:
            new = load_policy(self.path)
        except PolicyError as exc:
            log.error("policy reload refused, keeping version %s: %s", old.version, exc)
            return old
        before, after = [c.name for c in old.channels], [c.name for c in new.channels]
        if sorted(before) != sorted(after):  # each channel has its own output, made at start
            log.error(
                "policy reload refused, keeping version %s: channels %s would become %s; a reload may "
                "change every rule but the set of channels: restart the flow with the new file",
                old.version,
                ", ".join(sorted(before)),
                ", ".join(sorted(after)),
            )
            return old
        log.warning("policy reloaded: version %s -> %s", old.version, new.version)
        return new


class _ControlPartition(StatefulSourcePartition[Control, None]):
    def __init__(self, current: CurrentPolicy, live: bool, events: ControlEvents) -> None:
        self.current = current
        self.policy = current.get()  # the version last published
        self.live = live
        self.events = events
        self.pending: list[Control] = [("health", loc, Watch(loc)) for loc, _ in self.policy.stale]

    def next_batch(self) -> list[Control]:
        out, self.pending = self.pending, []
        if out:
            return out
        ev = self.events
        if not self.live or ev.stop.is_set() or ev.input_done.is_set():
            raise StopIteration
        new = self.current.get()
        if new is self.policy:
            return []
        update = PolicyUpdate(new)
        watched = {loc for loc, _ in self.policy.stale} | {loc for loc, _ in new.stale}
        self.policy = new
        return [("health", loc, update) for loc in sorted(watched)] + [("all", None, update)]

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + timedelta(milliseconds=200) if self.live else None

    def snapshot(self) -> None:
        return None


@dataclass(frozen=True)
class ControlEvents:
    """Signals the control source watches: stop the run, the main input ended."""

    stop: threading.Event = field(default_factory=threading.Event)
    input_done: threading.Event = field(default_factory=threading.Event)


class ControlSource(FixedPartitionedSource[Control, None]):
    """Emits the policy's locations to watch at start and, when `live`, a PolicyUpdate each
    time `current` takes a new version (a reload, on SIGHUP, that validates). It ends with
    the run (stop, or the main input ended); not live, it ends at once."""

    def __init__(self, path: Path | None, policy: Policy, live: bool, events: ControlEvents) -> None:
        self.current = CurrentPolicy(path, policy)
        self.live = live
        self.events = events

    def list_parts(self) -> list[str]:
        return ["control"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ControlPartition:
        return _ControlPartition(self.current, self.live, self.events)
