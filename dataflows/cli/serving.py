"""Commands that serve the API: serve (over a store, or as a replica) and materialize."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflows.cli.options import (
    ANOMALIES,
    CHANGES,
    DEFAULT_PORT,
    EXCEPTIONS,
    PORT,
    RECONCILIATION,
    SNAPSHOTS,
    kafka_args,
    logging_args,
    whole_number,
)

if TYPE_CHECKING:
    from serving.keys import Keyring
    from serving.replica import Materializer
    from serving.store import StoreWriter


def _materializers(args: argparse.Namespace) -> tuple[list[Materializer], StoreWriter]:
    """The snapshots topic and every channel topic there is now, into DIR/store."""
    import schemas
    from connectors.kafka import reachable
    from connectors.wire import AvroWire
    from serving.replica import Materializer
    from serving.store import StoreWriter

    store = StoreWriter(args.state_dir / "store")
    snapshots = AvroWire(schemas.AVAILABILITY_SNAPSHOT, args.schema_registry)
    channels = AvroWire(schemas.CHANNEL_AVAILABILITY, args.schema_registry)
    client = args.brokers.client()
    topics = reachable(args.brokers).list_topics(timeout=30).topics
    channel_topics = sorted(t for t in topics if t.startswith("inventory.availability.") and t.endswith(".v1"))
    found = [
        Materializer(client, args.topic, store, snapshots.decode),
        *(Materializer(client, t, store, channels.decode, publications=True) for t in channel_topics),
    ]
    records = (
        (args.reconciliation_topic, schemas.RECONCILIATION_RECORD, store.put_reconciliations),
        (args.anomalies_topic, schemas.ANOMALY_RECORD, store.put_anomalies),
        (args.changes_topic, schemas.CHANGE_RECORD, store.put_changes),
        (args.exceptions_topic, schemas.REJECTED_EVENT, store.put_exceptions),
    )
    for topic, schema, write in records:
        if topic in topics:
            wire = AvroWire(schema, args.schema_registry)
            found.append(Materializer(client, topic, store, wire.decode, write=write))
    return found, store


def _record_topics(p: argparse.ArgumentParser) -> None:
    """The record topics a replica materializes when they exist."""
    for flag, topic, what in (
        ("--reconciliation-topic", RECONCILIATION, "reconciliation"),
        ("--anomalies-topic", ANOMALIES, "anomalies"),
        ("--changes-topic", CHANGES, "change log"),
        ("--exceptions-topic", EXCEPTIONS, "rejected events"),
    ):
        p.add_argument(flag, default=topic, help=f"{what} topic, if present ({topic})")


def _keyring(args: argparse.Namespace) -> Keyring | None:
    """The API keys to require, or None (said in one line: the API is then open)."""
    from serving.keys import Keyring

    if args.api_keys is None:
        print(
            "skuflow serve: no --api-keys: the API is open to anyone who can reach it "
            f"(http{'s' if args.ssl_certfile else ''}://{args.host}:{args.port})",
            file=sys.stderr,
        )
        return None
    keyring = Keyring(args.api_keys)  # a missing or invalid file: one line, here
    print(f"skuflow serve: {len(keyring)} API keys from {args.api_keys}; requests need one", file=sys.stderr)
    return keyring


def _mark_caught_up(materializers: list[Materializer], marker: Path, stop: threading.Event) -> None:
    """Create `marker` once every materializer has caught up (the workers' readiness)."""
    for m in materializers:
        while not m.caught_up.wait(0.5):
            if stop.is_set():
                return
    marker.touch()


def _multiprocess_metrics(args: argparse.Namespace) -> None:
    """With --workers N, every process's metrics in one /metrics (the workers', and this one's
    materializers'): Prometheus multiprocess mode, a fresh dir per start; it must be set
    before prometheus_client first loads."""
    if args.workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="skuflow-metrics-")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serving.api import create_app
    from serving.exceptions import StoreError
    from serving.store import StoreReader

    keyring = _keyring(args)
    tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}

    replicas: list[threading.Thread] = []
    materializers: list[Materializer] = []
    stop = threading.Event()
    store = None
    if args.brokers is not None:  # an API replica: materialize the topics, then serve them
        materializers, store = _materializers(args)
        for m in materializers:
            t = threading.Thread(target=m.run, kwargs={"stop": stop}, name=f"materialize {m.topic}", daemon=True)
            t.start()
            replicas.append(t)
    try:
        if store is None:  # fail here in one line, not in uvicorn's startup (or every worker's)
            StoreReader(args.state_dir / "store").close()
        if args.workers > 1:  # worker processes import the app; each opens its own secondary
            os.environ["SKUFLOW_STATE_DIR"] = str(args.state_dir)
            os.environ["SKUFLOW_LOG_FORMAT"], os.environ["SKUFLOW_LOG_LEVEL"] = args.log_format, args.log_level
            if args.api_keys is not None:
                os.environ["SKUFLOW_API_KEYS"] = str(args.api_keys)
            os.environ["SKUFLOW_FLOW_METRICS"] = " ".join(args.flow_metrics)
            if materializers:  # the workers are ready once this process's materializers caught up
                marker = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]) / "caught-up"
                os.environ["SKUFLOW_READY_FILE"] = str(marker)
                threading.Thread(target=_mark_caught_up, args=(materializers, marker, stop), daemon=True).start()
            uvicorn.run(
                "serving.api:app_from_env",
                factory=True,
                workers=args.workers,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
                log_config=None,  # uvicorn logs through skuflow's handler (--log-format)
                access_log=False,
                **tls,
            )
        else:
            app = create_app(
                args.state_dir,
                StoreReader.beside(store) if store is not None else None,
                keyring,
                ready=lambda: all(m.caught_up.is_set() for m in materializers),
                flow_metrics=args.flow_metrics,
            )
            uvicorn.run(
                app, host=args.host, port=args.port, log_level=args.log_level, log_config=None, access_log=False, **tls
            )
    except StoreError as exc:
        raise SystemExit(f"skuflow: {exc}") from None
    finally:
        stop.set()
        for t in replicas:
            t.join(10)
        if store is not None:
            store.close()
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    materializers, store = _materializers(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counts: dict[str, int] = {}
    try:
        if args.until_end:
            for m in materializers:
                counts[m.topic] = m.run(until_end=True, stop=stop)
        else:
            threads = [threading.Thread(target=m.run, kwargs={"stop": stop}, daemon=True) for m in materializers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            counts = {m.topic: m.applied for m in materializers}
    finally:
        store.close()
    summary = ", ".join(f"{n:,} from {topic}" for topic, n in counts.items())
    print(f"materialized {summary} into {args.state_dir / 'store'}", file=sys.stderr)
    return 0


def add_parsers(sub: Any) -> None:
    """Register serve, materialize."""
    serve = sub.add_parser(
        "serve",
        help="the availability API over a store (an API replica with --bootstrap)",
        description="Serve the HTTP API over DIR/store (opened read-only; follows a live writer). "
        "With --bootstrap, this is an API replica: it materializes the snapshots topic into "
        "DIR/store (offsets kept there, so a restart resumes) and serves it.",
    )
    serve.add_argument("--state-dir", type=Path, required=True)
    serve.add_argument("--port", type=PORT, default=DEFAULT_PORT)
    serve.add_argument("--host", default="127.0.0.1")
    logging_args(serve)
    serve.add_argument("--workers", type=whole_number(1, 256), default=1, help="HTTP worker processes (1)")
    serve.add_argument(
        "--flow-metrics",
        action="append",
        default=[],
        metavar="URL",
        help="a dataflow process's Prometheus endpoint (http://HOST:PORT/metrics), for the console's "
        "operations page; repeat per process",
    )
    kafka_args(serve, required=False, help="Kafka bootstrap servers: materialize the snapshots topic")
    serve.add_argument("--topic", default=SNAPSHOTS, help=f"snapshots topic ({SNAPSHOTS})")
    _record_topics(serve)
    serve.add_argument("--schema-registry", help="schema registry URL, for Confluent-framed snapshots")
    serve.add_argument(
        "--api-keys",
        type=Path,
        help="keys file (skuflow keys add): every route but /healthz needs a key holding its scope; "
        "re-read when it changes. Without it the API is open",
    )
    serve.add_argument("--ssl-certfile", type=Path, help="TLS certificate (PEM): serve HTTPS")
    serve.add_argument("--ssl-keyfile", type=Path, help="TLS private key (PEM), with --ssl-certfile")
    serve.set_defaults(func=cmd_serve, before_imports=_multiprocess_metrics)

    materialize = sub.add_parser(
        "materialize",
        help="the snapshots topic into a local store, without the API",
        description="Materialize the snapshots topic into DIR/store; keeps the highest version per key "
        "and the offsets in the same store.",
    )
    kafka_args(materialize)
    materialize.add_argument("--state-dir", type=Path, required=True)
    materialize.add_argument("--topic", default=SNAPSHOTS, help=f"snapshots topic ({SNAPSHOTS})")
    _record_topics(materialize)
    materialize.add_argument("--schema-registry", help="schema registry URL, for Confluent-framed snapshots")
    materialize.add_argument("--until-end", action="store_true", help="exit at the end of the topic")
    materialize.set_defaults(func=cmd_materialize)
