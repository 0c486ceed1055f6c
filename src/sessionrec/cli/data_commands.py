"""Data commands: ``preprocess``, ``import-pickles``, ``data info``, ``data synth``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sessionrec.cli.common import console, friendly_errors
from sessionrec.data.dataset import Dataset
from sessionrec.errors import ConfigError

data_app = typer.Typer(help="Inspect datasets and make synthetic click logs.", no_args_is_help=True)

OptionList = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="Reader option key=value (repeatable); also --key value."),
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command(
        "preprocess",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(preprocess_command)
    app.command("import-pickles")(import_pickles_command)
    data_app.command("info")(info_command)
    data_app.command("synth")(synth_command)
    data_app.command("sources")(sources_command)
    app.add_typer(data_app, name="data")


@friendly_errors
def preprocess_command(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="diginetica, yoochoose, retailrocket, tmall, nowplaying, custom")
    ],
    raw: Annotated[Path, typer.Argument(help="The raw log file.")],
    out: Annotated[Path, typer.Argument(help="Output dataset directory (written atomically).")],
    option: OptionList = None,
) -> None:
    """Apply the standard protocol to a raw log, e.g. yoochoose clicks.dat yc64 --fraction 64.

    Options per source (with defaults): sessionrec data sources.
    """
    from sessionrec.data.readers import preprocess

    out, extra = split_out(out, ctx.args)
    options = parse_options([*(option or []), *extra])
    with console.status(f"preprocessing {raw.name} as {source}") as status:
        dataset = preprocess(source, raw, out, on_step=lambda step: status.update(step), **options)
    console.print(f"wrote [bold]{out}[/]")
    console.print(_stats_table(dataset.manifest))


@friendly_errors
def import_pickles_command(
    directory: Annotated[
        Path, typer.Argument(help="Folder with all_train_seq.txt (or train.txt) and test.txt")
    ],
    out: Annotated[Path, typer.Argument(help="Output dataset directory (written atomically).")],
) -> None:
    """Import SR-GNN-format pickles through a restricted unpickler (no code runs)."""
    from sessionrec.data.pickles import import_pickles

    with console.status(f"importing {directory}"):
        dataset = import_pickles(directory)
        dataset.save(out)
    console.print(f"wrote [bold]{out}[/]")
    console.print(_stats_table(dataset.manifest))


@friendly_errors
def info_command(
    directory: Annotated[Path, typer.Argument(help="A dataset directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """The papers' Table 1 figures of a dataset, and the counts after each protocol step."""
    dataset = Dataset.load(directory)
    manifest = {**dataset.manifest, "stats": dataset.stats()}
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, default=str))
        return
    console.print(_stats_table(manifest))
    if manifest.get("steps"):
        console.print(_steps_table(manifest["steps"]))


@friendly_errors
def synth_command(
    out: Annotated[Path, typer.Argument(help="CSV file to write (session_id,item_id,timestamp).")],
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Number of sessions.")] = 10_000,
    items: Annotated[int, typer.Option("--items", min=4, help="Number of items.")] = 1_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    days: Annotated[int, typer.Option("--days", min=1, help="Days the log spans.")] = 30,
) -> None:
    """Write a seeded synthetic click log, ready for 'sessionrec preprocess custom'."""
    from sessionrec.data.synthetic import write_synthetic_csv

    write_synthetic_csv(out, n_sessions=sessions, n_items=items, seed=seed, n_days=days)
    console.print(f"wrote [bold]{out}[/] ({sessions} sessions over {items} items, seed {seed})")


def sources_command() -> None:
    """The raw-log sources and their options, with defaults."""
    from sessionrec.data.readers import READERS

    table = Table(title="sources (override any option with --key value)")
    for name in ("source", "reads", "options (default)"):
        table.add_column(name)
    for name, reader in READERS.items():
        defaults = reader.options().to_dict()
        options = ", ".join(f"{key}={json.dumps(value)}" for key, value in defaults.items())
        table.add_row(name, reader.description, options)
    console.print(table)


def split_out(out: Path, extra: list[str]) -> tuple[Path, list[str]]:
    """OUT and the reader options, wherever the options stood.

    Click takes the first token after RAW as OUT, even ``--test-days`` when reader
    options come first; the options then are that token and the ones after it, and OUT
    is the one bare token no option consumes as its value.
    """
    if not str(out).startswith("-"):
        return out, extra
    tokens, options, bare = [str(out), *extra], [], []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if not token.startswith("--"):
            bare.append(token)
            continue
        options.append(token)
        if "=" not in token and position < len(tokens) and not tokens[position].startswith("--"):
            options.append(tokens[position])
            position += 1
    if len(bare) != 1:
        raise ConfigError(
            f"cannot tell OUT from the reader options in {' '.join(tokens)!r}: write them after OUT "
            "(preprocess SOURCE RAW OUT --key value) or as -o key=value"
        )
    return Path(bare[0]), options


def parse_options(tokens: list[str]) -> dict[str, Any]:
    """``key=value``, ``--key value``, ``--key=value`` and bare ``--flag`` into a dict.

    Values are JSON literals where they parse as one (``64``, ``0.1``, ``null``),
    otherwise strings; dashes in keys become underscores (``--test-days``).
    """
    options: dict[str, Any] = {}
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        flag = token.startswith("--")
        key, sep, value = token.removeprefix("--").partition("=")
        if not sep and flag and position < len(tokens) and not tokens[position].startswith("--"):
            value, sep = tokens[position], "="
            position += 1
        if not key or (not sep and not flag):
            raise ConfigError(f"expected key=value or --key value, got {token!r}")
        options[key.replace("-", "_")] = _literal(value) if sep else True
    return options


def _literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare string such as a column name


def _stats_table(manifest: dict[str, Any]) -> Table:
    stats = manifest.get("stats", {})
    table = Table(
        title=f"{manifest.get('source', 'dataset')} dataset", caption="samples = augmented prefixes"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("clicks", "clicks"),
        ("training samples", "train_samples"),
        ("test samples", "test_samples"),
        ("items", "items"),
        ("items in training", "items_in_train"),
        ("average length", "avg_length"),
        ("training sessions", "train_sessions"),
        ("test sessions", "test_sessions"),
    ]
    for label, key in rows:
        value = stats.get(key)
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    return table


def _steps_table(steps: list[dict[str, Any]]) -> Table:
    table = Table(title="after each protocol step")
    for name in ("step", "rows", "sessions", "items"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for step in steps:
        table.add_row(str(step["step"]), *(f"{step[k]:,}" for k in ("rows", "sessions", "items")))
    return table
