"""The ops console in a real browser: Debian's headless Chromium driven by Playwright, against
`skuflow up` with API keys. A user searches a SKU, opens a channel figure's explanation, sees
the exceptions page and the operations page; each step's screenshot is kept (SKUFLOW_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers import free_port, skuflow, up_command, wait_http

pytestmark = pytest.mark.slow

CHROMIUM_SH = Path(__file__).parent / "chromium.sh"
ARTIFACTS = Path(os.environ.get("SKUFLOW_ARTIFACTS", ".skuflow/test-artifacts")) / "console"
# The machine's network is closed: no background connections, no first-run, no sandbox as root.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
FLAGS += ["--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """`skuflow up` with the example policy and an admin key: (base URL, key, its busiest SKU
    once b2b has published it)."""
    work = tmp_path_factory.mktemp("console")
    keys = work / "keys.json"
    key = skuflow("keys", "add", "--file", str(keys), "--name", "ops", "--scope", "admin").stdout.split()[-1]
    port = free_port()
    cmd = up_command(work / "state", port, 300, "--policy", "deploy/policy.example.yaml", "--api-keys", str(keys))
    cmd[cmd.index("--metrics-port") + 1] = str(free_port())  # the operations page reads the dataflow's metrics
    with open(work / "up.log", "w") as log:
        up = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz", 60)
            sku = _busiest(work / "up.log")
            wait_http(f"{base}/v1/channels/b2b/availability/{sku}", 60, {"Authorization": f"Bearer {key}"})
            yield base, key, sku
        finally:
            os.killpg(up.pid, 2)
            up.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = subprocess.run([str(CHROMIUM_SH)], capture_output=True, text=True, timeout=900)
    assert chromium.returncode == 0, chromium.stderr
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium.stdout.strip(), headless=True, args=FLAGS)
        yield b
        b.close()


def _busiest(log: Path) -> str:
    """The SKU `up` suggests trying (its simulator's busiest)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if found := re.search(r"/v1/availability/([^/\s]+)\s", log.read_text()):
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"skuflow up printed no SKU: {log.read_text()}")


def _wait_for_exception(base: str, key: str, reason: str) -> None:
    request = urllib.request.Request(f"{base}/v1/exceptions?reason={reason}&limit=1")
    request.add_header("Authorization", f"Bearer {key}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as r:
            if json.loads(r.read())["records"]:
                return
        time.sleep(0.5)
    raise AssertionError(f"no {reason} exception within 90 s")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_user_explains_a_figure_and_reads_the_exceptions(console: tuple[str, str, str], browser: Browser) -> None:
    base, key, sku = console
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/ui/")

    page.fill("#sku", sku)
    page.click("#search button")
    expect(page.get_by_role("alert")).to_contain_text("API key")  # behind the keys: nothing without one
    shot(page, "0-no-key")

    page.fill("#key", key)
    page.press("#key", "Tab")  # leaving the field changes the key (once: later blurs change nothing)
    expect(page.locator("#figures tbody tr")).to_have_count(6)  # 4 channels, 2 accounts of the example policy
    expect(page.locator("#locations tbody tr").last).to_contain_text("total")
    row = page.locator("#figures tbody tr", has_text="b2b").first
    shown = int(row.locator("td").nth(2).inner_text())
    row.locator("button.explain").click()
    terms = page.locator(".terms")
    expect(terms).to_be_visible()
    assert int(terms.get_attribute("data-figure") or -1) == shown
    assert re.search(rf"figure = {shown}\b", terms.inner_text())
    expect(terms.locator("table").first.locator("tbody tr")).not_to_have_count(0)  # the locations it saw
    expect(page.locator("section.history").first.locator("svg.spark polyline")).to_have_count(1)
    shot(page, "1-sku-explained")

    _wait_for_exception(base, key, "unauthorized_source")  # the simulator's marketplace miscounts, now and then
    page.click("text=Exceptions")
    rows = page.locator("#records tbody tr")
    expect(rows.first).to_be_visible(timeout=20_000)
    page.fill("input[name=reason]", "unauthorized_source")
    page.click("form.filters button")
    filtered = page.locator('#records[data-query="reason=unauthorized_source"] tbody tr')
    expect(filtered.first).to_contain_text("MARKETPLACE")
    assert set(page.locator("#records tbody tr td:nth-child(2)").all_inner_texts()) == {"unauthorized_source"}
    shot(page, "2-exceptions")

    page.click("text=Operations")
    expect(page.locator("#channels tbody tr")).to_have_count(4)
    expect(page.locator("#stale tbody tr")).not_to_have_count(0)
    expect(page.locator("#channels svg.spark polyline")).to_have_count(4)  # a second poll draws each channel's line
    assert "null" not in page.locator("main").inner_text()
    shot(page, "3-operations")
