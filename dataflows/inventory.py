"""The inventory dataflow: which operator runs on which keyed stream.

events_in -> decode_validate_route -+-> (key: group of sku|location) fold -+-> snapshots -> store, channels
                                    |                                      +-> changes (the change log)
                                    |                                      +-> reconciliation, anomalies -> store
                                    |                                      +-> rejects ----+
                                    +-> unkeyed rejects -> (reported once) ------------------+-> exceptions

The fold is keyed by key group, not by sku|location: Bytewax snapshots a group as two
integers, and the group's ledgers go to its RocksDB store (see `connectors.ledger_store`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from connectors.codec import Decoder, RawRecord, records_in, wall_clock_ms
from connectors.ledger_store import LedgerStore
from connectors.policy_file import Control, ControlSource
from connectors.wire import AvroWire
from dataflows import metrics
from dataflows.channels import channel_stages
from dataflows.logic import FoldOut, GroupLogic
from operators import AvailabilitySnapshot, FoldSettings, ItemMaster, Posting, Rejection
from operators.anomalies import AnomalyRecord
from operators.changes import Change
from operators.policy import Policy
from operators.publication import ChannelPublication
from operators.reconciliation import Adoption, Reconciliation, ReconciliationRecord, ReconciliationRule
from operators.rejects import ReportedOnce, duplicate_of
from operators.routing import GroupRouted, key_of

EXCEPTIONS_KEY = "exceptions"


@dataclass(frozen=True)
class Outputs:
    """Where the flow writes: snapshot sinks (keyed by sku|location), the exceptions sink,
    publication sinks (keyed by channel), the store that takes snapshots and publications
    both (one RocksDB writer), and the reconciliation records of balance snapshots."""

    snapshots: tuple[Sink[tuple[str, AvailabilitySnapshot]], ...]
    exceptions: Sink[tuple[str, Rejection]]
    publications: tuple[Sink[tuple[str, ChannelPublication]], ...] = ()
    store: Sink[tuple[str, Any]] | None = None
    reconciliation: Sink[tuple[str, ReconciliationRecord]] | None = None
    anomalies: Sink[tuple[str, AnomalyRecord]] | None = None
    changes: tuple[Sink[tuple[str, Change]], ...] = ()


def _counting(decoder: Decoder) -> Callable[[list[RawRecord]], list[GroupRouted]]:
    def decode(batch: list[RawRecord]) -> list[GroupRouted]:
        metrics.EVENTS_IN.inc(records_in(batch))
        return decoder(batch)

    return decode


def _unkeyed(item: GroupRouted) -> tuple[str, Rejection]:
    rejection = item[1]
    assert isinstance(rejection, Rejection)
    return (EXCEPTIONS_KEY, rejection)


def _reported_once(retention_ms: int, clock: Callable[[], int]) -> Callable[..., Any]:
    """The mapper of `unkeyed_once`: a rejection without a key goes on the first time its
    reason and payload arrive within the dedup retention; after that it is a duplicate."""

    def once(seen: ReportedOnce | None, rejection: Rejection) -> tuple[ReportedOnce, list[Rejection]]:
        seen = seen if seen is not None else ReportedOnce(retention_ms)
        if seen.first(rejection, clock()):
            return seen, [rejection]
        etype, source = duplicate_of(rejection)
        metrics.DUPLICATES.labels(etype, metrics.source_label(source)).inc()
        return seen, []

    return once


def _heartbeats(batch: list[GroupRouted]) -> list[tuple[str, str]]:
    """(location, source system) of the events in a batch, once each: feeds source freshness."""
    seen = {
        (p.event.location, p.event.source_system) for _, (_, p) in batch if isinstance(p, Posting) and not p.counterpart
    }
    return sorted(seen)


def _by_stream_key(item: tuple[str, Any]) -> tuple[str, AvailabilitySnapshot]:
    """A snapshot (a change's) leaves its key group for its own key (sinks and channel stages key by it)."""
    value = item[1]
    snapshot: AvailabilitySnapshot = value.snapshot if type(value) is Change else value
    return (key_of(snapshot.sku, snapshot.location), snapshot)


def _is_state(item: tuple[str, FoldOut]) -> bool:
    kind = type(item[1])
    return kind is Change or kind is AvailabilitySnapshot


def _is_rejection(item: tuple[str, FoldOut]) -> bool:
    return isinstance(item[1], Rejection)


def _is_reconciliation(item: tuple[str, FoldOut]) -> bool:
    return isinstance(item[1], Reconciliation)


def _reconciliation_records(
    rules: tuple[ReconciliationRule, ...],
) -> Callable[[tuple[str, Any]], tuple[str, ReconciliationRecord]]:
    """A check's record under its stream key, judged by the policy's tolerances (at start);
    counted by location, source and verdict."""

    def record_of(item: tuple[str, Any]) -> tuple[str, ReconciliationRecord]:
        reconciliation: Reconciliation = item[1]
        record = reconciliation.record(rules)
        metrics.observe_reconciliation(record)
        return (item[0], record)

    return record_of


def _to_exceptions(item: tuple[str, Any]) -> tuple[str, Rejection]:
    return (EXCEPTIONS_KEY, item[1])


def build_flow(
    source: Source[RawRecord],
    outputs: Outputs,
    item_master: ItemMaster,
    settings: FoldSettings = FoldSettings(),
    wire: AvroWire | None = None,
    policy: Policy | None = None,
    control: Source[Control] | None = None,
    flow_id: str = "skuflow",
    *,
    ledgers: LedgerStore,
    max_ahead_ms: int = 0,
) -> Dataflow:
    """The flow; `wire` decodes Avro message bytes (Kafka), else bytes are JSON (files).
    With a `policy`, the channel stages publish every channel's figures too. `ledgers`
    keeps the fold's state. Events dated more than `max_ahead_ms` after the clock at
    arrival are `future_event` rejections (0: no guard)."""
    flow = Dataflow(flow_id)
    raw = op.input("events_in", flow, source)
    rules = policy.reconciliation if policy is not None else ()
    current = control.current.get if isinstance(control, ControlSource) else (lambda: policy) if policy else None
    decoder = Decoder(item_master, wire, max_ahead_ms, adoption=Adoption(rules), policy=current)
    routed = op.flat_map_batch("decode_validate_route", raw, _counting(decoder))
    by_key = op.branch("has_key", routed, lambda item: item[0] is not None)
    changes = bool(outputs.changes) or outputs.store is not None
    render = outputs.store is not None  # the embedded default: its file and store take the same JSON
    folded = op.stateful_batch(
        "fold",
        by_key.trues,  # type: ignore[arg-type]
        lambda resume: GroupLogic(settings, ledgers.group, resume, changes, render),
    )
    # a changed key is one item, its Change (carrying its snapshot) or, without a change log,
    # its snapshot; the most frequent leave first (every branch is a step for what passes it)
    kind = op.branch("change_or_other", folded, _is_state)
    others = op.branch("reject_or_record", kind.falses, _is_rejection)
    records = op.branch("reconciliation_or_anomaly", others.falses, _is_reconciliation)
    records_to_store = []
    if outputs.reconciliation is not None:
        checked = op.map("reconciliation_records", records.trues, _reconciliation_records(rules))
        op.output("reconciliation_out", checked, outputs.reconciliation)
        records_to_store.append(checked)
    if outputs.anomalies is not None:
        op.output("anomalies_out", records.falses, outputs.anomalies)  # type: ignore[arg-type]
        records_to_store.append(records.falses)
    changed = kind.trues  # keyed by group still: each change sink keys by the change itself
    for i, change_sink in enumerate(outputs.changes):
        op.output(f"changes_out_{i}", changed, change_sink)  # type: ignore[arg-type]
    rejects = op.merge(
        "all_rejects",
        op.map("fold_rejects", others.trues, _to_exceptions),
        op.stateful_flat_map(
            "unkeyed_once",
            op.map("route_rejects", by_key.falses, _unkeyed),
            _reported_once(settings.dedup_retention_ms, wall_clock_ms),
        ),
    )
    op.output("exceptions_out", rejects, outputs.exceptions)
    if outputs.store is not None:
        records_to_store.append(rejects)  # the console's exceptions page
    snapshots = op.map("by_stream_key", changed, _by_stream_key)
    for i, sink in enumerate(outputs.snapshots):
        op.output(f"snapshots_out_{i}", snapshots, sink)  # type: ignore[arg-type]
    to_store = changed if changes else snapshots  # the store writes a change's snapshot too
    if policy is not None:
        control_stream = op.input("control_in", flow, control) if control is not None else None
        heartbeats = op.flat_map_batch("source_heartbeats", by_key.trues, _heartbeats) if control else None
        stop = control.events.stop if isinstance(control, ControlSource) else None
        publications = channel_stages(snapshots, policy, control_stream, heartbeats, stop)  # type: ignore[arg-type]
        for i, sink in enumerate(outputs.publications):
            op.output(f"publications_out_{i}", publications, sink)
        to_store = op.merge("snapshots_and_publications", to_store, publications)
    if outputs.store is not None:
        if records_to_store:
            to_store = op.merge("and_records", to_store, *records_to_store)
        op.output("store_out", to_store, outputs.store)
    return flow
