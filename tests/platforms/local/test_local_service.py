"""The local Service proxy sends each new connection to a ready backend, round robin."""

import asyncio

from runner.platforms.local.service import ServiceProxy


async def _echo_server(tag: bytes):
    async def handle(reader, writer):
        await reader.read(100)
        writer.write(tag)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hi")
    writer.write_eof()
    try:
        data = await reader.read()
    except ConnectionResetError:
        data = b""  # closed without an answer
    writer.close()
    return data


def test_round_robin_over_ready_backends_only():
    async def scenario():
        a, pa = await _echo_server(b"A")
        b, pb = await _echo_server(b"B")
        ready = [pa, pb]
        proxy = ServiceProxy(lambda: list(ready))
        await proxy.start()
        try:
            both = {await _ask(proxy.port) for _ in range(4)}
            ready.remove(pb)
            only_a = {await _ask(proxy.port) for _ in range(3)}
            ready.clear()
            none = await _ask(proxy.port)
        finally:
            await proxy.stop()
            a.close()
            b.close()
        return both, only_a, none

    both, only_a, none = asyncio.run(scenario())
    assert both == {b"A", b"B"}
    assert only_a == {b"A"}
    assert none == b"", "with no ready endpoint the connection is closed"
