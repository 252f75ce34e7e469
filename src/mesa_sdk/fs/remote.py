"""The one repository a mount serves, reached through the public SDK client only.

`Remote` fixes the organization and repository when it is made; nothing that runs later can
point it at another repository. Every request the filesystem makes goes through here.

Reads are bounded: every GET the mount makes ends within `read_timeout` seconds (attempts,
retries and waits together, through the per-call `timeout_ms` and a retry config whose
`max_elapsed_time` is that bound), so a reader of the mount gets EIO instead of waiting out
the client's 300 s deadline while the server is down. Commits keep the caller's options,
with the idempotency key the overlay journalled for them; whether the API answered one as a
replay (`Idempotent-Replayed: true`, the commit was made by an earlier send) is seen through
an after-success hook put once on each client that commits.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit

from mesa_sdk.fs.paths import join
from mesa_sdk.fs.progress import FetchCounter

if TYPE_CHECKING:
    import httpx

    from mesa_sdk import HookContext, Hooks, Mesa, RequestOptions
    from mesa_sdk.models import CommitResult, CreateCommitTypedDict, Repo

__all__ = [
    "DEFAULT_READ_TIMEOUT",
    "GONE_CODES",
    "Entry",
    "Remote",
    "ResolvedRef",
    "bounded_options",
]

DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a read the mount makes may take in all before it fails (the reader gets EIO)."""

log = logging.getLogger("mesa_sdk.fs")

Kind = Literal["file", "dir", "symlink", "submodule"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the repository's tree at a commit."""

    path: str
    kind: Kind
    sha: str
    size: int
    executable: bool


@dataclass(frozen=True, slots=True)
class ResolvedRef:
    sha: str | None
    """The commit; None for an empty repository."""
    time_ns: int
    """The commit's committer time (what the mount shows as every entry's time)."""


_replays: dict[str, bool] = {}
"""Idempotency key of each commit under way -> whether its answer was a replay."""
_hooked: weakref.WeakSet[Hooks] = weakref.WeakSet()


_api_keys: weakref.WeakKeyDictionary[Hooks, str] = weakref.WeakKeyDictionary()
"""The API key each client last sent (kept in memory only, for `git fetch`)."""


def _note_api_key(hooks: Hooks) -> Callable[[HookContext, httpx.Request], None]:
    def note(context: HookContext, request: httpx.Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and key:
            _api_keys[hooks] = key

    return note


def _note_replay(context: HookContext, response: httpx.Response) -> None:
    key = context.idempotency_key
    if key in _replays and response.headers.get("idempotent-replayed") == "true":
        _replays[key] = True


GONE_CODES = frozenset({"REPO_NOT_FOUND", "REF_NOT_FOUND", "COMMIT_NOT_FOUND"})
"""404 codes that say the repository or the commit is gone, not that a path is missing."""


def bounded_options(options: RequestOptions | None, seconds: float) -> RequestOptions:
    """`options` with the whole call bounded to `seconds`: each attempt's timeout, and
    retries with short waits that stop at that deadline."""
    milliseconds = max(1, int(seconds * 1000))
    bounded: RequestOptions = dict(options or {})  # type: ignore[assignment]
    bounded["timeout_ms"] = min(bounded.get("timeout_ms", milliseconds), milliseconds)
    bounded["retries"] = {
        "strategy": "backoff",
        "backoff": {
            "initial_interval": 200,
            "max_interval": 2000,
            "exponent": 2.0,
            "max_elapsed_time": milliseconds,
        },
    }
    return bounded


def _valid_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


class Remote:
    """`org/repo` on the server, through `client`."""

    def __init__(
        self,
        client: Mesa,
        org: str | None,
        repo: str,
        request_options: RequestOptions | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self._client = client
        self.org = org
        """The organization; the client's default until `repository()` resolves it."""
        self.repo = repo
        self._options = request_options
        self._read_options = bounded_options(request_options, read_timeout)
        self.fetched = FetchCounter()
        """What was fetched: files, their bytes, listings (for progress)."""
        self.read_timeout = read_timeout
        hooks = client.hooks
        if hooks not in _api_keys:
            _api_keys[hooks] = ""
            hooks.register_before_request(_note_api_key(hooks))

    # ---- the git endpoint -------------------------------------------------------------

    def git_url(self, vcs_url: str | None) -> str:
        """`{vcs_url}/{org}/{repo}.git`; without `vcs_url`, on the API server's origin (the
        Depot service and the emulator serve git there)."""
        if self.org is None:
            self.repository()
        base = vcs_url
        if base is None:
            parts = urlsplit(self._client.server_url)
            base = f"{parts.scheme}://{parts.netloc}"
        return f"{base.rstrip('/')}/{quote(str(self.org), safe='')}/{quote(self.repo, safe='')}.git"

    def api_key(self) -> str | None:
        """The API key the client sent on its last request (None before any)."""
        return _api_keys.get(self._client.hooks) or None

    # ---- refs -----------------------------------------------------------------------

    def repository(self) -> Repo:
        """The repository as the API describes it now; fixes `org` to the one it is in (the
        client's default organization, resolved)."""
        info = self._client.repos.get(
            org=self.org, repo=self.repo, request_options=self._read_options
        )
        self.org = info.org
        return info

    def resolve(self, ref: str | None) -> ResolvedRef:
        """The commit `ref` (a branch, tag or SHA; the default branch when None) names now."""
        if ref is None:
            info = self.repository()
            if info.head_sha is None:
                return ResolvedRef(None, 0)
            ref = info.head_sha
        page = self._client.commits.list(
            org=self.org, repo=self.repo, ref=ref, limit=1, request_options=self._read_options
        )
        if not page.result.commits:
            return ResolvedRef(None, 0)
        commit = page.result.commits[0]
        # The real service may leave a commit's date out: the epoch is the time then.
        when = commit.committer.date
        return ResolvedRef(commit.sha, int(when.timestamp() * 1e9) if when is not None else 0)

    def is_branch(self, name: str) -> bool:
        page = self._client.branches.list(
            org=self.org, repo=self.repo, limit=100, request_options=self._read_options
        )
        return any(branch.name == name for branch in page)

    # ---- content --------------------------------------------------------------------

    def list_dir(self, commit: str, path: str, depth: int = 1) -> list[Entry] | None:
        """Every entry up to `depth` levels below folder `path` at `commit` (all pages), or
        None when `path` is not a folder there."""
        entries: list[Entry] = []
        cursor: str | None = None
        while True:
            page = self.list_page(commit, path, depth, cursor)
            if page is None:
                return None
            found, cursor = page
            entries.extend(found)
            if cursor is None:
                return entries

    def list_page(
        self, commit: str, path: str, depth: int, cursor: str | None = None
    ) -> tuple[list[Entry], str | None] | None:
        """One page (up to 1,000 entries, in path order) of folder `path`'s entries up to
        `depth` levels below it, and the cursor of the next page (None: this was the last);
        None when `path` is not a folder at `commit`. Any other 404 (the repository or the
        commit is gone) is raised: an empty folder is never made up."""
        from mesa_sdk import NotFoundError
        from mesa_sdk.models import DirContent

        try:
            page = self._client.content.get(
                org=self.org,
                repo=self.repo,
                ref=commit,
                path=path or None,
                depth=depth,
                limit=1000,
                cursor=cursor,
                request_options=self._read_options,
            )
        except NotFoundError as error:
            if error.code in GONE_CODES:
                raise
            return None
        if not isinstance(page, DirContent):
            return None
        self.fetched.add_listing()
        entries: list[Entry] = []
        for item in page.entries:
            entry = self._entry(path, item.path, item.name, item.type, item)
            if entry is not None:
                entries.append(entry)
        more = page.next_cursor if page.has_more and page.next_cursor else None
        return entries, more

    def _entry(self, folder: str, path: str, name: str, kind: str, item: object) -> Entry | None:
        # The server's paths are checked like FUSE paths: an entry that would land outside
        # the listed folder, or with an impossible name, is dropped (and said so).
        relative = path[len(folder) + 1 :] if folder else path
        ok = (
            (not folder or path.startswith(folder + "/"))
            and all(_valid_name(part) for part in relative.split("/"))
            and relative.rsplit("/", 1)[-1] == name
            and kind in ("file", "dir", "symlink", "submodule")
        )
        if not ok:
            log.warning("ignoring a listing entry of %r: %r (%s)", folder, path, kind)
            return None
        size = getattr(item, "size", None)
        executable = getattr(item, "executable", None)
        sha = getattr(item, "sha", "")
        return Entry(
            path=join(folder, relative),
            kind=kind,  # type: ignore[arg-type]
            sha=str(sha),
            size=int(size or 0),
            executable=bool(executable),
        )

    def stream(self, commit: str, path: str, seconds: float | None = None) -> Iterator[bytes]:
        """The raw bytes of the file at `path` at `commit`, as they arrive; within `seconds`
        when given (what is left of a read's bound), else `read_timeout`."""
        options = self._read_options
        if seconds is not None:
            options = bounded_options(self._options, min(seconds, self.read_timeout))
        with self._client.content.get_stream(
            org=self.org, repo=self.repo, ref=commit, path=path, request_options=options
        ) as stream:
            for chunk in stream.iter_bytes():
                self.fetched.add_bytes(len(chunk))
                yield chunk
        self.fetched.add_file()

    def read_raw(self, commit: str, path: str) -> bytes:
        data = self._client.content.get_raw(
            org=self.org, repo=self.repo, ref=commit, path=path, request_options=self._read_options
        )
        self.fetched.add_bytes(len(data))
        self.fetched.add_file()
        return data

    # ---- writing --------------------------------------------------------------------

    def create_commit(
        self, body: CreateCommitTypedDict, idempotency_key: str
    ) -> tuple[CommitResult, bool]:
        """Sends `body` under `idempotency_key`; returns the commit, and whether the API
        answered with a replay of an earlier send's answer."""
        hooks = self._client.hooks
        if hooks not in _hooked:
            hooks.register_after_success(_note_replay)
            _hooked.add(hooks)
        options: RequestOptions = {**(self._options or {}), "idempotency_key": idempotency_key}
        _replays[idempotency_key] = False
        try:
            result = self._client.commits.create(
                org=self.org, repo=self.repo, body=body, request_options=options
            )
        finally:
            replayed = _replays.pop(idempotency_key)
        return result, replayed
