"""What the SDK costs over its own dependencies.

1. Import-and-construct: `import mesa_sdk; Mesa(api_key=...)` against
   `import httpx, pydantic`, each in a fresh interpreter (goal: at most 1.15x).
2. Per-call client CPU: `client.repos.get(...)` against a raw `httpx.Client` GET plus
   `json.loads` of the same answer, from a loopback server in another process, so that
   only the client's CPU is counted (goal: at most 1.05x).

Both tables add a row for the official client `mesa-sdk==0.1.2` (Speakeasy), measured the
same way in the interpreter of its own environment (`make official-client` prepares it;
without it the rows say so).

Run: `.venv/bin/python -m benchmarks.sdk_overhead` (or `make bench`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.table import print_table

REPO = {
    "id": "repo_1",
    "org": "acme",
    "name": "widgets",
    "default_branch": "main",
    "head_sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "size_bytes": 1234,
    "created_at": "2026-11-22T08:00:00Z",
    "upstream": None,  # the real service sends it; the official client requires it
}

OFFICIAL_PYTHON = (
    Path(__file__).resolve().parent.parent
    / ".cache"
    / "official-client"
    / "venv"
    / "bin"
    / "python"
)
OFFICIAL_IMPORT = "import mesa_sdk; mesa_sdk.Mesa(api_key='mesa_bench')"

# The official client's per-call CPU, measured as `cpu_per_call_us` does, in its interpreter:
# argv is the server URL, calls per round and rounds; it prints the best round in us.
OFFICIAL_PER_CALL = r"""
import sys, time
from mesa_sdk import Mesa
url, calls, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Mesa(api_key="mesa_bench", server_url=url + "/api/v1")
call = lambda: client.repos.get(org="acme", repo="widgets")
for _ in range(20):
    call()
best = float("inf")
for _ in range(rounds):
    start = time.process_time()
    for _ in range(calls):
        call()
    best = min(best, (time.process_time() - start) / calls * 1e6)
print(best)
"""

SERVER = r"""
import json, sys
REPO = json.loads(sys.argv[1])
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = json.dumps(REPO).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: req_1\r\n"
    + b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        # One write: headers and body in separate segments stall on Nagle + delayed ACK.
        self.wfile.write(RESPONSE)
        self.wfile.flush()

    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def official_available() -> bool:
    return OFFICIAL_PYTHON.exists()


def median_wall_ms(code: str, runs: int, python: str = sys.executable) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def import_rows(runs: int = 21) -> list[list[object]]:
    baseline_code = "import httpx, pydantic"
    sdk_code = "import mesa_sdk; mesa_sdk.Mesa(api_key='mesa_bench')"
    median_wall_ms(sdk_code, 3)  # warm the bytecode cache and the page cache
    # Interleave to spread the machine's noise evenly over both.
    baseline, sdk = [], []
    for _ in range(runs):
        baseline.append(median_wall_ms(baseline_code, 1))
        sdk.append(median_wall_ms(sdk_code, 1))
    b, s = statistics.median(baseline), statistics.median(sdk)
    rows: list[list[object]] = [
        ["import httpx, pydantic", f"{b:.1f}", "1.00x", ""],
        ["import mesa_sdk + Mesa(...)", f"{s:.1f}", f"{s / b:.2f}x", "<= 1.15x"],
    ]
    if official_available():
        python = str(OFFICIAL_PYTHON)
        median_wall_ms(OFFICIAL_IMPORT, 3, python)
        o = statistics.median(median_wall_ms(OFFICIAL_IMPORT, 1, python) for _ in range(runs))
        rows.append(["official mesa-sdk 0.1.2 + Mesa(...)", f"{o:.1f}", f"{o / b:.2f}x", ""])
    else:
        rows.append(["official mesa-sdk 0.1.2", "-", "-", "make official-client first"])
    return rows


@contextmanager
def loopback_server(server_code: str = SERVER) -> Iterator[str]:
    """`server_code` (a script that prints its port, then serves REPO) in its own process."""
    process = subprocess.Popen(
        [sys.executable, "-c", server_code, json.dumps(REPO)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def cpu_per_call_us(call: object, calls: int) -> float:
    assert callable(call)
    for _ in range(20):
        call()
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls * 1e6


def per_call_rows(calls: int = 150, rounds: int = 61) -> list[list[object]]:
    from mesa_sdk import Mesa

    with loopback_server() as url, httpx.Client() as raw:
        client = Mesa(api_key="mesa_bench", server_url=url + "/api/v1", org="acme")
        headers = {"Authorization": "Bearer mesa_bench", "Accept": "application/json"}

        def raw_call() -> object:
            response = raw.get(url + "/api/v1/acme/widgets", headers=headers)
            response.raise_for_status()
            return json.loads(response.content)

        def sdk_call() -> object:
            return client.repos.get(repo="widgets")

        raw_us, sdk_us = [], []
        for _ in range(rounds):
            raw_us.append(cpu_per_call_us(raw_call, calls))
            sdk_us.append(cpu_per_call_us(sdk_call, calls))
        client.close()
        official = official_per_call_us(url, calls, rounds) if official_available() else None
    # The minimum: noise on a shared machine only ever adds time (as timeit advises).
    r, s = min(raw_us), min(sdk_us)
    rows: list[list[object]] = [
        ["httpx.Client GET + json.loads", f"{r:.0f}", "1.00x", ""],
        ["client.repos.get (parsed Repo)", f"{s:.0f}", f"{s / r:.2f}x", "<= 1.05x"],
    ]
    if official is None:
        rows.append(["official mesa-sdk 0.1.2", "-", "-", "make official-client first"])
    else:
        rows.append(["official repos.get (0.1.2)", f"{official:.0f}", f"{official / r:.2f}x", ""])
    return rows


def official_per_call_us(url: str, calls: int, rounds: int) -> float:
    done = subprocess.run(
        [str(OFFICIAL_PYTHON), "-c", OFFICIAL_PER_CALL, url, str(calls), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout)


def main() -> None:
    print_table(
        "Import and construct (wall ms, median of fresh interpreters)",
        ["what", "ms", "ratio", "goal"],
        import_rows(),
    )
    print_table(
        "Client CPU per call on loopback (us, best of 61 interleaved rounds)",
        ["what", "us/call", "ratio", "goal"],
        per_call_rows(),
    )


if __name__ == "__main__":
    main()
