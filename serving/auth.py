"""Authentication and authorization of API requests (with `serve --api-keys`).

`Authenticate`, pure ASGI middleware outside every route, answers 401 without a valid
`Authorization: Bearer <key>` (all but /healthz and the API's description) and 429 beyond
the key's rate limit, and leaves the key's grant in the request scope. Each route then
asks for its scope with `scoped(...)` (403 without it), which also declares the bearer
scheme and the scope in the OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from starlette.exceptions import HTTPException

from serving.keys import Grant, Keyring

GRANT = "skuflow.grant"  # the request scope's key for the authenticated grant
PUBLIC = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="skuflow"'}

DENIED = Counter("skuflow_api_denied_total", "API requests refused by authentication or authorization", ["reason"])
_NO_KEY, _BAD_KEY, _SCOPE, _RATE = (DENIED.labels(r) for r in ("no_key", "bad_key", "scope", "rate_limit"))

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `skuflow keys add`, as `Authorization: Bearer <key>`.",
)
_BEARER = Security(bearer)  # declares the scheme on each guarded route

Scope = MutableMapping[str, Any]
Problem = Callable[[int, str, dict[str, str] | None], Any]


def _console_asset(path: str) -> bool:
    """The console's static files hold no data (its pages call the API with the user's key)."""
    return path == "/ui" or path.startswith("/ui/")


def _bearer_key(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, key = value.partition(b" ")
            return key.strip() if scheme.lower() == b"bearer" and key.strip() else None
    return None


class Authenticate:
    """Pure ASGI middleware: every HTTP request but PUBLIC paths carries a key the keyring
    knows (401), within its rate limit (429); its grant goes on in the scope."""

    def __init__(self, app: Any, keyring: Keyring, problem: Problem) -> None:
        self.app = app
        self.keyring = keyring
        self.problem = problem

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC or _console_asset(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = _bearer_key(scope)
        grant = self.keyring.grant(key) if key is not None else None
        if grant is None:
            (_NO_KEY if key is None else _BAD_KEY).inc()
            message = "no API key: send Authorization: Bearer <key>" if key is None else "unknown or revoked API key"
            await self.problem(401, message, CHALLENGE)(scope, receive, send)
            return
        wait = grant.retry_after(self.keyring.clock())
        if wait:
            _RATE.inc()
            message = f"key {grant.name!r} is over its rate limit of {grant.limit.rate:g} requests/s"  # type: ignore[union-attr]
            await self.problem(429, message, {"Retry-After": str(wait)})(scope, receive, send)
            return
        scope[GRANT] = grant
        await self.app(scope, receive, send)


def granted(scope: Scope, needed: str) -> bool:
    """Whether the request may read what `needed` covers (always, when auth is off)."""
    grant: Grant | None = scope.get(GRANT)
    return grant is None or grant.allows(needed)


def scoped(template: str, decode: Callable[[str], str]) -> Any:
    """A route's dependency: the key must hold `template` with `{param}`s filled from the
    path (decoded by `decode`), e.g. "channel:{channel}"; else 403."""

    def check(request: Request, _: HTTPAuthorizationCredentials | None = _BEARER) -> None:
        needed = template.format(**{k: decode(v) for k, v in request.path_params.items()})
        if not granted(request.scope, needed):
            _SCOPE.inc()
            name = request.scope[GRANT].name
            raise HTTPException(403, f"key {name!r} does not hold scope {needed!r}")

    return Depends(check)
