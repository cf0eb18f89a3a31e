"""The web view in a real browser: headless Chromium loads the page of a real node.

Run by ``make e2e`` (which installs Debian's chromium when it is missing), not by
``make test``: these tests carry the ``e2e`` marker, which the default options
deselect. They start the shop's front node with ``--http``, crash its cart, start
the payments node, and assert on the DOM after the page's JavaScript ran: the tree's
actors, the crash showing as a restart and as a crash report, the second node as a
member. The screenshot goes to docs/web-view.png, which the README shows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors import ActorCrashedError
from runtime import ActorSystem
from samples.shop.cluster import free_port
from samples.shop.messages import Crash

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "web-view.png"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("the e2e tests need Chromium: run `make e2e` (it installs Debian's "
                    "chromium as root), or `apt-get install -y chromium`")
    return found


class Node:
    def __init__(self, name: str, cookie: Path, *extra: str) -> None:
        self.port = free_port()
        self.address = f"{name}@127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "node", "--name", name, "--listen",
             f"127.0.0.1:{self.port}", "--cookie-file", str(cookie), "--app",
             f"samples.shop.apps:{name}", "--shutdown-timeout", "3", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, cwd=REPO,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.rstrip().endswith(" ready"):
                return
        raise AssertionError(f"node {name} exited before it was ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "api/state", timeout=5) as response:
        loaded: dict[str, Any] = json.load(response)
        return loaded


def wait_until(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(0.2)  # polling another process's state, with a deadline


def crash_the_cart(cookie: str, front: str) -> None:
    async def crash() -> None:
        async with ActorSystem("e2e-driver", listen="127.0.0.1:0", cookie=cookie,
                               shutdown_timeout=2.0) as system:
            await system.cluster.join(front)
            cart = await system.lookup("cart", node=front)
            assert cart is not None
            # An ask, not a tell: its answer (the crash) says the cart has handled it.
            with pytest.raises(ActorCrashedError, match="the e2e test crashed the cart"):
                await cart.ask(Crash("the e2e test crashed the cart"), timeout=10.0)

    anyio.run(crash)


class Elements(HTMLParser):
    """Every element's attributes, by tag and class."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and css_class in a.get("class", "").split()]


def browse(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="repertory-chromium-") as profile:
        result = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=90,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, Node, Node]]:
    with tempfile.TemporaryDirectory(prefix="repertory-e2e-") as folder:
        cookie = Path(folder) / "cookie"
        cookie.write_text("e2e-secret")
        http = free_port()
        front = Node("front", cookie, "--http", f"127.0.0.1:{http}")
        nodes = [front]
        try:
            url = f"http://127.0.0.1:{http}/"
            crash_the_cart("e2e-secret", front.address)

            def cart_restarted() -> bool:
                actors = state(url)["nodes"][0]["actors"]
                return any(a["name"] == "cart" and a["restarts"] >= 1 for a in actors)

            wait_until("the cart restarted", cart_restarted)
            payments = Node("payments", cookie, "--seed", front.address)
            nodes.append(payments)
            wait_until("payments is a member", lambda: any(
                m["node"] == payments.address and m["status"] == "up"
                for m in state(url)["members"]))
            yield url, front, payments
        finally:
            for node in nodes:
                node.stop()


def test_the_page_shows_trees_restarts_crashes_and_members(
    cluster: tuple[str, Node, Node],
) -> None:
    url, front, payments = cluster
    page = Elements()
    page.feed(browse(url, "--virtual-time-budget=4000", "--dump-dom"))
    actors = {a["data-name"]: a for a in page.having("li", "actor")}
    for name in ("shop", "front", "cart", "orders", "payments", "card", "points"):
        assert name in actors, sorted(actors)
    assert int(actors["cart"]["data-restarts"]) >= 1, actors["cart"]
    assert actors["cart"]["data-address"] == f"{front.address}/cart"
    assert actors["points"]["data-address"] == f"{payments.address}/points"
    assert actors["cart"]["data-status"] == "running"
    members = {m["data-node"]: m["data-status"] for m in page.having("tr", "member")}
    assert members[front.address] == "self"
    assert members[payments.address] == "up"
    crashes = page.having("div", "crash")
    assert any(c["data-address"] == f"{front.address}/cart" and c["data-decision"] == "restart"
               for c in crashes), crashes


def test_a_screenshot_of_the_page(cluster: tuple[str, Node, Node]) -> None:
    url, _, _ = cluster
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    browse(url, "--virtual-time-budget=4000", "--hide-scrollbars", "--window-size=1280,900",
           f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 20_000  # a rendered page, not a blank one
