"""The Host names Knobs answers to, so that DNS rebinding cannot reach a Knobs without login.

A page on any site can point its own name at 127.0.0.1 after the browser has loaded it
(DNS rebinding); from then on the browser sends that page's requests to a Knobs on loopback as
same-origin ones, Host and Origin both naming the attacker's site. Where no login protects
Knobs (`make run`, or KNOBS_AUTH=none), only loopback names and addresses, and those
KNOBS_HOSTS lists, are served; any other Host gets 400. With sign-in on, KNOBS_HOSTS (when set)
restricts Hosts too; unset, any Host reaches the sign-in page, so `docker run -p 8000:8000`
just works. Same idea as Django's ALLOWED_HOSTS, Jupyter's and Ollama's host checks.

This runs before the cross-site check (app/guard/origin.py), which compares the Origin with
the Host: so the Host it compares with is always one allowed here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.clients import Network, ip
from app.access.rules import access_in
from app.guard.refusal import refusal

# Health checks carry no data and come from orchestrators that name the pod's address.
UNCHECKED = frozenset({"/healthz", "/readyz"})
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def host_name(header: str) -> str | None:
    """The name or address in a Host header, lower case, without port or final dot."""
    try:
        name = urlsplit(f"//{header.strip()}").hostname
    except ValueError:  # a malformed port or IPv6 literal
        return None
    return name.rstrip(".") if name else None


def is_loopback(name: str) -> bool:
    """localhost and its subdomains (RFC 6761: never sent to DNS), and loopback addresses."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = ip(name)
    return address is not None and address.is_loopback


@dataclass(frozen=True)
class HostNames:
    """KNOBS_HOSTS: names, `.example.com` for it and its subdomains, IPs and CIDRs, or `*`."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    anything: bool = False

    @classmethod
    def from_setting(cls, setting: str) -> HostNames:
        """Parse the setting; a bad entry raises ValueError naming it."""
        names, suffixes, networks, anything = set(), [], [], False
        for entry in filter(None, (part.strip().lower() for part in setting.split(","))):
            if entry == "*":
                anything = True
            elif "/" in entry or ip(entry) is not None:
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
            elif set(entry) <= _LABEL_CHARS and entry.strip(".") and ".." not in entry:
                if entry.startswith("."):
                    suffixes.append(entry)
                else:
                    names.add(entry.rstrip("."))
            else:
                raise ValueError(
                    f"{entry!r} is not a host name (letters, digits, - and .), "
                    "a .domain, an IP address, a CIDR range or *"
                )
        return cls(frozenset(names), tuple(suffixes), tuple(networks), anything)

    @property
    def configured(self) -> bool:
        return bool(self.names or self.suffixes or self.networks or self.anything)

    def allows(self, name: str) -> bool:
        if self.anything or name in self.names:
            return True
        if any(name.endswith(s) or name == s[1:] for s in self.suffixes):
            return True
        address = ip(name)
        return address is not None and any(address in n for n in self.networks)


def host_reason(host: str | None, names: HostNames, login: bool) -> str | None:
    """Why a request with this Host header must not be served; None to serve it."""
    if login and not names.configured:
        return None
    name = host_name(host or "")
    if name is not None and (is_loopback(name) or names.allows(name)):
        return None
    shown = (host or "none")[:100]
    if login:
        return f"This Knobs does not answer to the host {shown!r}: add it to KNOBS_HOSTS."
    return (
        f"This Knobs has no login, so it answers only to localhost and loopback addresses, "
        f"not to the host {shown!r}: that keeps other sites' pages out (DNS rebinding). To "
        "use this name, add it to KNOBS_HOSTS (see docs/access.md)."
    )


class HostCheck:
    """400 for a request whose Host header names a host this Knobs does not answer to."""

    def __init__(self, app: ASGIApp, names: HostNames) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in UNCHECKED:
            host = Headers(scope=scope).get("host")
            reason = host_reason(host, self.names, access_in(scope).needs_login())
            if reason is not None:
                response = refusal(scope, 400, "Unknown host name", reason)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
