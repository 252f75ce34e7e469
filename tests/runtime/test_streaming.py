"""Raw bytes, text, and streamed bodies that are never held whole in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from mesa_sdk._runtime.errors import APIConnectionError, APITimeoutError, InvalidRequestError
from mesa_sdk._runtime.streaming import AsyncByteStream, ByteStream

from .support import GET_CONTENT, SERVER, NotFoundError, clock_of, envelope, make_core

CONTENT_URL = f"{SERVER}/acme/r/content"
ARGS = {"org": "acme", "repo": "r", "path": "big.bin"}
OCTETS = "application/octet-stream"


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that arrives in chunks, then optionally fails, and records being closed."""

    def __init__(self, chunks: list[bytes], then: Exception | None = None) -> None:
        self.chunks = chunks
        self.then = then
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk
        if self.then is not None:
            raise self.then

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def test_call_bytes_asks_for_the_media_type(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=CONTENT_URL).respond(200, content=b"\x00\x01\xff")
    data = make_core().call_bytes(GET_CONTENT, ARGS, None, accept=OCTETS)
    assert data == b"\x00\x01\xff"
    assert route.calls.last.request.headers["Accept"] == OCTETS


def test_call_text_decodes_by_charset(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(
        200,
        content="diff --git a/é".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=latin-1"},
    )
    assert make_core().call_text(GET_CONTENT, ARGS, None, accept="text/plain") == "diff --git a/é"


def test_raw_call_error_statuses_raise_typed_errors(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(406, json=envelope("NOT_ACCEPTABLE", "dir"))
    with pytest.raises(Exception) as caught:
        make_core().call_bytes(GET_CONTENT, ARGS, None, accept=OCTETS)
    assert caught.value.status_code == 406  # type: ignore[attr-defined]


def test_stream_reads_chunks_as_they_arrive(router: respx.MockRouter) -> None:
    body = Chunks([b"one", b"two", b"three"])
    router.get(url__startswith=CONTENT_URL).respond(
        200, stream=body, headers={"X-Request-Id": "req_s", "Content-Type": OCTETS}
    )
    with make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert isinstance(stream, ByteStream)
        assert (stream.status_code, stream.request_id) == (200, "req_s")
        assert stream.headers["Content-Type"] == OCTETS
        assert body.sent == 0  # nothing read before the caller asks
        chunks = stream.iter_bytes()
        assert next(chunks) == b"one"
        assert body.sent == 1
        assert b"".join(chunks) == b"twothree"
    assert body.closed


def test_stream_read_whole(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(200, stream=Chunks([b"ab", b"cd"]))
    with make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert stream.read() == b"abcd"


def test_stream_closes_when_the_block_raises(router: respx.MockRouter) -> None:
    body = Chunks([b"x"] * 5)
    router.get(url__startswith=CONTENT_URL).respond(200, stream=body)
    with pytest.raises(RuntimeError), make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS):
        raise RuntimeError("caller gave up")
    assert body.closed


def test_stream_inputs_are_checked_when_called_not_when_entered(router: respx.MockRouter) -> None:
    route = router.route()
    with pytest.raises(InvalidRequestError):
        make_core().stream(GET_CONTENT, {"org": "acme"}, None, accept=OCTETS)
    assert not route.called


def test_stream_sends_only_when_entered(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=CONTENT_URL).respond(200, stream=Chunks([b"x"]))
    context = make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS)
    assert not route.called
    with context:
        assert route.called


def test_stream_error_status_raises_typed_error_on_enter(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(
        404, json=envelope("PATH_NOT_FOUND", "No such path"), headers={"X-Request-Id": "r4"}
    )
    with (
        pytest.raises(NotFoundError) as caught,
        make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS),
    ):
        pass  # pragma: no cover
    assert str(caught.value) == "No such path (404 PATH_NOT_FOUND, request id r4)"


def test_stream_is_retried_before_the_body_is_handed_over(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=CONTENT_URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, stream=Chunks([b"ok"]))]
    )
    core = make_core()
    with core.stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert stream.read() == b"ok"
    assert route.call_count == 2
    assert clock_of(core).sleeps == [0.5]


def test_timeout_mid_stream_raises_api_timeout_error(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(
        200, stream=Chunks([b"partial"], then=httpx.ReadTimeout("timed out"))
    )
    with make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        chunks = stream.iter_bytes()
        assert next(chunks) == b"partial"
        with pytest.raises(
            APITimeoutError,
            match=r"^content\.get: GET .*/acme/r/content failed: read timed out after 30 s$",
        ):
            next(chunks)


def test_dropped_connection_mid_stream_raises_connection_error(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(
        200, stream=Chunks([b"a"], then=httpx.RemoteProtocolError("peer closed connection"))
    )
    with (
        make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream,
        pytest.raises(APIConnectionError, match="peer closed connection"),
    ):
        stream.read()


async def test_async_bytes_text_and_stream(router: respx.MockRouter) -> None:
    body = Chunks([b"12", b"34"])
    router.get(url__startswith=CONTENT_URL).mock(
        side_effect=[
            httpx.Response(200, content=b"raw"),
            httpx.Response(200, text="text"),
            httpx.Response(200, stream=body, headers={"X-Request-Id": "ra"}),
        ]
    )
    core = make_core()
    assert await core.call_bytes_async(GET_CONTENT, ARGS, None, accept=OCTETS) == b"raw"
    assert await core.call_text_async(GET_CONTENT, ARGS, None, accept="text/plain") == "text"
    async with core.stream_async(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert isinstance(stream, AsyncByteStream)
        assert stream.request_id == "ra"
        assert [chunk async for chunk in stream.iter_bytes()] == [b"12", b"34"]
    assert body.closed


async def test_async_stream_errors(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).mock(
        side_effect=[
            httpx.Response(404, json=envelope("PATH_NOT_FOUND", "nope")),
            httpx.Response(200, stream=Chunks([b"a"], then=httpx.ReadTimeout("slow"))),
        ]
    )
    core = make_core()
    with pytest.raises(NotFoundError):
        async with core.stream_async(GET_CONTENT, ARGS, None, accept=OCTETS):
            pass  # pragma: no cover
    async with core.stream_async(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        with pytest.raises(APITimeoutError):
            await stream.read()


def test_stream_reports_its_size_and_what_was_read(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).respond(
        200, stream=Chunks([b"abc", b"defg"]), headers={"Content-Length": "7"}
    )
    seen = []
    with make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert (stream.total_bytes, stream.bytes_read) == (7, 0)
        for _ in stream.iter_bytes():
            seen.append((stream.bytes_read, stream.total_bytes))
    assert seen == [(3, 7), (7, 7)]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Length": "7", "Content-Encoding": "gzip"}, {"Content-Length": "x"}],
    ids=["no length", "compressed", "not a number"],
)
def test_stream_size_is_unknown_unless_the_server_says_it(
    router: respx.MockRouter, headers: dict[str, str]
) -> None:
    router.get(url__startswith=CONTENT_URL).respond(200, stream=Chunks([b"ab"]), headers=headers)
    with make_core().stream(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert stream.total_bytes is None


async def test_async_stream_counts_bytes_read(router: respx.MockRouter) -> None:
    router.get(url__startswith=CONTENT_URL).mock(
        side_effect=[
            httpx.Response(200, stream=Chunks([b"12", b"345"]), headers={"Content-Length": "5"}),
            httpx.Response(200, stream=Chunks([b"12", b"345"])),
        ]
    )
    core = make_core()
    async with core.stream_async(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        counts = [stream.bytes_read async for _ in stream.iter_bytes()]
        assert (counts, stream.total_bytes) == ([2, 5], 5)
    async with core.stream_async(GET_CONTENT, ARGS, None, accept=OCTETS) as stream:
        assert await stream.read() == b"12345"
        assert (stream.bytes_read, stream.total_bytes) == (5, None)
