"""Git smart HTTP: ``/{org}/{repo}.git/...`` served by git's own ``git http-backend``.

The three endpoints of the real service (``GET info/refs?service=...``, ``POST
git-upload-pack``, ``POST git-receive-pack``) run ``git http-backend`` as a CGI program: the
request body streams into its stdin as it arrives, its stdout streams back as the response
(the CGI ``Status`` header parsed), so no pack is ever held whole in memory.  A gzip body
(``Content-Encoding: gzip``, what git sends for a large negotiation) is inflated by
http-backend itself.

Auth is HTTP Basic with the API key as the password (the user name is ignored): no or an
unknown key is 401 with ``WWW-Authenticate: Basic``, so git asks its credential helpers; a key
of another organization, or without the scope, is 403: ``git:read`` to fetch, clone and
``ls-remote`` (upload-pack), ``git:write`` to push (receive-pack).  The key goes no further
than this module: http-backend sees the key's id as ``REMOTE_USER``.

Git runs isolated from the machine's git configuration, with the service's settings:
non-fast-forward updates and deletions refused, objects checked, pushes up to 5 GiB, partial
clone filters and fetches by commit id allowed, no background gc.  A push takes the
repository's write lock for its ref updates through a ``pre-receive`` hook
(:mod:`mesa_emulator.push_gate`), and its branch moves are published as the API's are.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from mesa_emulator.auth import Principal, principal_for_key
from mesa_emulator.errors import ApiError
from mesa_emulator.push_gate import PushGate, install_hooks
from mesa_emulator.state import EmulatorState
from mesa_emulator.validation import ORG_RULE, repo_name_problem

__all__ = ["GIT_PATH", "GitHttp"]

logger = logging.getLogger("mesa_emulator")

GIT_PATH = "/{org}/{repo}.git/{service:path}"
"""The route of the git endpoint (Starlette syntax)."""

REALM = "Mesa git"

_UPLOAD = "git-upload-pack"
_RECEIVE = "git-receive-pack"
_SCOPES = {_UPLOAD: "git:read", _RECEIVE: "git:write"}
_CHUNK = 64 * 1024
# The CGI header block is small; more than this before the blank line is a broken backend.
_MAX_HEADER_BYTES = 64 * 1024

# The service's git settings, for every http-backend (and the upload-pack or receive-pack it
# runs), given through the environment so that no repository's own config is edited.
_GIT_CONFIG: tuple[tuple[str, str], ...] = (
    ("http.uploadpack", "true"),
    ("http.receivepack", "true"),
    ("http.getanyfile", "false"),
    ("uploadpack.allowFilter", "true"),
    ("uploadpack.allowAnySHA1InWant", "true"),
    ("receive.denyNonFastForwards", "true"),
    ("receive.denyDeletes", "true"),
    ("receive.fsckObjects", "true"),
    ("receive.maxInputSize", str(5 * 1024**3)),
    ("receive.autogc", "false"),
    ("gc.auto", "0"),
)


class _Refused(Exception):
    """An answer other than the backend's: a status, a plain-text message, headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _unauthorized(message: str) -> _Refused:
    return _Refused(401, message, {"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _basic_password(header: str | None) -> str | None:
    """The password of an ``Authorization: Basic`` header (the API key), or None."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password else None


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope["headers"] if key.lower() == name]
    return b", ".join(values).decode("latin-1") if values else None


def _service(scope: Scope, path: str) -> str:
    """The git service a request asks for, or 404/405."""
    method = scope["method"]
    if path == "info/refs":
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(part.partition("=")[::2] for part in query.split("&") if part)
        service = params.get("service")
        if service not in _SCOPES:
            raise _Refused(404, "Only git's smart HTTP protocol is served here.")
        expected = "GET"
    elif path in _SCOPES:
        service, expected = path, "POST"
    else:
        raise _Refused(404, f"No git endpoint {path!r}.")
    if method != expected:
        raise _Refused(405, f"Use {expected} here.", {"Allow": expected})
    return service


class GitHttp:
    """The ASGI app of the git endpoint (mounted at :data:`GIT_PATH`)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.hooks = install_hooks(state.data_dir)
        self._env = self._base_env()

    def _base_env(self) -> dict[str, str]:
        config = (*_GIT_CONFIG, ("core.hooksPath", str(self.hooks)))
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_PROJECT_ROOT": str(self.state.repos_dir),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "GIT_CONFIG_COUNT": str(len(config)),
        }
        for number, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{number}"] = key
            env[f"GIT_CONFIG_VALUE_{number}"] = value
        return env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        try:
            org, name = unquote(params["org"]), unquote(params["repo"])
            service = _service(scope, params["service"])
            principal = await self._principal(scope)
            repo_id = await self._repo_id(principal, org, name, service)
        except _Refused as refused:
            logger.info(
                "git endpoint: %s %s refused (%d): %s",
                scope["method"],
                scope["path"],
                refused.status,
                refused.message,
            )
            await _answer(send, refused)
            return
        await self._run_backend(scope, receive, send, principal, repo_id, service)

    async def _principal(self, scope: Scope) -> Principal:
        key = _basic_password(_header(scope, b"authorization"))
        if key is None:
            raise _unauthorized("Authentication required: the password is an API key.")
        state = self.state
        try:
            return await run_in_threadpool(
                principal_for_key, key, state.store, state.bootstrap_hash
            )
        except ApiError as error:
            raise _unauthorized(error.message) from None

    async def _repo_id(self, principal: Principal, org: str, name: str, service: str) -> str:
        scope = _SCOPES[service]
        if principal.org is not None and principal.org != org:
            raise _Refused(403, f"This API key belongs to another organization than '{org}'.")
        if not principal.may(org, scope):
            raise _Refused(403, f"This API key lacks the '{scope}' scope.")
        record = None
        if ORG_RULE.admits(org) and repo_name_problem(name) is None:
            record = await run_in_threadpool(self.state.store.get_repo, org, name)
        if record is None:
            raise _Refused(404, f"Repository '{org}/{name}' not found.")
        return record.id

    def _cgi_env(
        self, scope: Scope, principal: Principal, repo_id: str, path: str
    ) -> dict[str, str]:
        env = {
            **self._env,
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": f"/{repo_id}.git/{path}",
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "REMOTE_USER": principal.key_id,
            "REMOTE_ADDR": (scope.get("client") or ("", 0))[0],
        }
        for cgi_name, header_name in (
            ("CONTENT_TYPE", b"content-type"),
            ("CONTENT_LENGTH", b"content-length"),
            ("HTTP_CONTENT_ENCODING", b"content-encoding"),
            ("HTTP_GIT_PROTOCOL", b"git-protocol"),
        ):
            value = _header(scope, header_name)
            if value is not None:
                env[cgi_name] = value
        return env

    async def _run_backend(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal,
        repo_id: str,
        service: str,
    ) -> None:
        env = self._cgi_env(scope, principal, repo_id, scope["path_params"]["service"])
        crash_at = scope.get("state", {}).get("crash_at")  # a scripted fault's, if any
        gate = PushGate(self.state, repo_id, crash_at) if service == _RECEIVE else None
        if gate is not None:
            env.update(gate.child_env())
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                "http-backend",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=self.state.repos_dir,
                pass_fds=gate.child_fds() if gate is not None else (),
            )
        except BaseException:
            if gate is not None:
                gate.close()
            raise
        if gate is not None:
            gate.started()
        feeding = asyncio.ensure_future(_feed(receive, process))
        errors = asyncio.ensure_future(_drain_stderr(process))
        try:
            answered = await _relay(process, send)
            if answered:
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            feeding.cancel()
            if gate is not None:
                # Its branch moves are published before the client hears the push is done.
                await run_in_threadpool(gate.join)
            message = (await errors).strip()
            if message:
                logger.info("git http-backend (%s): %s", service, message)
        if answered:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await _answer(send, _Refused(500, "git http-backend failed."))


async def _feed(receive: Receive, process: asyncio.subprocess.Process) -> None:
    """Streams the request body into the backend; a client that leaves stops it."""
    stdin = process.stdin
    assert stdin is not None
    try:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                process.kill()
                return
            body = message.get("body", b"")
            if body:
                stdin.write(body)
                await stdin.drain()
            if not message.get("more_body", False):
                return
    except (BrokenPipeError, ConnectionResetError):
        return  # the backend stopped reading: its answer says why
    finally:
        stdin.close()


async def _drain_stderr(process: asyncio.subprocess.Process) -> str:
    """What the backend wrote to stderr (its first 64 KiB; the rest is read and dropped)."""
    assert process.stderr is not None
    kept = await process.stderr.read(_MAX_HEADER_BYTES)
    while await process.stderr.read(_CHUNK):
        pass
    return kept.decode("utf-8", "replace")


async def _relay(process: asyncio.subprocess.Process, send: Send) -> bool:
    """The backend's CGI output as the response: its header block, then its body as it comes
    (the body's end is sent by the caller); False, with nothing sent, when there is no
    header block."""
    stdout = process.stdout
    assert stdout is not None
    head = b""
    while True:
        for separator in (b"\r\n\r\n", b"\n\n"):
            if separator in head:
                block, _, rest = head.partition(separator)
                break
        else:
            chunk = await stdout.read(_CHUNK)
            if not chunk or len(head) > _MAX_HEADER_BYTES:
                return False
            head += chunk
            continue
        break
    status = 200
    headers: list[tuple[bytes, bytes]] = []
    for line in block.replace(b"\r\n", b"\n").split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"status":
            status = int(value.split()[0])
        elif name.strip():
            headers.append((name.strip().lower(), value.strip()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if rest:
        await send({"type": "http.response.body", "body": rest, "more_body": True})
    while chunk := await stdout.read(_CHUNK):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    return True


async def _answer(send: Send, refused: _Refused) -> None:
    body = (refused.message + "\n").encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refused.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
