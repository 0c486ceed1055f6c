"""Request and response bodies of the HTTP API (pydantic; they also write the OpenAPI spec).

Item ids are JSON integers or strings of 1-256 characters; floats, booleans, nulls,
objects and lists are refused (422) with one message per offending id rather than
pydantic's one message per union member. What an id means is the vocabulary's
policy (:mod:`sessionrec.data.vocab`): an integer catalogue also takes canonical
ASCII digit strings (``"12"``), and an id that does not parse as the catalogue's
type (``"²"``, ``"--5"``, ``"٤٢٦٩"``) is an unknown item, reported in
``unknown_items``, never an error. Limits that depend on the service settings (``max_k``, the
session length) are checked in the handlers, which know them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

MAX_ID_CHARS = 256
SESSION_ID_PATTERN = r"^[A-Za-z0-9._:~-]{1,128}$"


def _item_id(value: Any) -> int | str:
    """Accept an int or a short, encodable string; refuse every other JSON type."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"item ids must be integers or strings, not {_json_type(value)}")
    if isinstance(value, str):
        if not value or len(value) > MAX_ID_CHARS:
            raise ValueError(f"item id strings must hold 1 to {MAX_ID_CHARS} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("item id strings must be valid Unicode text") from None
    return value


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", float: "a number with a fraction", dict: "an object", list: "a list"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


ItemId = Annotated[int | str, PlainValidator(_item_id, json_schema_input_type=int | str)]


class _Body(BaseModel):
    # unknown keys are refused so that a typo ("exclude_sen") is not silently ignored
    model_config = ConfigDict(extra="forbid", strict=True)


class RecommendRequest(_Body):
    items: list[ItemId] = Field(description="The session's clicks, oldest first (external item ids).")
    k: int = Field(20, ge=1, description="How many items to return (at most the service's max_k).")
    exclude_seen: bool = Field(False, description="Leave the session's own items out of the list.")


class EventRequest(_Body):
    item: ItemId = Field(description="The item just clicked (external id).")
    k: int = Field(20, ge=1, description="How many items to return (at most the service's max_k).")
    exclude_seen: bool = Field(False, description="Leave the session's own items out of the list.")


class RecommendResponse(BaseModel):
    items: list[int | str] = Field(description="Recommended external item ids, best first.")
    scores: list[float] = Field(description="The model's score of each recommended item.")
    unknown_items: list[Any] = Field(description="Session items the model does not know (ignored).")
    fallback: bool = Field(description="True when no item was known: the most popular items are returned.")
    model: str


class SessionView(BaseModel):
    session_id: str
    items: list[int | str] = Field(description="The stored clicks, oldest first (capped in length).")


class EventResponse(RecommendResponse):
    session: SessionView


class ModelInfo(BaseModel):
    name: str
    preset: str | None
    config: dict[str, Any]
    n_items: int
    data: dict[str, Any] | None = Field(description="The training data manifest of the run.")
    test_metrics: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in a few words.")
    detail: Any = Field(description="Where and why: the field, the limit, the expected type.")
