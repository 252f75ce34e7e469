"""`mesa-emulator` as a user runs it: a real process, stopped by each test.

The banner, the bootstrap key kept in the data folder, the access log on stderr (and never a
credential in it), bad data folders, `run`'s banner on stderr and `--version`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {k: v for k, v in os.environ.items() if k != "MESA_API_KEY"} | {"PYTHONPATH": SRC}
ACCESS_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<method>[A-Z]+) (?P<target>\S+) "
    r"(?P<status>\d{3}|-) \d+\.\d ms (?P<request_id>\S+)"
)


def emulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mesa_emulator", *args]


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    key: str
    banner: list[str]

    def stop(self) -> tuple[str, str]:
        """SIGINT, then everything the process wrote after its banner: (stdout, stderr)."""
        self.process.send_signal(signal.SIGINT)
        try:
            out, err = self.process.communicate(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        assert self.process.returncode == 0, err
        return out, err


@pytest.fixture
def serve() -> Iterator[object]:
    """Starts `mesa-emulator serve --port 0 ARGS...`; every process started is stopped."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        process = subprocess.Popen(
            emulator_command("serve", "--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or ENV,
        )
        started.append(process)
        assert process.stdout is not None
        began = time.monotonic()
        banner = [process.stdout.readline()]
        assert time.monotonic() - began < 5, "the banner is printed within 5 s"
        banner += [process.stdout.readline(), process.stdout.readline()]
        assert banner[0].startswith("Mesa emulator listening on http://127.0.0.1:"), (
            banner,
            process.stderr.read() if process.poll() is not None and process.stderr else "",
        )
        url = banner[0].removeprefix("Mesa emulator listening on ").strip()
        key = banner[1].removeprefix("API key: ").strip()
        return Served(process, url, key, banner)

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)


def status_with(served: Served, key: str) -> int:
    response = httpx.get(f"{served.url}/acme/repos", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


# ---- the banner and the bootstrap key -----------------------------------------------------


def test_serve_prints_url_key_and_data_folder(serve: object, tmp_path: Path) -> None:
    data = tmp_path / "d"
    served = serve("--data", str(data), "--api-key", "mesa_cli")  # type: ignore[operator]
    assert served.banner[1:] == ["API key: mesa_cli\n", f"Data: {data}\n"]
    headers = {"Authorization": "Bearer mesa_cli"}
    made = httpx.post(f"{served.url}/acme/repos", json={"name": "r"}, headers=headers)
    assert made.status_code == 201
    served.stop()
    assert list((data / "repos").iterdir())


def test_without_data_a_temporary_folder_is_used_and_removed(serve: object) -> None:
    served = serve()  # type: ignore[operator]
    assert status_with(served, served.key) == 200
    folder = Path(served.banner[2].removeprefix("Data: ").removesuffix(" (temporary)\n"))
    assert served.banner[2] == f"Data: {folder} (temporary)\n"
    assert (folder / "meta.sqlite3").exists()
    served.stop()
    assert not folder.exists()


def test_usage_errors() -> None:
    result = subprocess.run(
        emulator_command(), capture_output=True, text=True, env=ENV, timeout=30, check=False
    )
    assert result.returncode == 2 and "serve" in result.stderr


def test_a_generated_key_is_kept_in_the_data_folder(serve: object, tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = serve("--data", str(data))  # type: ignore[operator]
    assert re.fullmatch(r"mesa_[A-Za-z0-9_-]{43}", first.key)
    first.stop()
    key_file = data / "bootstrap-key"
    assert key_file.read_text() == first.key + "\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (data / "bootstrap-key.tmp").exists()

    again = serve("--data", str(data))  # type: ignore[operator]
    assert again.key == first.key
    assert status_with(again, first.key) == 200
    again.stop()


def test_a_given_key_is_used_and_never_written(serve: object, tmp_path: Path) -> None:
    data = tmp_path / "d"
    pinned = serve("--data", str(data), "--api-key", "mesa_pinned_key")  # type: ignore[operator]
    assert pinned.key == "mesa_pinned_key"
    pinned.stop()
    assert not (data / "bootstrap-key").exists()

    from_env = serve("--data", str(data), env=ENV | {"MESA_API_KEY": "mesa_env_key"})  # type: ignore[operator]
    assert from_env.key == "mesa_env_key" and status_with(from_env, "mesa_env_key") == 200
    from_env.stop()

    generated = serve("--data", str(data))  # type: ignore[operator]
    assert generated.key.startswith("mesa_") and generated.key != "mesa_env_key"
    assert status_with(generated, "mesa_pinned_key") == 401
    generated.stop()


def test_a_key_file_left_half_written_by_a_kill_is_replaced(serve: object, tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "bootstrap-key.tmp").write_text("mesa_half")  # killed before the rename
    served = serve("--data", str(data))  # type: ignore[operator]
    served.stop()
    assert (data / "bootstrap-key").read_text() == served.key + "\n"
    assert not (data / "bootstrap-key.tmp").exists()


# ---- the access log -------------------------------------------------------------------------


def test_access_log_has_one_line_per_request_and_no_credential(
    serve: object, tmp_path: Path
) -> None:
    key = "mesa_secret_bootstrap_key_0123456789"
    served = serve("--data", str(tmp_path / "d"), "--api-key", key)  # type: ignore[operator]
    bearer = {"Authorization": f"Bearer {key}"}
    sent = [
        httpx.post(f"{served.url}/acme/repos", json={"name": "r"}, headers=bearer),
        httpx.get(f"{served.url}/acme/repos", params={"limit": 1, "api_key": key}, headers=bearer),
        httpx.get(f"{served.url}/acme/repos", auth=("git", "basic-password-42")),
        httpx.get(f"{served.url}/acme/nope/branches", headers={**bearer, "X-Request-Id": "mine"}),
    ]
    # A request target sent as a whole URL, with a password in it.
    host, port = served.url.removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"GET http://git:url-password-42@example/api/v1/acme/repos HTTP/1.1\r\n"
            b"Host: example\r\nConnection: close\r\n\r\n"
        )
        answer = raw.recv(65536)
    assert answer.startswith(b"HTTP/1.1 404")
    _, err = served.stop()

    lines = err.splitlines()
    parsed = [ACCESS_LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    seen = [(m["method"], m["target"], m["status"], m["request_id"]) for m in parsed if m]
    ids = [response.headers["x-request-id"] for response in sent]
    assert seen[:4] == [
        ("POST", "/api/v1/acme/repos", "201", ids[0]),
        ("GET", "/api/v1/acme/repos?limit=1&api_key=[redacted]", "200", ids[1]),
        ("GET", "/api/v1/acme/repos", "401", ids[2]),
        ("GET", "/api/v1/acme/nope/branches", "404", "mine"),
    ]
    assert seen[4][:3] == ("GET", "http://git:[redacted]@example/api/v1/acme/repos", "404")
    assert len(seen) == 5
    for secret in (key, "basic-password-42", "url-password-42", "Authorization", "Bearer"):
        assert secret not in err


def test_quiet_logs_nothing(serve: object, tmp_path: Path) -> None:
    served = serve("--data", str(tmp_path / "d"), "--api-key", "mesa_q", "--quiet")  # type: ignore[operator]
    assert status_with(served, "mesa_q") == 200
    out, err = served.stop()
    assert (out, err) == ("", "")


def test_a_dropped_connection_is_logged_without_a_status(serve: object, tmp_path: Path) -> None:
    served = serve("--data", str(tmp_path / "d"), "--api-key", "mesa_drop")  # type: ignore[operator]
    control = served.url.removesuffix("/api/v1") + "/_emulator/faults"
    script = {"path": "/api/v1/acme/repos", "faults": [{"drop": "before"}]}
    assert httpx.post(control, json=script).status_code == 201
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{served.url}/acme/repos", headers={"X-Request-Id": "dropped-1"})
    _, err = served.stop()
    last = ACCESS_LINE.fullmatch(err.splitlines()[-1])
    assert last is not None
    assert (last["target"], last["status"], last["request_id"]) == (
        "/api/v1/acme/repos",
        "-",
        "dropped-1",
    )


# ---- bad data folders: one line, exit 2 -----------------------------------------------------


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        emulator_command("serve", "--port", "0", *args),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )


def test_data_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    result = run_serve("--data", str(afile))
    assert result.returncode == 2
    assert result.stderr == f"mesa-emulator: the data folder '{afile}' is a file, not a folder\n"
    assert result.stdout == ""
    assert afile.read_text() == "not a folder"


def test_a_store_that_is_not_a_database(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "meta.sqlite3").write_bytes(b"this is no database, just text" * 100)
    result = run_serve("--data", str(data))
    assert result.returncode == 2
    assert result.stderr == (
        f"mesa-emulator: the data folder '{data}' holds a metadata store that cannot be read "
        "(meta.sqlite3: file is not a database); move meta.sqlite3 away, or give another "
        "data folder\n"
    )
    assert (data / "meta.sqlite3").read_bytes() == b"this is no database, just text" * 100


def test_a_folder_where_the_repositories_should_be_a_file(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "repos").write_text("")
    result = run_serve("--data", str(data))
    assert result.returncode == 2
    assert result.stderr == (
        f"mesa-emulator: the data folder '{data}' cannot be used: File exists ({data}/repos)\n"
    )


def test_a_key_file_without_a_key(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "bootstrap-key").write_bytes(b"\x00\x01")
    result = run_serve("--data", str(data))
    assert result.returncode == 2
    assert result.stderr == (
        f"mesa-emulator: the data folder '{data}' cannot be used: {data}/bootstrap-key holds "
        "no API key; remove it to have a new key made\n"
    )


@contextlib.contextmanager
def unwritable_folder(path: Path) -> Iterator[str]:
    """`path` made a folder nobody may create entries in; yields the error text the system
    gives. Root may write into any folder of mode 0555, so for root it is made immutable."""
    if os.geteuid() != 0:
        path.mkdir(mode=0o555)
        yield "Permission denied"
        return
    path.mkdir()
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"root cannot make a folder unwritable here: chattr says {made.stderr!r}")
    try:
        yield "Operation not permitted"
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    with unwritable_folder(locked) as refusal:
        result = run_serve("--data", str(locked / "d"))
    assert result.returncode == 2
    assert result.stderr == (
        f"mesa-emulator: the data folder '{locked / 'd'}' cannot be used: {refusal} "
        f"({locked / 'd'})\n"
    )
    assert list(locked.iterdir()) == []


def test_run_reports_a_bad_data_folder_too(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    result = subprocess.run(
        emulator_command("run", "--data", str(afile), "--", "true"),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"mesa-emulator: the data folder '{afile}' is a file, not a folder\n"


# ---- run -------------------------------------------------------------------------------------


def test_run_leaves_the_commands_stdout_alone(tmp_path: Path) -> None:
    code = (
        "import os, httpx;"
        "r = httpx.get(os.environ['MESA_SERVER_URL'] + '/acme/repos',"
        " headers={'Authorization': 'Bearer ' + os.environ['MESA_API_KEY']});"
        "print(r.status_code)"
    )
    result = subprocess.run(
        emulator_command("run", "--data", str(tmp_path / "d"), "--", sys.executable, "-c", code),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "200\n")
    banner, access = result.stderr.splitlines()
    assert re.fullmatch(r"Mesa emulator listening on http://127\.0\.0\.1:\d+/api/v1", banner)
    match = ACCESS_LINE.fullmatch(access)
    assert match and (match["target"], match["status"]) == ("/api/v1/acme/repos", "200")


def test_run_quiet_prints_only_the_banner(tmp_path: Path) -> None:
    result = subprocess.run(
        emulator_command("run", "--quiet", "--", sys.executable, "-c", "print('hello')"),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "hello\n")
    assert re.fullmatch(r"Mesa emulator listening on http://\S+/api/v1\n", result.stderr)
