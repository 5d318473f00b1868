"""Logs of every command: text for people, or one JSON object per line (`--log-format json`)
for a log collector, with the fields a record carries (event_id, correlation_id, reason, ...)."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")


def configure(form: str = "text", level: str = "warning") -> None:
    """One stderr handler on the root logger, in `form`, at `level` (replacing any before)."""
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601, UTC
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's copy with terminal colours
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
