"""`mesa_sdk.webhooks.verify`: what a receiver gets for a good, bad, missing, malformed, stale
or future signature.  The expected signatures are computed here from the documented formula
(HMAC-SHA256(secret, f"{t}.{body}"), hex), and checked against `openssl dgst` where present."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
from datetime import datetime, timezone

import httpx
import pytest

from mesa_sdk.errors import MesaError
from mesa_sdk.webhooks import (
    PushCommit,
    PushCommitAuthor,
    PushEvent,
    PushRepository,
    WebhookVerificationError,
    verify,
)

SECRET = "whsec_unit_secret_value"
SHA_A = "a" * 40
SHA_B = "b" * 40
EVENT = {
    "event": "push",
    "repository": {
        "id": "repo_1",
        "org": "acme",
        "name": "app",
        "url": "https://depot.mesa.dev/acme/app.git",
    },
    "ref": "refs/heads/main",
    "branch": "main",
    "before": SHA_A,
    "after": SHA_B,
    "commits": [
        {
            "id": SHA_B,
            "sha": SHA_B,
            "message": "Fix the build",
            "author": {"name": "Ada", "email": "ada@example.com", "date": "2026-01-02T03:04:05Z"},
        }
    ],
    "pushed_at": "2026-01-02T03:04:06Z",
}
BODY = json.dumps(EVENT).encode()
EXPECTED = PushEvent(
    event="push",
    repository=PushRepository(
        id="repo_1", org="acme", name="app", url="https://depot.mesa.dev/acme/app.git"
    ),
    ref="refs/heads/main",
    branch="main",
    before=SHA_A,
    after=SHA_B,
    commits=[
        PushCommit(
            id=SHA_B,
            sha=SHA_B,
            message="Fix the build",
            author=PushCommitAuthor(
                name="Ada",
                email="ada@example.com",
                date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            ),
        )
    ],
    pushed_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc),
)


def oracle(secret: str, timestamp: int, body: bytes) -> str:
    """The signature by the documented formula, computed independently of the SDK."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed(body: bytes = BODY, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    return {
        "X-Depot-Event": "push",
        "X-Depot-Delivery": "dlv_1",
        "X-Depot-Signature": f"t={t},sha256={oracle(secret, t, body)}",
    }


def refused(body: bytes | str, headers: dict[str, str], **kwargs: int) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, SECRET, **kwargs)
    message = str(caught.value)
    assert SECRET not in message
    return message


def test_a_good_signature_gives_the_typed_event() -> None:
    assert verify(BODY, signed(), SECRET) == EXPECTED


def test_the_body_may_be_given_as_text_and_headers_in_any_case() -> None:
    headers = {k.lower(): v for k, v in signed().items()}
    assert verify(BODY.decode(), headers, SECRET) == EXPECTED
    upper = {k.upper(): v for k, v in signed().items()}
    assert verify(BODY, upper, SECRET) == EXPECTED
    assert verify(BODY, httpx.Headers(signed()), SECRET) == EXPECTED


def test_the_oracle_agrees_with_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    t = 1767323046
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET],
        input=f"{t}.".encode() + BODY,
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.decode().split()[-1] == oracle(SECRET, t, BODY)


def test_a_missing_signature_header_is_refused() -> None:
    headers = signed()
    del headers["X-Depot-Signature"]
    assert refused(BODY, headers) == "The X-Depot-Signature header is missing."


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256=" + "0" * 64,
        "t=1767323046",
        "t=abc,sha256=" + "0" * 64,
        "t=1767323046,sha256=xyz",
        "t=1767323046,sha256=" + "0" * 63,
        "garbage",
    ],
)
def test_a_malformed_signature_header_is_refused(value: str) -> None:
    assert refused(BODY, {"X-Depot-Signature": value}) == (
        "The X-Depot-Signature header is malformed: expected 't=<unix seconds>,"
        "sha256=<64 hex digits>'."
    )


@pytest.mark.parametrize(
    ("signed_body", "secret"),
    [
        pytest.param(BODY, "another secret", id="wrong secret"),
        pytest.param(BODY + b" ", SECRET, id="body changed"),
    ],
)
def test_a_bad_signature_is_refused(signed_body: bytes, secret: str) -> None:
    assert refused(BODY, signed(signed_body, secret=secret)) == (
        "The signature does not match: the secret differs from the webhook's, or the body "
        "was changed (verify the raw bytes received, before any parsing)."
    )


def test_a_timestamp_changed_after_signing_is_refused() -> None:
    t = int(time.time())
    digest = oracle(SECRET, t, BODY)
    assert refused(BODY, {"X-Depot-Signature": f"t={t - 1},sha256={digest}"}).startswith(
        "The signature does not match"
    )


def test_a_stale_signature_is_refused() -> None:
    t = int(time.time()) - 301
    message = refused(BODY, signed(at=t))
    assert message.startswith(f"The signature's timestamp {t} is 30")
    assert message.endswith(" s old, more than the 300 s tolerance.")
    # Within a wider tolerance it is good.
    assert verify(BODY, signed(at=t), SECRET, tolerance_s=600) == EXPECTED


def test_a_signature_from_the_future_is_refused() -> None:
    t = int(time.time()) + 400
    message = refused(BODY, signed(at=t), tolerance_s=60)
    assert message.startswith(f"The signature's timestamp {t} is ")
    assert message.endswith(" s in the future, more than the 60 s tolerance.")


def test_any_of_several_signatures_may_match() -> None:
    t = int(time.time())
    value = f"t={t},sha256={oracle('old secret', t, BODY)},sha256={oracle(SECRET, t, BODY)}"
    assert verify(BODY, {"X-Depot-Signature": value}, SECRET) == EXPECTED


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    body = b'{"event": "push"}'
    message = refused(body, signed(body))
    assert message == (
        "The signed body is not a push event: 7 problem(s), first 'repository': Field required."
    )
    assert refused(b"[1", signed(b"[1")).startswith(
        "The signed body is not a push event: 1 problem(s), first 'body': Invalid JSON"
    )


def test_an_empty_secret_is_refused_before_anything_else() -> None:
    with pytest.raises(WebhookVerificationError, match="No webhook secret was given"):
        verify(BODY, signed(), "")


def test_the_error_is_a_mesa_error() -> None:
    assert issubclass(WebhookVerificationError, MesaError)
