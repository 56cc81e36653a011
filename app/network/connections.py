"""Kept-alive connections to endpoints, checked cheaply.

Each time a request joins or leaves its pool, httpcore checks that every idle connection is
still open by polling its socket. Its default backend finds that socket through anyio's
`extra()`, which builds a table of every attribute the stream has (~20 µs) on each call: with
24 connections kept from the last 8 × 3 comparison, that was some 600 lookups and ~12 ms of
every comparison, most of it before the last request went out (bench/fanout.py). Here each
connection keeps its socket and is polled directly, as httpcore itself polls it.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2


def keep_sockets(client: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """`client`, its connections polled through the sockets they keep. A client that goes
    through a proxy (from the environment) is left as it is."""
    # httpx2 takes no network backend for its own transport, so this reaches into its pool,
    # as app/network/http_client.py does; tests/test_connections.py fails if that stops working.
    pool = getattr(client._transport, "_pool", None)  # noqa: SLF001
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore2.AsyncConnectionPool) and backend is not None:
        pool._network_backend = KeptSocketBackend(backend)  # noqa: SLF001
    return client


class KeptSocketBackend(httpcore2.AsyncNetworkBackend):
    """Connects as `inner` does; the streams it returns keep their socket."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return KeptSocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self.inner.connect_unix_socket(path, timeout, socket_options)
        return KeptSocketStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class KeptSocketStream(httpcore2.AsyncNetworkStream):
    """A connection's stream that answers "is it readable?" from the socket it kept."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self.stream = stream
        self.socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self.stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self.stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> httpcore2.AsyncNetworkStream:
        return KeptSocketStream(await self.stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self.socket)
        return self.stream.get_extra_info(info)


def readable(sock: socket.socket | None) -> bool:
    """True when a read would not wait: data, or the end, has arrived. A socket that is gone
    counts as readable, as in httpcore: its next read returns the end."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))
