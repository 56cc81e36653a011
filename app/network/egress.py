"""Where Knobs may send requests: custom endpoint URLs must not reach internal addresses.

Two checks, because either alone can be fooled. `check_url` (here) parses a user's URL the way
a browser (and `inet_aton`) would, so every spelling of an address is judged as that address.
`guarded_client` (egress_http.py) then resolves the host itself at connect time, checks every
address it got against the same policy and connects to a checked one, so DNS that changes its
answer after the first check (rebinding) still cannot reach an internal address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
REFUSAL = (
    "Knobs does not send requests to internal addresses. "
    "An admin can allow it with KNOBS_ALLOWED_HOSTS."
)
# Most clouds, AWS ECS tasks, Alibaba Cloud, AWS over IPv6: named apart in refusals.
METADATA = {
    ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
}
METADATA_NAMES = {"metadata.google.internal", "metadata.goog", "instance-data.ec2.internal"}
# Names that only resolve inside a private network: mDNS, home.arpa, ICANN's .internal, LANs.
PRIVATE_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa", ".lan")
# Reason -> networks. The first match wins, so broadcast is named before the rest of 240/4.
BLOCKED = {
    "an unspecified address": "0.0.0.0/8 ::/128",
    "a loopback address": "127.0.0.0/8 ::1/128",
    "a private address": "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16",
    "a link-local address": "169.254.0.0/16 fe80::/10",
    "a carrier-grade NAT (CGNAT) address": "100.64.0.0/10",
    "a benchmarking address": "198.18.0.0/15 2001:2::/48",
    "a documentation address": "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 2001:db8::/32"
    " 3fff::/20",
    "a multicast address": "224.0.0.0/4 ff00::/8",
    "the broadcast address": "255.255.255.255/32",
    "a reserved address": "240.0.0.0/4 192.0.0.0/24 192.88.99.0/24",
    "a site-local address": "fec0::/10",
    "a unique local (private) address": "fc00::/7",
    "a Teredo tunnel address, which can wrap an internal IPv4 address": "2001::/32",
    "a local-use NAT64 address": "64:ff9b:1::/48",
}
BLOCKED_NETWORKS = [(ip_network(n), why) for why, nets in BLOCKED.items() for n in nets.split()]
# IPv6 ranges whose low 32 bits are an IPv4 address: compatible, mapped, SIIT, NAT64.
EMBEDDING = [ip_network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")]
AUTHORITY = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?")
LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class EgressRefused(ValueError):
    """A URL or address Knobs will not send requests to; str(error) says why and what to do.

    A ValueError, so a pydantic validator that calls check_url reports it as a field error."""


@dataclass(frozen=True)
class EgressPolicy:
    """What an admin opened up with KNOBS_ALLOWED_HOSTS: exact host names and IP networks."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, value: str) -> EgressPolicy:
        """Parse "llm.corp.example, 10.0.0.0/8, 127.0.0.1"; ValueError names a bad entry."""
        hosts, networks = set(), []
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                networks.append(ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            try:
                name = _hostname(entry)
            except ValueError:  # "1.2.3.4.5": a number where an address was meant
                name = None
            if name is None or _ipv4(name) is not None:
                raise ValueError(f"KNOBS_ALLOWED_HOSTS: {entry!r} is not a host name, IP or CIDR")
            hosts.add(name)
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, ip: IPAddress) -> bool:
        candidates = [a for a in (ip, embedded_ipv4(ip)) if a is not None]
        return any(a in net for a in candidates for net in self.allowed_networks)

    def reason_to_refuse(self, ip: IPAddress) -> str | None:
        """Why Knobs must not connect to this address under this policy, or None."""
        return None if self.allows(ip) else is_blocked(ip)


def check_url(url: str, policy: EgressPolicy) -> str:
    """The URL, normalised, if Knobs may send requests to it; otherwise EgressRefused."""
    text = url.strip()
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in text):
        raise EgressRefused("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(text)
    except ValueError:  # unbalanced [ ], or NFKC turns the host into "/", "@" or ":"
        raise EgressRefused(f"{text!r} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not text[len(scheme) :].startswith("://"):
        raise EgressRefused("Custom endpoints must use http:// or https://.")
    if "@" in parts.netloc:
        raise EgressRefused("Put the API key in its own field, not user:password@ in the URL.")
    match = AUTHORITY.fullmatch(parts.netloc)
    if not match:
        raise EgressRefused(f"{parts.netloc!r} is no host[:port]; IPv6 goes in [brackets].")
    if not match["host"]:
        raise EgressRefused("The URL has no host name.")
    raw_host, port = match["host"], match["port"]
    if port and not 1 <= int(port) <= 65535:
        raise EgressRefused(f"Port {port} is not between 1 and 65535.")
    if "%" in raw_host:
        raise EgressRefused("Write the host name plainly, without %-encoding or a zone id.")
    ip: IPAddress | None
    if raw_host.startswith("["):
        try:
            ip = IPv6Address(raw_host[1:-1])
        except ValueError:
            raise EgressRefused(f"{raw_host} is not a valid IPv6 address.") from None
        host = f"[{ip}]"
    else:
        name = _hostname(raw_host)
        if name is None:
            raise EgressRefused(f"{raw_host!r} is not a valid host name.")
        ip = _ipv4(name)
        host = name if ip is None else str(ip)
    reason = _name_reason(host, policy) if ip is None else policy.reason_to_refuse(ip)
    if reason:
        raise EgressRefused(f"{host.strip('[]')} is {reason}; {REFUSAL}")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise EgressRefused("A base URL has no ?query or #fragment.")
    return f"{scheme}://{host}{':' + str(int(port)) if port else ''}{parts.path.rstrip('/')}"


def is_blocked(ip: IPAddress | str) -> str | None:
    """Why Knobs must not connect to this address ("a loopback address"), or None."""
    ip = ip_address(ip) if isinstance(ip, str) else ip
    if ip in METADATA:
        return "a cloud metadata address"
    for network, reason in BLOCKED_NETWORKS:
        if ip in network:
            return reason
    inner = embedded_ipv4(ip)
    if inner is not None and (inner_reason := is_blocked(inner)):
        return f"an IPv6 form of {inner}, {inner_reason}"
    if not ip.is_global:  # the rest of IANA's special-purpose registries
        return "a reserved, non-public address"
    return None


def embedded_ipv4(ip: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64), if any."""
    if isinstance(ip, IPv4Address):
        return None
    if any(ip in net for net in EMBEDDING):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _name_reason(host: str, policy: EgressPolicy) -> str | None:
    """Names refused before any lookup: the lookup would only find internal addresses."""
    if host in policy.allowed_hosts:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback name"
    if host in METADATA_NAMES:
        return "a cloud metadata name"
    if host.endswith(PRIVATE_SUFFIXES):
        return "a private-network name"
    if "." not in host:
        return "a single-label name, which only resolves inside a private network"
    return None


def _hostname(raw: str) -> str | None:
    """The lower-case ASCII host name a browser would use (IDNA maps full-width digits and
    "。" dots), without a trailing dot; None if it is not a valid host name."""
    try:
        name = raw.encode("idna").decode("ascii").lower().removesuffix(".")
    except UnicodeError:
        return None
    if name and _ipv4(name) is not None:
        return name
    if not name or len(name) > 253 or not all(map(LABEL.fullmatch, name.split("."))):
        return None
    return name


def _ipv4(name: str) -> IPv4Address | None:
    """The WHATWG URL parser's IPv4 rules (inet_aton's too): 0x7f.1, 0177.0.0.1, 2130706433.

    None for a domain name; EgressRefused for a name that ends in a number yet is no
    address ("1.2.3.4.5"), which browsers refuse too."""
    parts = name.removesuffix(".").split(".")
    if not parts[-1].isdigit() and _ipv4_number(parts[-1]) is None:
        return None
    numbers = [n for n in map(_ipv4_number, parts) if n is not None]
    invalid = EgressRefused(f"{name!r} is not a valid IPv4 address.")
    if len(numbers) < len(parts) or len(numbers) > 4:
        raise invalid
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise invalid
    return IPv4Address(sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last)


def _ipv4_number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    # Checked by hand: int() also takes "1_0", "+1" and non-ASCII digits.
    if not digits and base != 16:
        return None
    if any(c not in "0123456789abcdef"[:base] for c in digits.lower()):
        return None
    return int(digits, base) if digits else 0
