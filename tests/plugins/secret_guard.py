"""The secret guard, a pytest plugin: an API key never shows in a log record, an exception or
a repr (registered for the whole suite by `tests/conftest.py`).

For the whole session the `mesa_sdk` logger logs at DEBUG into a capturing handler on the
root logger (pytest shows captured logs only for failing tests, so nothing floods the output);
a filter placed before the SDK's own redacting filter also sees each record the SDK writes as
it was written. Every API key the tests use is recorded:

- every key the SDK is given or resolves (`ApiKey`, behind `Mesa(api_key=...)`);
- every emulator's bootstrap key (`Emulator.api_key`) and every key the emulator generates,
  through the admin API or `Emulator.create_api_key` (`mesa_emulator.auth.generate_key`);
- every `ApiKeyCreated.key` the SDK returns.

Each test's teardown then fails ("API KEY LEAK", naming the record and where it was written)
if a recorded key appears in a log record captured during the test (message or arguments), in
the text or repr of an SDK exception built during the test, or in the repr of a client; and a
test whose failure text shows a key fails with that said. Keys are masked in these reports
and in the captured output pytest prints with them (`<API key #3 (given to the SDK)>`). Keys
shorter than 12 characters are placeholders of unit tests (`"k"`, `"explicit"`) and are not
tracked: they would match ordinary words. tests/reliability/test_credentials.py checks that
this check catches planted leaks.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest

MIN_KEY_LENGTH = 12


class SecretGuard:
    """The keys seen so far and the texts (log records, errors, reprs) to check for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}  # key -> where it was first seen
        self._pattern: re.Pattern[str] | None = None
        self._texts: list[tuple[str, str]] = []  # (what it is, its text)
        self.texts_checked = 0
        self.handler: logging.Handler | None = None
        """The handler that notes log records (on the root logger)."""

    # -- keys -------------------------------------------------------------------------------

    def add_key(self, key: object, source: str) -> None:
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            return
        with self._lock:
            if key in self._keys:
                return
            self._keys[key] = f"key #{len(self._keys) + 1} ({source})"
            alternatives = sorted(self._keys, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(k) for k in alternatives))

    def knows(self, key: str) -> bool:
        with self._lock:
            return key in self._keys

    @property
    def key_count(self) -> int:
        with self._lock:
            return len(self._keys)

    def keys_in(self, text: str) -> list[str]:
        """The recorded keys that appear in `text`."""
        with self._lock:
            pattern = self._pattern
        if pattern is None or not text:
            return []
        return sorted({match.group(0) for match in pattern.finditer(text)})

    def mask(self, text: str) -> str:
        """`text` with every recorded key replaced by `<API key #n (source)>`."""
        with self._lock:
            pattern, labels = self._pattern, dict(self._keys)
        if pattern is None:
            return text
        return pattern.sub(lambda match: f"<API {labels[match.group(0)]}>", text)

    # -- texts ------------------------------------------------------------------------------

    def note(self, what: str, text: str) -> None:
        """Keeps `text` to be checked at the end of the current test."""
        with self._lock:
            self._texts.append((what, text))

    @property
    def pending(self) -> int:
        """How many texts wait to be checked at the end of the current test."""
        with self._lock:
            return len(self._texts)

    def drain(self) -> list[str]:
        """Checks and forgets the texts noted so far; a description of each leak (masked)."""
        with self._lock:
            texts, self._texts = self._texts, []
        self.texts_checked += len(texts)
        leaks = []
        for what, text in texts:
            if self.keys_in(text):
                shown = self.mask(text)
                if len(shown) > 2000:
                    shown = shown[:2000] + " [...]"
                leaks.append(f"{what}:\n    {shown}")
        return leaks


GUARD = SecretGuard()


class _CaptureHandler(logging.Handler):
    """Notes every record that reaches the root logger, after the loggers' own filters."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        parts = [text]
        if record.args:
            parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        GUARD.note(
            f"log record {record.name} {record.levelname} at "
            f"{record.pathname}:{record.lineno} (thread {record.threadName})",
            "\n".join(parts),
        )


_HANDLER = _CaptureHandler(level=logging.DEBUG)
GUARD.handler = _HANDLER


class _SdkRecordFilter(logging.Filter):
    """Runs first on the `mesa_sdk` logger, before the SDK's own redacting filter: a record
    the SDK itself writes must not need that safety net. (Records that tests log on purpose
    to exercise the safety net come from test files and are left to the handler.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if "/mesa_sdk/" in record.pathname.replace("\\", "/"):
            try:
                text = record.getMessage()
            except Exception:
                text = str(record.msg)
            GUARD.note(
                f"SDK log record, before redaction, at {record.pathname}:{record.lineno}",
                f"{text}\n{record.args!r}",
            )
        return True


_SDK_FILTER = _SdkRecordFilter()


# -- recording the keys ---------------------------------------------------------------------


def _wrap_once(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    original = getattr(owner, name, None)
    if original is None or getattr(original, "_secret_guard", False):
        return
    wrapper = make(original)
    wrapper._secret_guard = True
    setattr(owner, name, wrapper)


def _record_sdk_keys() -> None:
    from mesa_sdk._runtime import client, core, credentials

    def api_key_init(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: Any, source: object, *args: Any, **kwargs: Any) -> None:
            GUARD.add_key(source, "given to the SDK")
            original(self, source, *args, **kwargs)

        return init

    def api_key_resolve(original: Callable[[Any], str]) -> Callable[[Any], str]:
        @functools.wraps(original)
        def resolve(self: Any) -> str:
            key = original(self)
            GUARD.add_key(key, "returned by an api_key function")
            return key

        return resolve

    def noting_reprs(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            texts = [repr(self)]
            for attribute in ("settings", "hooks", "_core"):
                if hasattr(self, attribute):
                    texts.append(repr(getattr(self, attribute)))
            GUARD.note(f"repr of a {type(self).__name__}", "\n".join(texts))

        return init

    _wrap_once(credentials.ApiKey, "__init__", api_key_init)
    _wrap_once(credentials.ApiKey, "resolve", api_key_resolve)
    _wrap_once(core.ClientCore, "__init__", noting_reprs)
    _wrap_once(client.BaseClient, "__init__", noting_reprs)

    try:
        from mesa_sdk.resources import admin
    except ImportError:  # the generated package is being rebuilt
        return

    def noting_created_key(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def create(*args: Any, **kwargs: Any) -> Any:
            created = original(*args, **kwargs)
            GUARD.add_key(getattr(created, "key", None), "ApiKeyCreated.key")
            return created

        return create

    def noting_created_key_async(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def create(*args: Any, **kwargs: Any) -> Any:
            created = await original(*args, **kwargs)
            GUARD.add_key(getattr(created, "key", None), "ApiKeyCreated.key")
            return created

        return create

    _wrap_once(admin.Admin, "create_api_key", noting_created_key)
    _wrap_once(admin.Admin, "create_api_key_async", noting_created_key_async)


def _guard_error_classes() -> None:
    """Notes the text and repr of every SDK exception once it is built."""
    from mesa_sdk._runtime.errors import MesaError

    def noting_error(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: BaseException, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            try:
                text = f"{self}\n{self!r}"
            except Exception:  # an outer __init__ has not set its attributes yet
                return
            GUARD.note(f"exception {type(self).__module__}.{type(self).__qualname__}", text)

        return init

    pending: list[type] = [MesaError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "__init__" in cls.__dict__:
            _wrap_once(cls, "__init__", noting_error)


_original_generate_key: Callable[[], str] | None = None


def _record_emulator_keys() -> None:
    """Wraps the emulator's key generator (in every module that imported it) and
    `Emulator.start`, which fixes the bootstrap key."""
    global _original_generate_key
    try:
        from mesa_emulator import auth
    except ImportError:  # the emulator extra is not installed
        return
    if _original_generate_key is None:
        _original_generate_key = auth.generate_key
        original = _original_generate_key

        @functools.wraps(original)
        def generate_key() -> str:
            key = original()
            GUARD.add_key(key, "generated by the emulator")
            return key

        generate_key._secret_guard = True  # type: ignore[attr-defined]
        auth.generate_key = generate_key  # type: ignore[assignment]
    wrapper = auth.generate_key
    for name, module in list(sys.modules.items()):
        original_here = getattr(module, "generate_key", None) is _original_generate_key
        if name.startswith("mesa_emulator") and original_here:
            module.generate_key = wrapper  # type: ignore[attr-defined]
    server = sys.modules.get("mesa_emulator.server")
    if server is not None and hasattr(server, "Emulator"):

        def noting_bootstrap_key(original: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(original)
            def start(self: Any, *args: Any, **kwargs: Any) -> Any:
                started = original(self, *args, **kwargs)
                # Known once started: it may be the one the data folder keeps.
                GUARD.add_key(self.api_key, "an emulator's bootstrap key")
                return started

            return start

        _wrap_once(server.Emulator, "start", noting_bootstrap_key)


def _arm() -> None:
    _record_sdk_keys()
    _guard_error_classes()
    _record_emulator_keys()


# -- pytest hooks ---------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    sdk_logger = logging.getLogger("mesa_sdk")
    sdk_logger.setLevel(logging.DEBUG)
    if _SDK_FILTER not in sdk_logger.filters:
        sdk_logger.filters.insert(0, _SDK_FILTER)
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    _arm()


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    logging.getLogger("mesa_sdk").removeFilter(_SDK_FILTER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Modules imported since the last test (generated errors, the emulator's server) are
    # wrapped too.
    _arm()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _arm()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # pytest prints captured output and logs with a failing report: never a key in them.
    report.sections = [
        (title, GUARD.mask(content) if GUARD.keys_in(content) else content)
        for title, content in report.sections
    ]
    problems: list[str] = []
    if report.longrepr is not None and GUARD.keys_in(report.longreprtext):
        problems.append(
            "the failure text of this test shows an API key (masked here):\n"
            + GUARD.mask(report.longreprtext)
        )
    if call.when == "teardown":
        problems.extend(GUARD.drain())
    if problems:
        report.outcome = "failed"
        report.longrepr = (
            f"API KEY LEAK in {item.nodeid} ({len(problems)} place(s); keys shown masked):\n"
            + "\n".join(f"- {problem}" for problem in problems)
        )
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = GUARD.drain()
    if leaks:
        text = "API KEY LEAK after the last test:\n" + "\n".join(f"- {leak}" for leak in leaks)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(text, red=True, bold=True)
        else:
            print(text, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def secret_guard() -> SecretGuard:
    """The suite-wide record of API keys and the texts checked for them."""
    return GUARD
