"""Helpers of the reliability tests: fast retries, hook recorders, loopback servers, and a
count of this machine's TCP connections to a port."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from tests.shared import serving


def fast_retries(
    *, max_elapsed_ms: int = 30_000, initial_ms: int = 10, max_interval_ms: int = 100
) -> dict[str, Any]:
    """Backoff from `initial_ms` up to `max_interval_ms`, for at most `max_elapsed_ms`."""
    return {
        "strategy": "backoff",
        "backoff": {
            "initial_interval": initial_ms,
            "max_interval": max_interval_ms,
            "exponent": 1.5,
            "max_elapsed_time": max_elapsed_ms,
        },
    }


def sdk_client(emu: Emulator, org: str, **options: Any) -> Mesa:
    """A client of `emu` for `org`, with fast retries unless `retry_config` is given."""
    options.setdefault("retry_config", fast_retries())
    return Mesa(api_key=emu.api_key, server_url=emu.url, org=org, **options)


def script_for(emu: Emulator, script_id: str) -> dict[str, Any]:
    """The fault log entry of one script."""
    for script in emu.fault_log():
        if script["id"] == script_id:
            return script
    raise AssertionError(f"no fault script {script_id}")


@dataclass
class Attempt:
    method_name: str
    attempt: int
    idempotency_key: str | None
    outcome: str
    """`ok`, `replayed` (answered from the idempotency store) or the error's class name."""


@dataclass
class HookRecorder:
    """Every attempt of every call of one client, seen through its hooks."""

    sent: list[httpx.Request] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, client: Mesa) -> HookRecorder:
        def before(context: Any, request: httpx.Request) -> None:
            with self.lock:
                self.sent.append(request)

        def success(context: Any, response: httpx.Response) -> None:
            replayed = response.headers.get("idempotent-replayed") == "true"
            self._add(context, "replayed" if replayed else "ok")

        def error(context: Any, response: httpx.Response | None, failure: Exception) -> None:
            self._add(context, type(failure).__name__)

        client.hooks.register_before_request(before)
        client.hooks.register_after_success(success)
        client.hooks.register_after_error(error)
        return self

    def _add(self, context: Any, outcome: str) -> None:
        with self.lock:
            self.attempts.append(
                Attempt(context.method_name, context.attempt, context.idempotency_key, outcome)
            )

    def outcomes(self) -> list[str]:
        return [attempt.outcome for attempt in self.attempts]


# -- TCP connections ------------------------------------------------------------------------


def established_connections_to(port: int) -> int:
    """How many ESTABLISHED IPv4 TCP connections on this machine have `port` as their remote
    port: the client ends of connections to a server listening on 127.0.0.1:`port`."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def require_proc_net_tcp() -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("counting TCP connections needs Linux's /proc/net/tcp")


class ConnectionSampler:
    """Samples `established_connections_to(port)` in a thread; `peak` is the most seen."""

    def __init__(self, port: int, every_seconds: float = 0.002) -> None:
        self.port = port
        self.every = every_seconds
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, established_connections_to(self.port))
            self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Polls `condition` until it holds or `timeout` passes (sockets close asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- loopback servers -----------------------------------------------------------------------


class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server that counts its connections and prints no tracebacks."""

    daemon_threads = True

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.ssl_context = ssl_context
        self.connections = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        self.connections += 1
        if self.ssl_context is not None:
            # The handshake runs in the handler's thread, so a failed one is counted too.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that rejected the certificate, or hung up


@contextlib.contextmanager
def loopback_http_server(
    handler: type[http.server.BaseHTTPRequestHandler],
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[QuietHTTPServer]:
    """A threaded HTTP(S) server on 127.0.0.1 and a free port, stopped on exit."""
    with serving(QuietHTTPServer(("127.0.0.1", 0), handler, ssl_context=ssl_context)) as server:
        yield server


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port bound but not listening: every connection is refused, and no other
    process can take the port while the test runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def server_port(server: QuietHTTPServer) -> int:
    return int(server.server_address[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key, as PEM files.

    Made with the `cryptography` package when it is installed, else the `openssl` command;
    the test is skipped when neither is available.
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
        return cert, key
    except ImportError:
        pass
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("making a self-signed certificate needs `cryptography` or `openssl`")
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {result.stderr.strip()[:300]}")
    return cert, key


def _certificate_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509  # type: ignore[import-not-found]
    from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found]
    from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found]
    from cryptography.x509.oid import NameOID  # type: ignore[import-not-found]

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
