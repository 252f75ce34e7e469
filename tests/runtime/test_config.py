"""Malformed configuration is refused up front, with the key path of every problem."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from mesa_sdk._runtime.config import (
    BackoffStrategy,
    RetryConfig,
    parse_request_options,
    parse_retry_config,
)
from mesa_sdk._runtime.errors import InvalidOptionsError

from .support import GET_REPO, SERVER, make_core

BACKOFF = {
    "initial_interval": 100,
    "max_interval": 2_000,
    "exponent": 2,
    "max_elapsed_time": 10_000,
    "jitter": 0.5,
}


def test_a_dict_becomes_a_retry_config() -> None:
    config = parse_retry_config(
        {"strategy": "backoff", "backoff": BACKOFF, "retry_connection_errors": False},
        "retry_config",
    )
    assert config == RetryConfig(
        strategy="backoff",
        backoff=BackoffStrategy(100, 2_000, 2, 10_000, 0.5),
        retry_connection_errors=False,
    )
    assert parse_retry_config({"strategy": "none"}, "retry_config") == RetryConfig("none")


def test_missing_backoff_keys_take_the_defaults() -> None:
    config = parse_retry_config({"strategy": "backoff", "backoff": {"exponent": 2}}, "x")
    assert config.backoff == BackoffStrategy(exponent=2)
    assert config.backoff.jitter == 0.25
    assert config.retry_connection_errors is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "exponent": 0.5}},
            "retry_config.backoff.exponent: must be >= 1, got 0.5",
        ),
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "initial_interval": -1}},
            "retry_config.backoff.initial_interval: must be >= 0, got -1",
        ),
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "max_interval": "60s"}},
            "retry_config.backoff.max_interval: expected an int of milliseconds, got str",
        ),
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "max_elapsed_time": 0}},
            "retry_config.backoff.max_elapsed_time: must be > 0, got 0",
        ),
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "jitter": 1.5}},
            "retry_config.backoff.jitter: must be between 0 and 1, got 1.5",
        ),
        (
            {"strategy": "backoff", "backoff": {**BACKOFF, "initialInterval": 5}},
            "retry_config.backoff.initialInterval: unknown key (expected one of initial_interval, "
            "max_interval, exponent, max_elapsed_time, jitter)",
        ),
        (
            {"strategy": "backoff"},
            'retry_config.backoff: is required when strategy is "backoff"',
        ),
        (
            {"strategy": "exponential", "backoff": BACKOFF},
            'retry_config.strategy: expected "backoff" or "none", got \'exponential\'',
        ),
        ({"backoff": BACKOFF}, 'retry_config.strategy: is required: "backoff" or "none"'),
        (
            {"strategy": "none", "retry_connection_errors": "yes"},
            "retry_config.retry_connection_errors: expected a bool, got str",
        ),
        (
            {"strategy": "none", "retries": 3},
            "retry_config.retries: unknown key (expected one of strategy, backoff, "
            "retry_connection_errors, max_unreachable_time)",
        ),
        (
            {"strategy": "backoff", "backoff": 5},
            "retry_config.backoff: expected a dict or a BackoffStrategy, got int",
        ),
        ("backoff", "retry_config: expected a RetryConfig or a dict, got str"),
    ],
)
def test_malformed_retry_config_names_the_key(value: Any, message: str) -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        make_core(retry_config=value)
    assert str(caught.value) == message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        parse_retry_config(
            {"strategy": "backoff", "backoff": {"exponent": 0, "jitter": -1}}, "retry_config"
        )
    assert str(caught.value) == (
        "retry_config.backoff.exponent: must be >= 1, got 0; "
        "retry_config.backoff.jitter: must be between 0 and 1, got -1"
    )


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(InvalidOptionsError, match="initial_interval: expected an int"):
        parse_retry_config({"strategy": "backoff", "backoff": {"initial_interval": True}}, "r")


def test_config_objects_check_themselves() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        BackoffStrategy(exponent=0.9)
    assert str(caught.value) == "BackoffStrategy.exponent: must be >= 1, got 0.9"
    with pytest.raises(InvalidOptionsError) as caught:
        RetryConfig("backoff")
    assert str(caught.value) == 'RetryConfig.backoff: is required when strategy is "backoff"'


@pytest.mark.parametrize("timeout", [0, -5, 1.5, "30000", True])
def test_timeout_must_be_a_positive_int(timeout: object) -> None:
    with pytest.raises(InvalidOptionsError, match=r"^timeout_ms: "):
        make_core(timeout_ms=timeout)


def test_request_options_unknown_key_suggests_the_right_one(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/acme/r")
    with pytest.raises(InvalidOptionsError) as caught:
        make_core().call(GET_REPO, {"org": "acme", "repo": "r"}, None, {"timeout": 5})  # type: ignore[arg-type]
    assert str(caught.value) == (
        "request_options: unknown key 'timeout' (expected one of timeout_ms, retries, headers, "
        "idempotency_key); did you mean 'timeout_ms'?"
    )
    assert not route.called


def test_request_options_report_nested_paths() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        parse_request_options(
            {
                "timeout_ms": 0,
                "retries": {"strategy": "backoff", "backoff": {"exponent": 0}},
                "headers": {"X-Ok": "fine", "X-Bad": 5},
            }
        )
    assert str(caught.value) == (
        "request_options.timeout_ms: must be > 0, got 0; "
        "request_options.retries.backoff.exponent: must be >= 1, got 0; "
        "request_options.headers.X-Bad: expected a str, got int"
    )


def test_header_values_must_be_sendable() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        make_core(headers={"X-Secret": "line\r\nInjected: 1"})
    assert str(caught.value) == "headers.X-Secret: the value must be ASCII without line breaks"
    assert "Injected" not in str(caught.value)
    with pytest.raises(InvalidOptionsError, match="is not a valid header name"):
        make_core(headers={"Bad Name": "x"})


def test_request_options_must_be_a_dict() -> None:
    with pytest.raises(InvalidOptionsError, match="request_options: expected a dict, got list"):
        parse_request_options([("timeout_ms", 5)])


def test_idempotency_key_must_be_a_str_whose_rule_the_operation_checks() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        parse_request_options({"idempotency_key": 7})
    assert str(caught.value) == "request_options.idempotency_key: expected a str, got int"
    # The spec's rule for the value is the operation's (test_request_building checks it).
    assert parse_request_options({"idempotency_key": "has space"}).idempotency_key == "has space"
