"""Progress on long work: phase lines with timestamps, and a live request counter.

On a terminal the counter is a live line; elsewhere (CI, a pod's log) a plain
line every few seconds, so logs stay readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from rich.console import Console


class ProgressUI:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self.interactive = self.console.is_terminal
        self._scenario = ""

    def scenario(self, name: str, index: int, total: int) -> None:
        self._scenario = name
        self.console.rule(f"[bold]{name}[/] ({index}/{total})")

    def phase(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        self.console.print(f"[dim]{stamp}Z[/] {text}")

    @contextlib.asynccontextmanager
    async def counting(self, label: str, progress, total: int):
        """Show `ok / failed of total` while the body runs."""
        task = asyncio.create_task(self._count_loop(label, progress, total))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.phase(f"{label}: {progress.ok} succeeded, {progress.failed} failed")

    async def _count_loop(self, label: str, progress, total: int) -> None:
        if self.interactive:
            with self.console.status("") as status:
                while True:
                    status.update(f"{label}: [green]{progress.ok} ok[/] [red]{progress.failed} failed[/] of {total}")
                    await asyncio.sleep(0.5)
        while True:
            await asyncio.sleep(5)
            self.phase(f"{label}: {progress.ok} ok, {progress.failed} failed of {total}")
