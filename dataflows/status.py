"""The one-line live status of `skuflow up`: events/s, keys, rejects, duplicates, lag."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from dataflows import metrics


def status_line(rate: float) -> str:
    last = metrics.value(metrics.LAST_EVENT_TIME)
    lag = f"{time.time() * 1000 - last:,.0f} ms" if last else "-"
    return (
        f"events/s {rate:8,.0f} | keys {metrics.value(metrics.KEYS):8,.0f} | "
        f"rejects {metrics.total(metrics.REJECTED):7,.0f} | duplicates {metrics.total(metrics.DUPLICATES):7,.0f} | "
        f"last event lag {lag}"
    )


class StatusLine(threading.Thread):
    """Refreshes in place on a terminal; prints a line every 5 s otherwise."""

    def __init__(self, out: TextIO = sys.stderr, every_s: float = 1.0) -> None:
        super().__init__(name="skuflow-status", daemon=True)
        self.out = out
        self.every_s = every_s if out.isatty() else 5.0
        self.stopped = threading.Event()

    def run(self) -> None:
        seen, at = metrics.total(metrics.EVENTS_IN), time.monotonic()
        while not self.stopped.wait(self.every_s):
            now_seen, now = metrics.total(metrics.EVENTS_IN), time.monotonic()
            line = status_line((now_seen - seen) / (now - at))
            seen, at = now_seen, now
            if self.out.isatty():
                self.out.write("\r\x1b[2K" + line)
            else:
                self.out.write(line + "\n")
            self.out.flush()

    def stop(self) -> None:
        self.stopped.set()
        if self.out.isatty():
            self.out.write("\n")
