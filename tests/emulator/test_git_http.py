"""The emulator's git endpoint (`/{org}/{repo}.git`, git's own http-backend): the real `git`
clones, fetches, lists and pushes with an API key as the Basic password; keys and scopes are
enforced; pushes and API commits racing on one branch lose nothing."""

from __future__ import annotations

import base64
import gzip
import logging
import random
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from emulator_helpers import Api
from tests.git_cli import commit_file, git_url, run_git, start_git

from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.push_gate import remove_push_leftovers
from mesa_emulator.server import Emulator


@pytest.fixture
def repo(api: Api) -> str:
    """Repository `r` with `main` holding README.md."""
    api.repo("r")
    api.write("r", {"README.md": "# r\n"})
    return "r"


def _url(emu: Emulator, org: str, key: str, repo: str = "r") -> str:
    return git_url(emu.base_url, org, repo, key)


def _bare(emu: Emulator, org: str, repo: str = "r") -> Path:
    record = emu.state.store.get_repo(org, repo)
    assert record is not None
    return emu.state.repo_path(record.id)


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"t:{key}".encode()).decode()}


@pytest.fixture
def published(emu: Emulator) -> Iterator[list[tuple[str, list[RefUpdate]]]]:
    """Every `publish_ref_updates` call the emulator makes during the test."""
    calls: list[tuple[str, list[RefUpdate]]] = []
    state = emu.state
    original = state.publish_ref_updates

    def record(
        repo_id: str, updates: Sequence[RefUpdate], *, journal_id: str | None = None
    ) -> None:
        calls.append((repo_id, list(updates)))
        original(repo_id, updates, journal_id=journal_id)

    state.publish_ref_updates = record  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del state.publish_ref_updates


# ---- reading ------------------------------------------------------------------------------


def test_a_read_key_lists_clones_and_fetches(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    key = emu.create_api_key(org, ["git:read"])
    head = api.head(repo)

    listed = run_git("ls-remote", _url(emu, org, key)).stdout
    assert listed == f"{head}\tHEAD\n{head}\trefs/heads/main\n"

    run_git("clone", "-q", _url(emu, org, key), str(tmp_path / "c"))
    assert (tmp_path / "c" / "README.md").read_bytes() == b"# r\n"

    newer = api.write(repo, {"src/app.py": "print('hi')\n"})
    run_git("fetch", "-q", "origin", cwd=tmp_path / "c")
    assert run_git("rev-parse", "origin/main", cwd=tmp_path / "c").stdout.strip() == newer
    shown = run_git("show", "origin/main:src/app.py", cwd=tmp_path / "c").stdout
    assert shown == "print('hi')\n"


def test_a_shallow_partial_clone_fetches_one_commit_without_blobs(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    api.write(repo, {"big.txt": "x" * 10_000})
    key = emu.create_api_key(org, ["git:read"])
    run_git(
        "clone", "-q", "--bare", "--depth", "1", "--filter=blob:none",
        _url(emu, org, key), str(tmp_path / "c.git"),
    )  # fmt: skip
    count = run_git("rev-list", "--count", "--all", cwd=tmp_path / "c.git").stdout.strip()
    assert count == "1"
    missing = run_git(
        "rev-list", "--objects", "--missing=print", "--all", cwd=tmp_path / "c.git"
    ).stdout
    assert sorted(line for line in missing.splitlines() if line.startswith("?")) == sorted(
        "?" + run_git("rev-parse", f"HEAD:{name}", cwd=tmp_path / "c.git").stdout.strip()
        for name in ("README.md", "big.txt")
    )


def test_a_gzip_request_body_is_inflated(emu: Emulator, org: str, repo: str) -> None:
    """A protocol v2 `ls-refs` command, sent plain and sent gzip'd, gets the same answer."""
    command = b"0014command=ls-refs\n" + b"0001" + b"0000"
    headers = {
        **_basic(emu.api_key),
        "Content-Type": "application/x-git-upload-pack-request",
        "Git-Protocol": "version=2",
    }
    url = f"{emu.base_url}/{org}/{repo}.git/git-upload-pack"
    with httpx.Client(timeout=30) as http:
        plain = http.post(url, content=command, headers=headers)
        zipped = http.post(
            url, content=gzip.compress(command), headers={**headers, "Content-Encoding": "gzip"}
        )
    assert plain.status_code == zipped.status_code == 200
    assert plain.headers["content-type"] == "application/x-git-upload-pack-result"
    head = _bare(emu, org).joinpath("refs/heads/main").read_text().strip()
    lines = [f"{head} HEAD\n", f"{head} refs/heads/main\n"]
    assert plain.content == "".join(f"{len(line) + 4:04x}{line}" for line in lines).encode() + (
        b"0000"
    )
    assert zipped.content == plain.content


# ---- keys and scopes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"t:mesa_not_a_key_at_all").decode(), "Bearer x"],
    ids=["none", "unknown-key", "not-basic"],
)
def test_no_or_an_unknown_key_is_401_with_a_basic_challenge(
    emu: Emulator, org: str, repo: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(
        f"{emu.base_url}/{org}/{repo}.git/info/refs",
        params={"service": "git-upload-pack"},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Mesa git"'
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_git_with_a_wrong_key_fails_authentication(emu: Emulator, org: str, repo: str) -> None:
    result = run_git("ls-remote", _url(emu, org, "mesa_wrong_key_123456"), check=False)
    assert result.returncode == 128
    assert "The API key is unknown or revoked." in result.stderr
    assert "Authentication failed" in result.stderr


def test_a_read_only_key_cannot_push(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    key = emu.create_api_key(org, ["git:read", "repo:read"])
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, key), str(checkout))
    before = api.head(repo)
    commit_file(checkout, "x.txt", b"x\n", "Add x")
    result = run_git("push", "origin", "main", cwd=checkout, check=False)
    assert result.returncode == 128
    assert "The requested URL returned error: 403" in result.stderr
    assert api.head(repo) == before

    response = httpx.get(
        f"{emu.base_url}/{org}/{repo}.git/info/refs",
        params={"service": "git-receive-pack"},
        headers=_basic(key),
        timeout=30,
    )
    assert (response.status_code, response.text) == (
        403,
        "This API key lacks the 'git:write' scope.\n",
    )


def test_a_key_of_another_org_and_a_missing_repo(emu: Emulator, org: str, repo: str) -> None:
    other = emu.create_api_key(org + "-other", ["git:read"])
    with httpx.Client(timeout=30) as http:
        refs = f"{emu.base_url}/{org}/{repo}.git/info/refs?service=git-upload-pack"
        response = http.get(refs, headers=_basic(other))
        assert (response.status_code, response.text) == (
            403,
            f"This API key belongs to another organization than '{org}'.\n",
        )
        missing = f"{emu.base_url}/{org}/nope.git/info/refs?service=git-upload-pack"
        response = http.get(missing, headers=_basic(emu.api_key))
        assert (response.status_code, response.text) == (
            404,
            f"Repository '{org}/nope' not found.\n",
        )
        dumb = http.get(f"{emu.base_url}/{org}/{repo}.git/info/refs", headers=_basic(emu.api_key))
        assert dumb.status_code == 404
        wrong_method = http.get(
            f"{emu.base_url}/{org}/{repo}.git/git-upload-pack", headers=_basic(emu.api_key)
        )
        assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")


def test_the_key_is_never_logged(
    emu: Emulator, org: str, repo: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = emu.create_api_key(org, ["git:read"])
    run_git("clone", "-q", _url(emu, org, key), str(tmp_path / "c"))
    commit_file(tmp_path / "c", "x.txt", b"x\n", "Add x")
    run_git("push", "origin", "main", cwd=tmp_path / "c", check=False)  # 403
    run_git("ls-remote", _url(emu, org, key + "x"), check=False)  # 401
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("refused (403): This API key lacks the 'git:write' scope." in r for r in refusals)
    assert any("refused (401): The API key is unknown or revoked." in r for r in refusals)
    assert key not in caplog.text


# ---- pushing ------------------------------------------------------------------------------


def test_a_push_is_visible_through_the_api_and_published(
    emu: Emulator,
    api: Api,
    org: str,
    repo: str,
    tmp_path: Path,
    published: list[tuple[str, list[RefUpdate]]],
) -> None:
    key = emu.create_api_key(org, ["git:read", "git:write"])
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, key), str(checkout))
    old = api.head(repo)
    new = commit_file(checkout, "docs/guide.md", b"caf\xc3\xa9\n\x00binary", "Add the guide")
    result = run_git("push", "origin", "main", "main:refs/heads/feature/x", cwd=checkout)
    assert f"{old[:7]}..{new[:7]}  main -> main" in result.stderr

    assert api.head(repo) == new
    assert api.head(repo, "feature/x") == new
    assert api.files(repo)["docs/guide.md"] == b"caf\xc3\xa9\n\x00binary"
    commit = api.client.get(f"/{org}/{repo}/commits/{new}").json()
    assert (commit["message"], commit["parents"]) == ("Add the guide\n", [old])

    repo_id = _bare(emu, org).name.removesuffix(".git")
    assert published == [
        (repo_id, [RefUpdate("feature/x", None, new)]),
        (repo_id, [RefUpdate("main", old, new)]),
    ]


def test_a_large_push_and_clone_stream_through(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    data = random.Random(3).randbytes(8 * 1024 * 1024)  # incompressible: an 8 MiB pack
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
    sha = commit_file(checkout, "big.bin", data, "Add a big file")
    run_git("push", "-q", "origin", "main", cwd=checkout)
    assert api.head(repo) == sha
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(tmp_path / "again"))
    assert (tmp_path / "again" / "big.bin").read_bytes() == data


def test_notes_are_kept_and_tags_refused(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
    run_git("notes", "add", "-m", '{"agent": "claude"}', "HEAD", cwd=checkout)
    run_git("push", "origin", "refs/notes/commits", cwd=checkout)
    notes = run_git("rev-parse", "refs/notes/commits", cwd=checkout).stdout.strip()
    listed = run_git("ls-remote", "origin", "refs/notes/*", cwd=checkout).stdout
    assert listed == f"{notes}\trefs/notes/commits\n"

    again = tmp_path / "again"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(again))
    run_git("fetch", "-q", "origin", "refs/notes/*:refs/notes/*", cwd=again)
    assert run_git("notes", "show", "HEAD", cwd=again).stdout == '{"agent": "claude"}\n'

    run_git("tag", "v1", cwd=checkout)
    result = run_git("push", "origin", "v1", cwd=checkout, check=False)
    assert result.returncode == 1
    assert "remote: refs/tags/v1: tags are not supported" in result.stderr
    assert "[remote rejected] v1 -> v1 (pre-receive hook declined)" in result.stderr
    assert run_git("ls-remote", "--tags", "origin", cwd=checkout).stdout == ""


def test_rewriting_or_deleting_a_branch_is_refused(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
    head = api.head(repo)
    run_git("commit", "-q", "--amend", "-m", "Rewritten", cwd=checkout)
    forced = run_git("push", "--force", "origin", "main", cwd=checkout, check=False)
    assert forced.returncode == 1
    assert "[remote rejected] main -> main (non-fast-forward)" in forced.stderr
    deleted = run_git("push", "origin", ":main", cwd=checkout, check=False)
    assert deleted.returncode == 1
    assert "[remote rejected] main (deletion prohibited)" in deleted.stderr
    assert api.head(repo) == head


def test_a_push_based_on_a_moved_branch_is_refused(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
    moved = api.write(repo, {"api.txt": "from the API\n"})
    commit_file(checkout, "git.txt", b"from git\n", "From git")
    result = run_git("push", "origin", "main", cwd=checkout, check=False)
    assert result.returncode == 1
    assert "[rejected]        main -> main (fetch first)" in result.stderr
    assert api.head(repo) == moved


def test_a_push_moves_refs_only_while_holding_the_repositorys_write_lock(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    """While an API write holds the lock, a push has its pack in but moves nothing; it lands
    once the lock is let go."""
    checkout = tmp_path / "c"
    run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
    old = api.head(repo)
    new = commit_file(checkout, "late.txt", b"late\n", "Late")
    lock = emu.state.git(_bare(emu, org).name.removesuffix(".git")).write_lock
    held, release = threading.Event(), threading.Event()

    def api_writer() -> None:
        with lock:
            held.set()
            release.wait(30)

    writer = threading.Thread(target=api_writer)
    writer.start()
    push: subprocess.Popen[bytes] | None = None
    try:
        assert held.wait(10)
        push = start_git("push", "-q", "origin", "main", cwd=checkout)
        with pytest.raises(subprocess.TimeoutExpired):
            push.wait(timeout=1.0)
        assert api.head(repo) == old
        release.set()
        assert push.wait(timeout=30) == 0
    finally:
        release.set()
        writer.join(10)
        if push is not None and push.poll() is None:
            push.kill()
            push.wait()
    assert api.head(repo) == new


def test_pushes_and_api_commits_racing_on_one_branch_lose_nothing(
    emu: Emulator, api: Api, org: str, repo: str, tmp_path: Path
) -> None:
    """3 threads push 3 commits each (fetch, commit, push; again when refused), 3 threads
    make 3 API commits each, all on `main` at once: every accepted commit is in its history,
    every file is in its tree, and the repository is sound."""
    writers, each = 3, 3
    accepted: list[str] = []
    refusals: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(writers * 2)

    def pusher(number: int) -> None:
        checkout = tmp_path / f"pusher{number}"
        run_git("clone", "-q", _url(emu, org, emu.api_key), str(checkout))
        start.wait(timeout=30)
        for index in range(each):
            for _attempt in range(50):
                run_git("fetch", "-q", "origin", cwd=checkout)
                run_git("reset", "-q", "--hard", "origin/main", cwd=checkout)
                name = f"push-{number}-{index}.txt"
                sha = commit_file(checkout, name, name.encode(), f"Push {number}.{index}")
                result = run_git("push", "origin", "main", cwd=checkout, check=False)
                if result.returncode == 0:
                    accepted.append(sha)
                    break
                refusals.append(result.stderr)
            else:
                raise AssertionError(f"pusher {number} never got {index} in")

    def committer(number: int) -> None:
        start.wait(timeout=30)
        for index in range(each):
            name = f"api-{number}-{index}.txt"
            edit = {"path": name, "action": "create", "content": name}
            accepted.append(str(api.commit(repo, [edit], message=f"API {number}.{index}")["sha"]))

    def guarded(target: object, number: int) -> None:
        try:
            target(number)  # type: ignore[operator]
        except BaseException as error:
            failures.append(error)

    threads = [
        threading.Thread(target=guarded, args=(target, number))
        for number in range(writers)
        for target in (pusher, committer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []

    bare = _bare(emu, org)
    history = set(run_git("--git-dir", str(bare), "rev-list", "main").stdout.split())
    assert set(accepted) <= history
    assert len(accepted) == 2 * writers * each
    files = api.files(repo)
    for number in range(writers):
        for index in range(each):
            for kind in ("push", "api"):
                name = f"{kind}-{number}-{index}.txt"
                assert files[name] == name.encode()
    for refusal in refusals:  # a refused push says why, in git's words
        assert (
            "main -> main (fetch first)" in refusal
            or "failed to update ref" in refusal
            or ("cannot lock ref" in refusal)
        ), refusal
    fsck = run_git("--git-dir", str(bare), "fsck", "--strict", "--no-dangling", check=False)
    assert (fsck.returncode, fsck.stdout) == (0, "")


def test_a_killed_pushs_leftovers_are_removed(tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    (bare / "objects" / "incoming-AbC123" / "pack").mkdir(parents=True)
    (bare / "objects" / "incoming-AbC123" / "pack" / "tmp_pack_x").write_bytes(b"PACK")
    # The name git 2.39 gives it.
    (bare / "objects" / "tmp_objdir-incoming-XyZ789").mkdir()
    (bare / "objects" / "pack" / "tmp_pack_q1w2").write_bytes(b"PACK")
    (bare / "objects" / "pack" / "kept.pack").write_bytes(b"PACK")
    assert sorted(remove_push_leftovers(bare)) == [
        "objects/incoming-AbC123",
        "objects/pack/tmp_pack_q1w2",
        "objects/tmp_objdir-incoming-XyZ789",
    ]
    assert sorted(p.name for p in (bare / "objects").iterdir()) == ["info", "pack"]
    assert [p.name for p in (bare / "objects" / "pack").iterdir()] == ["kept.pack"]
