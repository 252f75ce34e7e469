"""The webhook delivery worker: background threads that POST each queued delivery to its
webhook, signed, and retry it with backoff until it is answered 2xx or give up.

Deliveries are queued in the metadata store (state ``pending``) by the request that moved the
refs, before it answers, so the worker never holds up an API answer and a restart finds what
was not yet delivered.  A delivery is retried after a connection error, a timeout, 408, 429 or
a 5xx, after ``retry_delay * 2**(attempts-1)`` seconds (at most :data:`MAX_RETRY_DELAY`), and
given up (``failed``) after ``max_attempts`` attempts or any other answer.  Every attempt
carries the same ``X-Depot-Delivery`` id and a fresh signature timestamp; an attempt cut short
by a crash is made again after the restart (at-least-once).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time

import httpx

from mesa_emulator.store import DeliveryRecord, DeliveryState, MetadataStore
from mesa_emulator.webhooks import signature_header

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RETRY_DELAY",
    "MAX_RETRY_DELAY",
    "SENDERS",
    "USER_AGENT",
    "DeliveryWorker",
]

logger = logging.getLogger("mesa_emulator")

USER_AGENT = "Depot-Webhook/1.0"
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 300.0
# Each attempt's whole-request timeout.
ATTEMPT_TIMEOUT = 10.0
# How many attempts (to as many webhooks) may be in flight at once.
SENDERS = 4
# How long stopping waits for an attempt in flight.
_STOP_WAIT = 2.0
# The longest the worker sleeps without looking at the store (a safety net; it is woken).
_IDLE_WAIT = 5.0


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class DeliveryWorker:
    """Delivers the store's ``pending`` deliveries until :meth:`stop`: a dispatcher thread
    hands each due delivery to one of :data:`SENDERS` sender threads, one attempt in flight
    per webhook, so a slow receiver holds up only its own deliveries."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._busy: set[str] = set()  # webhooks with an attempt in flight
        self._busy_lock = threading.Lock()
        self._queue: queue.SimpleQueue[DeliveryRecord | None] = queue.SimpleQueue()
        self._client = httpx.Client(timeout=ATTEMPT_TIMEOUT, follow_redirects=False)
        self._threads = [
            threading.Thread(target=self._dispatch, name="mesa-emulator-webhooks", daemon=True)
        ] + [
            threading.Thread(target=self._send, name=f"mesa-emulator-webhook-{n}", daemon=True)
            for n in range(SENDERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """New deliveries are queued: look now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the attempts in flight, if they end soon; otherwise leave them (daemon
        threads) to fail against the closed store: they are made again at the next start."""
        self._stopping.set()
        self._wake.set()
        for _ in range(SENDERS):
            self._queue.put(None)
        deadline = time.monotonic() + _STOP_WAIT
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            self._client.close()

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._busy_lock:
                    busy = set(self._busy)
                due = self.store.due_deliveries(time.time(), SENDERS, busy)
                with self._busy_lock:
                    self._busy.update(delivery.webhook_id for delivery in due)
                    busy = set(self._busy)
                for delivery in due:
                    self._queue.put(delivery)
                wait = _IDLE_WAIT
                upcoming = self.store.next_delivery_time(busy)
                if upcoming is not None:
                    wait = min(wait, max(0.0, upcoming - time.time()))
            except Exception:
                if self._stopping.is_set():  # the store closed under us
                    return
                logger.exception("the webhook delivery worker failed; retrying in 1 s")
                wait = 1.0
            self._wake.wait(wait)
            self._wake.clear()

    def _send(self) -> None:
        while (delivery := self._queue.get()) is not None:
            try:
                self._attempt(self._client, delivery)
            except Exception as exc:
                if self._stopping.is_set():  # the store closed under us
                    return
                logger.exception("a webhook delivery attempt failed unexpectedly")
                # Counted as a failed attempt, so that a fault here cannot loop at once.
                with contextlib.suppress(Exception):
                    self._record(delivery, None, None, f"emulator error: {type(exc).__name__}")
            finally:
                with self._busy_lock:
                    self._busy.discard(delivery.webhook_id)
                self._wake.set()

    def _attempt(self, client: httpx.Client, delivery: DeliveryRecord) -> None:
        hook = self.store.get_webhook(delivery.webhook_id)
        if hook is None:
            self._record(delivery, "failed", None, "the webhook was deleted")
            return
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Depot-Event": delivery.event,
            "X-Depot-Delivery": delivery.id,
            "X-Depot-Signature": signature_header(hook.secret, int(time.time()), delivery.body),
        }
        try:
            answer = client.post(hook.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            self._record(delivery, None, None, f"{type(exc).__name__}: {exc}")
            return
        status = answer.status_code
        if 200 <= status < 300:
            self._record(delivery, "delivered", status, None)
        elif _retryable(status):
            self._record(delivery, None, status, f"HTTP {status}")
        else:
            self._record(delivery, "failed", status, f"HTTP {status}")

    def _record(
        self,
        delivery: DeliveryRecord,
        outcome: DeliveryState | None,
        status: int | None,
        error: str | None,
    ) -> None:
        """Count the attempt: ``outcome`` None means retry, if attempts remain."""
        attempts = delivery.attempts + 1
        next_at = time.time()
        if outcome is None:
            if attempts >= self.max_attempts:
                outcome = "failed"
            else:
                outcome = "pending"
                next_at += min(MAX_RETRY_DELAY, self.retry_delay * 2 ** (attempts - 1))
        self.store.delivery_attempted(
            delivery.id,
            state=outcome,
            next_attempt_at=next_at,
            response_status=status,
            error=error,
        )
