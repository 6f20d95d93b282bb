"""The legacy client against a real HTTP server on 127.0.0.1 that answers like Dynamo does."""

import asyncio
import json

import pytest
from aiohttp import web

from runner.load.base import LoadSpec
from runner.load.legacy import LegacyLoad
from runner.results.records import load_tree


def _chunk(content=None, finish=None):
    delta = {"content": content} if content else {}
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"


async def _sse(request, parts):
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for part in parts:
        await resp.write(part.encode())
    await resp.write_eof()
    return resp


def make_app(script):
    """script: list of behaviours consumed one per request."""
    calls = []

    async def handler(request):
        body = await request.json()
        calls.append(body)
        kind = script[min(len(calls) - 1, len(script) - 1)]
        if kind == "ok-stream":
            return await _sse(request, [_chunk("a"), _chunk("b"), _chunk(finish="length"), "data: [DONE]\n\n"])
        if kind == "sse-error":
            err = {"error": {"message": "Service temporarily unavailable", "code": 503}}
            return await _sse(request, [_chunk("a"), "data: " + json.dumps(err) + "\n\n", "data: [DONE]\n\n"])
        if kind == "cut":
            return await _sse(request, [_chunk("a")])
        if kind == "503":
            return web.json_response({"message": "Service temporarily unavailable"}, status=503)
        if kind == "ok-json":
            return web.json_response({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": 3}})
        raise AssertionError(kind)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    return app, calls


async def _run(script, tmp_path, streaming=True, attempts=3, requests=1):
    app, calls = make_app(script)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    spec = LoadSpec(endpoints=[f"http://127.0.0.1:{port}"], model="m", tokenizer="", clients=1,
                    requests_per_client=requests, input_tokens=5, output_tokens=3, request_rate_per_client=1000,
                    streaming=streaming, max_attempts=attempts, retry_backoff_s=0.0, request_timeout_s=5,
                    max_duration_s=30)
    load = LegacyLoad(spec, tmp_path)
    try:
        await load.run()
    finally:
        await runner.cleanup()
    return load, calls


def test_completed_stream_is_a_success_with_ttft(tmp_path):
    load, calls = asyncio.run(_run(["ok-stream"], tmp_path))
    (rec,) = load.records()
    assert rec.ok and rec.ttft_ms is not None and rec.itl_ms is not None
    assert calls[0]["max_tokens"] == 3 and calls[0]["stream"] is True
    line = json.loads((tmp_path / "client_0.log.txt").read_text())
    assert line["results"][0]["status"] == 200 and "request_elapsed_time" in line["results"][0]


@pytest.mark.parametrize("failure,expected", [
    ("sse-error", "SSE error in HTTP 200"),
    ("cut", "without [DONE]"),
    ("503", "HTTP 503"),
])
def test_failures_then_retry_count_every_attempt(tmp_path, failure, expected):
    load, _ = asyncio.run(_run([failure, "ok-stream"], tmp_path))
    recs = load.records()
    assert [r.ok for r in recs] == [False, True], "the failed attempt must stay visible beside the retry"
    assert expected in recs[0].error
    assert load.progress.ok == 1 and load.progress.failed == 1
    assert len(load_tree(tmp_path)) == 2


def test_attempts_are_bounded(tmp_path):
    load, calls = asyncio.run(_run(["503"], tmp_path, attempts=2, requests=2))
    assert len(calls) == 4 and all(not r.ok for r in load.records())


def test_non_streaming_success_needs_choices(tmp_path):
    load, _ = asyncio.run(_run(["ok-json"], tmp_path, streaming=False))
    (rec,) = load.records()
    assert rec.ok and rec.output_tokens == 3
