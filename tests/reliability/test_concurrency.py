"""One client shared by many threads, or by many coroutines, completes its batch with no error,
opens no more connections than its pool allows, and leaves none open once closed.

Connections are counted from the kernel's table (/proc/net/tcp): the client ends of the
ESTABLISHED TCP connections to this module's own emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mesa_emulator.server import Emulator
from tests.shared import commit_body

from .support import (
    ConnectionSampler,
    established_connections_to,
    require_proc_net_tcp,
    sdk_client,
    wait_until,
)

THREADS = 16
CALLS_PER_THREAD = 24
CONCURRENT = 100
BATCHES = 3
# The SDK's own pool (mesa_sdk/_runtime/http_clients.py): 100 connections, 20 kept alive;
# aiohttp's pool keeps every idle connection (for 5 s), up to the 100.
POOL_MAX = 100
POOL_KEEPALIVE = 20
KEPT_ALIVE = {"httpx": POOL_KEEPALIVE, "aiohttp": POOL_MAX}


@pytest.fixture
def port(own_emulator: Emulator) -> Iterator[int]:
    require_proc_net_tcp()
    assert wait_until(lambda: established_connections_to(own_emulator.port) == 0)
    yield own_emulator.port


def test_sixteen_threads_share_one_sync_client(own_emulator: Emulator, port: int) -> None:
    client = sdk_client(own_emulator, "threads")
    client.repos.create(body={"name": "r"})
    seed = client.commits.create(
        repo="r", body=commit_body("seed", [{"path": "seed", "action": "create", "content": "s"}])
    )
    for worker in range(THREADS):
        client.branches.create(repo="r", body={"name": f"w{worker}", "head_sha": seed.sha})

    def work(worker: int) -> list[str]:
        branch = f"w{worker}"
        made = []
        for call in range(CALLS_PER_THREAD):
            if call % 3 == 0:
                path = f"{branch}/{call}"
                result = client.commits.create(
                    repo="r",
                    body=commit_body(
                        f"{branch} #{call}",
                        [{"path": path, "action": "create", "content": path}],
                        branch=branch,
                    ),
                )
                made.append(result.sha)
                assert client.content.get_raw(repo="r", ref=branch, path=path) == path.encode()
            elif call % 3 == 1:
                assert client.repos.get(repo="r").name == "r"
            else:
                page = client.commits.list(repo="r", ref=branch, limit=5)
                assert page.result.commits[0].sha == made[-1]
        return made

    with ConnectionSampler(port) as sampler, ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    assert len(results) == THREADS and all(len(made) == CALLS_PER_THREAD // 3 for made in results)
    # Each thread holds at most one connection at a time.
    # Bounded by the pool: a call that leaked its connection would pass the pool's limit within
    # the batch's hundreds of calls. (Not by THREADS: under load httpcore may replace an
    # expired connection while the old socket is still closing.)
    assert 1 <= sampler.peak <= POOL_MAX, sampler.peak
    assert established_connections_to(port) <= THREADS

    for worker, made in enumerate(results):
        log = [c.sha for c in client.commits.list(repo="r", ref=f"w{worker}", limit=100)]
        assert log == [*reversed(made), seed.sha]

    client.close()
    assert wait_until(lambda: established_connections_to(port) == 0), (
        f"{established_connections_to(port)} connections still open after close()"
    )


async def test_a_hundred_concurrent_async_calls_share_one_client(
    own_emulator: Emulator, port: int, async_transport: str
) -> None:
    client = sdk_client(own_emulator, f"coroutines-{async_transport}")
    await client.repos.create_async(body={"name": "r"})
    await client.commits.create_async(
        repo="r", body=commit_body("seed", [{"path": "a", "action": "create", "content": "a"}])
    )

    async def one(number: int) -> None:
        if number % 5 == 0:
            made = await client.repos.create_async(body={"name": f"repo-{number}"})
            assert made.name == f"repo-{number}"
        elif number % 5 in (1, 2):
            assert await client.content.get_raw_async(repo="r", path="a") == b"a"
        elif number % 5 == 3:
            assert (await client.repos.get_async(repo="r")).name == "r"
        else:
            page = await client.commits.list_async(repo="r", limit=1)
            assert [c.message for c in page.result.commits] == ["seed"]

    with ConnectionSampler(port) as sampler:
        for batch in range(BATCHES):
            await asyncio.gather(*(one(batch * CONCURRENT + n) for n in range(CONCURRENT)))
            # Between batches the pool keeps at most its keep-alive connections.
            assert established_connections_to(port) <= KEPT_ALIVE[async_transport]
    # A pooled connection that expired is replaced at once, while asyncio closes the old
    # socket only on a later turn of the loop: under load, each of the pool's connections may
    # briefly have two sockets (seen: 115). A call that leaked its connection would still pass
    # this bound within the batches' 300 calls.
    assert 1 <= sampler.peak <= 2 * POOL_MAX, sampler.peak

    names = {repo.name async for repo in await client.repos.list_async(limit=100)}
    assert names == {"r"} | {f"repo-{n}" for n in range(0, BATCHES * CONCURRENT, 5)}

    await client.aclose()
    assert wait_until(lambda: established_connections_to(port) == 0), (
        f"{established_connections_to(port)} connections still open after aclose()"
    )


def test_closing_a_client_in_a_with_block_closes_its_connections(
    own_emulator: Emulator, port: int
) -> None:
    with sdk_client(own_emulator, "blocks") as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.repos.list(), range(64)))
        assert established_connections_to(port) >= 1
    assert wait_until(lambda: established_connections_to(port) == 0)


def test_the_sdk_pool_limits_are_the_ones_these_tests_assume() -> None:
    from mesa_sdk._runtime import http_clients
    from mesa_sdk._runtime.sending import CredentialStripper

    client = http_clients.new_http_client(1.0, CredentialStripper("http://127.0.0.1:1/api/v1"))
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert (pool._max_connections, pool._max_keepalive_connections) == (
            POOL_MAX,
            POOL_KEEPALIVE,
        )
    finally:
        client.close()
