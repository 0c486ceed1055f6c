"""``sessionrec experiment``: rerun a paper's table with one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from sessionrec.cli.common import console, friendly_errors
from sessionrec.errors import ConfigError
from sessionrec.experiments.tables import TABLES
from sessionrec.training import TrainerOptions

experiment_app = typer.Typer(
    help="Rerun the papers' tables (see `sessionrec experiment list`).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(experiment_app, name="experiment")


@experiment_app.command("list")
def list_command() -> None:
    """The tables that can be rerun, with their rows."""
    table = RichTable("table", "title", "datasets", "rows")
    for spec in TABLES.values():
        table.add_row(spec.name, spec.title, ", ".join(spec.datasets), ", ".join(r.label for r in spec.rows))
    console.print(table)


@experiment_app.command("run")
@friendly_errors
def run_command(
    name: Annotated[str, typer.Argument(help="A table name (sessionrec experiment list).")],
    data_root: Annotated[Path, typer.Option(help="Folder holding the benchmark datasets.")] = Path(
        "../shared/data"
    ),
    out: Annotated[Path, typer.Option(help="Where runs and the report go.")] = Path("reports"),
    dataset: Annotated[list[str] | None, typer.Option(help="Only these datasets (repeatable).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch.")] = None,
) -> None:
    """Fit or train every row of a table, resuming finished rows, and write the report."""
    from sessionrec.experiments.runner import run_table

    if name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; available: {', '.join(TABLES)}")
    rows = run_table(
        name,
        data_root,
        out / name,
        dataset,
        TrainerOptions(threads=threads, progress=True),
        log=lambda message: console.rule(message),
    )
    console.print((out / name / f"{name}.md").read_text())
    console.print(f"{len(rows)} rows -> {out / name}")
