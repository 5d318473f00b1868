"""`skuflow` with every Prometheus metric a no-op: the baseline that prices metrics.

    python -m tests.benchmarks.metrics_off COMMAND ARGS...   (as `skuflow COMMAND ARGS...`)

Counters, gauges, histograms and skuflow's batch-observed age histograms keep their objects
(the code calls them as always) but record nothing; the flow's own work is unchanged. The
summary's reject count, read from a counter, says 0 here.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase


def _nothing(*_: Any, **__: Any) -> None:
    return None


def _self(self: Any, *_: Any, **__: Any) -> Any:
    return self


def switch_off() -> None:
    from dataflows import metrics

    MetricWrapperBase.labels = _self  # type: ignore[method-assign]
    for cls, methods in ((Counter, ("inc",)), (Gauge, ("inc", "dec", "set")), (Histogram, ("observe",))):
        for name in methods:
            setattr(cls, name, _nothing)
    metrics.AgeHistogram.observe_ms = _nothing  # type: ignore[method-assign]


if __name__ == "__main__":
    switch_off()
    from dataflows.cli import main

    raise SystemExit(main())
