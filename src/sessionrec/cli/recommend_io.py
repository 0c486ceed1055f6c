"""Batch recommendation over JSON-lines files, streamed in chunks.

Input: one JSON object per line, ``{"items": [...], "session_id": ...}`` (the id is
optional and echoed). Output: one object per input line, in the same order,
``{"session_id"?, "items", "scores", "unknown_items", "fallback"}``. Item ids follow
the vocabulary's policy: one that does not parse as the catalogue's type (``"²"``)
is listed in ``unknown_items``. The output is written to a temporary sibling and
renamed at the end, so a bad line (reported with its number, also when the model
fails on it) or an interruption never leaves a partial file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sessionrec.errors import DataError
from sessionrec.models.base import Recommendations, Recommender

CHUNK = 1024  # sessions scored together: bounded memory, whatever the file size


def parse_line(raw: bytes, where: str) -> dict[str, Any]:
    """One input line -> ``{"items": [...], "session_id"?: ...}``, or a DataError naming ``where``."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: invalid JSON ({exc})") from None
    if not isinstance(value, dict) or "items" not in value:
        raise DataError(f'{where}: expected an object {{"items": [...]}}, got {raw[:80]!r}')
    items = value["items"]
    if not isinstance(items, list):
        raise DataError(f'{where}: "items" must be a list of item ids, got {type(items).__name__}')
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise DataError(f'{where}: "items" must hold strings or integers, got {item!r}')
    session_id = value.get("session_id")
    if session_id is not None and (isinstance(session_id, bool) or not isinstance(session_id, (str, int))):
        raise DataError(f'{where}: "session_id" must be a string or an integer, got {session_id!r}')
    return value  # other keys (a timestamp, a user id) are ignored


def output_lines(requests: list[dict[str, Any]], recs: Recommendations) -> Iterator[str]:
    for row, request in enumerate(requests):
        line: dict[str, Any] = {}
        if "session_id" in request:
            line["session_id"] = request["session_id"]
        line.update(
            items=recs.items[row],
            scores=recs.scores[row],
            unknown_items=recs.unknown_items[row],
            fallback=recs.fallback[row],
        )
        yield json.dumps(line) + "\n"


Numbered = tuple[str, dict[str, Any]]  # where (file, line) and the request


def _requests(handle: BinaryIO, source: Path, advance: Callable[[int], None]) -> Iterator[Numbered]:
    for number, raw in enumerate(handle, start=1):
        advance(len(raw))
        if raw.strip():  # blank lines (a trailing newline) carry no session
            where = f"{source}, line {number}"
            yield where, parse_line(raw, where)


def recommend_jsonl(
    model: Recommender,
    source: Path,
    target: Path,
    k: int,
    exclude_seen: bool = False,
    chunk: int = CHUNK,
    advance: Callable[[int], None] = lambda n_bytes: None,
) -> int:
    """Recommend for every session of ``source`` into ``target``; returns the number of sessions."""
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    count = 0
    try:
        with open(source, "rb") as handle, os.fdopen(fd, "w") as out:
            pending: list[Numbered] = []
            for numbered in _requests(handle, source, advance):
                pending.append(numbered)
                if len(pending) == chunk:
                    count += _flush(model, pending, out, k, exclude_seen)
            count += _flush(model, pending, out, k, exclude_seen)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return count


def _flush(model: Recommender, pending: list[Numbered], out: Any, k: int, exclude_seen: bool) -> int:
    if not pending:
        return 0
    requests = [request for _, request in pending]
    try:
        recs = model.recommend([r["items"] for r in requests], k=k, exclude_seen=exclude_seen)
    except Exception:
        _blame(model, pending, k, exclude_seen)
        raise
    out.writelines(output_lines(requests, recs))
    n = len(pending)
    pending.clear()
    return n


def _blame(model: Recommender, pending: list[Numbered], k: int, exclude_seen: bool) -> None:
    """A chunk failed: score its lines one by one and raise for the first that fails alone."""
    for where, request in pending:
        try:
            model.recommend([request["items"]], k=k, exclude_seen=exclude_seen)
        except Exception as exc:
            raise DataError(
                f"{where}: cannot recommend for this session ({type(exc).__name__}: {exc})"
            ) from exc
