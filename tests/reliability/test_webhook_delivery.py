"""Webhooks end to end: a receiver on 127.0.0.1 gets a signed `push` event for every branch
move the API makes, filtered by the webhook's `branches` and `globs`; a failed delivery is
retried with the same delivery id; a kill -9 after the move never loses one."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesa_emulator.deliveries import DeliveryWorker
from mesa_emulator.server import Emulator
from mesa_emulator.store import MetadataStore, WebhookRecord, utc_now
from mesa_sdk import Mesa, NotFoundError
from mesa_sdk.models import Webhook, WebhookCreated
from mesa_sdk.webhooks import PushEvent, verify
from tests.git_cli import commit_file, git_url, run_git
from tests.shared import AUTHOR

from .support import HookRecorder, refusing_port, script_for, sdk_client, wait_until
from .test_crash_recovery import API_KEY, ORG, EmulatorProcess, processes  # noqa: F401
from .webhook_receiver import Received, webhook_receiver

ZERO = "0" * 40
SECRET = "whsec_test_0123456789"
AUTHOR_DATED = {**AUTHOR, "date": "2026-01-02T03:04:05Z"}
NO_RETRIES = {"strategy": "none"}


@pytest.fixture
def client(own_emulator: Emulator, org: str) -> Iterator[Mesa]:
    with Mesa(
        api_key=own_emulator.api_key, server_url=own_emulator.url, org=org, retry_config=NO_RETRIES
    ) as sdk:
        yield sdk


def commit(client: Mesa, repo: str, branch: str, path: str, text: str) -> tuple[str, str]:
    """Commit one file; its sha and message."""
    made = client.commits.create(
        repo=repo,
        body={
            "branch": branch,
            "message": f"write {path}",
            "author": AUTHOR_DATED,
            "files": [{"path": path, "content": text}],
        },
    )
    return made.sha, made.message


def pushed(repo: dict[str, str], branch: str, before: str, after: str, commits: Any) -> dict:
    return {
        "event": "push",
        "repository": repo,
        "ref": f"refs/heads/{branch}",
        "branch": branch,
        "before": before,
        "after": after,
        "commits": [
            {
                "id": sha,
                "sha": sha,
                "message": message,
                "author": {**AUTHOR, "date": "2026-01-02T03:04:05Z"},
            }
            for sha, message in commits
        ],
    }


def opened(delivery: Received, started: float) -> dict[str, Any]:
    """The event of a delivery, checked with `verify`, without its `pushed_at` (checked to
    fall within the test)."""
    event = verify(delivery.body, delivery.headers, SECRET)
    assert isinstance(event, PushEvent)
    assert started - 1 <= event.pushed_at.timestamp() <= time.time() + 1
    data = json.loads(delivery.body)
    del data["pushed_at"]
    assert event.model_dump(mode="json", exclude={"pushed_at"}) == data
    return data


def test_webhooks_are_created_listed_and_deleted_as_the_real_api_answers(
    client: Mesa,
) -> None:
    client.repos.create(body={"name": "r"})
    made = client.webhooks.create(repo="r", body={"url": "https://ci.example.com/hook"})
    assert isinstance(made, WebhookCreated)
    assert made.id.startswith("wh_") and made.secret.startswith("whsec_")
    assert (made.url, made.events, made.branches, made.globs) == (
        "https://ci.example.com/hook",
        ["push"],
        None,
        None,
    )
    assert made.secret not in repr(made)
    second = client.webhooks.create(
        repo="r",
        body={
            "url": "http://127.0.0.1:9/x",
            "events": ["push"],
            "branches": ["main"],
            "globs": ["docs/**"],
            "secret": SECRET,
        },
    )
    assert (second.secret, second.branches, second.globs) == (SECRET, ["main"], ["docs/**"])

    listed = client.webhooks.list(repo="r").webhooks
    assert listed == [
        Webhook(**made.model_dump(exclude={"secret"})),
        Webhook(**second.model_dump(exclude={"secret"})),
    ]
    assert "secret" not in client.webhooks.list(repo="r").model_dump()["webhooks"][0]

    assert client.webhooks.delete(repo="r", webhook_id=made.id).success is True
    assert [w.id for w in client.webhooks.list(repo="r").webhooks] == [second.id]
    with pytest.raises(NotFoundError) as gone:
        client.webhooks.delete(repo="r", webhook_id=made.id)
    assert (gone.value.status_code, gone.value.code) == (404, "WEBHOOK_NOT_FOUND")
    assert (
        gone.value.message
        == f"Webhook {made.id!r} not found in repository '{client_org(client)}/r'."
    )


def client_org(client: Mesa) -> str:
    return str(client.repos.get(repo="r").org)


def test_a_create_whose_answer_was_lost_is_replayed_with_its_secret(
    own_emulator: Emulator, org: str
) -> None:
    with sdk_client(own_emulator, org) as client, webhook_receiver() as receiver:
        client.repos.create(body={"name": "r"})
        recorder = HookRecorder().install(client)
        script = own_emulator.script_faults(
            f"/api/v1/{org}/r/webhooks", [{"drop": "after"}], "POST"
        )
        made = client.webhooks.create(repo="r", body={"url": receiver.url})
        assert recorder.outcomes() == ["APIConnectionError", "replayed"]
        assert script_for(own_emulator, script)["faults"][0]["consumed"] is True
        (listed,) = client.webhooks.list(repo="r").webhooks
        assert listed == Webhook(**made.model_dump(exclude={"secret"}))
        # The replayed secret is the one that signs the deliveries.
        sha, _ = commit(client, "r", "main", "a.txt", "one")
        (delivery,) = receiver.wait_for(1)
        assert verify(delivery.body, delivery.headers, made.secret).after == sha


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://[::1/x"}, "url"),
        ({"url": "http://example.com:99999/x"}, "url"),
        ({"url": "http://example.com/a b"}, "url"),
        ({"url": "https://example.com", "events": ["pull"]}, "events.0"),
        ({"url": "https://example.com", "events": []}, "events"),
        ({"url": "https://example.com", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_webhook_is_refused_naming_the_field(
    own_emulator: Emulator, org: str, body: dict[str, Any], field: str
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {own_emulator.api_key}"}
    httpx.post(f"{own_emulator.url}/{org}/repos", json={"name": "r"}, headers=headers)
    answer = httpx.post(f"{own_emulator.url}/{org}/r/webhooks", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"]["field"] == field
    listed = httpx.get(f"{own_emulator.url}/{org}/r/webhooks", headers=headers).json()
    assert listed == {"webhooks": []}


def test_every_branch_move_is_delivered_signed_with_the_exact_event(
    client: Mesa, own_emulator: Emulator
) -> None:
    started = time.time()
    with webhook_receiver() as receiver:
        created = client.repos.create(body={"name": "r"})
        repo = {
            "id": created.id,
            "org": created.org,
            "name": "r",
            "url": f"{own_emulator.url.removesuffix('/api/v1')}/{created.org}/r.git",
        }
        hook = client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
        c1 = commit(client, "r", "main", "a.txt", "one")
        client.branches.create(repo="r", body={"name": "feature", "from": "main"})
        c2 = commit(client, "r", "feature", "b.txt", "two")
        client.merge.perform(
            repo="r", base="main", body={"head": "feature", "author": AUTHOR, "delete_branch": True}
        )
        client.branches.create(repo="r", body={"name": "tmp", "from": c1[0]})
        client.branches.delete(repo="r", branch="tmp")

        deliveries = receiver.wait_for(7)
        assert [opened(d, started) for d in deliveries] == [
            pushed(repo, "main", ZERO, c1[0], [c1]),
            pushed(repo, "feature", ZERO, c1[0], []),
            pushed(repo, "feature", c1[0], c2[0], [c2]),
            pushed(repo, "main", c1[0], c2[0], [c2]),
            pushed(repo, "feature", c2[0], ZERO, []),
            pushed(repo, "tmp", ZERO, c1[0], []),
            pushed(repo, "tmp", c1[0], ZERO, []),
        ]
        for delivery in deliveries:
            headers = {k.lower(): v for k, v in delivery.headers.items()}
            assert headers["x-depot-event"] == "push"
            assert headers["user-agent"] == "Depot-Webhook/1.0"
            assert headers["content-type"] == "application/json"
            assert delivery.path == "/hooks/depot"
        ids = [{k.lower(): v for k, v in d.headers.items()}["x-depot-delivery"] for d in deliveries]
        assert len(set(ids)) == 7
        assert wait_until(lambda: _states(own_emulator, hook.id) == ["delivered"] * 7)
        listed = [d for d in own_emulator.deliveries() if d["webhook_id"] == hook.id]
        assert [d["id"] for d in listed] == ids
        assert {
            (d["event"], d["attempts"], d["response_status"], d["last_error"]) for d in listed
        } == {("push", 1, 200, None)}


def _states(emu: Emulator, webhook_id: str) -> list[str]:
    return [d["status"] for d in emu.deliveries() if d["webhook_id"] == webhook_id]


def test_branches_and_globs_choose_which_moves_a_webhook_is_sent(
    client: Mesa, own_emulator: Emulator
) -> None:
    with webhook_receiver() as receiver:
        client.repos.create(body={"name": "r"})

        def hook(name: str, **filters: Any) -> str:
            body = {"url": f"{receiver.url}?hook={name}", "secret": SECRET, **filters}
            return client.webhooks.create(repo="r", body=body).id

        hooks = {
            "main_only": hook("main_only", branches=["main"]),
            "docs": hook("docs", globs=["docs/**"]),
            "top_md": hook("top_md", globs=["*.md"]),
            "all": hook("all", events=["push"]),
        }
        commit(client, "r", "main", "src/app.py", "print()")
        # A branch made from another's head brings no commit and changes no path.
        client.branches.create(repo="r", body={"name": "feature", "from": "main"})
        commit(client, "r", "feature", "docs/guide/intro.md", "hi")
        commit(client, "r", "feature", "README.md", "readme")
        client.branches.delete(repo="r", branch="feature")

        expected = {
            "main_only": [("main", "src/app.py")],
            "docs": [("feature", "docs/guide/intro.md")],
            "top_md": [("feature", "README.md")],
            "all": [
                ("main", "src/app.py"),
                ("feature", None),
                ("feature", "docs/guide/intro.md"),
                ("feature", "README.md"),
                ("feature", None),
            ],
        }
        total = sum(len(v) for v in expected.values())
        received = receiver.wait_for(total)
        assert wait_until(
            lambda: all(
                _states(own_emulator, hooks[name]) == ["delivered"] * len(moves)
                for name, moves in expected.items()
            )
        ), own_emulator.deliveries()
        assert len(receiver.received) == total
        got: dict[str, list[tuple[str, str | None]]] = {name: [] for name in expected}
        for delivery in received:
            event = verify(delivery.body, delivery.headers, SECRET)
            name = delivery.path.split("hook=", 1)[1]
            message = event.commits[-1].message if event.commits else None
            got[name].append(
                (event.branch, None if message is None else message.removeprefix("write "))
            )
        assert got == expected


def test_a_failed_delivery_is_retried_with_the_same_id_until_answered(
    client: Mesa, own_emulator: Emulator
) -> None:
    with webhook_receiver(statuses=[500, 503]) as receiver:
        client.repos.create(body={"name": "r"})
        hook = client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
        sha, _ = commit(client, "r", "main", "a.txt", "one")
        first, second, third = receiver.wait_for(3, timeout=20)
        delivery_ids = {
            {k.lower(): v for k, v in d.headers.items()}["x-depot-delivery"]
            for d in (first, second, third)
        }
        assert len(delivery_ids) == 1
        assert first.body == second.body == third.body
        assert verify(third.body, third.headers, SECRET).after == sha
        assert wait_until(lambda: _states(own_emulator, hook.id) == ["delivered"])
        (listed,) = [d for d in own_emulator.deliveries() if d["webhook_id"] == hook.id]
        assert listed["id"] == delivery_ids.pop()
        assert (listed["attempts"], listed["response_status"], listed["last_error"]) == (
            3,
            200,
            "HTTP 503",
        )


def test_a_receiver_that_never_answers_holds_up_neither_the_api_nor_other_webhooks(
    client: Mesa, own_emulator: Emulator
) -> None:
    # A listening socket that never accepts: each delivery attempt waits for its timeout.
    with socket.socket() as silent, webhook_receiver() as receiver:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        client.repos.create(body={"name": "r"})
        stuck = client.webhooks.create(repo="r", body={"url": url})
        client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
        started = time.monotonic()
        shas = [commit(client, "r", "main", f"{number}.txt", "x")[0] for number in range(3)]
        assert time.monotonic() - started < 5  # an attempt alone waits 10 s
        delivered = receiver.wait_for(3, timeout=5)
        assert [verify(d.body, d.headers, SECRET).after for d in delivered] == shas
        assert _states(own_emulator, stuck.id) == ["pending"] * 3


def test_a_delivery_answered_4xx_is_not_retried(client: Mesa, own_emulator: Emulator) -> None:
    with webhook_receiver(statuses=[410]) as receiver:
        client.repos.create(body={"name": "r"})
        hook = client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
        commit(client, "r", "main", "a.txt", "one")
        receiver.wait_for(1)
        assert wait_until(lambda: _states(own_emulator, hook.id) == ["failed"])
        (listed,) = [d for d in own_emulator.deliveries() if d["webhook_id"] == hook.id]
        assert (listed["attempts"], listed["response_status"], listed["last_error"]) == (
            1,
            410,
            "HTTP 410",
        )
        time.sleep(1.5)  # longer than the first retry delay: no second attempt comes
        assert len(receiver.received) == 1


def test_an_unreachable_receiver_is_given_up_after_the_attempt_bound(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "meta.sqlite3")
    worker = DeliveryWorker(store, max_attempts=3, retry_delay=0.01)
    try:
        with refusing_port() as port:
            now = utc_now()
            store.insert_webhook(
                WebhookRecord(
                    "wh_1",
                    "repo_1",
                    f"http://127.0.0.1:{port}/",
                    ("push",),
                    None,
                    None,
                    SECRET,
                    now,
                    now,
                ),
                None,
            )
            store.add_deliveries([("dlv_1", "wh_1", "push", b"{}")])
            worker.start()
            assert wait_until(lambda: store.list_deliveries()[0].state == "failed", 15)
        (delivery,) = store.list_deliveries()
        assert delivery.attempts == 3
        assert delivery.response_status is None
        assert delivery.last_error is not None and delivery.last_error.startswith("ConnectError")
    finally:
        worker.stop()
        store.close()


@pytest.mark.parametrize("point", ["before_publish", "after_journal"])
def test_a_kill_9_between_the_move_and_its_delivery_loses_no_event(
    processes: Callable[[], EmulatorProcess],  # noqa: F811
    point: str,
) -> None:
    """`before_publish`: the commit moved main and its delivery is journalled, not yet queued;
    `after_journal`: nothing moved yet.  Either way the restarted emulator sends exactly one
    event for the one commit."""
    with webhook_receiver() as receiver:
        first = processes()
        with first.client() as client:
            client.repos.create(body={"name": "r"})
            client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
            first.script_crash("POST", "/r/commits", point)
            body = {
                "branch": "main",
                "message": "survives",
                "author": AUTHOR_DATED,
                "files": [{"path": "a.txt", "content": "one"}],
            }
            with pytest.raises(Exception):
                client.commits.create(
                    repo="r",
                    body=body,
                    request_options={"idempotency_key": "k1", "timeout_ms": 20_000},
                )
        assert first.wait_for_exit() == 137
        assert receiver.received == []

        second = processes()
        with second.client() as client:
            # The retry under the same key: answered from the journal (the move happened) or
            # made now (it had not); either way one commit, one event.
            made = client.commits.create(
                repo="r", body=body, request_options={"idempotency_key": "k1", "timeout_ms": 20_000}
            )
            (delivery,) = receiver.wait_for(1)
            event = verify(delivery.body, delivery.headers, SECRET)
            assert (event.branch, event.before, event.after) == ("main", ZERO, made.sha)
            assert [c.message for c in event.commits] == ["survives"]
            time.sleep(1)
            assert len(receiver.received) == 1


def test_a_kill_9_after_a_pushs_refs_moved_loses_no_event_and_a_refused_push_sends_none(
    processes: Callable[[], EmulatorProcess],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The emulator is killed once `git push` moved main and before it published the move
    (`before_publish`): restarted, it sends exactly one event for that push.  Then a push of
    a rewritten main (refused by git after the emulator's hook said yes) and a new branch
    sends the new branch's event only."""
    checkout = tmp_path / "c"
    with webhook_receiver() as receiver:
        first = processes()
        with first.client() as client:
            client.repos.create(body={"name": "r"})
            client.webhooks.create(repo="r", body={"url": receiver.url, "secret": SECRET})
        run_git("clone", "-q", git_url(first.root_url, ORG, "r", API_KEY), str(checkout))
        pushed_sha = commit_file(checkout, "a.txt", b"one\n", "pushed")
        first.script_crash("POST", f"/{ORG}/r.git/git-receive-pack", "before_publish", in_api=False)
        run_git("push", "origin", "main", cwd=checkout, check=False)
        assert first.wait_for_exit() == 137
        assert receiver.received == []

        second = processes()
        (delivery,) = receiver.wait_for(1)
        event = verify(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, PushEvent)
        assert (event.branch, event.before, event.after) == ("main", ZERO, pushed_sha)
        assert [(c.sha, c.message) for c in event.commits] == [(pushed_sha, "pushed\n")]
        remote = git_url(second.root_url, ORG, "r", API_KEY)
        heads = run_git("ls-remote", "--heads", remote).stdout
        assert heads == f"{pushed_sha}\trefs/heads/main\n"

        run_git("commit", "-q", "--amend", "-m", "rewritten", cwd=checkout)
        run_git("branch", "feature", cwd=checkout)
        feature_sha = run_git("rev-parse", "feature", cwd=checkout).stdout.strip()
        refused = run_git("push", "--force", remote, "main", "feature", cwd=checkout, check=False)
        assert "! [remote rejected] main -> main" in refused.stderr
        assert run_git("ls-remote", "--heads", remote).stdout == (
            f"{feature_sha}\trefs/heads/feature\n{pushed_sha}\trefs/heads/main\n"
        )
        _, later = receiver.wait_for(2)
        event = verify(later.body, later.headers, SECRET)
        assert (event.branch, event.before, event.after) == ("feature", ZERO, feature_sha)
        time.sleep(1)
        assert len(receiver.received) == 2
