"""The ``mesa-emulator`` command.

``mesa-emulator serve [--host 127.0.0.1] [--port 8787] [--data DIR] [--api-key KEY]`` prints
the API base URL (``http://HOST:PORT/api/v1``) and the bootstrap key as soon as the socket is
listening, then serves until interrupted. Without ``--data`` the state lives in a temporary
folder removed at exit.

``mesa-emulator run [--data DIR] -- COMMAND ...`` starts the emulator on a free loopback port,
runs COMMAND with ``MESA_SERVER_URL`` and ``MESA_API_KEY`` set to it, stops the emulator and
exits with COMMAND's status: one line for a CI job or a demo.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-emulator",
        description="A local emulator of Mesa's Depot HTTP API over real git repositories.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Depot API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8787, help="port (0: any free port)")
    serve.add_argument(
        "--data", type=Path, default=None, help="data folder (default: a temporary folder)"
    )
    serve.add_argument(
        "--api-key",
        default=None,
        help="the bootstrap key (default: $MESA_API_KEY, else a generated one)",
    )
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
    )
    run = commands.add_parser("run", help="run a command against a fresh emulator, then stop it")
    run.add_argument(
        "--data", type=Path, default=None, help="data folder (default: a temporary folder)"
    )
    run.add_argument("--api-key", default=None, help="the bootstrap key (default: generated)")
    run.add_argument("command_line", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    return parser


def run(data: Path | None, api_key: str | None, command_line: list[str]) -> int:
    import os
    import subprocess

    from mesa_emulator.server import Emulator

    if command_line[:1] == ["--"]:
        command_line = command_line[1:]
    if not command_line:
        print("mesa-emulator run: give the command to run after --", file=sys.stderr)
        return 2
    with Emulator(data_dir=data, api_key=api_key) as emulator:
        print(f"Mesa emulator listening on {emulator.url}", flush=True)
        env = {**os.environ, "MESA_SERVER_URL": emulator.url, "MESA_API_KEY": emulator.api_key}
        try:
            return subprocess.run(command_line, env=env, check=False).returncode
        except FileNotFoundError:
            print(f"mesa-emulator run: no such command: {command_line[0]}", file=sys.stderr)
            return 127


def serve(
    host: str,
    port: int,
    data: Path | None,
    api_key: str | None,
    log_level: str,
    autosync_period: float | None = None,
) -> int:
    from mesa_emulator.server import _url_host, bind_socket, make_server, resolve_api_key
    from mesa_emulator.state import DataFolderInUse, EmulatorState

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    key = resolve_api_key(api_key)
    owned = data is None
    data_dir = Path(tempfile.mkdtemp(prefix="mesa-emulator-")) if data is None else data
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        state = EmulatorState(data_dir, key, autosync_period=autosync_period)
    except DataFolderInUse as exc:
        print(f"mesa-emulator: {exc}", file=sys.stderr)
        return 1
    try:
        try:
            sock = bind_socket(host, port)
        except OSError as exc:
            print(f"mesa-emulator: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        real_port = int(sock.getsockname()[1])
        state.public_url = f"http://{_url_host(host)}:{real_port}"
        server = make_server(state, log_level)

        # Until the server installs its own handlers, a signal asks it to stop cleanly.
        def stop_early(signum: int, frame: FrameType | None) -> None:
            server.should_exit = True

        previous = {sig: signal.signal(sig, stop_early) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            print(f"Mesa emulator listening on http://{_url_host(host)}:{real_port}/api/v1")
            print(f"API key: {key}")
            print(f"Data: {data_dir}{' (temporary)' if owned else ''}", flush=True)
            server.run(sockets=[sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
    finally:
        state.close()
        if owned:
            shutil.rmtree(data_dir, ignore_errors=True)


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
                args.autosync_period,
            )
        except KeyboardInterrupt:
            return 0
    if args.command == "run":
        return run(args.data, args.api_key, args.command_line)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
