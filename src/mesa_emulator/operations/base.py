"""What every handler shares: its context, body and parameter parsing, repository lookup
and conversions between git values and the contract's models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mesa_emulator.auth import Principal
from mesa_emulator.contract import param_rule
from mesa_emulator.errors import ApiError
from mesa_emulator.git.errors import BranchNotFound, GitOpsError
from mesa_emulator.git.objects import Signature as GitSignature
from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.git.repository import GitRepository
from mesa_emulator.idempotency import IdempotencyClaim
from mesa_emulator.store import HeldSecret, IdempotentAnswer, RepoRecord, UpstreamRecord
from mesa_emulator.validation import SHA_RULE

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from mesa_emulator.state import EmulatorState
    from mesa_sdk.models import Author, Repo, Signature

__all__ = [
    "OperationContext",
    "load_repo",
    "parse_body",
    "query_choice",
    "query_int",
    "query_str",
    "repo_model",
    "signature_model",
    "to_git_signature",
]

M = TypeVar("M", bound=BaseModel)


@dataclass
class OperationContext:
    state: EmulatorState
    operation_id: str
    """The contract's operation being answered (its limits and defaults apply)."""
    principal: Principal
    org: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    accept: str | None
    request: Request
    request_id: str
    idempotency: IdempotencyClaim | None = None
    # The ref moves this request journalled: (journal id, repository id, updates).
    _moves: list[tuple[str, str, list[RefUpdate]]] = field(default_factory=list)

    def answer(
        self, response: Response, secret: HeldSecret | None = None
    ) -> IdempotentAnswer | None:
        """``response`` as the answer to keep for this request's ``Idempotency-Key``, for a
        store write to keep in its own transaction (None without a key)."""
        if self.idempotency is None:
            return None
        return self.idempotency.answer(response, secret)

    def journal(self, repo_id: str, updates: Sequence[RefUpdate], reply: Response) -> None:
        """Journal, so that it outlives the process, that this request is about to apply
        ``updates`` to the refs of ``repo_id`` and then answer ``reply``, with the webhook
        deliveries the moves make; no updates withdraw the journal (nothing moved).  Nothing
        to journal without an ``Idempotency-Key`` or a webhook the moves reach."""
        claim = self.idempotency
        if not updates:
            if self._moves:
                withdrawn = self._moves.pop()[0]
                self.state.store.withdraw_ref_move(
                    None if claim is None else (claim.scope, claim.key), withdrawn
                )
            return
        answer = None if claim is None else claim.answer(reply)
        journal_id = self.state.journal_ref_updates(repo_id, updates, answer)
        if journal_id is None:
            return
        self._moves.append((journal_id, repo_id, list(updates)))
        if claim is not None:
            claim.crash_if("after_journal")

    def publish_moves(self, succeeded: bool) -> None:
        """After the handler: hand the webhook deliveries of the refs this request moved to
        the delivery worker.  A handler that failed after journalling may or may not have
        moved them: the refs say."""
        moves, self._moves = self._moves, []
        for journal_id, repo_id, updates in moves:
            if not succeeded and not self._has_moved(repo_id, updates[0]):
                self.state.store.withdraw_ref_move(None, journal_id)
                continue
            if self.idempotency is not None:
                self.idempotency.crash_if("before_publish")
            self.state.publish_ref_updates(repo_id, updates, journal_id=journal_id)

    @property
    def has_moves(self) -> bool:
        """Whether this request journalled ref moves not yet published."""
        return bool(self._moves)

    def _has_moved(self, repo_id: str, update: RefUpdate) -> bool:
        try:
            return self.state.git(repo_id).has_moved(update)
        except Exception:  # the repository is gone (deleted meanwhile): nothing to announce
            return False

    @cached_property
    def base_url(self) -> str:
        """``http://HOST:PORT`` as the client reached the server, worked out when first asked
        for (only the LFS batches need it)."""
        return str(self.request.base_url).rstrip("/")


# ---- request bodies ---------------------------------------------------------------------


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _describe(error: Mapping[str, Any], field: str) -> str:
    kind = error.get("type")
    if kind == "missing":
        return f"Field '{field}' is required."
    if kind == "extra_forbidden":
        return f"Unknown field '{field}'."
    return f"Field '{field}': {error.get('msg', 'is invalid')}."


def validation_error(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    if errors and errors[0].get("type") == "json_invalid":
        reason = errors[0].get("ctx", {}).get("error", errors[0].get("msg", ""))
        return ApiError.invalid_request("body", f"The request body is not valid JSON: {reason}.")
    items = []
    for error in errors:
        field = _field(tuple(error.get("loc", ())))
        if field == "body" and error.get("type") == "model_type":
            items.append({"field": field, "message": "The request body must be a JSON object."})
        else:
            items.append({"field": field, "message": _describe(error, field)})
    first = items[0] if items else {"field": "body", "message": "The request body is invalid."}
    return ApiError.invalid_request(first["field"], first["message"], errors=items)


def parse_body(model: type[M], body: bytes) -> M:
    """The request body as ``model`` (strict JSON; unknown fields refused), or 400."""
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise validation_error(exc) from None


# ---- path and query parameters -----------------------------------------------------------


def path_str(ctx: OperationContext, name: str) -> str:
    """The string path parameter ``name``, held to the contract's lengths and pattern."""
    rule = param_rule(ctx.operation_id, name)
    value = ctx.params[name]
    if not rule.admits(value):
        raise ApiError.invalid_parameter(name, f"'{name}' must {rule.describe()}.")
    return value


def query_int(ctx: OperationContext, name: str) -> int:
    """The integer query parameter ``name``, within the contract's bounds, or its default."""
    rule = param_rule(ctx.operation_id, name)
    assert rule.low is not None and rule.high is not None and isinstance(rule.default, int)
    raw = ctx.query.get(name)
    if raw is None:
        return rule.default
    low, high = rule.low, rule.high
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    if not raw.isascii() or not raw.isdigit():
        raise ApiError.invalid_parameter(name, f"'{name}' must be an integer, got {shown!r}.")
    # More digits than `high` has is out of range, and int() would refuse thousands of them.
    value = int(raw) if len(raw.lstrip("0")) <= len(str(high)) else None
    if value is None or not low <= value <= high:
        raise ApiError.invalid_parameter(
            name, f"'{name}' must be between {low} and {high}, got {shown}."
        )
    return value


def query_str(ctx: OperationContext, name: str) -> str | None:
    """The string query parameter ``name`` within the contract's lengths (None if omitted
    and optional)."""
    rule = param_rule(ctx.operation_id, name)
    assert rule.high is not None
    min_length = rule.low if rule.low is not None else 0
    raw = ctx.query.get(name)
    if raw is None:
        if rule.required:
            raise ApiError.invalid_parameter(name, f"The '{name}' query parameter is required.")
        return None
    if not min_length <= len(raw) <= rule.high:
        raise ApiError.invalid_parameter(
            name, f"'{name}' must have {min_length} to {rule.high} characters."
        )
    if "\x00" in raw:
        raise ApiError.invalid_parameter(name, f"'{name}' must not contain NUL.")
    return raw


def query_choice(ctx: OperationContext, name: str) -> str:
    """The enumerated query parameter ``name``: one of the contract's values, or its default."""
    rule = param_rule(ctx.operation_id, name)
    assert rule.choices is not None and isinstance(rule.default, str)
    raw = ctx.query.get(name)
    if raw is None:
        return rule.default
    if raw not in rule.choices:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise ApiError.invalid_parameter(
            name, f"'{name}' must be one of {', '.join(rule.choices)}; got {shown!r}."
        )
    return raw


# ---- repositories -----------------------------------------------------------------------


def load_repo(ctx: OperationContext) -> RepoRecord:
    name = ctx.params["repo"]
    record = ctx.state.store.get_repo(ctx.org, name)
    if record is None:
        raise ApiError(
            "REPO_NOT_FOUND",
            f"Repository '{ctx.org}/{name}' not found.",
            {"org": ctx.org, "repo": name},
        )
    return record


def head_sha(state: EmulatorState, record: RepoRecord) -> str | None:
    try:
        return state.git(record.id).branch_sha(record.default_branch)
    except BranchNotFound:
        return None


def repo_model(state: EmulatorState, record: RepoRecord, upstream: UpstreamRecord | None) -> Repo:
    """The repository as answered, with its ``upstream`` and ``status: syncing`` while its
    first import runs."""
    from mesa_emulator.operations.upstream import importing, upstream_model
    from mesa_sdk.models import Repo

    extra = {"status": "syncing"} if importing(upstream) else {}
    return Repo(
        id=record.id,
        org=record.org,
        name=record.name,
        default_branch=record.default_branch,
        head_sha=head_sha(state, record),
        size_bytes=state.git(record.id).size_bytes(),
        created_at=record.created_at,
        upstream=upstream_model(upstream),
        **extra,
    )


def resolve_ref(git: GitRepository, ref: str, parameter: str) -> str:
    try:
        return git.resolve(ref)
    except GitOpsError:
        raise ApiError(
            "REF_NOT_FOUND",
            f"'{parameter}' names no branch, tag or commit: {ref!r}.",
            {"parameter": parameter, "ref": ref},
        ) from None


def check_sha(value: str, parameter: str) -> None:
    if not SHA_RULE.admits(value):
        raise ApiError.invalid_parameter(
            parameter, f"'{parameter}' must {SHA_RULE.describe()}, got {value!r}."
        )


# ---- git values <-> models --------------------------------------------------------------


def _check_identity(value: str, field: str) -> None:
    if any(ch in value for ch in "<>\n\r\x00") or not value.strip():
        raise ApiError.invalid_request(
            field, f"Field '{field}' must not be blank or contain '<', '>', NUL or line breaks."
        )


def to_git_signature(author: Author, field: str, now: datetime) -> GitSignature:
    _check_identity(author.name, f"{field}.name")
    _check_identity(author.email, f"{field}.email")
    when = author.date if author.date is not None else now
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return GitSignature(author.name, author.email, when)


def signature_model(sig: GitSignature) -> Signature:
    from mesa_sdk.models import Signature

    return Signature(name=sig.name, email=sig.email, date=sig.time.astimezone(timezone.utc))
