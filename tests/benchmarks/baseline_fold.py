"""Baseline for fold throughput: the minimal Bytewax flow a user might write instead.

    python -m tests.benchmarks.baseline_fold EVENTS.avro

fastavro decode, key by sku|location, a per-key integer sum in stateful_batch, no
output. Prints `events <n> seconds <s>` for the benchmark runner.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import bytewax.operators as op
import fastavro
from bytewax._bytewax import cli_main
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import DynamicSink, StatelessSinkPartition


class _AvroPartition(StatefulSourcePartition[dict[str, Any], None]):
    def __init__(self, path: str) -> None:
        self._f = open(path, "rb")  # noqa: SIM115
        self._records: Iterator[dict[str, Any]] = fastavro.reader(self._f)

    def next_batch(self) -> list[dict[str, Any]]:
        batch = list(islice(self._records, 2048))
        if not batch:
            raise StopIteration
        return batch

    def snapshot(self) -> None:
        return None


class AvroSource(FixedPartitionedSource[dict[str, Any], None]):
    def __init__(self, path: str) -> None:
        self.path = path

    def list_parts(self) -> list[str]:
        return ["events"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _AvroPartition:
        return _AvroPartition(self.path)


class SumLogic(StatefulBatchLogic[dict[str, Any], int, int]):
    def __init__(self, resume: int | None) -> None:
        self.total = resume or 0

    def on_batch(self, values: list[dict[str, Any]]) -> tuple[Iterable[int], bool]:
        for v in values:
            self.total += v["quantity"]
        return [], StatefulBatchLogic.RETAIN

    def snapshot(self) -> int:
        return self.total


class _Discard(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class Discard(DynamicSink[Any]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Discard:
        return _Discard()


def main() -> None:
    path = sys.argv[1]
    flow = Dataflow("baseline")
    events = op.input("in", flow, AvroSource(path))
    keyed = op.key_on("key", events, lambda e: f"{e['sku']}|{e['location']}")
    sums = op.stateful_batch("sum", keyed, SumLogic)
    op.output("out", sums, Discard())
    start = time.perf_counter()
    cli_main(flow)
    elapsed = time.perf_counter() - start
    with open(path, "rb") as f:
        count = sum(block.num_records for block in fastavro.block_reader(f))
    print(f"events {count} seconds {elapsed:.3f}")


if __name__ == "__main__":
    main()
