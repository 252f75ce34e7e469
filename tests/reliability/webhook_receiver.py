"""A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every POST and
answers each with the next status of its script (200 once the script is used up)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from .support import loopback_http_server, server_port, wait_until


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    def __init__(self, port: int, statuses: list[int]) -> None:
        self.url = f"http://127.0.0.1:{port}/hooks/depot"
        self.statuses = statuses
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """The first ``count`` deliveries, once they arrived (fails after ``timeout``)."""
        assert wait_until(lambda: len(self.received) >= count, timeout), (
            f"{len(self.received)} of {count} deliveries within {timeout} s"
        )
        with self.lock:
            return list(self.received[:count])


@contextlib.contextmanager
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[WebhookReceiver]:
    """A running receiver, stopped on exit."""
    state: list[WebhookReceiver] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback_http_server(Handler) as server:
        state.append(WebhookReceiver(server_port(server), list(statuses or [])))
        yield state[0]
