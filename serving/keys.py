"""API keys: who may read what, and how often.

The keys file (JSON, written by `skuflow keys`) holds each key's SHA-256 with its name,
scopes, creation time and rate limit; never the key. A key is 256 random bits, so a fast
hash is enough: no guess can be tested offline faster than it can be drawn. The API reads
the file through a `Keyring`, which notices a change within a second (a revocation needs
no restart) and keeps the last valid version if a change does not validate.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving.exceptions import KeysError

log = logging.getLogger(__name__)

ADMIN = "admin"
INVENTORY_READ = "inventory:read"
_SCOPE = re.compile(r"^(admin|inventory:read|channel:[^\x00-\x1f\x7f]{1,256}|account:[^\x00-\x1f\x7f]{1,256})$")
_PREFIX = "skf_"
_CHECK_EVERY_S = 1.0


def scope_problem(scope: str) -> str | None:
    """Why `scope` is not one (None when it is)."""
    if _SCOPE.match(scope):
        return None
    return f"{scope!r} is not a scope: admin, inventory:read, channel:<name> or account:<id>"


def _valid_scope(scope: str) -> str:
    problem = scope_problem(scope)
    if problem is not None:
        raise ValueError(problem)
    return scope


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$", description="Who holds the key.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="The key's SHA-256, hex.")
    scopes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    created: datetime
    rate_per_second: float | None = Field(None, gt=0, description="Requests per second; omit for no limit.")

    @model_validator(mode="after")
    def _scopes(self) -> KeyEntry:
        for scope in self.scopes:
            _valid_scope(scope)
        return self


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    keys: list[KeyEntry] = []

    @model_validator(mode="after")
    def _unique(self) -> KeysFile:
        names = [k.name for k in self.keys]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names used twice: {', '.join(twice)}")
        return self


def digest(key: str | bytes) -> str:
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


def read_keys(path: Path) -> KeysFile:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise KeysError(f"{path}: no such keys file (create one with `skuflow keys add --file {path} ...`)") from None
    except OSError as exc:
        raise KeysError(f"cannot read keys file {path}: {exc.strerror}") from None
    try:
        return KeysFile.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise KeysError(f"{path}: not a valid keys file: {problems}") from None


def _write(path: Path, keys: KeysFile) -> None:
    """Replace the file whole (readable by its owner only): a reader sees the old keys or the new."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")  # mode 0600
    try:
        with open(fd, "wb") as f:
            f.write(keys.model_dump_json(indent=2).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add_key(path: Path, name: str, scopes: list[str], rate_per_second: float | None = None) -> str:
    """A new key for `name`, its hash stored in `path` (created if missing); the key itself
    is returned once and kept nowhere."""
    keys = read_keys(path) if path.exists() else KeysFile()
    if any(k.name == name for k in keys.keys):
        raise KeysError(f"{path}: a key named {name!r} exists; revoke it first or choose another name")
    key = _PREFIX + secrets.token_urlsafe(32)
    try:
        entry = KeyEntry(
            name=name, sha256=digest(key), scopes=scopes, created=datetime.now(UTC), rate_per_second=rate_per_second
        )
    except ValidationError as exc:
        raise KeysError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    _write(path, KeysFile(keys=[*keys.keys, entry]))
    return key


def revoke_key(path: Path, name: str) -> None:
    keys = read_keys(path)
    kept = [k for k in keys.keys if k.name != name]
    if len(kept) == len(keys.keys):
        raise KeysError(f"{path}: no key named {name!r}")
    _write(path, KeysFile(keys=kept))


class RateLimit:
    """A token bucket: `rate` requests per second on average, bursts up to one second's worth."""

    __slots__ = ("_at", "_tokens", "rate")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._tokens = max(rate, 1.0)
        self._at = now

    def wait(self, now: float) -> float:
        """0 when a request may go now (and takes its token), else seconds until one may."""
        burst = max(self.rate, 1.0)
        self._tokens = min(burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Grant:
    """What one key may do: its scopes (admin holds every one) and its rate limit."""

    __slots__ = ("limit", "name", "scopes")

    def __init__(self, name: str, scopes: frozenset[str], limit: RateLimit | None) -> None:
        self.name = name
        self.scopes = scopes
        self.limit = limit

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def retry_after(self, now: float) -> int:
        """0 when within the rate limit, else whole seconds to wait (Retry-After)."""
        if self.limit is None:
            return 0
        wait = self.limit.wait(now)
        return math.ceil(wait) if wait > 0 else 0


class Keyring:
    """The keys file as the API checks it: a presented key's grant, re-read within a second
    of the file changing. An invalid change is logged and the last valid keys stay."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -math.inf
        self._by_hash: dict[str, Grant] = {}
        self._by_key: dict[bytes, Grant] = {}  # presented keys already hashed (valid ones only)
        self._load(read_keys(path), self._stat())

    def __len__(self) -> int:
        return len(self._by_hash)

    def grant(self, key: bytes) -> Grant | None:
        now = self.clock()
        if now - self._checked >= _CHECK_EVERY_S:
            self._checked = now
            self._refresh()
        found = self._by_key.get(key)
        if found is None:
            found = self._by_hash.get(digest(key))
            if found is not None:
                self._by_key[key] = found
        return found

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp:
            return
        try:
            keys = read_keys(self.path)
        except KeysError as exc:
            log.error("keys file change refused, keeping the %d keys read before: %s", len(self), exc)
            self._stamp = stamp
            return
        self._load(keys, stamp)
        log.warning("keys file re-read: %d keys", len(self))

    def _load(self, keys: KeysFile, stamp: tuple[int, int, int] | None) -> None:
        before = {g.name: g for g in self._by_hash.values()}
        now = self.clock()
        by_hash = {}
        for k in keys.keys:
            limit = None
            if k.rate_per_second is not None:  # a key whose limit is unchanged keeps its bucket
                old = before.get(k.name)
                kept = old.limit if old is not None else None
                same = kept is not None and kept.rate == k.rate_per_second
                limit = kept if same else RateLimit(k.rate_per_second, now)
            by_hash[k.sha256] = Grant(k.name, frozenset(k.scopes), limit)
        self._by_hash, self._by_key, self._stamp = by_hash, {}, stamp
