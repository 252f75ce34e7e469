"""The ``mesa-emulator`` command.

``mesa-emulator serve [--host 127.0.0.1] [--port 8787] [--data DIR] [--api-key KEY] [--quiet]``
prints the API base URL (``http://HOST:PORT/api/v1``), the bootstrap key and the data folder on
stdout as soon as the socket is listening, then serves until interrupted, with one access log
line per request on stderr (``--quiet``: none).  Without ``--data`` the state lives in a
temporary folder removed at exit; with it, the bootstrap key is the one that folder keeps
unless ``--api-key`` (or ``MESA_API_KEY``) gives one.

``mesa-emulator run [--data DIR] [--quiet] -- COMMAND ...`` starts the emulator on a free
loopback port, runs COMMAND with ``MESA_SERVER_URL`` and ``MESA_API_KEY`` set to it, stops the
emulator and exits with COMMAND's status: one line for a CI job or a demo.  Its own lines go
to stderr, so COMMAND's stdout is COMMAND's alone.

A data folder that cannot be used (a file, no permission, a store that is not a database) is
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = ["main"]

BAD_DATA_FOLDER = 2


def _version() -> str:
    try:
        return version("mesa-sdk")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def _add_common(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data folder, made if missing (default: a temporary folder, removed at exit)",
    )
    command.add_argument(
        "--api-key",
        default=None,
        help="the bootstrap key (default: $MESA_API_KEY, else the one the data folder keeps, "
        "made on its first use)",
    )
    command.add_argument(
        "-q", "--quiet", action="store_true", help="no access log line per request on stderr"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-emulator",
        description="A local emulator of Mesa's Depot HTTP API over real git repositories.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Depot API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8787, help="port (0: any free port)")
    _add_common(serve)
    serve.add_argument(
        "--autosync-period",
        type=float,
        default=None,
        metavar="SECONDS",
        help="sync every upstream with autosync this often, whatever its own period",
    )
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="the server's own messages (not the access log)",
    )
    run = commands.add_parser("run", help="run a command against a fresh emulator, then stop it")
    _add_common(run)
    run.add_argument("command_line", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    return parser


def _log_to_stderr(log_level: str, quiet: bool) -> None:
    from mesa_emulator.access_log import ACCESS_LOGGER

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ACCESS_LOGGER.propagate = False
    if quiet:
        ACCESS_LOGGER.setLevel(logging.WARNING)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    ACCESS_LOGGER.addHandler(handler)
    ACCESS_LOGGER.setLevel(logging.INFO)


def _refuse_data_folder(exc: Exception) -> int:
    """One line for a data folder the emulator cannot use; exit 1 when another emulator holds
    it (worth a retry), else `BAD_DATA_FOLDER`."""
    from mesa_emulator.state import DataFolderInUse

    print(f"mesa-emulator: {exc}", file=sys.stderr)
    return 1 if isinstance(exc, DataFolderInUse) else BAD_DATA_FOLDER


def run(data: Path | None, api_key: str | None, quiet: bool, command_line: list[str]) -> int:
    import os
    import subprocess

    from mesa_emulator.server import Emulator
    from mesa_emulator.state import DataFolderInUse, DataFolderUnusable

    if command_line[:1] == ["--"]:
        command_line = command_line[1:]
    if not command_line:
        print("mesa-emulator run: give the command to run after --", file=sys.stderr)
        return 2
    _log_to_stderr("warning", quiet)
    try:
        emulator = Emulator(data_dir=data, api_key=api_key).start()
    except (DataFolderUnusable, DataFolderInUse) as exc:
        return _refuse_data_folder(exc)
    try:
        print(f"Mesa emulator listening on {emulator.url}", file=sys.stderr, flush=True)
        env = {**os.environ, "MESA_SERVER_URL": emulator.url, "MESA_API_KEY": emulator.api_key}
        try:
            return subprocess.run(command_line, env=env, check=False).returncode
        except FileNotFoundError:
            print(f"mesa-emulator run: no such command: {command_line[0]}", file=sys.stderr)
            return 127
    finally:
        emulator.stop()


def serve(
    host: str,
    port: int,
    data: Path | None,
    api_key: str | None,
    log_level: str,
    quiet: bool,
    autosync_period: float | None = None,
) -> int:
    from mesa_emulator.server import resolve_api_key
    from mesa_emulator.state import DataFolderInUse, DataFolderUnusable, EmulatorState

    _log_to_stderr(log_level, quiet)
    owned = data is None
    data_dir = Path(tempfile.mkdtemp(prefix="mesa-emulator-")) if data is None else data
    try:
        try:
            state = EmulatorState(
                data_dir, resolve_api_key(api_key), autosync_period=autosync_period
            )
        except (DataFolderUnusable, DataFolderInUse) as exc:
            return _refuse_data_folder(exc)
        try:
            return _serve_state(state, host, port, log_level, owned)
        finally:
            state.close()
    finally:
        if owned:
            shutil.rmtree(data_dir, ignore_errors=True)


def _serve_state(state: EmulatorState, host: str, port: int, log_level: str, owned: bool) -> int:
    from mesa_emulator.server import listen, make_server

    try:
        sock = listen(state, host, port)
    except OSError as exc:
        print(f"mesa-emulator: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    server = make_server(state, log_level)

    # Until the server installs its own handlers, a signal asks it to stop cleanly.
    def stop_early(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop_early) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Mesa emulator listening on {state.public_url}/api/v1")
        print(f"API key: {state.api_key}")
        print(f"Data: {state.data_dir}{' (temporary)' if owned else ''}", flush=True)
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mesa_sdk.extras import MissingExtraError

    try:
        import mesa_emulator.server  # noqa: F401 - says which extra is missing, if one is
    except MissingExtraError as error:
        print(f"mesa-emulator: {error}", file=sys.stderr)
        return 1
    if args.command == "serve":
        try:
            return serve(
                args.host,
                args.port,
                args.data,
                args.api_key,
                args.log_level,
                args.quiet,
                args.autosync_period,
            )
        except KeyboardInterrupt:
            return 0
    if args.command == "run":
        return run(args.data, args.api_key, args.quiet, args.command_line)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
