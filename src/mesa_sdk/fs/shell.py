"""Running real commands inside a mount: `Mount.exec` / `Mount.bash`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_EXEC_TIMEOUT", "ExecResult", "ExecTimeoutError", "run"]

DEFAULT_EXEC_TIMEOUT = 30.0
"""Seconds a command may run before it is killed (as Mesa's `bash` default, 30 s)."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a command printed and how it ended.

    `stdout` and `stderr` are the exact bytes (a file's bytes are not always text);
    `stdout_text`/`stderr_text` decode them as UTF-8, replacing what is not. A failing
    command is a non-zero `exit_code`, never an exception (`check()` raises if you want one);
    a command killed by a signal has exit code `-signal`.
    """

    stdout: bytes
    stderr: bytes
    exit_code: int

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def text(self) -> str:
        """`stdout` as text."""
        return self.stdout_text

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> ExecResult:
        """Returns self, or raises `subprocess.CalledProcessError` for a non-zero exit code."""
        if self.exit_code != 0:
            raise subprocess.CalledProcessError(
                self.exit_code, "command", output=self.stdout, stderr=self.stderr
            )
        return self


class ExecTimeoutError(subprocess.TimeoutExpired):
    """The command ran past its timeout; it and everything it started were killed.
    `output`/`stderr` hold what it printed until then."""


def run(
    command: str | Sequence[str],
    *,
    cwd: str,
    timeout: float | None,
    env: Mapping[str, str] | None,
    stdin: bytes | str | None,
) -> ExecResult:
    """Runs `command` (a string for `bash -c`, or an argument list run as is) in `cwd`.

    The command gets its own process group: on timeout the whole group is killed (SIGKILL),
    so a pipeline or a background child cannot outlive it, and ExecTimeoutError is raised.
    """
    argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
    environment = None if env is None else {**os.environ, **env}
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=environment,
        stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                stdout, stderr = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a child left the group and holds the pipes
                stdout, stderr = b"", b""
            raise ExecTimeoutError(argv, timeout or 0.0, output=stdout, stderr=stderr) from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
    return ExecResult(stdout=stdout, stderr=stderr, exit_code=process.returncode)
