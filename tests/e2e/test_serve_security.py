"""`skuflow serve --api-keys --ssl-certfile --ssl-keyfile` as a process: HTTPS with a
self-signed certificate (made by openssl), a key from `skuflow keys add` reads, none is 401,
`skuflow keys revoke` takes effect without a restart; without --api-keys, serve says in one
line that the API is open."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import GOLDEN, free_port, skuflow

pytestmark = pytest.mark.slow


def _get(url: str, context: ssl.SSLContext, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _wait(url: str, context: ssl.SSLContext, api: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert api.poll() is None, api.stderr.read() if api.stderr else ""
        try:
            _get(url, context)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_https_with_keys_and_a_revocation_without_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    small = GOLDEN / "small"
    skuflow(
        "replay",
        str(small / "events.jsonl"),
        "--state-dir",
        str(state),
        "--item-master",
        str(small / "item_master.csv"),
    )
    cert, private = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(private), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    keys = tmp_path / "keys.json"
    key = skuflow("keys", "add", "--file", str(keys), "--name", "reader", "--scope", "inventory:read").stdout.strip()
    assert key.startswith("skf_") and key not in keys.read_text()
    row = json.loads((small / "expected_snapshots.jsonl").read_text().splitlines()[0])
    port = free_port()
    context = ssl.create_default_context(cafile=str(cert))
    serve = [sys.executable, "-m", "dataflows.cli", "serve", "--state-dir", str(state), "--port", str(port)]
    tls = ["--api-keys", str(keys), "--ssl-certfile", str(cert), "--ssl-keyfile", str(private)]
    api = subprocess.Popen([*serve, *tls], stderr=subprocess.PIPE, text=True)
    base = f"https://127.0.0.1:{port}"
    url = f"{base}/v1/availability/{row['sku']}/{row['location']}"
    try:
        _wait(f"{base}/healthz", context, api)
        assert _get(f"{base}/healthz", context) == 200
        assert (_get(url, context), _get(url, context, "skf_wrong"), _get(url, context, key)) == (401, 401, 200)
        assert _get(f"{base}/metrics", context, key) == 403
        skuflow("keys", "revoke", "--file", str(keys), "reader")
        deadline = time.monotonic() + 5
        while _get(url, context, key) == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _get(url, context, key) == 401
    finally:
        api.terminate()
        _, err = api.communicate(timeout=10)
    assert "1 API keys from" in err and key not in err

    open_api = subprocess.Popen([*serve], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
    finally:
        open_api.terminate()
        _, err = open_api.communicate(timeout=10)
    assert "no --api-keys: the API is open to anyone who can reach it" in err


def test_a_missing_keys_file_is_one_line(tmp_path: Path) -> None:
    proc = skuflow("serve", "--state-dir", str(tmp_path), "--api-keys", str(tmp_path / "nope.json"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"skuflow: {tmp_path / 'nope.json'}: no such keys file (create one with `skuflow keys add --file "
        f"{tmp_path / 'nope.json'} ...`)"
    ]
