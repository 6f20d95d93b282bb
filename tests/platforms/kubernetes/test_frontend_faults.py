"""runner.platforms.kubernetes.frontend_faults: which pod and address a frontend fault hits, and the three
primitives end to end through the workstation path (a port-forward pinned to the pod) against a small HTTP
frontend that sheds above 3 requests in flight and reports its in-flight gauge."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from aiohttp import web

from runner.core.config import RunConfig
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes.decide import COMPONENT_LABEL
from runner.platforms.kubernetes.frontend_faults import (
    PORT_FORWARD,
    FrontendFaults,
    disconnects,
    frontend_role_check,
    metric_sum,
    pod_ip_url,
)
from runner.results.observe import EventLog
from runner.scenarios.plan import plan

ROLES = {"Frontend": "frontend", "decode": "decode"}
MAX_INFLIGHT, CHUNKS, CHUNK_S = 3, 10, 0.05


def pod(name: str, component: str, ip: str | None = "10.1.2.3") -> dict:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "labels": {COMPONENT_LABEL: component}},
            "status": {"phase": "Running", **({"podIP": ip} if ip else {})}}


def test_the_pod_is_hit_on_its_own_ip_on_the_operators_frontend_port():
    assert pod_ip_url(pod("f", "Frontend")) == "http://10.1.2.3:8000"
    assert pod_ip_url(pod("f", "Frontend", "fd00::5")) == "http://[fd00::5]:8000"


def test_a_pod_without_an_ip_cannot_be_hit_and_says_its_phase():
    with pytest.raises(PlatformError, match="f has no pod IP \\(phase Running\\)"):
        pod_ip_url(pod("f", "Frontend", ip=None))


def test_only_a_live_frontend_pod_of_the_graph_is_a_target():
    fe = pod("f", "Frontend")
    assert frontend_role_check(fe, "f", ROLES, "g") is fe
    with pytest.raises(PlatformError, match="w is not a frontend pod of g"):
        frontend_role_check(pod("w", "decode"), "w", ROLES, "g")
    with pytest.raises(PlatformError, match="gone is not a live pod of g"):
        frontend_role_check(None, "gone", ROLES, "g")


class Frontend:
    """An OpenAI-shaped streaming endpoint that answers 529 above MAX_INFLIGHT and exposes the gauge."""

    def __init__(self):
        self.inflight, self.shed, self.cancelled, self.served = 0, 0, 0, 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self.inflight >= MAX_INFLIGHT:
            self.shed += 1
            return web.json_response({"message": "busy", "code": 529}, status=529)
        self.inflight += 1
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for i in range(min(CHUNKS, body["max_tokens"])):
                await resp.write(f"data: {json.dumps({'choices': [{'delta': {'content': str(i)}}]})}\n\n".encode())
                await asyncio.sleep(CHUNK_S)
            await resp.write(b"data: [DONE]\n\n")
            self.served += 1
            return resp
        except (ConnectionResetError, asyncio.CancelledError):
            self.cancelled += 1
            raise
        finally:
            self.inflight -= 1

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=f'dynamo_frontend_inflight_requests{{model="tiny-llm"}} {self.inflight}\n'
                                 f"dynamo_frontend_disconnected_clients {self.cancelled}\n")


class Forward:
    """What KubeApi.port_forward returns (a PodStream), here over a plain TCP connection to the local frontend."""

    def __init__(self, port: int, log: list):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.error = ""
        log.append(self)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the forwarder's recv, as PodStream.close does
        except OSError:
            pass
        self.sock.close()


class Api:
    def __init__(self, port: int):
        self.port, self.forwards, self.pods = port, [], []

    def port_forward(self, pod: str, port: int) -> Forward:
        self.pods.append((pod, port))
        return Forward(self.port, self.forwards)


class Host(FrontendFaults):
    def __init__(self, api: Api, scenario, tmp_path):
        self.api, self.scenario, self.tree, self.name = api, scenario, tmp_path, "g"
        self.component_roles = ROLES
        self.events = EventLog(tmp_path / "events.jsonl")
        self._disconnected_before = {}
        self.live = {"frontend-0": pod("frontend-0", "Frontend"), "decode-0": pod("decode-0", "decode")}

    def use_pod_ip(self) -> bool:
        return False  # a workstation: through the port-forward

    def _pod(self, name: str) -> dict | None:
        return self.live.get(name)


def scenario(name: str):
    return plan(name, RunConfig(platform="kubernetes", fault={
        "overload": {"start_rate_per_s": 4, "growth": 2, "step_s": 0.5, "hold_s": 0.5, "max_rate_per_s": 32,
                     "output_tokens": 10, "max_requests": 200, "request_timeout_s": 5},
        "cancel_storm": {"streams": 3, "cancel_after_chunks": 2, "output_tokens": 10, "drain_timeout_s": 5}}))


async def serve(frontend: Frontend) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(frontend.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def test_overload_ramps_through_a_port_forward_to_that_pod_until_it_sheds(tmp_path):
    async def go():
        frontend = Frontend()
        runner, port = await serve(frontend)
        try:
            api = Api(port)
            (stamp,) = await Host(api, scenario("mocker-agg-tp-1-dp-1-overload"), tmp_path).overload(["frontend-0"])
            return frontend, api, stamp
        finally:
            await runner.cleanup()

    frontend, api, stamp = asyncio.run(go())
    assert stamp["target"] == "frontend-0" and stamp["access"] == PORT_FORWARD
    assert {p for p in api.pods} == {("frontend-0", 8000)}  # every connection forwarded to that pod's port
    shed = sum(s.get("overloaded_529", 0) for s in stamp["steps"])
    assert shed == frontend.shed > 0  # each 529 the frontend sent was seen and counted as shedding
    assert stamp["first_shed_rate_per_s"] in (8, 16) and stamp["steps"][-1]["held"]
    assert not any(s.get("timeout") or s.get("connection") for s in stamp["steps"])
    assert sum(s.get("ok", 0) for s in stamp["steps"]) == frontend.served
    lines = (tmp_path / "overload" / "frontend-0.jsonl").read_text().splitlines()
    assert len(lines) == sum(s["sent"] for s in stamp["steps"])
    assert [e["reason"] for e in map(json.loads, (tmp_path / "events.jsonl").read_text().splitlines())] == [
        "OverloadRamp", "OverloadEnded"]


def test_cancel_storm_cuts_the_streams_mid_way_and_the_drain_sees_zero_in_flight(tmp_path):
    async def go():
        frontend = Frontend()
        runner, port = await serve(frontend)
        try:
            host = Host(Api(port), scenario("mocker-agg-tp-1-dp-1-cancel_storm"), tmp_path)
            (stamp,) = await host.cancel_storm(["frontend-0"])
            (drain,) = await host.drained(["frontend-0"], 5)
            return frontend, stamp, drain
        finally:
            await runner.cleanup()

    frontend, stamp, drain = asyncio.run(go())
    assert (stamp["opened"], stamp["mid_stream"], stamp["cancelled"]) == (3, 3, 3)
    assert stamp["inflight_before"] == 3  # read through the same forward, from the same pod
    assert frontend.cancelled == 3  # the cancels reached the frontend: each stream was cut there
    assert drain["disconnected_clients"] == 3  # and its own count says so, read through the same forward
    assert drain["drained_ns"] and drain["drained_ns"] >= stamp["injected_ns"]
    assert drain["fresh_ok"] and frontend.served == 1  # the fresh request, the only one served whole
    assert frontend.inflight == 0


def test_a_worker_pod_is_refused_before_any_request(tmp_path):
    api = Api(1)
    host = Host(api, scenario("mocker-agg-tp-1-dp-1-cancel_storm"), tmp_path)
    with pytest.raises(PlatformError, match="decode-0 is not a frontend pod of g"):
        asyncio.run(host.cancel_storm(["decode-0"]))
    assert api.pods == []


def test_metric_sums_over_label_sets_and_ignores_other_families():
    text = ("# TYPE dynamo_frontend_disconnected_clients gauge\n"
            'dynamo_frontend_disconnected_clients{model="a"} 3\n'
            "dynamo_frontend_disconnected_clients 2\n"
            "dynamo_frontend_disconnected_clients_other 100\n")
    assert metric_sum(text, "dynamo_frontend_disconnected_clients") == 5
    assert metric_sum(text, "dynamo_frontend_inflight_requests") is None


def test_disconnects_are_the_counts_difference_or_unknown():
    assert disconnects(4.0, 36.0) == {"disconnected_clients": 32}
    assert disconnects(None, 36.0) == {"disconnected_clients": None}
