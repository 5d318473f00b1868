"""Bytewax sink into the RocksDB store: location snapshots, channel publications, reconciliation
and anomaly records, rejected events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from connectors.avro import rejected_record
from connectors.durable import io_guard
from operators import AvailabilitySnapshot
from operators._native import change_json, snapshot_json
from operators.anomalies import AnomalyRecord
from operators.changes import Change
from operators.publication import ChannelPublication
from operators.reconciliation import ReconciliationRecord
from operators.rejects import Rejection
from serving.store import StoreWriter


class _StorePartition(StatefulSinkPartition[Any, None]):
    def __init__(self, path: Path, account_channels: dict[str, str]) -> None:
        self._path = path
        with io_guard(path):
            self._writer = StoreWriter(path)
            if account_channels:
                self._writer.put_account_channels(account_channels)

    def write_batch(self, values: list[Any]) -> None:
        kinds: dict[type, list[Any]] = {t: [] for t in _KINDS}
        for v in values:
            kinds[type(v)].append(v)
        w, changes = self._writer, kinds[Change]
        snapshots = kinds[AvailabilitySnapshot] + [c.snapshot for c in changes if c.snapshot is not None]
        with io_guard(self._path):
            if snapshots:
                w.put_rendered_snapshots(
                    (v.sku, v.location, v.version, snapshot_json(v) or orjson.dumps(v.to_dict())) for v in snapshots
                )
            if changes:
                w.put_rendered_changes((v.sku, v.location, v.version, v.cause_count, _json(v)) for v in changes)
            for kind, put in (
                (ChannelPublication, w.put_publications),
                (ReconciliationRecord, w.put_reconciliations),
                (AnomalyRecord, w.put_anomalies),
            ):
                if kinds[kind]:
                    put(v.to_dict() for v in kinds[kind])
            if kinds[Rejection]:
                w.put_exceptions(rejected_record(r) for r in kinds[Rejection])

    def snapshot(self) -> None:
        with io_guard(self._path):
            self._writer.flush()  # durable at every epoch; writes are idempotent by version
        return None

    def close(self) -> None:
        self._writer.close()


_KINDS = (AvailabilitySnapshot, Change, ChannelPublication, ReconciliationRecord, AnomalyRecord, Rejection)


def _json(change: Change) -> bytes:
    return change.json or change_json(change) or orjson.dumps(change.to_dict())


class StoreSink(FixedPartitionedSink[Any, None]):
    """One writer partition (RocksDB allows a single writer per database) for snapshots
    and publications alike. `account_channels` (account -> its channel) is written at start."""

    def __init__(self, path: str | Path, account_channels: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.account_channels = account_channels or {}

    def list_parts(self) -> list[str]:
        return ["store"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StorePartition:
        return _StorePartition(self.path, self.account_channels)
