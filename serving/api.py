"""The availability API: FastAPI over the RocksDB store (read-only secondary).

Single-key reads return the stored bytes as they are: no parsing, no model
validation on the hot path. Aggregates parse only what they sum.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from operators.anomalies import Anomaly as AnomalyReason
from operators.routing import join_parts, split_parts
from serving import ops
from serving.auth import Authenticate, granted, scoped
from serving.keys import ADMIN, INVENTORY_READ, Keyring
from serving.models import (
    MAX_BATCH,
    AnomalyPage,
    BatchRequest,
    BatchResponse,
    ChannelBatchResponse,
    ChannelFigure,
    ChannelList,
    ExceptionPage,
    Explained,
    Health,
    InvalidRequest,
    KeyAnomalies,
    KeyChanges,
    KeyHistory,
    KeyReconciliation,
    Operations,
    Problem,
    ReconciliationPage,
    SkuAvailability,
    SkuPage,
    Snapshot,
)
from serving.store import StoreReader

_SUMMED = ("sellable", "reserved", "picked", "quarantine", "damaged", "in_transit", "on_hand", "available")
_JSON = "application/json"
_UI = Path(__file__).parent / "ui"  # the console: static files, its data through the routes below

LATENCY = Histogram(
    "skuflow_api_request_seconds",
    "API request latency by route and status (its _count: the requests)",
    ["route", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
_ONE_LATENCY = LATENCY.labels("/v1/availability/{sku}/{location}", "200")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class _HttpMiddleware:
    """Pure ASGI middleware base: `http` requests go to `handle`, anything else (lifespan)
    straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        raise NotImplementedError


class _Metrics(_HttpMiddleware):
    """Request count and latency per route template."""

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            LATENCY.labels(name, str(status[0])).observe(time.perf_counter() - start)


_JSON_HEADERS = [(b"content-type", b"application/json")]


class _RawSegments:
    """Pure ASGI middleware: routes match the path as the client encoded it, so a key part
    holding `/` (sent as %2F) stays one segment; `segment` decodes each path parameter
    once. (Starlette would route on the decoded path, where %2F is a separator.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            scope = {**scope, "path": raw.split(b"?", 1)[0].decode("utf-8", "replace")}
        await self.app(scope, receive, send)


MAX_BODY = 4 * 1024 * 1024  # bytes: a full batch of the longest keys, JSON-escaped, fits


class _BodyLimit(_HttpMiddleware):
    """A request body over `MAX_BODY` (by its Content-Length, or as it streams in) is
    refused with a 413 before it is held in memory."""

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["method"] in ("GET", "HEAD"):  # no body to limit (the reads stay as cheap as they were)
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            await problem(413, f"the body must be at most {MAX_BODY} bytes")(scope, receive, send)
            return
        seen = [0]

        async def counted() -> Any:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > MAX_BODY:
                raise HTTPException(413, f"the body must be at most {MAX_BODY} bytes")
            return message

        await self.app(scope, counted, send)


def segment(value: str) -> str:
    """A path parameter's text: percent-decoded once (see `_RawSegments`)."""
    return unquote(value, errors="replace")


class _FastGet:
    """Pure ASGI fast path for the hottest route, GET /v1/availability/{sku}/{location}:
    the stored bytes go out without routing, dependency injection or a Response object
    (they cost ~4x the lookup). Everything else, and any miss, falls through to FastAPI,
    which also documents this route."""

    def __init__(self, app: ASGIApp, holder: dict[str, StoreReader]) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            parts = scope["path"].split("/")
            if (
                len(parts) == 5
                and parts[1] == "v1"
                and parts[2] == "availability"
                and parts[3]
                and parts[4]
                and granted(scope, INVENTORY_READ)
            ):
                start = time.perf_counter()
                store = self.holder.get("store")
                body = store.get(segment(parts[3]), segment(parts[4])) if store is not None else None
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": _JSON_HEADERS})
                    await send({"type": "http.response.body", "body": body})
                    _ONE_LATENCY.observe(time.perf_counter() - start)
                    return
        await self.app(scope, receive, send)


def problem(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Every error's shape: `{"error": slug of the status, "message": what to fix}`."""
    slug = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse({"error": slug, "message": message}, status_code=status, headers=headers)


def _not_found(message: str) -> JSONResponse:
    return problem(404, message)


def _sku_json(sku: str, rows: list[bytes]) -> bytes:
    """One SKU's locations and totals. The stored location bodies are spliced in as they
    are: only the summed fields are read, nothing is re-serialised."""
    total = dict.fromkeys(_SUMMED, 0)
    for row in rows:
        location = orjson.loads(row)
        for name in _SUMMED:
            total[name] += location[name]
    try:
        totals = orjson.dumps(total)
    except orjson.JSONEncodeError:  # a sum over locations beyond 64 bits: orjson's integers stop there
        totals = json.dumps(total).encode()
    return b'{"sku":%b,"locations":[%b],"total":%b}' % (orjson.dumps(sku), b",".join(rows), totals)


def _batch(skus: list[str], lookup: Callable[[str], bytes | None]) -> Response:
    """Each distinct SKU once, in request order: found ones (JSON bodies) in `results`,
    the others in `missing`."""
    results, missing = [], []
    for sku in dict.fromkeys(skus):
        found = lookup(sku)
        if found is None:
            missing.append(sku)
        else:
            results.append(found)
    body = b'{"results":[%b],"missing":%b}' % (b",".join(results), orjson.dumps(missing))
    return Response(body, media_type=_JSON)


Responses = dict[int | str, dict[str, Any]]
_READ_ERRORS: Responses = {404: {"model": Problem, "description": "No such key"}}
_AUTH_ERRORS: Responses = {
    401: {"model": Problem, "description": "No API key, or one the keys file does not hold"},
    403: {"model": Problem, "description": "The key does not hold the route's scope"},
    429: {"model": Problem, "description": "The key is over its rate limit (see Retry-After)"},
}
_BODY_ERRORS: Responses = {
    400: {"model": Problem, "description": "The body is not UTF-8"},
    413: {"model": Problem, "description": f"The body is over {MAX_BODY} bytes"},
    415: {"model": Problem, "description": "The body is not a JSON object"},
    422: {"model": InvalidRequest, "description": "The JSON object is not a valid request"},
}


def create_app(
    state_dir: str | Path,
    store: StoreReader | None = None,
    keyring: Keyring | None = None,
    ready: Callable[[], bool] | None = None,
    flow_metrics: Sequence[str] = (),
) -> FastAPI:
    """The API over `<state_dir>/store`, read through `store` when given (a replica's
    reader beside its writer), else through a secondary instance of its own. With a
    `keyring`, every route but /healthz and /readyz needs a key holding its scope
    (serving.auth). `ready()` says whether a replica has caught up (/readyz). `flow_metrics`:
    the dataflow's Prometheus endpoints, which /v1/ops summarises for the console."""
    store_path = Path(state_dir) / "store"
    holder: dict[str, StoreReader] = {}

    def guarded(needed: str, responses: Responses | None = None) -> dict[str, Any]:
        """A route's scope: required and documented with a keyring, nothing without."""
        if keyring is None:
            return {"responses": responses or {}}
        return {
            "responses": {**(responses or {}), **_AUTH_ERRORS},
            "dependencies": [scoped(needed, segment)],
            "description": f"Needs an API key holding scope `{needed}` (or `admin`).",
            "openapi_extra": {"x-required-scope": needed},
        }

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder["store"] = store or StoreReader(store_path)
        # What exists now (FastAPI, pydantic, the routes) lives as long as the process:
        # out of the collector's view, a full collection no longer re-walks it mid-request.
        gc.collect()
        gc.freeze()
        yield
        holder.pop("store").close()

    app = FastAPI(
        title="skuflow availability API",
        version="1",
        description="Exact, low-latency inventory availability per SKU x location, from skuflow's RocksDB state.",
        lifespan=lifespan,
    )
    app.add_middleware(_BodyLimit)
    app.add_middleware(_Metrics)
    app.add_middleware(_FastGet, holder=holder)  # hits never reach the stack below
    if keyring is not None:
        app.add_middleware(Authenticate, keyring=keyring, problem=problem)  # before any route, the fast one too
    app.add_middleware(_RawSegments)  # outermost: every route sees the path as encoded

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "invalid"))} for err in exc.errors()
        ]
        if any(err.get("type") == "model_attributes_type" and err.get("loc") == ("body",) for err in exc.errors()):
            return problem(415, "the body must be a JSON object (Content-Type: application/json)")
        message = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse({"error": "invalid_request", "message": message, "detail": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), exc.headers)  # 405 keeps its Allow

    @app.get(
        "/v1/availability/{sku}/{location}",
        response_model=Snapshot,
        **guarded(INVENTORY_READ, _READ_ERRORS),
        summary="Availability of one SKU at one location",
    )
    async def one(sku: str, location: str) -> Response:
        sku, location = segment(sku), segment(location)
        body = holder["store"].get(sku, location)
        if body is None:
            return _not_found(f"no availability for sku {sku!r} at location {location!r}")
        return Response(body, media_type=_JSON)

    @app.get(
        "/v1/availability/{sku}",
        response_model=SkuAvailability,
        **guarded(INVENTORY_READ, _READ_ERRORS),
        summary="Availability of one SKU at every location, with totals",
    )
    async def by_sku(sku: str) -> Response:
        sku = segment(sku)
        rows = holder["store"].locations(sku)
        if not rows:
            return _not_found(f"no availability for sku {sku!r}")
        return Response(_sku_json(sku, rows), media_type=_JSON)

    @app.post(
        "/v1/availability:batch",
        response_model=BatchResponse,
        **guarded(INVENTORY_READ, _BODY_ERRORS),
        summary=f"Availability of up to {MAX_BATCH} SKUs",
    )
    async def batch(request: BatchRequest) -> Response:
        store = holder["store"]
        return _batch(request.skus, lambda sku: _sku_json(sku, rows) if (rows := store.locations(sku)) else None)

    @app.get(
        "/v1/channels/{channel}/availability/{sku}",
        response_model=ChannelFigure,
        **guarded("channel:{channel}", _READ_ERRORS),
        summary="What one channel may sell of one SKU",
    )
    async def channel_one(channel: str, sku: str) -> Response:
        channel, sku = segment(channel), segment(sku)
        body = holder["store"].channel(channel, sku)
        if body is None:
            return _not_found(f"no published availability for sku {sku!r} on channel {channel!r}")
        return Response(body, media_type=_JSON)

    @app.post(
        "/v1/channels/{channel}/availability:batch",
        response_model=ChannelBatchResponse,
        **guarded("channel:{channel}", _BODY_ERRORS),
        summary=f"What one channel may sell of up to {MAX_BATCH} SKUs",
    )
    async def channel_batch(channel: str, request: BatchRequest) -> Response:
        channel = segment(channel)
        store = holder["store"]
        return _batch(request.skus, lambda sku: store.channel(channel, sku))

    @app.get(
        "/v1/accounts/{account}/availability/{sku}",
        response_model=ChannelFigure,
        **guarded("account:{account}", _READ_ERRORS),
        summary="What one account may buy of one SKU: its channel's pool plus its ring-fenced stock",
    )
    async def account_one(account: str, sku: str) -> Response:
        account, sku = segment(account), segment(sku)
        store = holder["store"]
        body = store.account(account, sku)
        if body is None:
            if not store.knows_account(account):
                return _not_found(f"unknown account {account!r}: accounts come from the policy's ring_fences")
            return _not_found(f"no published availability for sku {sku!r} for account {account!r}")
        return Response(body, media_type=_JSON)

    def explained(channel: str, sku: str, account: str | None = None) -> Response:
        found = holder["store"].explained(channel, sku, account)
        whose = f"account {account!r}" if account else f"channel {channel!r}"
        if found is None:
            return _not_found(f"no published availability for sku {sku!r} for {whose}")
        figure, terms = found
        if terms is None:
            return _not_found(f"the figure of sku {sku!r} for {whose} was published without its terms")
        return Response(b'{"figure":' + figure + b',"explanation":' + terms + b"}", media_type=_JSON)

    @app.get(
        "/v1/channels/{channel}/availability/{sku}/explain",
        response_model=Explained,
        **guarded("channel:{channel}", _READ_ERRORS),
        summary="Why one channel's figure of one SKU is what it is: every term, and the events behind each location",
    )
    async def channel_explain(channel: str, sku: str) -> Response:
        return explained(segment(channel), segment(sku))

    @app.get(
        "/v1/accounts/{account}/availability/{sku}/explain",
        response_model=Explained,
        **guarded("account:{account}", _READ_ERRORS),
        summary="Why one account's figure of one SKU is what it is",
    )
    async def account_explain(account: str, sku: str) -> Response:
        account, sku = segment(account), segment(sku)
        if not holder["store"].knows_account(account):
            return _not_found(f"unknown account {account!r}: accounts come from the policy's ring_fences")
        return explained("", sku, account)

    @app.get(
        "/v1/availability/{sku}/{location}/history",
        response_model=KeyHistory,
        **guarded(INVENTORY_READ, {**_READ_ERRORS, 422: {"model": InvalidRequest}}),
        summary="The last changes of one key, newest first: buckets before and after, and the events behind each",
    )
    async def history(
        sku: str,
        location: str,
        limit: int = Query(20, ge=1, le=MAX_BATCH, description="How many changes."),
        before_version: int | None = Query(
            None, ge=1, le=2**63 - 1, description="Only changes to versions below this one (older pages)."
        ),
    ) -> Response:
        sku, location = segment(sku), segment(location)
        rows = holder["store"].recent_changes(sku, location, before_version, limit)
        if not rows and before_version is None:
            return _not_found(f"no change of sku {sku!r} at location {location!r}")
        oldest = orjson.loads(rows[-1])["version"] if rows else 0
        next_before = oldest if len(rows) == limit and oldest > 1 else None
        return _of_key(sku, location, "changes", rows, {"next_before_version": next_before})

    @app.get(
        "/v1/skus",
        response_model=SkuPage,
        **guarded(INVENTORY_READ, {422: {"model": InvalidRequest}}),
        summary="SKUs with availability, paged in SKU order",
    )
    async def skus(
        limit: int = Query(100, ge=1, le=MAX_BATCH, description="Page size."),
        after: str | None = Query(None, description="Return SKUs strictly after this one."),
    ) -> Response:
        page = holder["store"].skus(after, limit)
        next_after = page[-1] if len(page) == limit else None
        return JSONResponse({"skus": page, "next_after": next_after})

    @app.get(
        "/v1/reconciliation/{sku}/{location}",
        response_model=KeyReconciliation,
        **guarded(INVENTORY_READ, _READ_ERRORS),
        summary="Each balance snapshot of one key against skuflow's figure at its place in event order",
    )
    async def reconciliation_one(sku: str, location: str) -> Response:
        sku, location = segment(sku), segment(location)
        rows = holder["store"].reconciliation(sku, location)
        if not rows:
            return _not_found(f"no balance snapshot reconciled for sku {sku!r} at location {location!r}")
        return _of_key(sku, location, "records", rows)

    @app.get(
        "/v1/reconciliation",
        response_model=ReconciliationPage,
        **guarded(INVENTORY_READ, {422: {"model": InvalidRequest}}),
        summary="Reconciliation records, filtered, paged in (sku, location, event id) order",
    )
    async def reconciliations(
        location: str | None = Query(None, description="Only this location."),
        source: str | None = Query(None, description="Only balance snapshots from this source system."),
        status: Literal["match", "divergent", "adopted"] | None = Query(None, description="Only this verdict."),
        after: str | None = Query(
            None, description="The `next_after` of the previous page: `sku|location|event_id`, each part %-escaped."
        ),
        limit: int = Query(100, ge=1, le=MAX_BATCH, description="Page size."),
    ) -> Response:
        keep = _matching(location=location, source_system=source, status=status)
        return _page(holder["store"].reconciliations, 3, after, limit, keep)

    @app.get(
        "/v1/changes/{sku}/{location}",
        response_model=KeyChanges,
        **guarded(INVENTORY_READ, {**_READ_ERRORS, 422: {"model": InvalidRequest}}),
        summary="The change log of one key: buckets before and after each change, and the events behind it",
    )
    async def changes_one(
        sku: str,
        location: str,
        after_version: int = Query(0, ge=0, le=2**63 - 1, description="Only changes to versions above this one."),
        limit: int = Query(100, ge=1, le=MAX_BATCH, description="Page size."),
    ) -> Response:
        sku, location = segment(sku), segment(location)
        rows = holder["store"].changes(sku, location, after_version, limit)
        if not rows and after_version == 0:
            return _not_found(f"no change of sku {sku!r} at location {location!r}")
        next_after = orjson.loads(rows[-1])["version"] if len(rows) == limit else None
        return _of_key(sku, location, "changes", rows, {"next_after_version": next_after})

    @app.get(
        "/v1/anomalies/{sku}/{location}",
        response_model=KeyAnomalies,
        **guarded(INVENTORY_READ, _READ_ERRORS),
        summary="The anomalies of one key's events (open, or cleared by events that arrived later)",
    )
    async def anomalies_one(sku: str, location: str) -> Response:
        sku, location = segment(sku), segment(location)
        rows = holder["store"].anomalies_of(sku, location)
        if not rows:
            return _not_found(f"no anomaly for sku {sku!r} at location {location!r}")
        return _of_key(sku, location, "records", rows)

    @app.get(
        "/v1/anomalies",
        response_model=AnomalyPage,
        **guarded(INVENTORY_READ, {422: {"model": InvalidRequest}}),
        summary="Anomaly records, filtered, paged in (sku, location, event id, reason) order",
    )
    async def anomalies(
        location: str | None = Query(None, description="Only this location."),
        reason: AnomalyReason | None = Query(None, description="Only this reason."),
        status: Literal["open", "cleared"] | None = Query(None, description="Only open, or only cleared."),
        after: str | None = Query(
            None, description="The `next_after` of the previous page: `sku|location|event_id|reason`, each %-escaped."
        ),
        limit: int = Query(100, ge=1, le=MAX_BATCH, description="Page size."),
    ) -> Response:
        keep = _matching(location=location, reason=reason, status=status)
        return _page(holder["store"].anomalies, 4, after, limit, keep)

    @app.get(
        "/v1/exceptions",
        response_model=ExceptionPage,
        **guarded(INVENTORY_READ, {422: {"model": InvalidRequest}}),
        summary="Rejected events with their reasons and original payloads, filtered, newest first",
    )
    async def exceptions(
        reason: str | None = Query(None, description="Only this reason code."),
        source: str | None = Query(None, description="Only events whose payload names this source system."),
        before: int | None = Query(None, ge=1, le=2**63 - 1, description="The `next_before` of the previous page."),
        limit: int = Query(100, ge=1, le=MAX_BATCH, description="Page size."),
    ) -> Response:
        rows, last = holder["store"].exceptions(before, limit, _matching(reason=reason, source_system=source))
        return _records(rows, "next_before", last)

    @app.get(
        "/v1/channels",
        response_model=ChannelList,
        **guarded(INVENTORY_READ),
        summary="The channels with published figures, and each account's channel",
    )
    async def channel_list() -> Response:
        names, accounts = holder["store"].channels()
        return JSONResponse({"channels": names, "accounts": accounts})

    @app.get(
        "/v1/ops",
        response_model=Operations,
        **guarded(ADMIN),
        summary="The console's operations page: publication latency and queues by channel, lag, stale locations",
    )
    async def operations() -> Response:
        samples, scraped = [], []
        for url in flow_metrics:
            try:
                samples += await asyncio.to_thread(ops.scrape, url)
                scraped.append({"url": url, "up": True, "error": None})
            except (OSError, ValueError) as exc:
                scraped.append({"url": url, "up": False, "error": str(exc)})
        return JSONResponse({**ops.summary(samples, ops.local(_registry())), "flow_metrics": scraped})

    app.mount("/ui", StaticFiles(directory=_UI, html=True), name="console")

    @app.get("/healthz", response_model=Health, summary="Whether the service is up (no key needed)")
    async def healthz() -> Response:
        holder["store"].catch_up()
        return JSONResponse({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": Problem, "description": "A replica still catching up with its topics"}},
        summary="Whether to send traffic here: the store is open and, on a replica, caught up (no key needed)",
    )
    async def readyz() -> Response:
        if ready is not None and not ready():
            return problem(503, "catching up with the snapshots topic")
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response, **guarded(ADMIN))
    async def metrics() -> Response:
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return app


def _of_key(sku: str, location: str, field: str, rows: list[bytes], more: dict[str, Any] | None = None) -> Response:
    """`{sku, location, FIELD: [rows...], **more}` from stored JSON rows, without re-parsing them."""
    head = orjson.dumps({"sku": sku, "location": location})[:-1]
    tail = b"," + orjson.dumps(more)[1:] if more else b"}"
    return Response(head + b',"' + field.encode() + b'":[' + b",".join(rows) + b"]" + tail, media_type=_JSON)


def _matching(**wanted: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate on a record: each field given (not None) must equal its value."""
    fields = [(k, v) for k, v in wanted.items() if v is not None]
    return lambda r: all(r[k] == v for k, v in fields)


def _page(read: Any, parts: int, after: str | None, limit: int, keep: Any) -> Response:
    """A page of records from `read` (a store's paged reader) after the cursor `after`."""
    cursor = split_parts(after, parts) if after is not None else None
    rows, last = read(cursor, limit, keep)
    return _records(rows, "next_after", join_parts(*last) if last is not None else None)


def _records(rows: list[bytes], cursor: str, value: Any) -> Response:
    """`{records: [rows...], CURSOR: value}` from stored JSON rows, without re-parsing them."""
    body = b'{"records":[' + b",".join(rows) + b'],"' + cursor.encode() + b'":' + orjson.dumps(value) + b"}"
    return Response(body, media_type=_JSON)


def _registry() -> CollectorRegistry:
    """What /metrics reports: this process's metrics, or with `serve --workers N` (Prometheus
    multiprocess mode, $PROMETHEUS_MULTIPROC_DIR) every worker's, summed."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def app_from_env() -> FastAPI:
    """The app over $SKUFLOW_STATE_DIR (keys from $SKUFLOW_API_KEYS, when set; logs as
    $SKUFLOW_LOG_FORMAT at $SKUFLOW_LOG_LEVEL; ready once the file $SKUFLOW_READY_FILE, when
    set, exists): what each of `skuflow serve --workers N` imports."""
    from dataflows import logs

    logs.configure(os.environ.get("SKUFLOW_LOG_FORMAT", "text"), os.environ.get("SKUFLOW_LOG_LEVEL", "warning"))
    keys, marker = os.environ.get("SKUFLOW_API_KEYS"), os.environ.get("SKUFLOW_READY_FILE")
    ready = Path(marker).exists if marker else None
    flow_metrics = os.environ.get("SKUFLOW_FLOW_METRICS", "").split()
    keyring = Keyring(Path(keys)) if keys else None
    return create_app(os.environ["SKUFLOW_STATE_DIR"], keyring=keyring, ready=ready, flow_metrics=flow_metrics)
