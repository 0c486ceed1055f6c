"""Shared CLI helpers: one clear error line instead of a traceback for user mistakes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from sessionrec.errors import SessionRecError

console = Console()
# soft_wrap: an error stays one line (a path is never cut in two), whatever the terminal width
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn sessionrec's own errors into ``error: message`` and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SessionRecError, FileNotFoundError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
