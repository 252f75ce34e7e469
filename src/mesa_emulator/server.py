"""Running the emulator: in a background thread (:class:`Emulator`) or in the foreground
(:func:`serve`, what ``mesa-emulator serve`` runs).

``with Emulator() as emu:`` starts a server on a free loopback port (port 0, the real port read
back from the bound socket), with a temporary data folder unless ``data_dir`` is given, and
stops it and removes the temporary folder on exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mesa_emulator.auth import generate_key
from mesa_sdk.extras import require_extra

# Everything that starts the emulator comes through here: `Emulator`, the CLI, the fixtures.
require_extra(
    "emulator",
    "mesa_emulator",
    {"pygit2": "pygit2", "starlette": "starlette", "uvicorn": "uvicorn"},
)

if TYPE_CHECKING:
    import uvicorn

    from mesa_emulator.state import EmulatorState

__all__ = ["API_KEY_ENV", "Emulator", "bind_socket", "resolve_api_key"]

API_KEY_ENV = "MESA_API_KEY"


def resolve_api_key(api_key: str | None) -> str | None:
    """The bootstrap key given: ``api_key``, else ``MESA_API_KEY``; None: the data folder's
    own (:mod:`mesa_emulator.bootstrap_key`)."""
    return api_key or os.environ.get(API_KEY_ENV) or None


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def listen(state: EmulatorState, host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (0 picks a free port), and `state.public_url` set to
    the root URL clients reach it at (webhook payloads carry it)."""
    sock = bind_socket(host, port)
    state.public_url = root_url(host, int(sock.getsockname()[1]))
    return sock


def root_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` for a server listening on `host`, as a client on this machine
    reaches it (``0.0.0.0`` through 127.0.0.1)."""
    return f"http://{_url_host(host)}:{port}"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - the URL clients should use
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def make_server(state: EmulatorState, log_level: str = "warning") -> uvicorn.Server:
    import uvicorn

    from mesa_emulator.app import create_app

    config = uvicorn.Config(
        create_app(state),
        http="h11",
        ws="none",
        lifespan="off",
        loop="asyncio",
        log_config=None,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=5,
    )
    config.load()  # import the protocol classes now, so the first request is not slowed
    return uvicorn.Server(config)


class Emulator:
    """A Depot API emulator running in a background thread of this process.

    ``url`` is the API base URL (``http://127.0.0.1:<port>/api/v1``), ``api_key`` the bootstrap
    key (every scope on every organization), ``control_url`` the test control plane.
    ``autosync_period`` (seconds), when given, replaces every autosync period of the
    repositories' upstreams.

    The bootstrap key is ``api_key``, else ``MESA_API_KEY``, else the one ``data_dir`` keeps
    (made on its first use), so a restart on the same folder accepts the same key.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int | None = None,
        log_level: str = "warning",
        autosync_period: float | None = None,
    ) -> None:
        self._api_key = resolve_api_key(api_key)
        self.host = host
        self._requested_port = port
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._max_body_bytes = max_body_bytes
        self._log_level = log_level
        self._autosync_period = autosync_period
        self._data_dir: Path | None = None
        self._owns_data_dir = False
        self._state: EmulatorState | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        from mesa_emulator.state import DEFAULT_MAX_BODY_BYTES, EmulatorState

        if self._given_data_dir is not None:
            self._data_dir = self._given_data_dir
            self._owns_data_dir = False
        else:
            self._data_dir = Path(tempfile.mkdtemp(prefix="mesa-emulator-"))
            self._owns_data_dir = True
        sock: socket.socket | None = None
        try:
            self._state = EmulatorState(
                self._data_dir,
                self._api_key,
                max_body_bytes=self._max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                autosync_period=self._autosync_period,
            )
            self._api_key = self._state.api_key
            sock = listen(self._state, self.host, self._requested_port)
            self.port = int(sock.getsockname()[1])
            server = make_server(self._state, self._log_level)
            self._server = server
            self._thread = threading.Thread(
                target=server.run,
                kwargs={"sockets": [sock]},
                name=f"mesa-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
            deadline = time.monotonic() + 15
            while not server.started:
                if not self._thread.is_alive():
                    raise RuntimeError("the emulator's server thread stopped while starting")
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start within 15 s")
                time.sleep(0.005)
        except BaseException:
            self._cleanup(sock)
            raise
        # Stop (and remove a temporary data folder) even if the owner forgets to.
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server, close the store, remove a temporary data folder.  Idempotent."""
        atexit.unregister(self.stop)
        self._cleanup(None)

    def _cleanup(self, sock: socket.socket | None) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread.is_alive():
            thread.join(timeout=10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        if sock is not None:
            sock.close()
        if self._state is not None:
            self._state.close()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._server = self._thread = self._state = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses ----------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The bootstrap key (known before ``start()`` only when it was given)."""
        if self._api_key is None:
            raise RuntimeError("the emulator is not running: its key is its data folder's")
        return self._api_key

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``, the server's root."""
        return root_url(self.host, self.port)

    @property
    def url(self) -> str:
        """The API base URL, ``http://HOST:PORT/api/v1`` (the SDK's ``server_url``)."""
        return f"{self.base_url}/api/v1"

    @property
    def control_url(self) -> str:
        """The test control plane, ``http://HOST:PORT/_emulator``."""
        return f"{self.base_url}/_emulator"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("the emulator is not running")
        return self._data_dir

    @property
    def state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not running")
        return self._state

    # ---- the control plane, in process --------------------------------------------------

    def script_faults(self, path: str, faults: list[dict[str, Any]], method: str = "*") -> str:
        """Script ``faults`` for the next requests matching ``method`` and ``path`` (a full
        path such as ``/api/v1/acme/r/commits``, or a glob); returns the script's id."""
        from mesa_emulator.faults import parse_fault_script

        parsed_method, parsed_path, parsed = parse_fault_script(
            {"method": method, "path": path, "faults": faults}
        )
        return self.state.faults.add(parsed_method, parsed_path, parsed)

    def fault_log(self) -> list[dict[str, Any]]:
        """Every scripted fault and whether, when and by which request it was consumed."""
        return self.state.faults.log()

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def set_rate_limit(self, requests_per_second: float | None, burst: float | None = None) -> None:
        """Limit ``/api/v1`` to ``requests_per_second`` (``burst`` at once); None: no limit."""
        self.state.rate_limiter.configure(requests_per_second, burst)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery the emulator keeps (see :mod:`mesa_emulator.control`)."""
        from mesa_emulator.control import delivery_json

        return [delivery_json(record) for record in self.state.store.list_deliveries()]

    def reset(self) -> None:
        """Wipe every repository, key, record, LFS object, fault and the rate limit."""
        self.state.reset()

    def create_api_key(
        self, org: str, scopes: list[str] | tuple[str, ...], name: str | None = None
    ) -> str:
        """A new key of ``org`` holding ``scopes`` (made directly, not through the API)."""
        import secrets

        from mesa_emulator.auth import hash_key
        from mesa_emulator.store import ApiKeyRecord, utc_now

        key = generate_key()
        record = ApiKeyRecord(
            id="key_" + secrets.token_hex(8),
            org=org,
            name=name,
            scopes=tuple(scopes),
            created_at=utc_now(),
            last_used_at=None,
            revoked_at=None,
        )
        self.state.store.insert_key(record, hash_key(key))
        return key

    def __repr__(self) -> str:
        running = "running" if self._thread is not None else "stopped"
        return f"Emulator({self.url!r}, {running})"
