"""What skuflow's processes export to Prometheus: metric sample names and their labels,
read off the registry the dataflow and the API register into (no list kept by hand)."""

from __future__ import annotations

import re
from functools import cache

# Labels Prometheus adds to every scraped series, and a histogram's bucket label.
SCRAPE_LABELS = frozenset({"job", "instance"})
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@cache
def exported() -> dict[str, frozenset[str]]:
    """{sample name: its label names (with Prometheus's)}, of every skuflow_ metric."""
    import importlib

    from prometheus_client import REGISTRY

    for module in ("connectors.kafka", "dataflows.metrics", "serving.api", "serving.auth", "serving.replica"):
        importlib.import_module(module)  # each registers its metrics on import

    out: dict[str, frozenset[str]] = {"up": SCRAPE_LABELS}
    for collector in list(REGISTRY._collector_to_names):
        declared = set(getattr(collector, "_labelnames", None) or getattr(collector, "labelnames", ()))
        for family in collector.collect():
            if not family.name.startswith("skuflow_"):
                continue
            for suffix in SUFFIXES[family.type]:
                name = family.name + suffix
                labels = declared | {"le"} if suffix == "_bucket" else set(declared)
                for sample in family.samples:
                    if sample.name == name:
                        labels |= set(sample.labels)
                out[name] = frozenset(labels | SCRAPE_LABELS)
    return out


METRIC = re.compile(r"\b(skuflow_[a-z0-9_]+|up)\b(?!\s*\()")
GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions like `up(` aside)."""
    return set(METRIC.findall(expr))


def labels_in(expr: str) -> set[str]:
    """The labels an expression groups or matches by."""
    return {label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()}


def unknown(expr: str) -> list[str]:
    """What `expr` names that skuflow does not export: metrics, and labels none of its metrics carry."""
    metrics = exported()
    names = names_in(expr)
    missing = sorted(n for n in names if n not in metrics)
    carried = set().union(*(metrics[n] for n in names if n in metrics))
    missing += sorted(f"label {label}" for label in labels_in(expr) if label not in carried)
    return missing
