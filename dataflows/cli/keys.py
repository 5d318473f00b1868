"""`skuflow keys`: API keys for `serve --api-keys` (add, list, revoke)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _scope(text: str) -> str:
    from serving.keys import scope_problem

    problem = scope_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a rate is requests per second above 0, not {text!r}")
    return value


def cmd_add(args: argparse.Namespace) -> int:
    from serving.keys import add_key

    key = add_key(args.file, args.name, args.scope, args.rate_limit)
    print(key)
    print(
        f"skuflow keys: added {args.name!r} ({', '.join(args.scope)}) to {args.file}; the key above is shown "
        "only now (the file keeps its hash): hand it over, then clear it from your terminal",
        file=sys.stderr,
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from serving.keys import read_keys

    keys = read_keys(args.file).keys
    for k in keys:
        rate = f"{k.rate_per_second:g}/s" if k.rate_per_second is not None else "no limit"
        print(f"{k.name}\t{' '.join(k.scopes)}\t{rate}\tcreated {k.created.isoformat(timespec='seconds')}")
    print(f"{len(keys)} keys in {args.file}", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from serving.keys import revoke_key

    revoke_key(args.file, args.name)
    print(f"skuflow keys: revoked {args.name!r}; a running API refuses it within a second", file=sys.stderr)
    return 0


def add_parsers(sub: Any) -> None:
    """Register keys (add, list, revoke)."""
    keys = sub.add_parser(
        "keys",
        help="API keys for serve --api-keys: add, list, revoke",
        description="Manage the API keys file. Scopes: channel:<name> (that channel's figures), "
        "account:<id> (that account's figure), inventory:read (location snapshots, SKUs, reconciliation, "
        "anomalies, change log), admin (everything, /metrics included).",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new key: printed once, only its hash is stored")
    add.add_argument("--name", required=True, help="who holds it (letters, digits, . _ @ -)")
    add.add_argument("--scope", type=_scope, nargs="+", action="extend", required=True, help="one or more scopes")
    add.add_argument("--rate-limit", type=_rate, help="requests per second (default: no limit)")
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="the keys: name, scopes, rate limit, created")
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", help="remove a key; a running API refuses it within a second")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)
    for p in (add, listing, revoke):
        p.add_argument("--file", type=Path, required=True, help="the keys file")
