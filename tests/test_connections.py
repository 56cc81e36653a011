"""Kept-alive connections to endpoints: each keeps its socket, and one the server has closed
while idle is noticed before it is reused (app/network/connections.py)."""

from __future__ import annotations

import asyncio
import socket

import httpx2
import pytest

from app.network.connections import KeptSocketBackend, KeptSocketStream, keep_sockets, readable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_socket_is_readable_once_data_or_the_end_has_arrived():
    mine, theirs = socket.socketpair()
    with mine, theirs:
        assert not readable(mine)
        theirs.sendall(b"x")
        assert readable(mine)
        mine.recv(1)
        theirs.close()
        assert readable(mine)  # the end: the next read returns b""
    assert readable(mine)  # closed here: gone
    assert readable(None)


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused():
    """A server that answers, keeps the connection open a moment, then closes it: the next
    request must not be sent down the dead connection."""
    served, hung_up = 0, asyncio.Semaphore(0)

    async def answer_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        hung_up.release()

    server = await asyncio.start_server(answer_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, keep_sockets(httpx2.AsyncClient()) as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, KeptSocketBackend)
        first = await client.get(f"http://127.0.0.1:{port}/")
        (connection,) = pool.connections
        assert isinstance(connection._connection._network_stream, KeptSocketStream)
        await asyncio.sleep(0.3)  # the server has hung up on the idle connection
        second = await client.get(f"http://127.0.0.1:{port}/")
        for _ in range(2):
            await hung_up.acquire()
    assert first.text == second.text == "ok" and served == 2


async def test_a_custom_endpoints_guarded_client_keeps_its_guard():
    from app.network.egress import EgressPolicy
    from app.network.http_client import GuardedBackend, guarded_client

    client = keep_sockets(guarded_client(EgressPolicy(), 5.0))
    async with client:
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        assert isinstance(backend, KeptSocketBackend)
        assert isinstance(backend.inner, GuardedBackend)
        with pytest.raises(Exception, match="127.0.0.1"):
            await client.get("http://127.0.0.1:9/v1/models")  # loopback: refused, as before
