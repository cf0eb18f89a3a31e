"""The web view and /metrics, served by a running system on asyncio and trio."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

import runtime.web
from actors import Actor
from actors.errors import AskTimeoutError
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Supervisor

pytestmark = pytest.mark.anyio


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("asked to crash")
        return message


class Slow(Actor[Any]):
    def receive(self, message: Any) -> None:
        self.context.reply_later()  # keeps the ask unanswered


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    def fetch() -> tuple[int, str]:
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    return await anyio.to_thread.run_sync(fetch)


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples
            if not s.name.endswith("_created")}


async def test_metrics_parse_and_count_what_happened(anyio_backend: str) -> None:
    tree = Supervisor("app", children=[Child(Echo, name="echo")])
    async with ActorSystem("metrics", data_dir=None) as system:
        system.spawn(tree)
        slow = system.spawn(Slow, name="slow")
        url = await runtime.web.serve(system, "127.0.0.1:0")
        echo = system.registry.whereis("echo")
        assert echo is not None
        for i in range(5):
            assert await echo.ask(i, timeout=2.0) == i
        echo.tell("crash")
        assert await echo.ask("back", timeout=2.0) == "back"
        with pytest.raises(AskTimeoutError):
            await slow.ask("anything", timeout=0.05)
        gone = system.spawn(Echo)
        probe = TestProbe(system)
        probe.watch(gone)
        system.stop(gone)
        await probe.expect_terminated(gone, timeout=2.0)
        gone.tell("to nobody")
        status, text = await get(url + "metrics")
    assert status == 200
    found = families(text)
    actors = samples(found["repertory_actors"])
    assert actors[(("actor_class", "Echo"), ("status", "running"))] == 1
    assert actors[(("actor_class", "SupervisorActor"), ("status", "running"))] == 1
    handled = samples(found["repertory_messages_handled"])
    assert handled[(("actor_class", "Echo"),)] == 7  # 5 asks, the crash, "back"
    assert samples(found["repertory_restarts"])[(("actor_class", "Echo"),)] == 1
    assert samples(found["repertory_actor_failures"])[(("actor_class", "Echo"),)] == 1
    assert samples(found["repertory_asks_timed_out"])[()] == 1
    assert samples(found["repertory_crashes"])[()] == 1
    assert samples(found["repertory_dead_letters"])[(("reason", "stopped"),)] == 1
    assert samples(found["repertory_mailbox_depth_max"])[(("actor_class", "Echo"),)] == 0
    assert samples(found["repertory_mailbox_messages"])[(("actor_class", "Echo"),)] == 0
    assert samples(found["repertory_cluster_members"])[()] == 1
    for name in ("repertory_link_phi", "repertory_link_bytes_sent", "repertory_stream_lag",
                 "process_cpu_seconds"):
        assert name in found, name


async def test_stream_lag_per_group(anyio_backend: str, tmp_path: Any) -> None:
    async with ActorSystem("lag", data_dir=str(tmp_path)) as system:
        url = await runtime.web.serve(system, "127.0.0.1:0")
        orders = system.streams.stream("orders")
        for i in range(7):
            orders.append(i)
        probe = TestProbe(system)
        subscription = orders.subscribe(probe.ref, group="billing", start="earliest")
        first = await probe.expect(object, timeout=2.0)
        subscription.commit(first.offset + 2)
        _, text = await get(url + "metrics")
        _, state = await get(url + "api/state")
    lag = samples(families(text)["repertory_stream_lag"])
    assert lag[(("group", "billing"), ("stream", "orders"))] == 4
    assert samples(families(text)["repertory_stream_entries"])[(("stream", "orders"),)] == 7
    assert {"stream": "orders", "group": "billing", "entries": 7, "lag": 4} in (
        json.loads(state)["streams"])


async def test_the_page_and_its_state(anyio_backend: str) -> None:
    tree = Supervisor("app", children=[Child(Echo, name="echo")])
    async with ActorSystem("page", listen="127.0.0.1:0", cookie="c") as system:
        system.spawn(tree)
        url = await runtime.web.serve(system, "127.0.0.1:0")
        echo = system.registry.whereis("echo")
        assert echo is not None
        echo.tell("crash")
        assert await echo.ask("back", timeout=2.0) == "back"
        status, page = await get(url)
        _, body = await get(url + "api/state")
    assert status == 200 and "<title>Repertory</title>" in page
    assert "http://" not in page.replace("http://www.w3.org", ""), "nothing fetched from outside"
    state = json.loads(body)
    assert state["node"] == system.address
    (tree_of_node,) = state["nodes"]
    by_name = {actor["name"]: actor for actor in tree_of_node["actors"]}
    assert by_name["echo"]["restarts"] == 1 and by_name["echo"]["parent"] == by_name["app"][
        "address"]
    (crash,) = state["crashes"]["recent"]
    assert (crash["address"], crash["decision"], crash["message_type"]) == (
        by_name["echo"]["address"], "restart", "str")
    assert "RuntimeError: asked to crash" in crash["traceback"]
    assert state["members"] == [{**state["members"][0], "node": system.address, "status": "self"}]


async def test_a_token_is_required_when_given(anyio_backend: str) -> None:
    async with ActorSystem("token") as system:
        with pytest.raises(ValueError, match="give token="):
            await runtime.web.serve(system, "0.0.0.0:0")
        url = await runtime.web.serve(system, "127.0.0.1:0", token="s3cret")
        denied, text = await get(url + "metrics")
        wrong, _ = await get(url + "metrics?token=guess")
        by_query, _ = await get(url + "api/state?token=s3cret")
        by_header, _ = await get(url + "metrics", {"Authorization": "Bearer s3cret"})
    assert (denied, wrong, by_query, by_header) == (401, 401, 200, 200)
    assert "needs its token" in text


async def test_the_server_stops_with_the_system(anyio_backend: str) -> None:
    async with ActorSystem("stops") as system:
        url = await runtime.web.serve(system, "127.0.0.1:0")
        assert (await get(url + "healthz"))[0] == 200
    with pytest.raises(urllib.error.URLError):
        await get(url + "healthz")


async def test_a_port_in_use_fails_at_serve(anyio_backend: str) -> None:
    async with ActorSystem("busy") as system:
        url = await runtime.web.serve(system, "127.0.0.1:0")
        port = url.rstrip("/").rsplit(":", 1)[1]
        with pytest.raises(OSError, match="in use"):
            await runtime.web.serve(system, f"127.0.0.1:{port}")


async def test_members_and_links_of_a_cluster(anyio_backend: str) -> None:
    async with ActorSystem("a", listen="127.0.0.1:0", cookie="c") as a, \
            ActorSystem("b", listen="127.0.0.1:0", cookie="c") as b:
        b.spawn(Echo, name="far")
        await a.cluster.join(b.address)
        url = await runtime.web.serve(a, "127.0.0.1:0")
        far = await a.lookup("far", node=b.address)
        assert far is not None and await far.ask("hi", timeout=2.0) == "hi"
        _, text = await get(url + "metrics")
        _, body = await get(url + "api/state")
    found = families(text)
    peer = (("peer", b.address),)
    assert samples(found["repertory_link_up"])[peer] == 1
    assert 0 <= samples(found["repertory_link_phi"])[peer] < 8
    for name in ("repertory_link_bytes_sent", "repertory_link_bytes_received",
                 "repertory_link_frames_sent", "repertory_link_frames_received"):
        assert samples(found[name])[peer] > 0, name
    state = json.loads(body)
    assert [m["node"] for m in state["members"]] == [a.address, b.address]
    remote = next(node for node in state["nodes"] if node["node"] == b.address)
    assert remote["error"] is None and [x["name"] for x in remote["actors"]] == ["far"]
