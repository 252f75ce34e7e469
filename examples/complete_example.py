"""The "Complete Example" of the SDK documentation, run against any Depot server.

Create a repository, commit to main, branch from it, commit on the branch, diff the branch
against main, merge it (deleting the branch), list commits page by page, read a file, and catch
a 404.  The client is configured from the environment: ``MESA_API_KEY`` and ``MESA_SERVER_URL``
(for the local emulator, ``mesa-emulator serve`` prints both).  ``MESA_ORG`` picks the
organization (default ``my-org``).

    mesa-emulator serve --api-key mesa_dev &
    MESA_API_KEY=mesa_dev MESA_SERVER_URL=http://127.0.0.1:8787/api/v1 \\
        python examples/complete_example.py
"""

from __future__ import annotations

import base64
import os
import secrets

from mesa_sdk import Mesa, NotFoundError
from mesa_sdk.models import DirContent, FileContent


def main() -> None:
    org = os.environ.get("MESA_ORG", "my-org")
    repo_name = f"example-repo-{secrets.token_hex(3)}"  # runs again without a name clash

    with Mesa() as client:  # MESA_API_KEY and MESA_SERVER_URL
        # Create repository
        repo = client.repos.create(org=org, body={"name": repo_name})
        print(f"Created {repo.org}/{repo.name} ({repo.id}), default branch {repo.default_branch}")

        # Initial commit on main
        first = client.commits.create(
            org=org,
            repo=repo_name,
            body={
                "branch": "main",
                "message": "Initial commit",
                "author": {"name": "Bot", "email": "bot@example.com"},
                "edits": [
                    {
                        "path": "README.md",
                        "action": "create",
                        "content": "# Example Repository\n",
                    }
                ],
            },
        )
        print(f"Committed {first.sha[:12]} on {first.branch}: {first.message}")

        # Create feature branch from latest main commit
        commits_page = client.commits.list(org=org, repo=repo_name, ref="main", limit=1)
        head_sha = commits_page.result.commits[0].sha
        branch = client.branches.create(
            org=org,
            repo=repo_name,
            body={"name": "feature", "head_sha": head_sha},
        )
        print(f"Created branch {branch.name} at {branch.head_sha[:12]}")

        # Commit feature change
        feature = client.commits.create(
            org=org,
            repo=repo_name,
            body={
                "branch": "feature",
                "message": "Add feature",
                "author": {"name": "Bot", "email": "bot@example.com"},
                "edits": [
                    {
                        "path": "feature.py",
                        "action": "create",
                        "content": "FEATURE_ENABLED = True\n",
                    }
                ],
            },
        )
        print(f"Committed {feature.sha[:12]} on {feature.branch}: {feature.message}")

        # Diff feature against main
        diff = client.diffs.get(org=org, repo=repo_name, base="main", head="feature")
        count = len(diff.files)
        print(f"Changes: {count} file{'' if count == 1 else 's'}")
        for file in diff.files:
            print(f"  {file.status}: {file.path}")

        # Merge feature branch into main and clean up
        merge = client.merge.perform(
            org=org,
            repo=repo_name,
            base="main",
            body={
                "head": "feature",
                "author": {"name": "Bot", "email": "bot@example.com"},
                "delete_branch": True,
            },
        )
        print(f"Merged via {merge.merge_type}: {merge.sha[:12]}")
        print(f"Branch deleted: {merge.branch_deleted}")

        # List commits page by page
        cursor = None
        while True:
            page = client.commits.list(org=org, repo=repo_name, ref="main", cursor=cursor, limit=1)
            for commit in page.result.commits:
                print(f"  commit {commit.sha[:12]} {commit.message}")
            cursor = page.result.next_cursor
            if not cursor:
                break

        # Read a file
        content = client.content.get(org=org, repo=repo_name, path="feature.py", ref="main")
        if isinstance(content, FileContent):
            text = base64.b64decode(content.content).decode("utf-8")  # JSON carries base64
            print(f"feature.py ({content.size:.0f} bytes):")
            print(text, end="")
        elif isinstance(content, DirContent):
            print([entry.path for entry in content.entries])

        # A missing repository is a 404
        try:
            client.repos.get(org=org, repo="missing")
        except NotFoundError as exc:
            print(f"As expected, {exc.status_code} {exc.code}: {exc.message}")


if __name__ == "__main__":
    main()
