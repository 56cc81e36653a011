"""Who is on the other end: the socket's peer, and the client a trusted proxy speaks for.

Knobs decides this itself rather than take the server's word. uvicorn turns proxy headers on
by default and believes `X-Forwarded-For` and `X-Forwarded-Proto` from 127.0.0.1, so a
visitor arriving over loopback (rootless podman's port forwarding, a proxy on the same host,
anyone with a shell) could claim any address: a fresh rate-limit bucket per invented
address, or the trusted proxy's address and so anyone's name in SSO mode. So the peer is read
from the connection's own socket, and the forwarded headers count only when that peer is in
KNOBS_TRUSTED_PROXIES, whatever flags uvicorn was started with.

ClientAddresses (the outermost of Knobs' middleware) puts the result back into the scope:
`client` is the client (for rate limits and the sign-in throttle), `scheme` is http or https
as the client used it (for cookies' Secure), and `state["peer"]` the socket's peer (for the
SSO header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _extra_info(receive: Receive) -> Callable[[str], Any] | None:
    """The connection's `get_extra_info`, where the server's `receive` leads to its transport."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    return getattr(transport, "get_extra_info", None)


def socket_peer(scope: Scope, receive: Receive) -> tuple[str, int] | None:
    """The address at the other end of the connection, as its socket says; else the scope's.

    uvicorn hands the app its request cycle's own `receive`, whose object holds the
    connection's transport; its proxy-headers middleware rewrites `scope["client"]` but passes
    `receive` through untouched. Other servers (and tests in-process) do not rewrite the
    client, so their `scope["client"]` is the peer already. (uvicorn's `--log-level trace`
    wraps `receive`; there too the scope's client is all there is to go on.)
    """
    get_extra_info = _extra_info(receive)
    if get_extra_info is not None:
        peer = get_extra_info("peername")
        if isinstance(peer, tuple | list) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return None  # a Unix socket: no address
    client = scope.get("client")
    return (str(client[0]), int(client[1])) if client else None


def socket_scheme(scope: Scope, receive: Receive) -> str:
    """https when the connection itself is TLS; the scope's scheme when it cannot be told."""
    get_extra_info = _extra_info(receive)
    if get_extra_info is None:
        return str(scope.get("scheme", "http"))
    return "https" if get_extra_info("sslcontext") is not None else "http"


def ip(text: str) -> Address | None:
    """An address from `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1` or `"[::1]"`; else None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def trusted(address: str, proxies: Iterable[Network]) -> bool:
    parsed = ip(address)
    return parsed is not None and any(parsed in network for network in proxies)


def forwarded_hops(headers: Headers) -> list[str]:
    """The addresses a request passed, the nearest last: X-Forwarded-For, else Forwarded."""
    values = headers.getlist("x-forwarded-for")
    if values:
        return [hop.strip() for value in values for hop in value.split(",")]
    hops = []
    for value in headers.getlist("forwarded"):
        for element in value.split(","):
            found = ""  # an element without for= is a hop that did not say: unknown
            for pair in element.split(";"):
                key, _, item = pair.strip().partition("=")
                if key.lower() == "for":
                    found = item
            hops.append(found)
    return hops


def forwarded_proto(headers: Headers) -> str | None:
    """The scheme the nearest proxy says the client used: X-Forwarded-Proto, else Forwarded."""
    proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    if not proto:
        last = headers.getlist("forwarded")[-1:] or [""]
        for pair in last[0].split(",")[-1].split(";"):
            key, _, item = pair.strip().partition("=")
            if key.lower() == "proto":
                proto = item.strip('"').lower()
    return proto if proto in ("http", "https") else None


def client_of(peer: str, headers: Headers, proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer, or, from a trusted proxy, the right-most untrusted hop.

    Each proxy appends the address it was reached from, so the hops nearest Knobs were
    written by trusted proxies and the first untrusted one from the right is the client;
    what stands left of it, the client itself may have written. A hop that is not an address
    (a misconfigured proxy, `unknown`) ends the walk at the last trusted address.
    """
    if not trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed(forwarded_hops(headers)):
        address = ip(hop)
        if address is None:
            break
        client = str(address)
        if not any(address in network for network in proxies):
            break
    return client


class ClientAddresses:
    """Set the scope's client, scheme and peer by Knobs' own rule (the module's docstring)."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope_state: dict[str, Any] = scope.setdefault("state", {})
            peer = socket_peer(scope, receive)
            host, port = peer or ("", 0)
            scheme = socket_scheme(scope, receive)
            if peer is not None and trusted(host, self.proxies):
                headers = Headers(scope=scope)
                client = client_of(host, headers, self.proxies)
                port = port if client == host else 0
                scheme = forwarded_proto(headers) or scheme
                host = client
            scope_state["peer"] = peer[0] if peer else ""
            scope["client"] = (host, port) if peer else None
            scope["scheme"] = scheme
        await self.app(scope, receive, send)
