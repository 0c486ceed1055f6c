"""``sessionrec tune``: search a model's declared space on the validation split (Optuna).

The study is kept in an SQLite file (``--study``, default OUT with ``.sqlite``), so
running the same command again resumes it; the best config goes to OUT as JSON,
which ``sessionrec fit`` and ``sessionrec train`` read with ``--config OUT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sessionrec.cli.common import console, friendly_errors
from sessionrec.cli.run_helpers import Ties
from sessionrec.config import _parse_literal
from sessionrec.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("tune")(tune_command)


@friendly_errors
def tune_command(
    model: Annotated[str, typer.Argument(help="A registered model or preset with a search space.")],
    data: Annotated[Path, typer.Argument(help="Dataset directory or folder of SR-GNN pickles.")],
    out: Annotated[Path, typer.Option("--out", help="Where the best config is written (JSON).")],
    trials: Annotated[
        int | None, typer.Option(min=1, help="Finished trials the study should hold (a rerun resumes).")
    ] = None,
    minutes: Annotated[float | None, typer.Option(min=0.01, help="Wall-clock budget of this run.")] = None,
    study: Annotated[
        Path | None, typer.Option(help="SQLite file of the study (default: OUT.sqlite).")
    ] = None,
    study_name: Annotated[str | None, typer.Option(help="Study name (default: MODEL-METRIC).")] = None,
    metric: Annotated[str, typer.Option(help="Validation metric maximised.")] = "MRR@20",
    ties: Annotated[Ties, typer.Option(help="Rank of a tied target while tuning.")] = Ties.conservative,
    valid_fraction: Annotated[float, typer.Option(help="Share of training samples held out.")] = 0.1,
    valid_samples: Annotated[
        int | None, typer.Option(min=1, help="Score a seeded subset of this many validation prefixes.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config value held fixed, key=value.")
    ] = None,
) -> None:
    """Tune MODEL's search space on DATA's validation split (never the test split)."""
    from sessionrec.cli.run_helpers import load_data

    try:
        from sessionrec.tuning.study import TuneOptions, tune
    except ImportError as exc:  # optuna is an extra
        raise ConfigError(f"tuning needs Optuna: pip install 'sessionrec[tune]' ({exc})") from None
    if trials is None and minutes is None:
        raise ConfigError("give a budget: --trials N, --minutes M, or both")
    fixed = {}
    for item in set_ or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        fixed[key.strip()] = _parse_literal(raw.strip())
    options = TuneOptions(
        trials=trials,
        minutes=minutes,
        metric=metric,
        ties=ties.value,
        valid_fraction=valid_fraction,
        valid_samples=valid_samples,
        seed=seed,
        fixed=fixed,
    )
    dataset = load_data(data)
    storage = study or out.with_suffix(".sqlite")
    result = tune(model, dataset, storage, options, study_name)
    result.write(out)
    console.print(
        f"tuned [bold]{model}[/]: {result.finished_trials} trials in {storage}; best validation "
        f"{metric} {result.value:.2f} (ties {ties.value}) with {result.params}"
    )
    console.print(f"best config -> {out} (use: sessionrec fit {model} DATA --config {out} --out RUN)")
