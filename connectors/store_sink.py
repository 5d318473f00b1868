"""Bytewax sink into the RocksDB store: location snapshots, channel publications, reconciliation
and anomaly records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from connectors.durable import io_guard
from operators import AvailabilitySnapshot
from operators._native import snapshot_json
from operators.anomalies import AnomalyRecord
from operators.changes import Change
from operators.publication import ChannelPublication
from operators.reconciliation import ReconciliationRecord
from serving.store import StoreWriter


class _StorePartition(StatefulSinkPartition[Any, None]):
    def __init__(self, path: Path, account_channels: dict[str, str]) -> None:
        self._path = path
        with io_guard(path):
            self._writer = StoreWriter(path)
            if account_channels:
                self._writer.put_account_channels(account_channels)

    def write_batch(self, values: list[Any]) -> None:
        with io_guard(self._path):
            self._writer.put_rendered_snapshots(
                (v.sku, v.location, v.version, snapshot_json(v) or orjson.dumps(v.to_dict()))
                for v in values
                if isinstance(v, AvailabilitySnapshot)
            )
            self._writer.put_publications(v.to_dict() for v in values if isinstance(v, ChannelPublication))
            self._writer.put_reconciliations(v.to_dict() for v in values if isinstance(v, ReconciliationRecord))
            self._writer.put_anomalies(v.to_dict() for v in values if isinstance(v, AnomalyRecord))
            self._writer.put_changes(v.to_dict() for v in values if isinstance(v, Change))

    def snapshot(self) -> None:
        with io_guard(self._path):
            self._writer.flush()  # durable at every epoch; writes are idempotent by version
        return None

    def close(self) -> None:
        self._writer.close()


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
