"""Run an inventory dataflow: outputs under the state dir, optional Bytewax recovery."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from bytewax._bytewax import cli_main
from bytewax.errors import BytewaxRuntimeError
from bytewax.inputs import Source
from bytewax.recovery import RecoveryConfig, init_db_dir

import schemas
from connectors.files import RecordFileSink
from connectors.store_sink import SnapshotStoreSink
from dataflows import metrics
from dataflows.config import FlowConfig
from dataflows.inventory import Outputs, build_flow
from operators import AvailabilitySnapshot, Rejection


def _snapshot_record(snapshot: AvailabilitySnapshot) -> dict[str, Any]:
    return snapshot.to_dict()


def _exception_record(rejection: Rejection) -> dict[str, Any]:
    metrics.REJECTED.labels(rejection.reason.value).inc()
    return rejection.to_record()


def default_outputs(config: FlowConfig) -> Outputs:
    """The embedded default: RocksDB store, change stream file, exceptions.jsonl."""
    changes_schema = schemas.AVAILABILITY_SNAPSHOT if config.changes_format == "avro" else None
    return Outputs(
        snapshots=(
            SnapshotStoreSink(config.store_dir),
            RecordFileSink("changes", config.changes_path, _snapshot_record, changes_schema),
        ),
        exceptions=RecordFileSink("exceptions", config.exceptions_path, _exception_record),
    )


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
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C / SIGTERM set `stop` (the sources end their input, the flow drains and
    snapshots); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    source: Source[Any], config: FlowConfig, outputs: Outputs | None = None, stop: threading.Event | None = None
) -> RunSummary:
    """Run until the source ends. With `stop` (given to the source too), Ctrl-C and
    SIGTERM end the input gracefully. With `config.recovery`, state survives restarts:
    a re-run resumes where the last one stopped and counts nothing twice."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    flow = build_flow(source, outputs or default_outputs(config), config.load_item_master(), config.fold_settings())
    recovery = None
    if config.recovery:
        if not config.recovery_dir.exists():
            config.recovery_dir.mkdir(parents=True)
            init_db_dir(config.recovery_dir, 1)
        recovery = RecoveryConfig(config.recovery_dir)
    before = (
        metrics.total(metrics.EVENTS_IN),
        metrics.total(metrics.SNAPSHOTS),
        metrics.total(metrics.REJECTED),
        metrics.total(metrics.DUPLICATES),
    )
    start = time.perf_counter()
    with graceful_stop(stop) if stop is not None else nullcontext():
        try:
            cli_main(
                flow,
                workers_per_process=config.workers,
                epoch_interval=config.epoch_interval,
                recovery_config=recovery,
            )
        except BytewaxRuntimeError as exc:
            if "signal received" in str(exc):  # Bytewax's form of an interrupt
                raise KeyboardInterrupt from None
            raise
    elapsed = time.perf_counter() - start
    return RunSummary(
        records_in=int(metrics.total(metrics.EVENTS_IN) - before[0]),
        snapshots=int(metrics.total(metrics.SNAPSHOTS) - before[1]),
        rejects=int(metrics.total(metrics.REJECTED) - before[2]),
        duplicates=int(metrics.total(metrics.DUPLICATES) - before[3]),
        seconds=elapsed,
    )
