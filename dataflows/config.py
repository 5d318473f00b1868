"""Validated configuration of a run (pydantic at the edge; plain dataclasses inside)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ByteSize, ConfigDict, Field, model_validator

from operators import FoldSettings, ItemMaster
from operators.durations import parse_duration
from operators.exceptions import ItemMasterError

# Bytewax's keyed state is small now (the fold's ledgers live in the ledger store; Bytewax
# holds two integers per key group), and each partition touched by an epoch costs an
# SQLite commit with an fsync while the flow waits, so few partitions keep the pause short
# (docs/performance.md, "Settings"). A dir keeps the count it was created with.
RECOVERY_PARTITIONS = 4

# At most a century (and not negative): event-time arithmetic on them stays far inside int64.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), Field(ge=timedelta(0), le=timedelta(days=36525))]


class FlowConfig(BaseModel):
    """Everything a dataflow run needs besides its source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path
    item_master: Path | None = None
    horizon: Duration = Field(timedelta(hours=24), description="Exact re-ordering window for late events")
    dedup_retention: Duration = Field(timedelta(days=7), description="How long event ids are remembered")
    max_ahead: Duration = Field(
        timedelta(hours=1), description="Events dated further ahead of the clock at arrival are rejected (0: off)"
    )
    min_free_disk: ByteSize = Field(
        ByteSize(64 * 1024 * 1024),
        description="Stop (one line, resumable) when the recovery dir's disk has less free before an epoch's write",
    )
    changes_format: Literal["jsonl", "avro"] | None = Field(
        "jsonl", description="The change log file's (None: no file)"
    )
    workers: int = Field(1, ge=1, le=64)
    epoch_interval: Duration = timedelta(seconds=10)
    recovery: bool = True
    recovery_path: Path | None = Field(None, description="Bytewax recovery dir (default: state_dir/recovery)")
    recovery_partitions: int = Field(
        RECOVERY_PARTITIONS,
        ge=1,
        le=4096,
        description="SQLite files the recovery state is spread over, fixed when the dir is created",
    )

    @model_validator(mode="after")
    def _check(self) -> FlowConfig:
        if self.dedup_retention < self.horizon:
            raise ValueError("dedup_retention must be at least the lateness horizon")
        if self.item_master is not None and not self.item_master.is_file():
            raise ValueError(f"item master {self.item_master} does not exist")
        return self

    @property
    def store_dir(self) -> Path:
        return self.state_dir / "store"

    @property
    def exceptions_path(self) -> Path:
        return self.state_dir / "exceptions.jsonl"

    @property
    def reconciliation_path(self) -> Path:
        return self.state_dir / "reconciliation.jsonl"

    @property
    def anomalies_path(self) -> Path:
        return self.state_dir / "anomalies.jsonl"

    @property
    def changes_path(self) -> Path:
        return self.state_dir / f"changes.{self.changes_format or 'jsonl'}"

    @property
    def recovery_dir(self) -> Path:
        return self.recovery_path or self.state_dir / "recovery"

    def fold_settings(self) -> FoldSettings:
        return FoldSettings(
            horizon_ms=int(self.horizon.total_seconds() * 1000),
            dedup_retention_ms=int(self.dedup_retention.total_seconds() * 1000),
        )

    @property
    def max_ahead_ms(self) -> int:
        return int(self.max_ahead.total_seconds() * 1000)

    def load_item_master(self) -> ItemMaster:
        """The item master file, parsed; `ItemMasterError` names the file and line of a mistake."""
        return read_item_master(self.item_master)


def read_item_master(path: Path | None) -> ItemMaster:
    """The item master CSV at `path` (none: no conversions); `ItemMasterError` names the
    file and line of a mistake, a binary or non-UTF-8 file, or one that cannot be read."""
    if path is None:
        return ItemMaster()
    try:
        data = path.read_bytes()
        if b"\x00" in data:
            raise ItemMasterError(f"{path}: a binary file, not CSV text")
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemMasterError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ItemMasterError(f"{path}: cannot read it ({exc.strerror})") from None
    return ItemMaster.parse(text, str(path))
