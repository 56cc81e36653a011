"""The HTTP client for custom endpoints: it connects only to addresses the egress policy allows.

`check_url` (egress.py) judged the URL as typed; this checks what the host name resolves to at
the moment of connecting, and connects to the very address it checked, so DNS that answers
differently the second time (rebinding) cannot slip an internal address through. Redirects
are never followed and no proxy variables are read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from ipaddress import ip_address

import httpcore2
import httpx2

from app.network.egress import REFUSAL, EgressPolicy, EgressRefused, IPAddress

# All a custom endpoint is sent besides the body and the user's key. The openai SDK also adds
# headers from the server's environment (OPENAI_ORG_ID, OPENAI_PROJECT_ID and
# OPENAI_CUSTOM_HEADERS, which can even replace the key): they are for the server's own
# endpoint only. Its x-stainless-* headers about this machine are not sent to any endpoint
# (app/engine/upstream.py), and should a new SDK add one, it goes too; the one it reads back
# from the request (raw response wanted: with_streaming_response) stays.
SENT_HEADERS = {"accept", "accept-encoding", "connection", "content-length", "content-type"}
SENT_HEADERS |= {"host", "user-agent", "x-stainless-raw-response"}


def guarded_transport(
    policy: EgressPolicy,
    limits: httpx2.Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx2.AsyncHTTPTransport:
    """An HTTP transport that only ever connects to addresses the policy allows."""
    limits = limits or httpx2.Limits()
    ssl_context = ssl_context or httpx2.create_ssl_context(trust_env=False)
    transport = httpx2.AsyncHTTPTransport(verify=ssl_context, trust_env=False, limits=limits)
    # AsyncHTTPTransport takes no network backend, so give it a pool that has ours. The
    # real-socket tests fail if a new httpx2 stops sending requests through `_pool`.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport


def guarded_client(
    policy: EgressPolicy,
    timeout: httpx2.Timeout | float,
    limits: httpx2.Limits | None = None,
    *,
    api_key: str | None = None,
) -> httpx2.AsyncClient:
    """A client for custom endpoints: guarded connects, no redirects, no proxy variables,
    and no credentials but `api_key` (the user's own) in what it sends."""

    async def send_only_the_users_key(request: httpx2.Request) -> None:
        for name in {name.lower() for name in request.headers}:
            if name not in SENT_HEADERS:
                del request.headers[name]
        if api_key:
            request.headers["Authorization"] = f"Bearer {api_key}"

    return httpx2.AsyncClient(
        transport=guarded_transport(policy, limits),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        event_hooks={"request": [send_only_the_users_key]},
    )


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Resolves the host once, checks every address, connects to a checked one (pinned).

    httpcore starts TLS on the returned stream with server_hostname from the request's
    origin, so SNI and certificate checks still use the host name, as does the Host header."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.vetted_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"Looking up {host} timed out") from exc
        error: Exception = httpcore2.ConnectError(f"{host} has no addresses")
        for address in addresses:  # in the resolver's order, as a plain connect would
            try:
                # An IP literal: the inner backend has nothing left to resolve.
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                error = exc
        raise error

    async def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, or EgressRefused if any of them is internal."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(f"Could not look up {host}: {exc}") from exc
        addresses = list(dict.fromkeys(ip_address(info[4][0]) for info in infos))
        if host.lower().rstrip(".") in self.policy.allowed_hosts:
            return addresses
        for ip in addresses:
            if reason := self.policy.reason_to_refuse(ip):
                what = f"{ip} is" if host == str(ip) else f"{host} resolves to {ip},"
                raise EgressRefused(f"{what} {reason}; {REFUSAL}")
        return addresses

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
