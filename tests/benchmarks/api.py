"""API benchmarks with wrk: skuflow's API vs a bare ASGI app over the same RocksDB store.

The baseline (`bare_app`) is what a user might write instead: a raw ASGI callable on
the same uvicorn (uvloop, httptools), answering /v1/availability/{sku}/{location} with
the stored bytes. Both read the store through `serving.store.StoreReader`, so the
comparison isolates what the API layer costs. Keys are drawn at random per request
(a Lua script), over every key in the store.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.store import StoreReader
from tests.helpers import free_port, read_jsonl, wait_http

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def parse_wrk(out: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)] for m in re.finditer(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", out)
    }
    return rps, pct["50"], pct["99"]


def _lua_single(keys: list[tuple[str, str]], api_key: str | None = None) -> str:
    paths = ",".join(f'"/v1/availability/{s}/{loc}"' for s, loc in keys)
    headers = f"{{['Authorization'] = 'Bearer {api_key}'}}" if api_key else "nil"
    return (
        f"local p = {{{paths}}}\nlocal h = {headers}\n"
        "request = function() return wrk.format('GET', p[math.random(#p)], h) end\n"
    )


def _lua_batch(skus: list[str], size: int, bodies: int = 200) -> str:
    rng = random.Random(7)
    items = []
    for _ in range(bodies):
        chosen = ",".join(f'\\"{s}\\"' for s in rng.sample(skus, min(size, len(skus))))
        items.append(f'"{{\\"skus\\":[{chosen}]}}"')
    return (
        f"local b = {{{','.join(items)}}}\n"
        "local h = {['Content-Type'] = 'application/json'}\n"
        "request = function() return wrk.format('POST', '/v1/availability:batch', h, b[math.random(#b)]) end\n"
    )


def wrk(url: str, lua: str, seconds: float, connections: int = 32) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", f.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    return parse_wrk(out)


@contextmanager
def server(cmd: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


def skuflow_api(state_dir: Path, workers: int, *extra: str) -> Any:
    port = free_port()
    cmd = [sys.executable, "-m", "dataflows.cli", "serve", "--state-dir", str(state_dir), "--port", str(port)]
    return server([*cmd, "--workers", str(workers), *extra], port)


def bare_api(state_dir: Path, workers: int) -> Any:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "tests.benchmarks.api:bare_app", "--factory", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log", "--loop", "uvloop"]
    return server([*cmd, "--http", "httptools"], port, {"SKUFLOW_STATE_DIR": str(state_dir)})


def store_keys(state_dir: Path) -> list[tuple[str, str]]:
    rows = read_jsonl(state_dir / "changes.jsonl")
    return sorted({(r["sku"], r["location"]) for r in rows})


def single_key_lua(state_dir: Path, api_key: str | None = None) -> str:
    return _lua_single(store_keys(state_dir), api_key)


def batch_lua(state_dir: Path, size: int = 100) -> str:
    return _lua_batch(sorted({s for s, _ in store_keys(state_dir)}), size)


# -- the baseline: a bare ASGI app -----------------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]
_JSON = [(b"content-type", b"application/json")]


def bare_app() -> Callable[..., Awaitable[None]]:
    """A raw ASGI app: GET /v1/availability/{sku}/{location} -> the stored JSON, 404 else."""
    store = StoreReader(Path(os.environ["SKUFLOW_STATE_DIR"]) / "store")

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/")
        body = store.get(parts[3], parts[4]) if len(parts) == 5 and parts[2] == "availability" else None
        if scope["path"] == "/healthz":
            body = b"{}"
        status = 200 if body is not None else 404
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body or b"{}"})

    return app
