"""The legacy client: in-process async HTTP, one JSONL line per logical request
in `client_N.log.txt` (the seed's format, extended with epoch-ns stamps), with
per-request retries and back-off. Cheap enough for CI and hundreds of clients.

A request succeeds only when it completed: non-streaming, HTTP 200 with
choices; streaming, HTTP 200, a finish_reason and the final `[DONE]`, and no
error event inside the stream (Dynamo reports a worker lost mid-stream as an
SSE error inside an HTTP 200).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path

import aiohttp

from runner.load.base import LoadSpec, Progress, digits_prompt
from runner.results.observe import iso_from_ns
from runner.results.records import LegacyAttempt, LegacyLine, Record, legacy_encoder, load_tree

MAX_BACKOFF_S = 5.0


class LegacyLoad:
    def __init__(self, spec: LoadSpec, out_dir: Path, phase: str = "load"):
        self.spec = spec
        self.out_dir = out_dir
        self.phase = phase
        self.progress = Progress()
        self._rng = random.Random(spec.seed)

    async def prepare(self) -> None:
        """Nothing to start ahead of time: the in-process client sends its first request in ms."""

    async def discard(self) -> None:
        """Nothing was started by prepare()."""

    def starting(self) -> bool:
        return False

    async def run(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        timeout = aiohttp.ClientTimeout(total=self.spec.request_timeout_s)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            clients = [self._client(i, session) for i in range(self.spec.clients)]
            try:
                await asyncio.wait_for(asyncio.gather(*clients), self.spec.max_duration_s)
            except TimeoutError:
                pass  # the bound on the phase; what was measured is on disk

    def records(self) -> list[Record]:
        return load_tree(self.out_dir, self.phase)

    async def _client(self, index: int, session: aiohttp.ClientSession) -> None:
        spec = self.spec
        interval = 1.0 / spec.request_rate_per_client
        path = self.out_dir / f"client_{index}.log.txt"
        with path.open("ab") as log:
            for n in range(spec.requests_per_client):
                began = time.monotonic()
                url = spec.endpoints[(index + n) % len(spec.endpoints)].rstrip("/") + "/v1/chat/completions"
                body = self._body()
                attempts: list[LegacyAttempt] = []
                for attempt in range(spec.max_attempts):
                    result = await self._attempt(session, url, body)
                    attempts.append(result)
                    self.progress.add(_to_record(result, f"client_{index}", attempt, self.phase))
                    if result.ok:
                        break
                    if attempt + 1 < spec.max_attempts:
                        await asyncio.sleep(min(spec.retry_backoff_s * 2**attempt, MAX_BACKOFF_S))
                done_ns = time.time_ns()
                line = LegacyLine(time=iso_from_ns(done_ns), results=attempts,
                                  total_time=round(time.monotonic() - began, 6), request_index=n)
                log.write(legacy_encoder.encode(line) + b"\n")
                log.flush()
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))

    def _body(self) -> dict:
        body = {
            "model": self.spec.model,
            "messages": [{"role": "user", "content": digits_prompt(self.spec.input_tokens, self._rng)}],
            "max_tokens": self.spec.output_tokens,
            "stream": self.spec.streaming,
        }
        if self.spec.streaming:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _attempt(self, session: aiohttp.ClientSession, url: str, body: dict) -> LegacyAttempt:
        request_id = str(uuid.uuid4())  # one per try: the join with the frontend's log is per attempt
        return await single_attempt(session, url, body, request_id, self.spec.streaming, self.spec.request_timeout_s)


async def single_attempt(session: aiohttp.ClientSession, url: str, body: dict, request_id: str, streaming: bool,
                         timeout_s: float) -> LegacyAttempt:
    """One POST with its own X-Request-Id; every outcome (status, stream error, timeout, connection) recorded."""
    start_ns = time.time_ns()
    began = time.perf_counter()
    status: int | str | None = None
    outcome = _Outcome()
    try:
        async with session.post(url, json=body, headers={"X-Request-Id": request_id}) as resp:
            status = resp.status
            if resp.status != 200:
                text = await resp.text()
                outcome.error = f"HTTP {resp.status}: {text[:160] or '(empty body)'}"
            elif streaming:
                await _read_stream(resp, began, outcome)
            else:
                _read_json(await resp.text(), outcome)
    except TimeoutError:
        outcome.error = f"timeout after {timeout_s:g} s"
        status = status or "timeout"
    except aiohttp.ClientError as exc:
        outcome.error = f"{type(exc).__name__}: {str(exc)[:160]}"
        status = status or type(exc).__name__
    elapsed = time.perf_counter() - began
    return LegacyAttempt(
        status=status,
        request_elapsed_time=round(elapsed, 6),
        url=url,
        pod="",
        start_ns=start_ns,
        end_ns=start_ns + int(elapsed * 1e9),
        ok=outcome.error is None,
        error=outcome.error,
        ttft_ms=outcome.ttft_ms,
        itl_ms=outcome.itl_ms,
        output_tokens=outcome.output_tokens,
        request_id=request_id,
    )


class _Outcome:
    def __init__(self):
        self.error: str | None = None
        self.ttft_ms: float | None = None
        self.itl_ms: float | None = None
        self.output_tokens: int | None = None


def _read_json(text: str, outcome: _Outcome) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        outcome.error = f"HTTP 200 with a body that is not JSON: {text[:80]!r}"
        return
    if not data.get("choices"):
        outcome.error = f"HTTP 200 without choices: {text[:120]}"
        return
    outcome.output_tokens = (data.get("usage") or {}).get("completion_tokens")


async def _read_stream(resp: aiohttp.ClientResponse, began: float, outcome: _Outcome) -> None:
    chunk_times: list[float] = []
    finished = done = False
    event = ""
    async for raw in resp.content:
        line = raw.strip()
        if not line:
            event = ""
            continue
        if line.startswith(b"event:"):
            event = line[6:].strip().decode()
            continue
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            break
        try:
            obj = json.loads(payload)
        except json.JSONDecodeError:
            outcome.error = f"unparseable SSE data: {payload[:80]!r}"
            return
        if event == "error" or "error" in obj:
            err = obj.get("error", obj)
            outcome.error = f"SSE error in HTTP 200: {json.dumps(err)[:160]}"
            return
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("reasoning_content"):
                chunk_times.append(time.perf_counter())
            if choice.get("finish_reason"):
                finished = True
        if obj.get("usage"):
            outcome.output_tokens = obj["usage"].get("completion_tokens")
    if chunk_times:
        outcome.ttft_ms = round((chunk_times[0] - began) * 1000, 3)
        if len(chunk_times) > 1:
            outcome.itl_ms = round((chunk_times[-1] - chunk_times[0]) * 1000 / (len(chunk_times) - 1), 3)
    if not done:
        outcome.error = "stream ended without [DONE]"
    elif not finished:
        outcome.error = "stream ended without a finish_reason"


def _to_record(a: LegacyAttempt, client: str, attempt: int, phase: str) -> Record:
    return Record(start_ns=a.start_ns, end_ns=a.end_ns, ok=a.ok, client=client, attempt=attempt,
                  status=a.status if isinstance(a.status, int) else None, error=a.error,
                  latency_ms=a.request_elapsed_time * 1000, ttft_ms=a.ttft_ms, itl_ms=a.itl_ms,
                  output_tokens=a.output_tokens, phase=phase, request_id=a.request_id)
