"""Run an inventory dataflow: outputs under the state dir, optional Bytewax recovery."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax._bytewax import cli_main
from bytewax.errors import BytewaxRuntimeError
from bytewax.inputs import Source
from bytewax.recovery import RecoveryConfig, init_db_dir

import schemas
from connectors.avro import rejected_record
from connectors.durable import atomic_write, fsync_path
from connectors.files import PerKeyFileSink, RecordFileSink
from connectors.kafka import KafkaChannelSink, KafkaRecordSink, channel_topic
from connectors.kafka_config import Brokers
from connectors.ledger_store import LedgerStore
from connectors.policy_file import ControlSource
from connectors.store_sink import StoreSink
from connectors.wire import AvroWire
from dataflows import metrics
from dataflows.cluster import watch_formation
from dataflows.config import FlowConfig
from dataflows.inventory import Outputs, build_flow
from operators import AvailabilitySnapshot, Rejection
from operators._native import change_json, snapshot_avro
from operators.anomalies import AnomalyRecord
from operators.changes import Change
from operators.exceptions import SkuflowError
from operators.policy import Policy
from operators.publication import ChannelPublication
from operators.reconciliation import ReconciliationRecord
from operators.routing import KEY_GROUPS, key_of


def _exception_record(rejection: Rejection) -> dict[str, Any]:
    metrics.observe_rejection(rejection)
    return rejection.to_record()


def changes_file(config: FlowConfig) -> tuple[RecordFileSink, ...]:
    """The change log's file twin, changes.jsonl or .avro (none when no format is set)."""
    if config.changes_format is None:
        return ()
    schema = schemas.CHANGE_RECORD if config.changes_format == "avro" else None
    return (RecordFileSink("changes", config.changes_path, _record_dict, schema, _change_line),)


def _change_line(change: Change) -> bytes | None:
    rendered = change.json
    return rendered + b"\n" if rendered is not None else change_json(change, True)


def default_outputs(config: FlowConfig, policy: Policy | None = None) -> Outputs:
    """The embedded default: RocksDB store, the change log file, exceptions.jsonl,
    reconciliation.jsonl, anomalies.jsonl, and with a policy one JSON Lines file of
    publications per channel under channels/."""
    publications: tuple[Any, ...] = ()
    account_channels: dict[str, str] = {}
    if policy is not None:
        names = [c.name for c in policy.channels]
        publications = (PerKeyFileSink(config.state_dir / "channels", names, _publication_record),)
        account_channels = {f.account: f.channel for f in policy.ring_fences}
    return Outputs(
        snapshots=(),
        changes=changes_file(config),
        exceptions=RecordFileSink("exceptions", config.exceptions_path, _exception_record),
        publications=publications,
        store=StoreSink(config.store_dir, account_channels),
        reconciliation=RecordFileSink("reconciliation", config.reconciliation_path, _record_dict),
        anomalies=RecordFileSink("anomalies", config.anomalies_path, _record_dict),
    )


def _record_dict(record: ReconciliationRecord | AnomalyRecord | Change) -> dict[str, Any]:
    return record.to_dict()


def _publication_record(publication: ChannelPublication) -> dict[str, Any]:
    return publication.to_dict()


MAX_WIRE_EXPLANATION = 256 * 1024
"""Bytes of explanation a channel message carries at most (a SKU at ~1,200 locations): beyond,
the message goes without it (the store beside the flow keeps it), so no figure's message can
outgrow what the broker accepts and stop the flow."""


def _publication_wire(publication: ChannelPublication) -> dict[str, Any]:
    """A publication as its Avro record: the explanation as JSON text, when it fits."""
    record = publication.to_dict()
    if record["explanation"] is not None:
        text = orjson.dumps(record["explanation"])
        record["explanation"] = text.decode() if len(text) <= MAX_WIRE_EXPLANATION else None
    return record


@dataclass(frozen=True)
class RunSummary:
    records_in: int
    snapshots: int
    rejects: int
    duplicates: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.records_in / self.seconds if self.seconds else 0.0


@contextmanager
def graceful_stop(stop: threading.Event, reload: threading.Event | None = None) -> Iterator[None]:
    """Ctrl-C / SIGTERM set `stop` (the sources end their input, the flow drains and
    snapshots); a second Ctrl-C interrupts at once. SIGHUP sets `reload` (the policy)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if reload is not None:
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: reload.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def kafka_outputs(
    brokers: Brokers | str,
    partitions: dict[str, int],
    snapshots_topic: str,
    exceptions_topic: str,
    registry_url: str | None = None,
    policy: Policy | None = None,
    reconciliation_topic: str | None = None,
    anomalies_topic: str | None = None,
    changes_topic: str | None = None,
) -> Outputs:
    """Snapshots (key sku|location), rejects (key event_id), and reconciliation records,
    anomalies and the change log (key sku|location) as Avro on Kafka: Confluent framing when
    a schema registry is given, single-object encoding otherwise."""
    snap_wire = AvroWire(schemas.AVAILABILITY_SNAPSHOT, registry_url)
    reject_wire = AvroWire(schemas.REJECTED_EVENT, registry_url)

    def frame(wire: AvroWire, topic: str, record: dict[str, Any]) -> bytes:
        if registry_url:
            return wire.encode_confluent(record, f"{topic}-value")
        return wire.encode_single_object(record)

    snap_subject = f"{snapshots_topic}-value" if registry_url else None

    def encode_snapshot(s: AvailabilitySnapshot) -> tuple[bytes | None, bytes]:
        data = snapshot_avro(s, snap_wire.header(snap_subject))
        return key_of(s.sku, s.location).encode(), data or frame(snap_wire, snapshots_topic, s.to_dict())

    def encode_reject(r: Rejection) -> tuple[bytes | None, bytes]:
        metrics.observe_rejection(r)
        return (r.event_id.encode() if r.event_id else None), frame(reject_wire, exceptions_topic, rejected_record(r))

    pub_wire = AvroWire(schemas.CHANNEL_AVAILABILITY, registry_url)

    def encode_publication(p: ChannelPublication) -> tuple[bytes | None, bytes]:
        key = key_of(p.sku, p.account) if p.account else p.sku
        return key.encode(), frame(pub_wire, channel_topic(p.channel), _publication_wire(p))

    def keyed_sink(topic: str | None, schema: str) -> KafkaRecordSink | None:
        """Records keyed sku|location into `topic`, when there is one."""
        if topic is None:
            return None
        wire = AvroWire(schema, registry_url)

        def encode(r: ReconciliationRecord | AnomalyRecord | Change) -> tuple[bytes | None, bytes]:
            return key_of(r.sku, r.location).encode(), frame(wire, topic, r.to_dict())

        return KafkaRecordSink(brokers, topic, partitions[topic], encode)

    publications: tuple[Any, ...] = ()
    if policy is not None:
        publications = (KafkaChannelSink(brokers, [c.name for c in policy.channels], encode_publication),)
    changes = keyed_sink(changes_topic, schemas.CHANGE_RECORD)
    return Outputs(
        snapshots=(KafkaRecordSink(brokers, snapshots_topic, partitions[snapshots_topic], encode_snapshot),),
        exceptions=KafkaRecordSink(brokers, exceptions_topic, partitions[exceptions_topic], encode_reject),
        publications=publications,
        reconciliation=keyed_sink(reconciliation_topic, schemas.RECONCILIATION_RECORD),
        anomalies=keyed_sink(anomalies_topic, schemas.ANOMALY_RECORD),
        changes=(changes,) if changes is not None else (),
    )


def _recovery(config: FlowConfig, process_id: int | None) -> RecoveryConfig | None:
    """Process 0 (or a lone process) initialises the recovery dir; the others wait for it."""
    if not config.recovery:
        return None
    marker = config.recovery_dir / ".initialised"
    if process_id in (None, 0):
        if not marker.exists():
            _initialise(config.recovery_dir, config.recovery_partitions)
            atomic_write(marker, b"")
    else:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if time.monotonic() > deadline:
                raise SkuflowError(f"{config.recovery_dir}: not initialised by process 0 within 60 s; start it")
            time.sleep(0.1)
    return RecoveryConfig(config.recovery_dir)


def _initialise(recovery_dir: Path, partitions: int) -> None:
    """Bytewax's partitions, made in a scratch dir and moved in: a kill at any instant leaves
    either no marker and no used partition (made again here) or a whole, marked dir."""
    recovery_dir.mkdir(parents=True, exist_ok=True)
    for stale in recovery_dir.glob(".init-*"):  # scratch of a start killed mid-way
        shutil.rmtree(stale, ignore_errors=True)
    present = sorted(recovery_dir.glob("*.sqlite3"))
    if present and any(_has_commits(p) for p in present):
        return  # a dir in use from before the marker was written
    for p in present:  # a start that was killed before it finished making them
        p.unlink()
    scratch = Path(tempfile.mkdtemp(prefix=".init-", dir=recovery_dir))
    try:
        init_db_dir(scratch, partitions)
        for p in sorted(scratch.glob("*.sqlite3")):
            fsync_path(p)
            os.replace(p, recovery_dir / p.name)
        fsync_path(recovery_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _has_commits(partition: Path) -> bool:
    """Whether a Bytewax recovery partition has committed an epoch (a torn one has not)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{partition}?mode=ro", uri=True, timeout=5)) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM commits").fetchone()[0])
    except sqlite3.Error:
        return False


def _ledgers(config: FlowConfig) -> LedgerStore:
    """The fold's state store: beside Bytewax's recovery partitions (shared by a cluster's
    processes, synced with each epoch), or without recovery a scratch one in the state dir."""
    reserve = int(config.min_free_disk)
    if config.recovery:
        return LedgerStore(config.recovery_dir / "ledgers", KEY_GROUPS, min_free=reserve)
    return LedgerStore(config.state_dir / "ledgers", KEY_GROUPS, sync=False, min_free=reserve)


def _tune_gc() -> None:
    """Fewer cyclic-GC passes: the fold's state is millions of long-lived, acyclic
    objects, and with the default thresholds the collector re-walked them so often that
    it took ~10% of a replay. What is alive at start is frozen out of its view."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def run(
    source: Source[Any],
    config: FlowConfig,
    outputs: Outputs | None = None,
    stop: threading.Event | None = None,
    wire: AvroWire | None = None,
    process_id: int | None = None,
    addresses: list[str] | None = None,
    policy: Policy | None = None,
    control: ControlSource | None = None,
    cluster_timeout: timedelta = timedelta(seconds=60),
) -> RunSummary:
    """Run until the source ends. With `stop` (given to the source too), Ctrl-C and
    SIGTERM end the input gracefully. With `config.recovery`, state survives restarts:
    a re-run resumes where the last one stopped and counts nothing twice. With
    `process_id` and `addresses`, this process is one of a Bytewax cluster, and stops
    with one line when the cluster has not formed within `cluster_timeout`."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    ledgers = _ledgers(config)
    flow = build_flow(
        source,
        outputs or default_outputs(config, policy),
        config.load_item_master(),
        config.fold_settings(),
        wire,
        policy,
        control,
        ledgers=ledgers,
        max_ahead_ms=config.max_ahead_ms,
    )
    if process_id is not None and addresses:
        watch_formation(flow, process_id, addresses, cluster_timeout)
    recovery = _recovery(config, process_id)
    before = (
        metrics.total(metrics.EVENTS_IN),
        metrics.total(metrics.SNAPSHOTS),
        metrics.total(metrics.REJECTED),
        metrics.total(metrics.DUPLICATES),
    )
    _tune_gc()
    start = time.perf_counter()
    reload = control.current.requested if control is not None else None
    with graceful_stop(stop, reload) if stop is not None else nullcontext():
        try:
            cli_main(
                flow,
                workers_per_process=config.workers,
                process_id=process_id,
                addresses=addresses,
                epoch_interval=config.epoch_interval,
                recovery_config=recovery,
            )
        except BytewaxRuntimeError as exc:
            if "signal received" in str(exc):  # Bytewax's form of an interrupt
                raise KeyboardInterrupt from None
            raise
        finally:
            ledgers.close()
    elapsed = time.perf_counter() - start
    return RunSummary(
        records_in=int(metrics.total(metrics.EVENTS_IN) - before[0]),
        snapshots=int(metrics.total(metrics.SNAPSHOTS) - before[1]),
        rejects=int(metrics.total(metrics.REJECTED) - before[2]),
        duplicates=int(metrics.total(metrics.DUPLICATES) - before[3]),
        seconds=elapsed,
    )
