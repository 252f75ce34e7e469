"""The webhook delivery worker: one background thread that POSTs each queued delivery to its
webhook, signed, and retries it with backoff until it is answered 2xx or gives up.

Deliveries are queued in the metadata store (state ``pending``) by the request that moved the
refs, before it answers, so the worker never holds up an API answer and a restart finds what
was not yet delivered.  A delivery is retried after a connection error, a timeout, 408, 429 or
a 5xx, after ``retry_delay * 2**(attempts-1)`` seconds (at most :data:`MAX_RETRY_DELAY`), and
given up (``failed``) after ``max_attempts`` attempts or any other answer.  Every attempt
carries the same ``X-Depot-Delivery`` id and a fresh signature timestamp; an attempt cut short
by a crash is made again after the restart (at-least-once).
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from mesa_emulator.store import DeliveryRecord, DeliveryState, MetadataStore
from mesa_emulator.webhooks import signature_header

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RETRY_DELAY",
    "MAX_RETRY_DELAY",
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
# How many due deliveries one pass of the worker takes from the store.
_BATCH = 32
# How long stopping waits for an attempt in flight.
_STOP_WAIT = 2.0
# The longest the worker sleeps without looking at the store (a safety net; it is woken).
_IDLE_WAIT = 5.0


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class DeliveryWorker:
    """Delivers the store's ``pending`` deliveries until :meth:`stop`."""

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
        self._thread = threading.Thread(
            target=self._run, name="mesa-emulator-webhooks", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New deliveries are queued: look now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the attempt in flight, if it ends soon; otherwise leave it (a daemon
        thread) to fail against the closed store: it is made again at the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=_STOP_WAIT)

    def _run(self) -> None:
        with httpx.Client(timeout=ATTEMPT_TIMEOUT, follow_redirects=False) as client:
            while not self._stopping.is_set():
                try:
                    due = self.store.due_deliveries(time.time(), _BATCH)
                    for delivery in due:
                        if self._stopping.is_set():
                            return
                        self._attempt(client, delivery)
                    if len(due) == _BATCH:
                        continue
                    wait = _IDLE_WAIT
                    upcoming = self.store.next_delivery_time()
                    if upcoming is not None:
                        wait = min(wait, max(0.0, upcoming - time.time()))
                except Exception:
                    if self._stopping.is_set():  # the store closed under us
                        return
                    logger.exception("the webhook delivery worker failed; retrying in 1 s")
                    wait = 1.0
                self._wake.wait(wait)
                self._wake.clear()

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
