"""The ``sessionrec`` command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from sessionrec.cli import (
    data_commands,
    experiment_commands,
    model_commands,
    serve_commands,
    train_commands,
    tune_commands,
)

app = typer.Typer(
    name="sessionrec",
    help="Session-based recommendation: preprocess, train, evaluate, compare and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in (
    data_commands,
    model_commands,
    train_commands,
    serve_commands,
    experiment_commands,
    tune_commands,
):
    module.register(app)


def main() -> None:
    app()
