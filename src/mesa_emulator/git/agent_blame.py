"""Agent Blame's attribution: which lines an AI agent wrote, from the git notes the
``agentblame`` tool (github.com/mesa-dot-dev/agentblame) attaches to commits.

Its note on a commit, under ``refs/notes/agentblame``, is JSON (format version 2)::

    {"version": 2, "timestamp": "...", "attributions": [{"path": "src/a.ts",
     "startLine": 3, "endLine": 9, "category": "ai_generated", "provider": "claudeCode",
     "model": "claude-sonnet-4", "confidence": 1.0, "matchType": "exact_hash",
     "contentHash": "..."}]}

where the line numbers are those of the file in that commit.  A line of a later version is
attributed as the tool's own ``agentblame blame`` does: blame it back to the commit and line
it came from, and look that line up in the commit's note.  A line no note covers was written
by a person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pygit2
from pygit2.enums import DiffFind, FileMode, SortMode

from mesa_emulator.git.refs import resolve_commit

__all__ = ["NOTES_REF", "AiLine", "AiRange", "BlameResult", "agent_blame", "note_ranges"]

NOTES_REF = "refs/notes/agentblame"
_TEXT_MODES = (int(FileMode.BLOB), int(FileMode.BLOB_EXECUTABLE))


@dataclass(frozen=True)
class AiRange:
    """One attribution of a note: lines ``start_line``..``end_line`` of ``path``."""

    path: str
    start_line: int
    end_line: int
    provider: str
    model: str | None
    confidence: float
    match_type: str

    @property
    def lines(self) -> int:
        return self.end_line - self.start_line + 1


@dataclass(frozen=True)
class AiLine:
    line_number: int
    provider: str
    model: str | None
    confidence: float
    match_type: str


@dataclass(frozen=True)
class BlameResult:
    attributions: dict[str, list[AiLine]] = field(default_factory=dict)
    """The AI-written lines of each file, by their line number at ``head``."""
    total_lines: int = 0
    """Lines of ``head`` that commits of ``base..head`` wrote."""

    @property
    def ai_lines(self) -> int:
        return sum(len(lines) for lines in self.attributions.values())


def _ai_range(item: Any) -> AiRange | None:
    """A note's attribution, or None when it is not one this format describes."""
    if not isinstance(item, dict):
        return None
    path, start, end = item.get("path"), item.get("startLine"), item.get("endLine")
    provider, model = item.get("provider"), item.get("model")
    confidence, match_type = item.get("confidence", 1.0), item.get("matchType", "exact_hash")
    if not (isinstance(path, str) and isinstance(provider, str)):
        return None
    if not (isinstance(start, int) and isinstance(end, int) and 1 <= start <= end):
        return None
    if not (model is None or isinstance(model, str)) or not isinstance(match_type, str):
        return None
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
        return None
    return AiRange(path, start, end, provider, model, float(confidence), match_type)


def note_ranges(repo: pygit2.Repository, commit_id: pygit2.Oid) -> list[AiRange]:
    """The attributions of the Agent Blame note on a commit; none without a readable note."""
    try:
        note = repo.lookup_note(str(commit_id), NOTES_REF)
    except (KeyError, ValueError, pygit2.GitError):
        return []
    try:
        data = json.loads(note.message)
    except ValueError:
        return []
    items = data.get("attributions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [found for found in map(_ai_range, items) if found is not None]


def agent_blame(repo: pygit2.Repository, base: str, head: str) -> BlameResult:
    """The lines of ``head`` that the commits of ``base..head`` wrote, and which of them an
    AI agent wrote, in each text file that changed from ``base`` to ``head``."""
    base_commit = resolve_commit(repo, base)
    head_commit = resolve_commit(repo, head)
    walker = repo.walk(head_commit.id, SortMode.NONE)
    walker.hide(base_commit.id)
    in_range = {commit.id for commit in walker}
    changes = repo.diff(base_commit, head_commit)
    changes.find_similar(DiffFind.FIND_RENAMES)
    notes: dict[pygit2.Oid, list[AiRange]] = {}
    attributions: dict[str, list[AiLine]] = {}
    total = 0
    for delta in changes.deltas:
        new = delta.new_file
        if delta.status_char() == "D" or new.mode not in _TEXT_MODES:
            continue
        blob = repo.get(new.id)
        if not isinstance(blob, pygit2.Blob) or blob.is_binary:
            continue
        ai_lines: list[AiLine] = []
        for hunk in repo.blame(new.path, newest_commit=head_commit.id):
            origin = hunk.orig_commit_id
            if origin not in in_range:
                continue
            total += hunk.lines_in_hunk
            if origin not in notes:
                notes[origin] = note_ranges(repo, origin)
            origin_path = hunk.orig_path or new.path
            for offset in range(hunk.lines_in_hunk):
                line = hunk.orig_start_line_number + offset
                for ai in notes[origin]:
                    if ai.path == origin_path and ai.start_line <= line <= ai.end_line:
                        number = hunk.final_start_line_number + offset
                        ai_lines.append(
                            AiLine(number, ai.provider, ai.model, ai.confidence, ai.match_type)
                        )
                        break
        if ai_lines:
            attributions[new.path] = ai_lines
    return BlameResult(attributions, total)
