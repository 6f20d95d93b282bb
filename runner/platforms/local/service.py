"""A local stand-in for a Kubernetes Service in front of the frontend replicas.

Clients connect to one stable address; each new TCP connection goes to the
next *ready* frontend (round robin), as kube-proxy does with a Service's ready
endpoints. A connection lives and dies with its backend: when a frontend is
killed its open connections break, exactly what clients see in a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable


class ServiceProxy:
    def __init__(self, ready_backends: Callable[[], list[int]], port: int = 0):
        self._ready_backends = ready_backends
        self._port = port
        self._server: asyncio.base_events.Server | None = None
        self._counter = itertools.count()
        self._tasks: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task:
            self._tasks.add(task)
        backends = self._ready_backends()
        try:
            if not backends:
                return  # no ready endpoint: the connection is closed, as with an empty Service
            port = backends[next(self._counter) % len(backends)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            await asyncio.gather(
                _pipe(client_reader, up_writer), _pipe(up_reader, client_writer), return_exceptions=True
            )
            up_writer.close()
        finally:
            client_writer.close()
            if task:
                self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
