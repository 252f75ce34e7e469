"""Async calls at concurrency: calls per second and client CPU per call, side by side.

One small GET per call (a repository's JSON, about 230 bytes) against a loopback server in a
process of its own, answering from memory on a bare asyncio protocol so that the server is
never what limits a row. Rows:

- raw `httpx.AsyncClient` GET + `json.loads`, and raw `aiohttp` GET + `json.loads`: the floors;
- raw `httpx.AsyncClient` on the SDK's aiohttp transport: what a call through httpx's
  client costs on aiohttp;
- an `httpx.Request` handed straight to the SDK's aiohttp transport (no client; its URL
  parsed and its headers built once, as the SDK does), read with `json.loads`: the floor of
  anything speaking httpx's transport interface on aiohttp, which the SDK's own clients do
  (`mesa_sdk/_runtime/sending.py`);
- our SDK's `repos.get_async` (parsed `Repo`) on its default transport and on
  `async_transport="aiohttp"`;
- the official `mesa-sdk==0.1.2` `repos.get_async`, in the interpreter of its own environment
  (`make official-client` prepares it; without it the row says so).

Each is run with 1, 10 and 50 calls in flight (that many coroutines, each calling in turn).
A round runs every row at every concurrency once, in turn, so that the machine's noise falls
on all of them alike; a ratio is taken within a round (ours on httpx against raw httpx, ours
on aiohttp against raw aiohttp), and the tables show medians over the rounds. Throughput
on a shared machine moves with its other load; client CPU per call moves less, so its ratios
are shown too.

Goals (issue 14): on the default transport at least 0.95x raw httpx at every concurrency;
with the aiohttp extra, at 50 concurrent, at least 0.7x raw aiohttp.

Run: `.venv/bin/python -m benchmarks.async_concurrency` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import httpx

from benchmarks.sdk_overhead import OFFICIAL_PYTHON, loopback_server, official_available
from benchmarks.table import print_table

CONCURRENCY = (1, 10, 50)
CALLS = 500
"""Calls per measurement: each row at each concurrency."""
ROUNDS = 7
KEY = "mesa_bench"
HEADERS = {"Authorization": f"Bearer {KEY}", "Accept": "application/json"}

# Answers every request on a connection with the same response, from memory.
SERVER = r"""
import asyncio, sys
BODY = sys.argv[1].encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: req_1\r\n"
    + b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.pending = transport, b""

    def data_received(self, data):
        # GETs have no body: each blank line ends a request.
        data = self.pending + data
        requests = data.count(b"\r\n\r\n")
        if requests:
            self.pending = data[data.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * requests)
        else:
            self.pending = data

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

# The official client, measured as `measure` does, in its own interpreter: argv is the server
# URL; each line on stdin is "<concurrency> <calls>", answered by "<calls/s> <cpu us/call>".
OFFICIAL_DRIVER = r"""
import asyncio, sys, time
from mesa_sdk import Mesa

async def main():
    client = Mesa(api_key="mesa_bench", server_url=sys.argv[1] + "/api/v1")
    call = lambda: client.repos.get_async(org="acme", repo="widgets")
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        concurrency, calls = map(int, line.split())
        async def worker():
            for _ in range(calls // concurrency):
                await call()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        total = calls // concurrency * concurrency
        print(total / wall, cpu / total * 1e6, flush=True)

asyncio.run(main())
"""

Call = Callable[[], Awaitable[object]]
Measurement = tuple[float, float]
"""Calls per second and client CPU microseconds per call."""


async def measure(call: Call, concurrency: int, calls: int = CALLS) -> Measurement:
    async def worker() -> None:
        for _ in range(calls // concurrency):
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = calls // concurrency * concurrency
    return total / wall, cpu / total * 1e6


class OfficialDriver:
    """The official client in its own interpreter, measuring on request."""

    def __init__(self, url: str) -> None:
        self._process = subprocess.Popen(
            [str(OFFICIAL_PYTHON), "-c", OFFICIAL_DRIVER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def measure(self, concurrency: int, calls: int = CALLS) -> Measurement:
        return await asyncio.to_thread(self._measure, concurrency, calls)

    def _measure(self, concurrency: int, calls: int) -> Measurement:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{concurrency} {calls}\n")
        self._process.stdin.flush()
        rate, cpu = map(float, self._process.stdout.readline().split())
        return rate, cpu

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


async def clients(url: str, stack: AsyncExitStack) -> dict[str, Call]:
    """Each row's call, its client open until `stack` closes."""
    import aiohttp

    from mesa_sdk import Mesa
    from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

    repo_url = f"{url}/api/v1/acme/widgets"
    raw_aiohttp = await stack.enter_async_context(aiohttp.ClientSession())

    def httpx_call(client: httpx.AsyncClient) -> Call:
        async def call() -> object:
            response = await client.get(repo_url, headers=HEADERS)
            response.raise_for_status()
            return json.loads(response.content)

        return call

    async def raw_aiohttp_call() -> object:
        async with raw_aiohttp.get(repo_url, headers=HEADERS) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    ours = {
        transport: await stack.enter_async_context(
            Mesa(api_key=KEY, server_url=url + "/api/v1", org="acme", async_transport=transport)
        )
        for transport in ("httpx", "aiohttp")
    }
    on_aiohttp = await stack.enter_async_context(AiohttpClient())
    transport = on_aiohttp._transport_for_url(httpx.URL(repo_url))
    timeout = httpx.Timeout(60).as_dict()
    # Parsed and built once, as the SDK does: parsing a URL costs more than the rest of a call.
    parsed_url = httpx.URL(repo_url)
    headers = httpx.Headers({"host": parsed_url.netloc.decode("ascii"), **HEADERS})

    async def transport_call() -> object:
        request = httpx.Request("GET", parsed_url, headers=headers, extensions={"timeout": timeout})
        response = await transport.handle_async_request(request)
        await response.aread()
        response.raise_for_status()
        return json.loads(response.content)

    return {
        RAW_HTTPX: httpx_call(await stack.enter_async_context(httpx.AsyncClient())),
        RAW_AIOHTTP: raw_aiohttp_call,
        HTTPX_ON_AIOHTTP: httpx_call(on_aiohttp),
        TRANSPORT_FLOOR: transport_call,
        OURS: lambda: ours["httpx"].repos.get_async(repo="widgets"),
        OURS_ON_AIOHTTP: lambda: ours["aiohttp"].repos.get_async(repo="widgets"),
    }


RAW_HTTPX = "raw httpx.AsyncClient"
RAW_AIOHTTP = "raw aiohttp"
HTTPX_ON_AIOHTTP = "raw httpx.AsyncClient on our aiohttp transport"
TRANSPORT_FLOOR = "an httpx.Request straight to our aiohttp transport"
OURS = "our SDK, default"
OURS_ON_AIOHTTP = 'our SDK, async_transport="aiohttp"'
OFFICIAL = "official mesa-sdk 0.1.2"
# Each row held against another, with its goal at each concurrency.
RATIOS = [
    (OURS, RAW_HTTPX, {1: 0.95, 10: 0.95, 50: 0.95}),
    (OURS_ON_AIOHTTP, RAW_AIOHTTP, {50: 0.7}),
    (OURS_ON_AIOHTTP, HTTPX_ON_AIOHTTP, {}),
    (OURS_ON_AIOHTTP, TRANSPORT_FLOOR, {}),
    (TRANSPORT_FLOOR, RAW_AIOHTTP, {}),
    (OURS_ON_AIOHTTP, OURS, {}),
    (OFFICIAL, RAW_HTTPX, {}),
]


async def run(rounds: int) -> dict[str, dict[int, list[Measurement]]]:
    """Every row's measurements at each concurrency, one per round."""
    results: dict[str, dict[int, list[Measurement]]] = {}
    with loopback_server(SERVER) as url:
        official = OfficialDriver(url) if official_available() else None
        try:
            async with AsyncExitStack() as stack:
                calls = await clients(url, stack)
                rows: dict[str, Callable[[int], Awaitable[Measurement]]] = {
                    name: (lambda concurrency, call=call: measure(call, concurrency))
                    for name, call in calls.items()
                }
                if official is not None:
                    rows[OFFICIAL] = official.measure
                for row in rows.values():  # warm up: connections, caches, adapters
                    await row(max(CONCURRENCY))
                for _ in range(rounds):
                    for concurrency in CONCURRENCY:
                        for name, row in rows.items():
                            by_concurrency = results.setdefault(name, {})
                            by_concurrency.setdefault(concurrency, []).append(
                                await row(concurrency)
                            )
        finally:
            if official is not None:
                official.close()
    return results


def throughput_rows(results: dict[str, dict[int, list[Measurement]]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, by_concurrency in results.items():
        cells: list[object] = [name]
        for concurrency in CONCURRENCY:
            measured = by_concurrency[concurrency]
            rate = statistics.median(rate for rate, _ in measured)
            cpu = statistics.median(cpu for _, cpu in measured)
            cells.append(f"{rate:,.0f}/s, {cpu:,.0f} µs")
        rows.append(cells)
    if OFFICIAL not in results:
        rows.append([OFFICIAL, *["-"] * (len(CONCURRENCY) - 1), "make official-client first"])
    return rows


def ratio_rows(
    results: dict[str, dict[int, list[Measurement]]], *, of_cpu: bool = False
) -> list[list[object]]:
    """Each pair's ratio within a round, the median over rounds: of calls per second, or (with
    `of_cpu`) of the client CPU per call, held the other way so that more is better too."""
    rows: list[list[object]] = []
    for name, baseline, goals in RATIOS:
        if name not in results:
            continue
        cells: list[object] = [f"{name} / {baseline}"]
        for concurrency in CONCURRENCY:
            ours, raw = results[name][concurrency], results[baseline][concurrency]
            ratio = statistics.median(
                raw_cpu / our_cpu if of_cpu else our_rate / raw_rate
                for (our_rate, our_cpu), (raw_rate, raw_cpu) in zip(ours, raw, strict=True)
            )
            goal = None if of_cpu else goals.get(concurrency)
            cells.append(f"{ratio:.2f}x" + (f" (goal >= {goal}x)" if goal else ""))
        rows.append(cells)
    return rows


def main(rounds: int = ROUNDS) -> None:
    results = asyncio.run(run(rounds))
    header = ["client", *(f"{n} concurrent" if n > 1 else "1 at a time" for n in CONCURRENCY)]
    print_table(
        f"Async calls per second and client CPU per call on loopback "
        f"(median of {rounds} interleaved rounds)",
        header,
        throughput_rows(results),
    )
    print_table(
        "Throughput ratio within a round (median over rounds)",
        ["row / row", *header[1:]],
        ratio_rows(results),
    )
    # The machine's other load moves throughput more than it moves CPU per call.
    print_table(
        "Client CPU per call within a round, as raw CPU / ours (median over rounds)",
        ["row / row", *header[1:]],
        ratio_rows(results, of_cpu=True),
    )


if __name__ == "__main__":
    main()
