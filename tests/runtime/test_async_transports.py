"""`async_transport`: the switch, its checks, and failures that read the same on either transport.

Every async test of the suite runs on both transports (tests/conftest.py); these tests are
about the switch itself, and about real socket failures, which respx cannot produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx
import pytest

from mesa_sdk import Mesa
from mesa_sdk._runtime.errors import APIConnectionError, APITimeoutError, InvalidOptionsError
from tests.shared import repo_json, serving

from .support import API_KEY, CREATE_COMMIT, GET_REPO, make_core

REPO_ARGS = {"org": "acme", "repo": "r"}
NO_RETRIES = {"strategy": "none"}


def _read_request(connection: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return
        received += chunk


@contextmanager
def _serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A server on 127.0.0.1 handing each connection to `handle`, in a thread of its own until
    the block ends; yields its port."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            handle(self.request)

    with serving(socketserver.TCPServer(("127.0.0.1", 0), Handler)) as server:
        yield server.server_address[1]


@contextmanager
def loopback_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on 127.0.0.1 that reads each request and lets `answer` reply (or not)."""

    def handle(connection: socket.socket) -> None:
        _read_request(connection)
        answer(connection)

    with _serving(handle) as port:
        yield f"http://127.0.0.1:{port}/api/v1"


def repo_answer(connection: socket.socket) -> None:
    body = json.dumps(repo_json()).encode()
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def hang_up(connection: socket.socket) -> None:
    """Closes the connection without a word."""


def cut_short(connection: socket.socket) -> None:
    connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id": ')


def stall(connection: socket.socket) -> None:
    """Never answers: waits for the client to give up."""
    connection.recv(1)


# -- the switch -------------------------------------------------------------------------------


async def test_async_transport_chooses_what_the_sdk_s_own_async_client_sends_with(
    async_transport: Literal["httpx", "aiohttp"],
) -> None:
    with loopback_server(repo_answer) as url:
        async with Mesa(api_key=API_KEY, server_url=url, async_transport=async_transport) as client:
            repo = await client.repos.get_async(org="acme", repo="r")
            pools = client._core._own_async_http_clients
            assert pools is not None
            (http_client,) = pools.clients()
            sender = type(http_client._transport).__module__.split(".")[0]
    assert (repo.id, repo.name) == ("repo_1", "widgets")
    assert sender == {"httpx": "httpx", "aiohttp": "mesa_sdk"}[async_transport]
    assert http_client.is_closed


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        Mesa(api_key=API_KEY, async_transport="trio")  # type: ignore[arg-type]
    assert str(caught.value) == 'async_transport: expected "httpx" or "aiohttp", got \'trio\''


def test_the_aiohttp_transport_without_its_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "httpx_aiohttp" else find_spec(name, *args),
    )
    with pytest.raises(InvalidOptionsError) as caught:
        Mesa(api_key=API_KEY, async_transport="aiohttp")
    assert str(caught.value) == (
        "async_transport=\"aiohttp\" needs the aiohttp extra: pip install 'mesa-sdk[aiohttp]'"
    )


def test_a_transport_and_a_client_of_one_s_own_are_not_both_taken() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        Mesa(api_key=API_KEY, async_client=httpx.AsyncClient(), async_transport="aiohttp")
    assert str(caught.value) == (
        "async_transport and async_client: pass one; an async_client sends with its own transport"
    )


def test_each_url_is_converted_for_aiohttp_once_and_keeps_its_exact_bytes() -> None:
    from mesa_sdk._runtime.aiohttp_transport import _aiohttp_url

    url = httpx.URL("http://127.0.0.1:1/api/v1/acme/r/branches/feature%2Flogin?path=a%20b%2Fc")
    converted = _aiohttp_url(url)
    assert _aiohttp_url(url) is converted
    assert converted.raw_path_qs == "/api/v1/acme/r/branches/feature%2Flogin?path=a%20b%2Fc"
    other = httpx.URL("http://127.0.0.1:1/api/v1/acme/r/branches/main")
    assert _aiohttp_url(other).raw_path_qs == "/api/v1/acme/r/branches/main"
    assert _aiohttp_url(httpx.URL(str(url))) == converted


# -- answers read the same on both transports (each test runs on each) ------------------------

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}


def answer_with(body: bytes, headers: str) -> Callable[[socket.socket], None]:
    def answer(connection: socket.socket) -> None:
        connection.sendall(
            f"HTTP/1.1 200 OK\r\n{headers}Connection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    return answer


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
async def test_a_compressed_answer_is_decoded(async_transport: str, encoding: str) -> None:
    compress = COMPRESSORS[encoding]
    document = json.dumps(repo_json()).encode()
    answer = answer_with(
        compress(document), f"Content-Type: application/json\r\nContent-Encoding: {encoding}\r\n"
    )
    with loopback_server(answer) as url:
        async with Mesa(api_key=API_KEY, server_url=url) as client:
            repo = await client.repos.get_async(org="acme", repo="r")
    assert repo.model_dump(mode="json", exclude_unset=True) == repo_json()
    # Past 64 KiB the aiohttp transport streams the body instead of reading it at once.
    for content in (os.urandom(1000), os.urandom(200_000)):
        answer = answer_with(
            compress(content),
            f"Content-Type: application/octet-stream\r\nContent-Encoding: {encoding}\r\n",
        )
        with loopback_server(answer) as url:
            async with Mesa(api_key=API_KEY, server_url=url) as client:
                assert await client.content.get_raw_async(org="acme", repo="r") == content


def _chunked(body: bytes, size: int = 7) -> bytes:
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


_JSON = b'{"id": "repo_1"}'
_LARGE = os.urandom(200_000)
# Raw answers, each as a server sends it to a GET.
ANSWERS: dict[str, bytes] = {
    "a JSON body": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_JSON), _JSON),
    "a gzip body": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
    % (len(gzip.compress(_JSON)), gzip.compress(_JSON)),
    "an empty gzip body": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    "an encoding httpx does not decode": b"HTTP/1.1 200 OK\r\nContent-Encoding: x-unknown\r\n"
    b"Content-Length: 2\r\n\r\nok",
    "a chunked body": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + _chunked(b"hello, in pieces"),
    "a chunked gzip body": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Encoding: gzip\r\n\r\n" + _chunked(gzip.compress(_JSON * 100)),
    "chunked trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n",
    "a body past 64 KiB": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_LARGE), _LARGE),
    "a body read until the server closes": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    b"to the end",
    "204": b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
    "304": b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    "100 Continue first": b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "a reason of its own": b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n",
    "no reason": b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "repeated headers": b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
    b"X-Multi: one\r\nX-Multi: two\r\nContent-Length: 2\r\n\r\nok",
    "a Latin-1 header": b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok",
    "a UTF-8 header": "HTTP/1.1 200 OK\r\nX-Name: caf\u00e9 \u65e5\u672c\r\n"
    "Content-Length: 2\r\n\r\nok".encode(),
    "80 headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-H%d: %d\r\n" % (n, n) for n in range(80))
    + b"Content-Length: 2\r\n\r\nok",
    "a folded header": b"HTTP/1.1 200 OK\r\nX-Fold: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
    "bare LF line ends": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
}


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize(
    ("name", "method"),
    [
        (name, method)
        for name in sorted(ANSWERS)
        for method in ("GET", "HEAD")
        if (name, method) != ("100 Continue first", "HEAD")
    ],
)
async def test_the_aiohttp_transport_reads_each_answer_as_httpx_s_own_does(
    async_transport: str, name: str, method: str
) -> None:
    """httpx's own transport is the oracle: the same status, reason, version, headers (in
    order, repeats kept) and decoded body."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    answer = ANSWERS[name]
    if method == "HEAD":  # the answer's head alone
        head, _, _ = answer.partition(b"\n\n" if name == "bare LF line ends" else b"\r\n\r\n")
        answer = head + b"\r\n\r\n"

    def reply(connection: socket.socket) -> None:
        connection.sendall(answer)

    read = []
    with loopback_server(reply) as url:
        for client in (httpx.AsyncClient(), AiohttpClient()):
            async with client:
                response = await client.request(method, url)
            read.append(
                (
                    response.status_code,
                    response.reason_phrase,
                    response.http_version,
                    response.headers.multi_items(),
                    response.content,
                )
            )
    assert read[1] == read[0]


@contextmanager
def recording_server(received: list[bytes]) -> Iterator[str]:
    """A server on 127.0.0.1 that keeps each request whole (head and body, chunks decoded)
    and answers it with an empty 200."""

    def answer(connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            while not body.endswith(b"0\r\n\r\n"):
                body += connection.recv(65536)
            pieces = []
            while not body.startswith(b"0\r\n"):
                size, _, body = body.partition(b"\r\n")
                pieces.append(body[: int(size, 16)])
                body = body[int(size, 16) + 2 :]
            body = b"chunked:" + b"".join(pieces)
        elif b"content-length:" in lowered:
            length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += connection.recv(65536)
        received.append(head + b"\r\n\r\n" + body)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with _serving(answer) as port:
        yield f"http://127.0.0.1:{port}"


async def _two_pieces() -> AsyncIterator[bytes]:
    yield b"part one, "
    yield b"part two"


# Requests, each as the arguments of `AsyncClient.request` after the method and URL.
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "a GET": ("GET", {}),
    "a query": ("GET", {"params": {"q": "a b/c", "x": "\u65e5"}}),
    "headers of the caller's": (
        "GET",
        {"headers": {"X-Trace": "t-1", "Authorization": "Bearer k", "Accept": "text/plain"}},
    ),
    "a UTF-8 header": ("GET", {"headers": {"X-Name": "caf\u00e9 \u65e5".encode()}}),
    "a JSON body": (
        "POST",
        {"content": b'{"a":1}', "headers": {"Content-Type": "application/json"}},
    ),
    "a body without a Content-Type": ("PUT", {"content": b"raw bytes"}),
    "an empty body": ("PUT", {"content": b""}),
    # Handed to aiohttp piece by piece, each piece's write watched (`_Upload`).
    "a body past 64 KiB": ("PUT", {"content": _LARGE}),
    "a streamed body": ("POST", {"content": "two pieces"}),
    "a PATCH": ("PATCH", {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
}


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_the_aiohttp_transport_sends_each_request_as_httpx_s_own_does(
    async_transport: str, name: str
) -> None:
    """httpx's own transport is the oracle: the same request line, headers and body bytes (the
    header order aside, which HTTP leaves free)."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    method, arguments = REQUESTS[name]
    sent = []
    for client in (httpx.AsyncClient(), AiohttpClient()):
        received: list[bytes] = []
        with recording_server(received) as url:
            given = dict(arguments)
            if given.get("content") == "two pieces":
                given["content"] = _two_pieces()
            async with client:
                await client.request(method, f"{url}/acme/r%2Fs", **given)
        head, _, body = received[0].partition(b"\r\n\r\n")
        request_line, *header_lines = head.split(b"\r\n")
        port = url.rsplit(":", 1)[1].encode()
        sent.append(
            (request_line, sorted(line.replace(port, b"PORT") for line in header_lines), body)
        )
    assert sent[1] == sent[0]


@pytest.mark.filterwarnings("error::DeprecationWarning")  # aiohttp's proxy_auth is deprecated
@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    ("credentials", "proxy_headers"), [("", {}), ("user:pa%20ss@", {"X-Proxy-Note": "n"})]
)
async def test_the_aiohttp_transport_goes_through_a_proxy_as_httpx_s_own_does(
    async_transport: str, scheme: str, credentials: str, proxy_headers: dict[str, str]
) -> None:
    """What the proxy receives: the forwarded request for http, the CONNECT for https (the
    tunnel then fails, this proxy being no tunnel). On a CONNECT aiohttp adds headers of its
    own (its User-Agent, Accept-Encoding) that no proxy acts on; the proxy's own headers and
    credentials are compared there."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    sent = []
    for make in (httpx.AsyncClient, AiohttpClient):
        received: list[bytes] = []
        with recording_server(received) as address:
            proxy = httpx.Proxy(
                address.replace("http://", f"http://{credentials}"), headers=proxy_headers
            )
            async with make(proxy=proxy) as client:
                with contextlib.suppress(httpx.ConnectError, httpx.ProxyError):
                    await client.get(f"{scheme}://depot.invalid/acme/r%2Fs?x=1")
        request_line, *lines = received[0].partition(b"\r\n\r\n")[0].split(b"\r\n")
        if scheme == "https":
            lines = [line for line in lines if line.startswith((b"Proxy-", b"X-Proxy-"))]
        sent.append((request_line, sorted(lines)))
    assert sent[1] == sent[0]
    assert (
        sent[0][0]
        == {
            "http": b"GET http://depot.invalid/acme/r%2Fs?x=1 HTTP/1.1",
            "https": b"CONNECT depot.invalid:443 HTTP/1.1",
        }[scheme]
    )


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
async def test_what_the_aiohttp_transport_cannot_send_as_httpx_does(async_transport: str) -> None:
    """The two known differences: a header that is not UTF-8 (aiohttp writes text as UTF-8)
    is refused rather than sent changed, and a DELETE without a body gets aiohttp's
    `Content-Length: 0`, which HTTP allows."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    received: list[bytes] = []
    with recording_server(received) as url:
        async with AiohttpClient() as client:
            with pytest.raises(httpx.LocalProtocolError) as caught:
                await client.get(url, headers={"X-Name": b"caf\xe9", "X-Other": "ok"})
            await client.delete(url)
    assert str(caught.value) == (
        "the aiohttp transport sends headers as UTF-8, and cannot send X-Name as it is (not UTF-8)"
    )
    (delete,) = received
    assert b"\r\nContent-Length: 0\r\n" in delete


@pytest.fixture(scope="module")
def self_signed_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no one vouches for, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the TLS cases need the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", key, "-out", certificate, "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


@contextmanager
def tls_server(certificate: str, key: str) -> Iterator[str]:
    """A server on 127.0.0.1 answering 200 over TLS with `certificate`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)

    def answer(connection: socket.socket) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            _read_request(tls)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    # Not loopback_server, which reads a request first: over TLS the handshake comes first.
    with _serving(answer) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize(
    "case", ["refused", "an untrusted certificate", "https to a plain server", "an ftp URL"]
)
async def test_the_aiohttp_transport_fails_to_connect_as_httpx_s_own_does(
    async_transport: str, case: str, self_signed_certificate: tuple[str, str]
) -> None:
    """httpx's own transport is the oracle: the same httpx error, and the same reason in the
    SDK's words (`classify`), for each way a connection fails."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient
    from mesa_sdk._runtime.transport_failures import classify

    with contextlib.ExitStack() as servers:
        if case == "refused":
            with socket.socket() as unused:
                unused.bind(("127.0.0.1", 0))
                url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        elif case == "an untrusted certificate":
            url = servers.enter_context(tls_server(*self_signed_certificate))
        elif case == "https to a plain server":
            # Answers the TLS handshake's first message in plain HTTP.
            port = servers.enter_context(_serving(repo_answer))
            url = f"https://127.0.0.1:{port}"
        else:
            url = "ftp://127.0.0.1:21"
        failures = []
        for client in (httpx.AsyncClient(timeout=5), AiohttpClient(timeout=5)):
            async with client:
                with pytest.raises(httpx.RequestError) as caught:
                    await client.get(f"{url}/x")
            described = classify(caught.value)
            failures.append((type(caught.value), described.kind, described.reason))
    assert failures[1] == failures[0]


# -- failures read the same on both transports (each test runs on each) -----------------------


async def test_a_server_that_hangs_up_reads_the_same(async_transport: str) -> None:
    with loopback_server(hang_up) as url:
        core = make_core(server_url=url, retry_config=NO_RETRIES)
        with pytest.raises(APIConnectionError) as caught:
            await core.call_async(GET_REPO, REPO_ARGS, None, None)
        await core.aclose()
    assert type(caught.value) is APIConnectionError
    assert str(caught.value) == (
        f"repos.get: GET {url}/acme/r failed: RemoteProtocolError: Server disconnected without "
        "sending a response. (1 attempt over 0.0 s)"
    )


async def test_a_body_cut_short_reads_as_an_interrupted_call(async_transport: str) -> None:
    with loopback_server(cut_short) as url:
        core = make_core(server_url=url, retry_config=NO_RETRIES)
        with pytest.raises(APIConnectionError) as caught:
            await core.call_async(GET_REPO, REPO_ARGS, None, None)
        await core.aclose()
    assert type(caught.value) is APIConnectionError
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert str(caught.value).startswith(
        f"repos.get: GET {url}/acme/r failed: RemoteProtocolError: "
    )


@contextmanager
def server_that_stops_reading() -> Iterator[str]:
    """A server on 127.0.0.1 that takes a request's head and then reads nothing more, so an
    upload stalls once the sockets' buffers are full."""
    released = threading.Event()

    def hold(connection: socket.socket) -> None:
        released.wait(timeout=30)

    with loopback_server(hold) as url:
        try:
            yield url
        finally:
            released.set()


async def _pieces(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 65536


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize("body", ["bytes", "stream"])
async def test_an_upload_the_server_stops_reading_times_out_as_on_httpx(
    async_transport: str, body: str
) -> None:
    """aiohttp has no write timeout of its own; httpx's transport is the oracle. A hang is
    caught by the outer bound, and reads as that bound's error, not WriteTimeout."""
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    raised = []
    for client in (httpx.AsyncClient(timeout=0.3), AiohttpClient(timeout=0.3)):
        content = b"x" * 32_000_000 if body == "bytes" else _pieces(500)
        with server_that_stops_reading() as url:
            async with client:
                with pytest.raises(httpx.TimeoutException) as caught:
                    await asyncio.wait_for(client.post(url, content=content), timeout=10)
        raised.append((type(caught.value), caught.value.request.url == httpx.URL(url)))
    assert raised[1] == raised[0] == (httpx.WriteTimeout, True)


async def test_a_stalled_upload_ends_the_call_with_a_write_timeout(async_transport: str) -> None:
    edit = {"path": "big.txt", "action": "create", "content": "x" * 32_000_000}
    with server_that_stops_reading() as url:
        core = make_core(server_url=url, retry_config=NO_RETRIES, timeout_ms=300)
        with pytest.raises(APITimeoutError) as caught:
            await asyncio.wait_for(
                core.call_async(
                    CREATE_COMMIT, REPO_ARGS, {"branch": "main", "edits": [edit]}, None
                ),
                timeout=10,
            )
        await core.aclose()
    assert str(caught.value).startswith(
        f"commits.create: POST {url}/acme/r/commits failed: write timed out after 0.3 s"
    )


def stall_mid_body(connection: socket.socket) -> None:
    """Sends the head and a part of the body, then nothing more until the client gives up."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    connection.recv(1)


@pytest.mark.parametrize("async_transport", ["aiohttp"], indirect=True)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_body_that_stops_coming_times_out_as_on_httpx(
    async_transport: str, stream: bool
) -> None:
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    raised = []
    for make in (httpx.AsyncClient, AiohttpClient):
        with loopback_server(stall_mid_body) as url:
            async with make(timeout=0.3) as client:
                with pytest.raises(httpx.TimeoutException) as caught:
                    if stream:
                        async with client.stream("GET", url) as response:
                            await asyncio.wait_for(response.aread(), timeout=10)
                    else:
                        await asyncio.wait_for(client.get(url), timeout=10)
        raised.append(type(caught.value))
    assert raised == [httpx.ReadTimeout, httpx.ReadTimeout]


async def test_a_server_that_never_answers_times_out_the_same(async_transport: str) -> None:
    with loopback_server(stall) as url:
        core = make_core(server_url=url, retry_config=NO_RETRIES, timeout_ms=200)
        with pytest.raises(APITimeoutError) as caught:
            await core.call_async(GET_REPO, REPO_ARGS, None, None)
        await core.aclose()
    assert str(caught.value) == (
        f"repos.get: GET {url}/acme/r failed: read timed out after 0.2 s (1 attempt over 0.0 s)"
    )
