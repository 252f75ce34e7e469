"""Base classes and helpers that every generated model uses."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict


class ResponseModel(BaseModel):
    """A model the server sends: it keeps fields this SDK does not know yet.

    The API evolves, and an older SDK must keep working against a newer server, so unknown
    fields are kept (reachable through `model_extra`) rather than rejected.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    # Not a pydantic PrivateAttr: pydantic runs Python code to set up private attributes on
    # every model it validates, nested ones too, which made a page of 100 repositories take
    # twice as long to parse. The id is kept in pydantic's own slot for private attributes,
    # which copies and pickles carry, and only on the model a call returns.
    @property
    def _request_id(self) -> str | None:
        """The `X-Request-Id` of the response this model came in, on the model a call returns."""
        private = self.__pydantic_private__
        return private.get("_request_id") if private else None

    def __eq__(self, other: object) -> bool:
        # The same content is equal whichever request brought it: `_request_id` is left out.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )


def set_request_id(model: ResponseModel, request_id: str | None) -> None:
    """Records on `model` the id of the response it came in (see `ResponseModel._request_id`)."""
    private = model.__pydantic_private__
    if private is None:  # a subclass with private attributes of its own has a dict already
        object.__setattr__(model, "__pydantic_private__", {"_request_id": request_id})
    else:
        private["_request_id"] = request_id


class RequestModel(BaseModel):
    """A model the client sends: unknown fields are a mistake and rejected before sending."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


UNKNOWN_VARIANT = "__unknown__"
"""The tag under which an open union keeps a variant this SDK does not know yet."""


def open_discriminator(
    field_name: str, known: Collection[str], attribute: str | None = None
) -> Callable[[Any], str]:
    """Picks a union variant by `field_name`, sending unknown values to the fallback variant.

    `attribute` is the field's Python name when it differs from the wire name: a model holds
    the tag there, and a dict may give it under either name, as the models accept both.
    """
    known_tags = frozenset(known)
    python_name = attribute or field_name

    def discriminate(value: Any) -> str:
        if isinstance(value, dict):
            tag = value.get(field_name, value.get(python_name))
        else:
            tag = getattr(value, python_name, None)
        return tag if isinstance(tag, str) and tag in known_tags else UNKNOWN_VARIANT

    return discriminate


def _reject_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be omitted, but not null")
    return value


NOT_NULL = AfterValidator(_reject_null)
"""Marks an optional field that is not nullable: leaving it out is fine, sending null is not."""
