"""What the orchestrator sees of a load generator while it runs."""

from __future__ import annotations

import asyncio
import bisect
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from runner.results.analysis import longest_run_of_successes
from runner.results.records import Record


@dataclass
class LoadSpec:
    """One load phase: who sends what, how much, and where the export goes."""

    endpoints: list[str]
    model: str
    tokenizer: str
    clients: int
    requests_per_client: int
    input_tokens: int
    output_tokens: int
    request_rate_per_client: float
    streaming: bool
    max_attempts: int
    retry_backoff_s: float
    request_timeout_s: float
    max_duration_s: float
    seed: int = 0
    aiperf_mode: str = "pooled"


@dataclass
class Progress:
    """Live counts and the first success, fed by the generator as records arrive."""

    ok: int = 0
    failed: int = 0
    first_success_ns: int | None = None
    first_success: asyncio.Event = field(default_factory=asyncio.Event)
    outcomes: list[tuple[int, bool]] = field(default_factory=list)  # (start_ns, ok) of every record, by start

    def add(self, record: Record) -> None:
        bisect.insort(self.outcomes, (record.start_ns, record.ok))
        if record.ok:
            self.ok += 1
            if self.first_success_ns is None or record.end_ns < self.first_success_ns:
                self.first_success_ns = record.end_ns
            self.first_success.set()
        else:
            self.failed += 1

    def successes_in_a_row(self, since_ns: int) -> int:
        """The longest run of successes, in sending order, among the attempts sent since `since_ns`
        (records arrive late: a wait on it is a live view, the analysis has the final word)."""
        since = self.outcomes[bisect.bisect_left(self.outcomes, (since_ns, False)):]
        return longest_run_of_successes(np.array([ok for _, ok in since], dtype=bool)) if since else 0


class Load(Protocol):
    """A load generator: prepare() may start it ahead (held before its first request), run() sends
    the load, discard() stops what prepare() started when run() will not come and waits for what run()
    left exiting (it returns once every record is in), records() reads it back."""

    spec: LoadSpec
    out_dir: Path
    progress: Progress

    async def prepare(self) -> None: ...

    async def run(self) -> None: ...

    async def discard(self) -> None: ...

    def starting(self) -> bool:
        """A generator process is still starting up (busy on a core; the next scenario's should wait)."""

    def records(self) -> list[Record]: ...


def digits_prompt(tokens: int, rng: random.Random) -> str:
    """A prompt of about `tokens` tokens: random digits separated by spaces (one token each in BPE vocabularies)."""
    return " ".join(rng.choice("0123456789") for _ in range(tokens))


def default_max_duration(requests_per_client: int, request_rate_per_client: float, request_timeout_s: float,
                         max_attempts: int) -> float:
    """A generous but finite bound on one load phase: every try of every request at the rate, plus slack."""
    return requests_per_client * max_attempts / request_rate_per_client + request_timeout_s + 120.0
