"""Load-shaped faults against one frontend's HTTP port (both platforms): the overload ramp and the cancel
storm, plus the frontend's in-flight gauge. Every loop is bounded in count and time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

from runner.results.analysis import error_class
from runner.results.records import Record

INFLIGHT_METRIC = "dynamo_frontend_inflight_requests"
DRAIN_POLL_S = 0.05
OPEN_TIMEOUT_S = 30.0
FRESH_TIMEOUT_S = 10.0


def _body(model: str, output_tokens: int, stream: bool = True) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "ramp " * 40}], "max_tokens": output_tokens,
            "stream": stream}


async def _streamed(resp: aiohttp.ClientResponse) -> str | None:
    """None when the stream completed ([DONE], no error event); else what went wrong."""
    async for raw in resp.content:
        line = raw.strip()
        if line == b"data: [DONE]":
            return None
        if line.startswith(b"data:") and b'"error"' in line:
            return f"SSE error in HTTP 200: {line[5:].strip()[:120].decode(errors='replace')}"
    return "stream ended without [DONE]"


async def one_request(session: aiohttp.ClientSession, url: str, body: dict, timeout_s: float) -> Record:
    start = time.time_ns()
    status, error = None, None
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, json=body, headers={"X-Request-Id": str(uuid.uuid4())}) as resp:
                status = resp.status
                if resp.status != 200:
                    error = f"HTTP {resp.status}: {(await resp.text())[:120]}"
                elif body.get("stream"):
                    error = await _streamed(resp)
                else:
                    await resp.read()
    except TimeoutError:
        error = f"timeout after {timeout_s:g} s"
    except aiohttp.ClientError as exc:
        error = f"{type(exc).__name__}: {str(exc)[:120]}"
    return Record(start_ns=start, end_ns=time.time_ns(), ok=error is None, status=status, error=error, phase="ramp")


def step_counts(rate: float, records: list[Record]) -> dict:
    classes = Counter(error_class(r) or "ok" for r in records)
    return {"rate_per_s": rate, "sent": len(records), **dict(sorted(classes.items()))}


async def _step(session, url: str, body: dict, rate: float, seconds: float, budget: int, timeout_s: float) -> list:
    """Open loop: one request every 1/rate s for `seconds` (at most `budget`); the tasks, not awaited."""
    tasks, began = [], time.monotonic()
    while time.monotonic() - began < seconds and len(tasks) < budget:
        tasks.append(asyncio.create_task(one_request(session, url, body, timeout_s)))
        await asyncio.sleep(max(0.0, began + len(tasks) / rate - time.monotonic()))
    return tasks


def _shed(counts: dict) -> int:
    return counts.get("overloaded_529", 0) + counts.get("unavailable_503", 0)


async def ramp(base_url: str, model: str, cfg, out: Path) -> dict:
    """Rates start_rate, start_rate*growth, ... until a step sheds load (529/503), that rate held for hold_s,
    then back to nothing; the requests' records go to `out` (JSONL)."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    body, rate, steps, first_shed = _body(model, cfg.output_tokens), cfg.start_rate_per_s, [], None
    started, budget, records = time.time_ns(), cfg.max_requests, []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        while budget > 0:
            seconds = cfg.hold_s if first_shed is not None else cfg.step_s
            done = await asyncio.gather(*await _step(session, url, body, rate, seconds, budget, cfg.request_timeout_s))
            budget -= len(done)
            records += done
            steps.append({**step_counts(rate, done), "held": first_shed is not None})
            if first_shed is not None or rate >= cfg.max_rate_per_s:
                break
            if _shed(steps[-1]):
                first_shed = rate
            else:
                rate = min(rate * cfg.growth, cfg.max_rate_per_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        fh.writelines(json.dumps({f: getattr(r, f) for f in ("start_ns", "end_ns", "ok", "status", "error")}) + "\n"
                      for r in records)
    return {"injected_ns": started, "ended_ns": time.time_ns(), "steps": steps, "first_shed_rate_per_s": first_shed,
            "records": str(out)}


async def _open_stream(session, url: str, body: dict, chunks: int) -> tuple[aiohttp.ClientResponse | None, int]:
    resp = await session.post(url, json=body, headers={"X-Request-Id": str(uuid.uuid4())})
    if resp.status != 200:
        resp.close()
        return None, 0
    seen = 0
    async for raw in resp.content:
        if raw.startswith(b"data:") and b"[DONE]" not in raw:
            seen += 1
        if seen >= chunks:
            break
    return resp, seen


async def cancel_storm(base_url: str, metrics_url: str, model: str, cfg) -> dict:
    """Open `streams` streaming requests, wait until each has read `cancel_after_chunks` chunks, then close
    them all at once (the client's cancel: the TCP connection goes away mid-stream)."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    body = _body(model, cfg.output_tokens)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        began = time.monotonic()
        opened = await asyncio.wait_for(asyncio.gather(
            *(_open_stream(session, url, body, cfg.cancel_after_chunks) for _ in range(cfg.streams)),
            return_exceptions=True), OPEN_TIMEOUT_S)
        live = [(r, n) for r, n in (o for o in opened if isinstance(o, tuple)) if r is not None]
        mid_stream = sum(1 for _, n in live if n >= cfg.cancel_after_chunks)
        inflight_before = await frontend_inflight(metrics_url)
        stamp = time.time_ns()
        for resp, _ in live:
            resp.close()
    return {"injected_ns": stamp, "requested": cfg.streams, "opened": len(live), "mid_stream": mid_stream,
            "cancelled": len(live), "inflight_before": inflight_before,
            "opening_s": round(time.monotonic() - began, 3)}


def inflight_value(text: str) -> float | None:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(INFLIGHT_METRIC) and " " in line]
    return sum(values) if values else None


async def frontend_inflight(metrics_url: str) -> float | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(metrics_url) as resp:
                return inflight_value(await resp.text()) if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None


async def drained(base_url: str, metrics_url: str, model: str, timeout_s: float) -> dict:
    """Until the frontend reports 0 requests in flight (bounded), then one fresh streaming request."""
    deadline, readings, zero_ns = time.monotonic() + timeout_s, [], None
    while time.monotonic() < deadline:
        value = await frontend_inflight(metrics_url)
        readings.append(value)
        if value == 0:
            zero_ns = time.time_ns()
            break
        await asyncio.sleep(DRAIN_POLL_S)
    async with aiohttp.ClientSession() as session:
        fresh = await one_request(session, base_url.rstrip("/") + "/v1/chat/completions", _body(model, 5),
                                  FRESH_TIMEOUT_S)
    return {"drained_ns": zero_ns, "inflight_last": readings[-1] if readings else None, "readings": len(readings),
            "fresh_ok": fresh.ok, "fresh_error": fresh.error, "fresh_ns": fresh.end_ns}
