"""Custom endpoints cannot reach internal addresses: every spelling, at connect time, no redirects.

The socket tests only ever talk to 127.0.0.1. Made-up host names are answered by a fake
resolver, so no test sends a DNS query."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from app.network.egress import EgressPolicy, EgressRefused, check_url, is_blocked
from app.network.http_client import guarded_client, guarded_transport

pytestmark = pytest.mark.anyio
OPEN = EgressPolicy()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- check_url: the URL as typed ----------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1/v1", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f.0.0.1/", "loopback"),  # hex
    ("http://0x7f000001/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),  # short form
    ("http://0x7f.1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),  # trailing dot
    ("http://127。0。0。1/", "loopback"),  # ideographic full stops
    ("http://１２７．０．０．１/", "loopback"),  # full-width digits and dots
    ("http://127.0.0.1#@evil.com", "loopback"),
    ("http://127.0.0.1:8080?@evil.com", "loopback"),
    ("http://localhost:8000/v1", "loopback name"),
    ("http://LOCALHOST./", "loopback name"),
    ("http://api.localhost/", "loopback name"),
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:a9fe:a9fe]/", "metadata"),
    ("http://[2002:a9fe:a9fe::1]/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1", "metadata name"),
    ("http://10.0.0.1/", "private"),
    ("http://012.0.0.1/", "private"),  # octal 10.0.0.1
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[::ffff:192.168.1.1]/", "private"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://[fc00::1]/", "unique local"),
    ("http://[fd12:3456::1]/", "unique local"),
    ("http://[fec0::1]/", "site-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://4294967295/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://192.0.2.1/", "documentation"),
    ("http://[2001:db8::1]/", "documentation"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo"),  # wraps 127.0.0.1
    ("http://printer.local/", "private-network name"),
    ("http://llm.corp.internal/", "private-network name"),
    ("http://ollama:11434/v1", "single-label"),
    ("http://evil.com@127.0.0.1/", "user:password@"),
    ("http://user:pw@api.example.com/", "user:password@"),
    ("http://evil.com\\@127.0.0.1/", "backslashes"),
    ("http:\\\\127.0.0.1/", "backslashes"),
    ("http://127.0.0.1\t/", "control characters"),
    ("http://%31%32%37.0.0.1/", "%-encoding"),
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://evil.com／127.0.0.1/", "not a valid URL"),  # full-width solidus
    ("http://1.2.3.4.5/", "not a valid IPv4"),
    ("http://256.0.0.1/", "not a valid IPv4"),
    ("http://09.0.0.1/", "not a valid IPv4"),
    ("http://example.0x1/", "not a valid IPv4"),
    ("http://[::1/", "not a valid URL"),
    ("http://::1/", "[brackets]"),
    ("http://[not-ipv6]/", "not a valid URL"),
    ("http://[v1.fe]/", "not a valid IPv6"),  # IPvFuture, which urlsplit lets through
    ("http://exa mple.com/", "spaces"),
    ("http://exa$mple.com/", "not a valid host name"),
    ("http:///v1", "no host name"),
    ("http://:8080/v1", "no host name"),
    ("http:127.0.0.1", "http:// or https://"),
    ("ftp://example.com/", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
    ("https://api.example.com:0/", "between 1 and 65535"),
    ("https://api.example.com:65536/", "between 1 and 65535"),
    ("https://api.example.com/v1?x=1", "?query"),
    ("https://api.example.com/v1#top", "#fragment"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_or_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match="(?i)" + reason.replace("?", r"\?")):
        check_url(url, OPEN)


def test_refusal_says_what_and_how_to_allow_it() -> None:
    with pytest.raises(EgressRefused) as refused:
        check_url("http://0177.1:8000/v1", OPEN)
    assert str(refused.value) == (
        "127.0.0.1 is a loopback address; Knobs does not send requests to internal addresses."
        " An admin can allow it with KNOBS_ALLOWED_HOSTS."
    )


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("http://93.184.216.34:8080/v1", "http://93.184.216.34:8080/v1"),
        ("https://[2606:4700::1111]/v1", "https://[2606:4700::1111]/v1"),
        (" HTTPS://API.OpenAI.com./v1/ ", "https://api.openai.com/v1"),
        ("http://0x5db8d822:08080/v1", "http://93.184.216.34:8080/v1"),
        ("https://[2606:4700:0:0:0:0:0:1111]/v1", "https://[2606:4700::1111]/v1"),
        ("https://bücher.example/v1", "https://xn--bcher-kva.example/v1"),
        ("https://1.2.3.4.nip-like.example/v1", "https://1.2.3.4.nip-like.example/v1"),
    ],
)
def test_public_urls_pass_normalised(url: str, normalised: str) -> None:
    assert check_url(url, OPEN) == normalised


def test_allowlist_opens_exactly_what_it_names() -> None:
    policy = EgressPolicy.from_setting(" 127.0.0.1 , 10.0.0.0/8, LLM.Corp.Internal., [fd00::1] ")
    assert check_url("http://127.0.0.1:8080/v1", policy) == "http://127.0.0.1:8080/v1"
    assert check_url("http://2130706433:8080/v1", policy) == "http://127.0.0.1:8080/v1"
    assert check_url("http://10.20.30.40/v1", policy) == "http://10.20.30.40/v1"
    assert check_url("http://[::ffff:10.1.2.3]/v1", policy) == "http://[::ffff:a01:203]/v1"
    assert check_url("http://llm.corp.internal/v1", policy) == "http://llm.corp.internal/v1"
    assert check_url("http://[fd00::1]/v1", policy) == "http://[fd00::1]/v1"
    for still_refused in ("http://127.0.0.2/", "http://192.168.1.1/", "http://other.internal/"):
        with pytest.raises(EgressRefused):
            check_url(still_refused, policy)


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "1.2.3.4.5", "http://x.com"])
def test_allowlist_rejects_entries_it_cannot_read(entry: str) -> None:
    with pytest.raises(ValueError, match="KNOBS_ALLOWED_HOSTS"):
        EgressPolicy.from_setting(entry)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses_are_not_blocked(address: str) -> None:
    assert is_blocked(address) is None


# --- connect time: real sockets, 127.0.0.1 only -------------------------------------------


class Tripwire:
    """A listener that nothing should reach. It never accepts, so a connection waits in the
    kernel's backlog: counting there has no race with a handler that has not run yet."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


class LocalServer:
    """A tiny HTTP server on 127.0.0.1 that records request heads and sends one response."""

    def __init__(self, response: bytes, context: ssl.SSLContext | None = None) -> None:
        self.response = response
        self.context = context
        self.heads: list[bytes] = []
        self.port = 0

    async def __aenter__(self) -> LocalServer:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(self.response)
        await writer.drain()
        writer.close()


def http_response(status: str, headers: str = "", body: bytes = b"{}") -> bytes:
    head = f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n"
    return head.encode() + b"\r\n" + body


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.sock.close()


@pytest.fixture
async def names(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, list[str]]]:
    """Made-up host names -> addresses, answered without DNS; lookups land in names["?"]."""
    table: dict[str, list[str]] = {"?": []}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        table["?"].append(host)
        if host in table:
            family = {4: socket.AF_INET, 6: socket.AF_INET6}
            return [
                (family[ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]
            ]
        # Numeric hosts only (2130706433, 0x7f.1, ...), parsed by the C library: never DNS.
        kwargs["flags"] = socket.AI_NUMERICHOST
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    yield table


async def test_tripwire_counts_a_plain_connection(tripwire: Tripwire) -> None:
    # Without this the "zero connections" checks below could pass by never counting.
    async with httpx2.AsyncClient(timeout=0.05) as plain:
        with pytest.raises(httpx2.TransportError):
            await plain.get(f"http://127.0.0.1:{tripwire.port}/")
    assert tripwire.connections() == 1


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]"]
)
async def test_guarded_client_refuses_before_connecting(
    tripwire: Tripwire, names: dict[str, list[str]], host: str
) -> None:
    # Straight to the client, skipping check_url: the connect-time check stands on its own.
    async with guarded_client(OPEN, timeout=2) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            await client.get(f"http://{host}:{tripwire.port}/v1/models")
    assert tripwire.connections() == 0


async def test_dns_rebinding_is_caught_at_connect_time(
    tripwire: Tripwire, names: dict[str, list[str]]
) -> None:
    url = check_url(f"http://rebind.example.com:{tripwire.port}/v1", OPEN)  # looks public
    names["rebind.example.com"] = ["127.0.0.1"]  # ...until the connection is made
    async with guarded_client(OPEN, timeout=2) as client:
        with pytest.raises(EgressRefused, match="rebind.example.com resolves to 127.0.0.1"):
            await client.get(url + "/models")
    assert tripwire.connections() == 0


async def test_one_internal_answer_among_public_ones_is_refused(
    tripwire: Tripwire, names: dict[str, list[str]]
) -> None:
    names["mixed.example.com"] = ["93.184.216.34", "127.0.0.1"]
    async with guarded_client(OPEN, timeout=2) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            await client.get(f"http://mixed.example.com:{tripwire.port}/")
    assert tripwire.connections() == 0


async def test_allowlisted_address_is_reached(names: dict[str, list[str]]) -> None:
    policy = EgressPolicy.from_setting("127.0.0.1")
    async with LocalServer(http_response("200 OK")) as server:
        url = check_url(f"http://127.0.0.1:{server.port}/v1", policy)
        async with guarded_client(policy, timeout=2) as client:
            response = await client.get(url + "/models")
    assert response.status_code == 200
    assert server.heads[0].startswith(b"GET /v1/models HTTP/1.1\r\n")


async def test_connection_goes_to_the_address_that_was_checked(
    names: dict[str, list[str]],
) -> None:
    policy = EgressPolicy.from_setting("127.0.0.1")
    names["pinned.example.com"] = ["127.0.0.1"]
    server = LocalServer(http_response("200 OK"))
    async with server, guarded_client(policy, timeout=2) as client:
        response = await client.get(f"http://pinned.example.com:{server.port}/v1/models")
    assert response.status_code == 200
    # Looked up once, by the guard: the connect itself was given the checked IP literal.
    assert names["?"] == ["pinned.example.com"]
    assert f"host: pinned.example.com:{server.port}".encode() in server.heads[0].lower()


async def test_redirect_to_internal_address_is_not_followed(tripwire: Tripwire) -> None:
    policy = EgressPolicy.from_setting("127.0.0.1")
    location = f"Location: http://127.0.0.1:{tripwire.port}/\r\n"
    server = LocalServer(http_response("301 Moved Permanently", location))
    async with server, guarded_client(policy, timeout=2) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/v1/models")
    assert response.status_code == 301
    assert tripwire.connections() == 0


async def test_redirect_followed_anyway_is_still_checked_at_connect(
    tripwire: Tripwire, names: dict[str, list[str]]
) -> None:
    # A caller may ask to follow redirects per request; the target is checked all the same.
    policy = EgressPolicy.from_setting("llm.example.com")
    names["llm.example.com"] = ["127.0.0.1"]
    location = f"Location: http://127.0.0.1:{tripwire.port}/\r\n"
    server = LocalServer(http_response("302 Found", location))
    async with server, guarded_client(policy, timeout=2) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            url = f"http://llm.example.com:{server.port}/v1/models"
            await client.get(url, follow_redirects=True)
    assert len(server.heads) == 1
    assert tripwire.connections() == 0


async def test_openai_sdk_surfaces_the_refusal_unwrapped(
    tripwire: Tripwire, names: dict[str, list[str]]
) -> None:
    names["rebind.example.com"] = ["127.0.0.1"]
    url = check_url(f"http://rebind.example.com:{tripwire.port}/v1", OPEN)
    http = guarded_client(OPEN, timeout=2)
    sdk = openai.AsyncOpenAI(base_url=url, api_key="sk-user", max_retries=0, http_client=http)
    async with sdk:
        with pytest.raises(EgressRefused, match="loopback"):
            await sdk.models.list()
    assert tripwire.connections() == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for llm.example.test, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert)]
        + ["-subj", "/CN=llm.example.test", "-addext", "subjectAltName=DNS:llm.example.test"],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_verifies_the_host_name_not_the_pinned_address(
    certificate: tuple[Path, Path], names: dict[str, list[str]]
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    sni: list[str | None] = []
    served.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    trusted = ssl.create_default_context(cafile=str(cert))
    names["llm.example.test"] = names["other.example.test"] = ["127.0.0.1"]
    policy = EgressPolicy.from_setting("127.0.0.1")
    async with LocalServer(http_response("200 OK"), served) as server:
        transport = guarded_transport(policy, ssl_context=trusted)
        async with httpx2.AsyncClient(transport=transport, timeout=2) as client:
            response = await client.get(f"https://llm.example.test:{server.port}/v1/models")
            with pytest.raises(httpx2.ConnectError, match="(?i)certificate|hostname"):
                await client.get(f"https://other.example.test:{server.port}/v1/models")
    assert response.status_code == 200
    assert sni[0] == "llm.example.test"
    assert f"host: llm.example.test:{server.port}".encode() in server.heads[0].lower()


@pytest.mark.parametrize("guarded", [True, False])
async def test_custom_endpoint_gets_the_users_key_and_nothing_of_the_servers(
    monkeypatch: pytest.MonkeyPatch, guarded: bool
) -> None:
    # The SDK reads these from the server's environment; OPENAI_CUSTOM_HEADERS even beats
    # the api_key argument. Unguarded (the control) they reach whatever base_url is set.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-server")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-server")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-server\nX-Gw: gw-secret")
    policy = EgressPolicy.from_setting("127.0.0.1")
    events = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
    stream = http_response("200 OK", "Content-Type: text/event-stream\r\n", events)
    async with LocalServer(stream) as server:
        http = guarded_client(policy, 2, api_key="sk-user") if guarded else httpx2.AsyncClient()
        url = f"http://127.0.0.1:{server.port}/v1"
        async with openai.AsyncOpenAI(
            base_url=url, api_key="sk-user", max_retries=0, http_client=http
        ) as sdk:
            create: Any = sdk.chat.completions.with_streaming_response.create
            messages = [{"role": "user", "content": "hi"}]
            async with create(model="m", messages=messages, stream=True) as response:
                lines = [line async for line in response.iter_lines()]
    assert "data: [DONE]" in lines  # the streaming path still works through the guard
    head = server.heads[0].decode().lower()
    leaked = [s for s in ("sk-server", "org-server", "proj-server", "gw-secret") if s in head]
    if guarded:
        assert leaked == []
        assert "\r\nauthorization: bearer sk-user\r\n" in head
    else:
        assert leaked == ["sk-server", "org-server", "proj-server", "gw-secret"]
