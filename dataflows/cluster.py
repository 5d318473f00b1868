"""A cluster member that cannot reach its peers gives up after a bounded time.

Bytewax (timely) connects to every peer before it builds the dataflow, retrying once a
second for as long as it takes; a member whose peer never starts would wait forever. An
input step that only marks that the dataflow was built tells a watchdog the cluster
formed; without it by the deadline the process stops with one line."""

from __future__ import annotations

import os
import sys
import threading
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition

EX_UNAVAILABLE = 69  # sysexits.h: a service is unavailable


class _Done(StatelessSourcePartition[None]):
    def next_batch(self) -> list[None]:
        raise StopIteration


class _Formed(DynamicSource[None]):
    """Built by each worker once the cluster is connected: sets `formed`, emits nothing."""

    def __init__(self, formed: threading.Event) -> None:
        self.formed = formed

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Done:
        self.formed.set()
        return _Done()


def watch_formation(flow: Dataflow, process_id: int, addresses: list[str], timeout: timedelta) -> threading.Event:
    """Add the marking step to `flow` and start the watchdog; the event is set once formed."""
    formed = threading.Event()
    op.input("cluster_formed", flow, _Formed(formed))
    peers = [f"{a} (process {i})" for i, a in enumerate(addresses) if i != process_id]

    def watch() -> None:
        if formed.wait(timeout.total_seconds()):
            return
        sys.stderr.write(
            f"skuflow: process {process_id} of {len(addresses)} could not form the cluster within "
            f"{timeout.total_seconds():g} s (peers: {', '.join(peers)}); start every process of "
            "--addresses, or give them longer with --cluster-timeout\n"
        )
        sys.stderr.flush()
        os._exit(EX_UNAVAILABLE)

    threading.Thread(target=watch, name="skuflow-cluster-watchdog", daemon=True).start()
    return formed
