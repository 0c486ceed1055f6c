"""Model commands: ``fit``, ``evaluate``, ``recommend``, ``compare`` and ``models``.

DATA is a dataset directory (``sessionrec preprocess`` / ``import-pickles``) or a
folder of SR-GNN pickles, imported on the fly. Evaluation keeps per-sample counts
in ``RUN/ranks-<data name>.npz`` (every tie mode comes from them), so ``compare``
reuses them instead of scoring the test set again. Metrics are reported with the
tie mode they were computed in (``--ties``, default: expected under random
tie-breaking).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sessionrec.cli.common import console, err_console, friendly_errors
from sessionrec.cli.run_helpers import (
    DEFAULT,
    TIES_HELP,
    Ties,
    by_length_table,
    check_compatible,
    data_name,
    evaluate_with_progress,
    load_data,
    print_metrics,
    ranks_for,
    ranks_path,
    save_ranks,
)
from sessionrec.errors import DataError
from sessionrec.evaluation import compare as paired_compare
from sessionrec.models import registry
from sessionrec.models.base import Recommender
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import load_run_model
from sessionrec.runs import discard_run, finish_run, start_run
from sessionrec.training import TrainerOptions

TiesOption = Annotated[Ties, typer.Option(help=TIES_HELP)]
BatchOption = Annotated[int, typer.Option(min=1, help="Test prefixes scored together.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("fit")(fit_command)
    app.command("evaluate")(evaluate_command)
    app.command("recommend", context_settings={"allow_extra_args": True})(recommend_command)
    app.command("compare")(compare_command)
    app.command("models")(models_command)


# -- fit ---------------------------------------------------------------------------------
@friendly_errors
def fit_command(
    model: Annotated[str, typer.Argument(help="A registered model or preset (sessionrec models).")],
    data: Annotated[Path, typer.Argument(help="Dataset directory or folder of SR-GNN pickles.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to create.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Config file (JSON/TOML, e.g. from sessionrec tune); --set applies on top."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
    ties: TiesOption = DEFAULT,
    batch_size: BatchOption = 500,
) -> None:
    """Fit MODEL on DATA's training split, evaluate it on the test split, save the run."""
    recommender = registry.create_from_overrides(
        model, set_ or [], config_file=config
    )  # fails before loading data
    dataset = load_data(data)
    if isinstance(recommender, NeuralRecommender):
        # neural models go through the trainer's protocol (validation selection, checkpoints)
        from sessionrec.workflow import train_and_evaluate

        console.print(
            f"{model} is neural: training with validation selection (`sessionrec train` has options)"
        )
        options = TrainerOptions(progress=True)
        result = train_and_evaluate(
            recommender, dataset, out, overwrite=overwrite, options=options, data_path=str(data)
        )
        print_metrics(result.info["test_metrics"], Ties(result.evaluation.ties))
        return
    run = start_run(out, recommender, dataset.manifest, overwrite=overwrite, data_path=str(data))
    try:
        started = time.perf_counter()
        with console.status(f"fitting {model} on {len(dataset.train):,} training samples"):
            recommender.fit(dataset.train)
        fit_seconds = time.perf_counter() - started
        evaluation = evaluate_with_progress(recommender, dataset, batch_size, ties)
        metrics = evaluation.metrics()
        save_ranks(ranks_path(out, data), evaluation)
        finish_run(run, recommender, test_metrics=metrics, ties=ties.value, fit_seconds=round(fit_seconds, 3))
    except BaseException:
        discard_run(out)  # never leave a half-made run behind (nor touch what else is there)
        raise
    console.print(f"fitted [bold]{model}[/] in {fit_seconds:.1f}s -> {out}")
    print_metrics(metrics, ties)


# -- evaluate ----------------------------------------------------------------------------
@friendly_errors
def evaluate_command(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[Path, typer.Argument(help="Dataset directory or folder of SR-GNN pickles.")],
    by_length: Annotated[
        bool, typer.Option("--by-length", help="Break metrics down by prefix length.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    ties: TiesOption = DEFAULT,
    batch_size: BatchOption = 500,
) -> None:
    """Rank every test prefix's next item among all items; keep the per-sample ranks."""
    model = load_run_model(run)
    dataset = load_data(data)
    check_compatible(model, dataset, data)
    evaluation = evaluate_with_progress(model, dataset, batch_size, ties)
    save_ranks(ranks_path(run, data), evaluation)
    report: dict[str, Any] = {
        "run": str(run),
        "data": data_name(data),
        "ties": ties.value,
        "samples": len(evaluation.ranks),
        "metrics": evaluation.metrics(),
    }
    if by_length:
        report["by_length"] = evaluation.by_length()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    print_metrics(report["metrics"], ties)
    if by_length:
        console.print(by_length_table(report["by_length"]))


# -- recommend ---------------------------------------------------------------------------
@friendly_errors
def recommend_command(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    items: Annotated[
        list[str] | None, typer.Option("--items", help="The session's items, oldest first: --items A B C.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Number of items to recommend.")] = 20,
    exclude_seen: Annotated[bool, typer.Option(help="Never recommend the session's own items.")] = False,
    input_: Annotated[Path | None, typer.Option("--input", help='JSON lines: {"items": [...]}.')] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Where to write JSON lines.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (with --items).")] = False,
) -> None:
    """Recommend for one session (--items A B C) or a file of sessions (--input/--output)."""
    session = [*(items or []), *ctx.args]
    if ctx.args and not items:
        raise DataError(f"unexpected argument(s) {' '.join(ctx.args)}; did you mean --items?")
    if (input_ is None) == (not session):
        raise DataError("give either --items A B C or --input sessions.jsonl --output recs.jsonl")
    if input_ is not None and output is None:
        raise DataError("--input needs --output (where to write the recommendations)")
    if k <= 0:
        raise DataError(f"--k must be a positive integer, got {k}")
    model = load_run_model(run)
    if input_ is not None and output is not None:
        _recommend_file(model, input_, output, k, exclude_seen)
        return
    recs = model.recommend([session], k=k, exclude_seen=exclude_seen)
    if as_json:
        from sessionrec.cli.recommend_io import output_lines

        typer.echo(next(output_lines([{"items": session}], recs)), nl=False)
        return
    if recs.unknown_items[0]:
        err_console.print(f"[yellow]unknown items dropped:[/] {' '.join(map(str, recs.unknown_items[0]))}")
    if recs.fallback[0]:
        err_console.print("[yellow]no known item: most popular training items instead[/]")
    table = Table("rank", "item", "score")
    for rank, (item, score) in enumerate(zip(recs.items[0], recs.scores[0], strict=True), start=1):
        table.add_row(str(rank), str(item), f"{score:.6g}")
    console.print(table)


def _recommend_file(model: Recommender, source: Path, target: Path, k: int, exclude_seen: bool) -> None:
    from sessionrec.cli.recommend_io import recommend_jsonl

    size = source.stat().st_size if source.is_file() else 0
    columns = (TextColumn("recommending"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("recommending", total=size)
        count = recommend_jsonl(
            model, source, target, k, exclude_seen, advance=lambda n: bar.advance(task, n)
        )
    console.print(f"wrote {count:,} recommendation lists to {target}")


# -- compare -----------------------------------------------------------------------------
@friendly_errors
def compare_command(
    run_a: Annotated[Path, typer.Argument(help="First run directory (A).")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory (B).")],
    data: Annotated[Path, typer.Argument(help="Dataset both runs are evaluated on.")],
    cutoff: Annotated[int, typer.Option(min=1, help="K of HR@K for McNemar's test.")] = 20,
    ties: TiesOption = DEFAULT,
    batch_size: BatchOption = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Paired tests of A against B on the same test prefixes (t-test, Wilcoxon, McNemar)."""
    dataset = load_data(data)
    a = ranks_for(run_a, dataset, data, batch_size, ties)
    b = ranks_for(run_b, dataset, data, batch_size, ties)
    result = paired_compare(a, b, cutoff)
    metrics_a, metrics_b = a.metrics((cutoff,)), b.metrics((cutoff,))
    if as_json:
        report = {"a": metrics_a, "b": metrics_b, "ties": ties.value, **result.__dict__}
        typer.echo(json.dumps(report, indent=2))
        return
    console.print(f"A = {run_a}, B = {run_b}: {result.n:,} paired test prefixes, ties {ties.value}")
    table = Table()
    table.add_column("")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    for name in (f"HR@{cutoff}", f"MRR@{cutoff}"):
        table.add_row(name, f"{metrics_a[name]:.2f}", f"{metrics_b[name]:.2f}")
    table.add_row(f"hits@{cutoff} only in", str(result.hits_only_a), str(result.hits_only_b))
    console.print(table)
    tests = Table("test", "on", "p-value")
    tests.add_row("paired t-test", "reciprocal ranks", f"{result.t_pvalue:.3g}")
    tests.add_row("Wilcoxon signed-rank", "reciprocal ranks", f"{result.wilcoxon_pvalue:.3g}")
    tests.add_row("McNemar (exact)", f"hits@{cutoff}", f"{result.mcnemar_pvalue:.3g}")
    console.print(tests)
    console.print(f"mean reciprocal-rank difference A - B: {result.mrr_mean_diff:+.3f} (in %)")


# -- models ------------------------------------------------------------------------------
@friendly_errors
def models_command() -> None:
    """List the registered models and their paper presets."""
    table = Table("name", "kind", "based on", "description")
    presets = registry.presets()
    for name in registry.available():
        if name in presets:
            base, overrides, description = presets[name]
            settings = ", ".join(f"{key}={value}" for key, value in overrides.items())
            table.add_row(name, "preset", base, f"{description} ({settings})" if settings else description)
        else:
            cls, _ = registry.resolve(name)
            summary = (cls.__doc__ or "").strip().splitlines()
            table.add_row(name, "model", "", summary[0] if summary else "")
    console.print(table)
