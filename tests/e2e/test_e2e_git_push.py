"""The CI script the git endpoint is for: clone with git, commit, write the Agent Blame note
as the agentblame tool does, push the branch and the notes, then read both back through the
SDK; a read-only key cannot push; a push sends the same signed webhook as an API commit."""

from __future__ import annotations

import json
from pathlib import Path

from tests.git_cli import commit_file, git_url, run_git
from tests.reliability.webhook_receiver import webhook_receiver

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from mesa_sdk.models import AgentBlame, AgentBlameStats, LineAttribution
from mesa_sdk.webhooks import verify


def test_a_pushed_commit_and_its_agent_blame_note_read_back(
    emu: Emulator, client: Mesa, mesa_org: str, tmp_path: Path
) -> None:
    client.repos.create(body={"name": "r"})
    base = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": "Start",
            "author": {"name": "Ada", "email": "ada@example.com"},
            "files": [{"path": "app.py", "content": "print('start')\n"}],
        },
    ).sha
    key = emu.create_api_key(mesa_org, ["git:read", "git:write"])
    checkout = tmp_path / "c"
    run_git("clone", "-q", git_url(emu.base_url, mesa_org, "r", key), str(checkout))
    text = b"print('start')\ndef agent():\n    return 42\nprint('human')\n"
    head = commit_file(checkout, "app.py", text, "Agent and human lines")
    note = {
        "version": 2,
        "timestamp": "2026-01-01T00:00:00Z",
        "attributions": [
            {
                "path": "app.py",
                "startLine": 2,
                "endLine": 3,
                "category": "ai_generated",
                "provider": "claudeCode",
                "model": "claude-sonnet-4",
                "confidence": 1.0,
                "matchType": "exact_hash",
                "contentHash": "sha256:x",
            }
        ],
    }
    run_git("notes", "--ref=refs/notes/agentblame", "add", "-m", json.dumps(note), cwd=checkout)
    run_git("push", "-q", "origin", "main", "refs/notes/agentblame", cwd=checkout)

    assert client.content.get_raw(repo="r", ref="main", path="app.py") == text
    assert client.commits.get(repo="r", sha=head).parents == [base]

    def claude(line: int) -> LineAttribution:
        return LineAttribution(
            line_number=line,
            provider="claudeCode",
            model="claude-sonnet-4",
            confidence=1.0,
            match_type="exact_hash",
        )

    assert client.agent_blame.get(repo="r", base=base, head="main") == AgentBlame(
        attributions={"app.py": [claude(2), claude(3)]},
        stats=AgentBlameStats(total_lines=3, ai_lines=2, human_lines=1, ai_percentage=66.67),
    )

    reader = emu.create_api_key(mesa_org, ["git:read"])
    run_git(
        "remote", "set-url", "origin", git_url(emu.base_url, mesa_org, "r", reader), cwd=checkout
    )
    commit_file(checkout, "later.txt", b"later\n", "Later")
    refused = run_git("push", "origin", "main", cwd=checkout, check=False)
    assert refused.returncode == 128
    assert "The requested URL returned error: 403" in refused.stderr
    assert client.branches.list(repo="r").result.branches[0].head_sha == head


def test_a_push_sends_the_push_webhook_as_an_api_commit_does(
    emu: Emulator, client: Mesa, mesa_org: str, tmp_path: Path
) -> None:
    secret = "whsec_push_0123456789"
    client.repos.create(body={"name": "hooked"})
    base = client.commits.create(
        repo="hooked",
        body={
            "branch": "main",
            "message": "Start",
            "author": {"name": "Ada", "email": "ada@example.com"},
            "files": [{"path": "a.txt", "content": "a\n"}],
        },
    ).sha
    key = emu.create_api_key(mesa_org, ["git:read", "git:write"])
    checkout = tmp_path / "hooked"
    run_git("clone", "-q", git_url(emu.base_url, mesa_org, "hooked", key), str(checkout))
    with webhook_receiver() as receiver:
        client.webhooks.create(repo="hooked", body={"url": receiver.url, "secret": secret})
        first = commit_file(checkout, "b.txt", b"b\n", "Second")
        second = commit_file(checkout, "c.txt", b"c\n", "Third")
        run_git("push", "-q", "origin", "main", cwd=checkout)
        (delivery,) = receiver.wait_for(1)
        event = verify(delivery.body, delivery.headers, secret)

    assert (event.event, event.ref, event.branch) == ("push", "refs/heads/main", "main")
    assert (event.before, event.after) == (base, second)
    assert [(c.id, c.message) for c in event.commits] == [(first, "Second\n"), (second, "Third\n")]
    assert event.repository.name == "hooked"
