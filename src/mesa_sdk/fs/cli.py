"""`mesa-fs`: mount a repository from the command line.

    mesa-fs mount ORG/REPO PATH [--ref REF] [--writable [--message MSG]]

Reads MESA_API_KEY (and MESA_SERVER_URL) like the SDK. Serves until Ctrl-C (SIGINT), SIGTERM
or SIGHUP, or until the folder is unmounted (`fusermount -u PATH`), then unmounts and exits
0. A writable mount commits its changes on the way out when --message was given; otherwise
(or if that commit fails) it keeps them in the overlay folder, says where, and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-fs", description="Mount a Mesa repository as a local folder (FUSE)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    mount = commands.add_parser("mount", help="mount ORG/REPO on PATH until interrupted")
    mount.add_argument("repository", metavar="ORG/REPO")
    mount.add_argument("path", metavar="PATH", help="the folder to mount on (made if missing)")
    mount.add_argument("--ref", help="branch, tag or commit SHA (default: the default branch)")
    mount.add_argument("--writable", action="store_true", help="allow changes (a branch only)")
    mount.add_argument("--message", help="commit pending changes with this message on exit")
    mount.add_argument("--author-name", default=None)
    mount.add_argument("--author-email", default=None)
    mount.add_argument("--cache-dir", help="keep downloaded file bytes here (reused)")
    mount.add_argument("-v", "--verbose", action="store_true", help="log what the mount does")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="mesa-fs: %(message)s",
    )
    org, slash, repo = args.repository.partition("/")
    if not slash or not org or not repo or "/" in repo:
        print(f"mesa-fs: expected ORG/REPO, got {args.repository!r}", file=sys.stderr)
        return 2
    author = None
    if args.author_name or args.author_email:
        if not (args.author_name and args.author_email):
            print("mesa-fs: give both --author-name and --author-email", file=sys.stderr)
            return 2
        author = {"name": args.author_name, "email": args.author_email}

    # Handlers first: libfuse then leaves these signals alone, and they stop us cleanly.
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    from mesa_sdk import Mesa, MesaError
    from mesa_sdk.fs.errors import FsError, PendingChangesError
    from mesa_sdk.fs.mounting import mount

    try:
        with Mesa() as client:
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
            )
            with m:
                print(
                    f"mesa-fs: {org}/{repo}@{m.sha} mounted on {m.path} "
                    f"({'writable' if m.writable else 'read-only'}); Ctrl-C unmounts",
                    file=sys.stderr,
                    flush=True,
                )
                while not stop.wait(0.2):
                    if not m.mounted:
                        break  # unmounted from outside
    except PendingChangesError as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return 1
    except (FsError, MesaError, OSError, ValueError) as error:
        print(f"mesa-fs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
