"""`skuflow`: the command line, a module per command group. Every subcommand documents
itself with --help."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dataflows import logs
from dataflows.cli import files, kafka, keys, redrive, serving, up
from dataflows.cli.options import brokers_arg
from operators.exceptions import SkuflowError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skuflow",
        description="Real-time inventory availability: validate, deduplicate, order and fold inventory events "
        "into exact per sku x location snapshots, served from RocksDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (up, files, redrive, serving, keys, kafka):
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "before_imports"):  # what must hold before the command's libraries load
        args.before_imports(args)
    logs.configure(getattr(args, "log_format", "text"), getattr(args, "log_level", "warning"))
    if getattr(args, "metrics_port", 0) is None and hasattr(args, "port"):
        args.metrics_port = args.port + 1
    try:
        args.brokers = brokers_arg(args)
        return int(args.func(args))
    except SkuflowError as exc:  # a bad input file or setting: one line that says what to fix
        print(f"skuflow: {exc}", file=sys.stderr)
        return 2
