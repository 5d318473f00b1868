"""End to end over HTTP: `skuflow replay`, then `skuflow serve` answers what the fold computed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import GOLDEN, free_port, http_get, read_jsonl, skuflow, wait_http

pytestmark = pytest.mark.slow
MEDIUM = GOLDEN / "medium"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    state = tmp_path / "state"
    skuflow(
        "replay",
        str(GOLDEN / "small" / "events.jsonl"),
        "--state-dir",
        str(state),
        "--item-master",
        str(GOLDEN / "small" / "item_master.csv"),
    )
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "dataflows.cli", "serve", "--state-dir", str(state), "--port", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        yield base, state
    finally:
        api.terminate()
        api.wait(10)


def test_api_serves_the_golden_state_and_follows_new_replays(served: tuple[str, Path]) -> None:
    base, state = served
    small = read_jsonl(GOLDEN / "small" / "expected_snapshots.jsonl")
    for row in small[:50]:
        status, body = http_get(f"{base}/v1/availability/{row['sku']}/{row['location']}")
        assert status == 200 and {k: body[k] for k in row} == row

    # A second replay into the same state dir, while the API is up: it follows the writer.
    fresh = tmp_events = state.parent / "more.jsonl"
    rows = [
        dict(r, event_id=f"more-{i}", sku="SKU-NEW", location="WH-NEW", status=None)
        for i, r in enumerate(read_jsonl(GOLDEN / "small" / "events.jsonl"))
        if r["event_type"] == "RECEIPT" and r["uom"] == "EA" and r["quantity"] > 0
    ]
    tmp_events.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert http_get(f"{base}/v1/availability/SKU-NEW/WH-NEW")[0] == 404
    skuflow("replay", str(fresh), "--state-dir", str(state), "--item-master", str(GOLDEN / "small" / "item_master.csv"))
    deadline = time.monotonic() + 2
    while True:
        status, body = http_get(f"{base}/v1/availability/SKU-NEW/WH-NEW")
        if status == 200:
            break
        assert time.monotonic() < deadline, "the API did not pick up the new snapshots"
        time.sleep(0.02)
    assert body["sellable"] == sum(r["quantity"] for r in rows) and body["version"] == len(rows)


def test_full_api_over_the_medium_scenario(tmp_path: Path) -> None:
    state = tmp_path / "state"
    skuflow(
        "replay",
        str(MEDIUM / "events.jsonl"),
        "--state-dir",
        str(state),
        "--item-master",
        str(MEDIUM / "item_master.csv"),
    )
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "dataflows.cli", "serve", "--state-dir", str(state), "--port", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        expected = read_jsonl(MEDIUM / "expected_snapshots.jsonl")
        for row in expected:
            status, body = http_get(f"{base}/v1/availability/{row['sku']}/{row['location']}")
            assert status == 200 and {k: body[k] for k in row} == row
        skus = sorted({r["sku"] for r in expected})
        listed, after = [], None
        while True:
            status, page = http_get(f"{base}/v1/skus?limit=100" + (f"&after={after}" if after else ""))
            listed += page["skus"]
            after = page["next_after"]
            if not after:
                break
        assert listed == skus
        req = urllib.request.Request(
            f"{base}/v1/availability:batch",
            data=json.dumps({"skus": skus}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            batch = json.loads(r.read())
        assert [x["sku"] for x in batch["results"]] == skus and batch["missing"] == []
        for result in batch["results"]:
            rows = [e for e in expected if e["sku"] == result["sku"]]
            assert result["total"]["on_hand"] == sum(e["on_hand"] for e in rows)
            assert result["total"]["available"] == sum(e["available"] for e in rows)
        assert http_get(f"{base}/v1/availability/NOPE")[0] == 404
        assert http_get(f"{base}/v1/skus?limit=abc")[0] == 422
    finally:
        api.terminate()
        api.wait(10)


def test_ctrl_c_pauses_a_replay_and_a_rerun_resumes_exactly(tmp_path: Path) -> None:
    import signal

    events, item_master = tmp_path / "events.avro", tmp_path / "im.csv"
    skuflow(
        "simulate", "--events", "120000", "--skus", "500", "--out", str(events), "--item-master-out", str(item_master)
    )
    reference = tmp_path / "reference"
    skuflow("replay", str(events), "--state-dir", str(reference), "--item-master", str(item_master))

    state = tmp_path / "state"
    args = ["replay", str(events), "--state-dir", str(state), "--item-master", str(item_master)]
    proc = subprocess.Popen([sys.executable, "-m", "dataflows.cli", *args], stderr=subprocess.PIPE, text=True)
    changes = state / "changes.jsonl"
    deadline = time.monotonic() + 60
    while not (changes.exists() and changes.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # interrupt as soon as it is folding: a sleep would race a fast replay
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, err
    assert "interrupted" in err, err  # it stopped part way through
    skuflow(*args)  # resume

    def final(state_dir: Path) -> list[dict[str, object]]:
        rows = [json.loads(x) for x in skuflow("snapshot", "--state-dir", str(state_dir)).stdout.splitlines()]
        for row in rows:
            row.pop("correlation_ids")  # those of the last batch: batching differs between runs
        return rows

    assert final(state) == final(reference)
    assert len(final(state)) > 1000
    assert sorted(read_jsonl(state / "exceptions.jsonl"), key=json.dumps) == sorted(
        read_jsonl(reference / "exceptions.jsonl"), key=json.dumps
    )
