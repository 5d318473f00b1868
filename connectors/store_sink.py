"""Bytewax sink into the RocksDB snapshot store (the API's source of truth)."""

from __future__ import annotations

from pathlib import Path

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from operators import AvailabilitySnapshot
from serving.store import StoreWriter


class _StorePartition(StatefulSinkPartition[AvailabilitySnapshot, None]):
    def __init__(self, path: Path) -> None:
        self._writer = StoreWriter(path)

    def write_batch(self, values: list[AvailabilitySnapshot]) -> None:
        self._writer.put_snapshots(v.to_dict() for v in values)

    def snapshot(self) -> None:
        self._writer.flush()  # durable at every epoch; writes are idempotent by version
        return None

    def close(self) -> None:
        self._writer.close()


class SnapshotStoreSink(FixedPartitionedSink[AvailabilitySnapshot, None]):
    """One writer partition: RocksDB allows a single writer per database."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def list_parts(self) -> list[str]:
        return ["store"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StorePartition:
        return _StorePartition(self.path)
