"""`mesa-fs`: mount a repository from the command line, and commit what a mount left.

    mesa-fs mount [ORG/]REPO PATH [--ref REF] [--writable [--message MSG] [--overlay-dir DIR]]
    mesa-fs commit OVERLAY_DIR --message MSG

Both take `--api-key`, `--server-url` and `--org`, else read MESA_API_KEY, MESA_SERVER_URL
and MESA_ORG (an ORG/ before REPO wins over both).

While a mount serves, long fetching shows one progress line on a terminal (stderr), and `-v`
logs what was fetched once a second (see `mesa_sdk.fs.progress`).

`mount` serves until Ctrl-C (SIGINT), SIGTERM or SIGHUP, or until the folder is unmounted
(`fusermount -u PATH`), then unmounts and exits 0. A signal while it is still connecting
stops it at once (exit 128 + the signal's number). A writable mount says where its overlay
is, commits its changes on the way out when --message was given, and otherwise (or if that
commit fails) keeps them in the overlay folder, says where, and exits 1.

`commit` commits the changes a writable mount left in an overlay folder (a kill, a crash,
no --message) as one commit on the recorded branch, only if that branch has not moved since
(else the API's conflict error, exit 1); then removes the overlay's own files. A mount
killed while committing left that commit open: it is finished with its own message (the
given --message is not used, and a warning says so).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import TYPE_CHECKING

from mesa_sdk.fs.remote import DEFAULT_READ_TIMEOUT

if TYPE_CHECKING:
    from mesa_sdk import Mesa

__all__ = ["main"]

USAGE_ERROR = 2


class _UsageError(Exception):
    """What the command line lacks, said in the command line's words."""


class _Stopped(BaseException):
    """A stop signal that came before the mount was serving: unwinds whatever is running
    (a request, a wait for libfuse), like KeyboardInterrupt, so cleanup still runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _version() -> str:
    try:
        return version("mesa-sdk")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--author-name", default=None)
    parser.add_argument("--author-email", default=None)
    parser.add_argument("--api-key", help="the API key (default: $MESA_API_KEY)")
    parser.add_argument(
        "--server-url", help="the API's base URL (default: $MESA_SERVER_URL, else Mesa's)"
    )
    parser.add_argument("--org", help="the organization of REPO (default: $MESA_ORG)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what is done, and fetched each second"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-fs", description="Mount a Mesa repository as a local folder (FUSE)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    mount = commands.add_parser("mount", help="mount [ORG/]REPO on PATH until interrupted")
    mount.add_argument("repository", metavar="[ORG/]REPO")
    mount.add_argument("path", metavar="PATH", help="the folder to mount on (made if missing)")
    mount.add_argument("--ref", help="branch, tag or commit SHA (default: the default branch)")
    mount.add_argument("--writable", action="store_true", help="allow changes (a branch only)")
    mount.add_argument("--message", help="commit pending changes with this message on exit")
    mount.add_argument(
        "--overlay-dir",
        help="with --writable: journal changes in this folder (default: a temporary one)",
    )
    mount.add_argument("--cache-dir", help="keep downloaded file bytes here (reused)")
    mount.add_argument(
        "--vcs-url",
        help="the git service's base URL, for whole-tree fetches (default: the API's origin)",
    )
    mount.add_argument(
        "--read-timeout",
        type=float,
        default=DEFAULT_READ_TIMEOUT,
        help=f"seconds a read may wait for the server before failing with EIO "
        f"(default {DEFAULT_READ_TIMEOUT:g})",
    )
    _add_common(mount)
    commit = commands.add_parser(
        "commit", help="commit the changes a writable mount left in OVERLAY_DIR"
    )
    commit.add_argument("overlay_dir", metavar="OVERLAY_DIR")
    commit.add_argument(
        "--message",
        required=True,
        help="the commit message (not used when finishing a commit a killed mount began)",
    )
    _add_common(commit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="mesa-fs: %(message)s")
    if args.verbose:
        # The SDK's and the mount's own lines; not httpx's, which is one per request.
        logging.getLogger("mesa_sdk").setLevel(logging.INFO)
    author = None
    if args.author_name or args.author_email:
        if not (args.author_name and args.author_email):
            print("mesa-fs: give both --author-name and --author-email", file=sys.stderr)
            return USAGE_ERROR
        author = {"name": args.author_name, "email": args.author_email}
    try:
        if args.command == "commit":
            return _commit(args, author)
        return _mount(args, author)
    except _UsageError as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return USAGE_ERROR


def _client(args: argparse.Namespace, org: str | None) -> Mesa:
    """The SDK client the options and the environment describe, or a `_UsageError`."""
    from mesa_sdk import InvalidApiUrlError, Mesa

    api_key = args.api_key or os.environ.get("MESA_API_KEY")
    if not api_key:
        raise _UsageError("no API key: give --api-key KEY or set MESA_API_KEY")
    try:
        return Mesa(api_key=api_key, server_url=args.server_url or None, org=org)
    except InvalidApiUrlError as error:
        # The SDK names its own argument; a CLI user gave --server-url.
        text = str(error).replace("pass the API key as api_key", "give it with --api-key")
        if args.server_url and text.startswith("server_url"):
            text = "--server-url" + text.removeprefix("server_url")
        raise _UsageError(text) from None


def _commit(args: argparse.Namespace, author: dict[str, str] | None) -> int:
    from mesa_sdk import MesaError
    from mesa_sdk.fs.committing import commit_overlay
    from mesa_sdk.fs.errors import FsError

    overlay_dir = args.overlay_dir
    try:
        with _client(args, args.org or os.environ.get("MESA_ORG") or None) as client:
            result = commit_overlay(client, overlay_dir, args.message, author=author)
    except (FsError, MesaError, OSError, ValueError) as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return 1
    if result is None:
        print(f"mesa-fs: nothing was pending in {overlay_dir}", file=sys.stderr)
    else:
        print(result.sha)
    return 0


def _repository(args: argparse.Namespace) -> tuple[str, str]:
    """(org, repo) from `[ORG/]REPO`, `--org` and MESA_ORG."""
    given = args.repository
    org, slash, repo = given.rpartition("/")
    if not repo or (slash and not org) or "/" in org:
        raise _UsageError(f"expected [ORG/]REPO, got {given!r}")
    org = org or args.org or os.environ.get("MESA_ORG", "")
    if not org:
        raise _UsageError(
            f"no organization for {given!r}: give ORG/REPO, --org ORG or set MESA_ORG"
        )
    return org, repo


def _mount(args: argparse.Namespace, author: dict[str, str] | None) -> int:
    org, repo = _repository(args)
    if (args.overlay_dir or args.message) and not args.writable:
        raise _UsageError("--overlay-dir and --message need --writable")

    # Handlers first: libfuse then leaves these signals alone. Until the mount serves, a
    # signal unwinds whatever runs (a request to a server that does not answer included);
    # after, it asks the serving loop below to unmount.
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        first = not stop.is_set()
        stop.set()
        if first and not serving.is_set():
            raise _Stopped(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    from mesa_sdk import MesaError
    from mesa_sdk.fs.errors import FsError, PendingChangesError
    from mesa_sdk.fs.mounting import mount
    from mesa_sdk.fs.progress import FetchReporter

    try:
        with _client(args, org) as client:
            m = mount(
                client,
                org=org,
                repo=repo,
                ref=args.ref,
                path=args.path,
                writable=args.writable,
                message=args.message,
                author=author,
                cache_dir=args.cache_dir,
                overlay_dir=args.overlay_dir,
                read_timeout=args.read_timeout,
                vcs_url=args.vcs_url,
            )
            with m:
                serving.set()
                mode = "read-only"
                if m.writable:
                    mode = f"writable, changes journalled in {m.overlay_path}"
                print(
                    f"mesa-fs: {org}/{repo}@{m.sha} mounted on {m.path} ({mode}); Ctrl-C unmounts",
                    file=sys.stderr,
                    flush=True,
                )
                reporter = FetchReporter(
                    lambda: m.fetched, sys.stderr, tty=sys.stderr.isatty(), verbose=args.verbose
                ).start()
                try:
                    while not stop.wait(0.2):
                        if not m.mounted:
                            break  # unmounted from outside
                finally:
                    reporter.close()
    except _Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        print(f"mesa-fs: stopped by {name} before the mount was ready", file=sys.stderr)
        return 128 + stopped.signum
    except PendingChangesError as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return 1
    except (FsError, MesaError, OSError, ValueError) as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
