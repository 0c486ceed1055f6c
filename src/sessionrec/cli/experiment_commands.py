"""``sessionrec reproduce PAPER`` and ``sessionrec experiment``: a paper's tables and figures.

``reproduce tagnn --data DIR`` runs the shipped spec ``tagnn`` (``experiment run`` runs any
spec, shipped or a TOML file) through the run cache and writes the reports; ``--quick``
runs the same pipeline on small synthetic stand-ins in minutes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from sessionrec.cli.common import console, err_console, friendly_errors
from sessionrec.runtime.split_blas import CPU_SCORING_BACKENDS

experiment_app = typer.Typer(
    help="Run a paper's experiment spec (see `sessionrec experiment list`).", no_args_is_help=True
)
DEFAULT_CACHE, QUICK_CACHE = Path("runs/reproduce"), Path("runs/reproduce-quick")
DEFAULT_RECORDED = Path("benchmarks/results")

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Folder holding the datasets by name (e.g. ../shared/data).")
]
QuickOption = Annotated[
    bool, typer.Option("--quick", help="Small synthetic stand-ins, shrunk models: minutes.")
]
CacheOption = Annotated[
    Path | None, typer.Option(help="Run cache (default runs/reproduce, runs/reproduce-quick with --quick).")
]
ReportsOption = Annotated[
    Path | None, typer.Option(help="Report folder (default reports, or CACHE/reports with --quick).")
]
OnlyOption = Annotated[
    list[str] | None, typer.Option("--only", help="Run only these experiment ids (repeatable).")
]
ModelOption = Annotated[
    list[str] | None, typer.Option("--model", help="Run only rows of these models or presets (repeatable).")
]
DatasetOption = Annotated[
    list[str] | None, typer.Option("--dataset", help="Only these datasets (repeatable).")
]
ReportOnlyOption = Annotated[
    bool, typer.Option("--report-only", help="Train nothing: report the cache and recorded results.")
]
RecordedOption = Annotated[
    Path | None,
    typer.Option(
        help="Recorded benchmark results used for rows not in the cache (default benchmarks/results)."
    ),
]
NoRecordedOption = Annotated[bool, typer.Option("--no-recorded", help="Never use recorded results.")]
ThreadsOption = Annotated[int | None, typer.Option(min=1, help="CPU threads for torch.")]
ScoringOption = Annotated[str, typer.Option(help=f"CPU item scoring: {', '.join(CPU_SCORING_BACKENDS)}.")]
LockOption = Annotated[
    Path | None,
    typer.Option(
        "--cpu-lock", help="Hold this flock file during each run only (machines shared with others)."
    ),
]
LogOption = Annotated[
    Path | None, typer.Option("--log", help="Also append the log (one line per epoch and run) here.")
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(experiment_app, name="experiment")
    app.command("reproduce")(reproduce_command)


@friendly_errors
def reproduce_command(
    paper: Annotated[
        list[str], typer.Argument(help="One or more of the shipped specs: i3gn, lgsr, tagnn, ...")
    ],
    data: DataOption = None,
    quick: QuickOption = False,
    cache: CacheOption = None,
    reports: ReportsOption = None,
    only: OnlyOption = None,
    dataset: DatasetOption = None,
    model: ModelOption = None,
    report_only: ReportOnlyOption = False,
    recorded: RecordedOption = None,
    no_recorded: NoRecordedOption = False,
    threads: ThreadsOption = None,
    cpu_scoring: ScoringOption = "torch",
    log_file: LogOption = None,
    cpu_lock: LockOption = None,
) -> None:
    """Reproduce a paper's tables and figures: run (or resume) its spec, then write the reports."""
    from sessionrec.experiments.spec import shipped_specs

    names = shipped_specs()
    for name in paper:
        if name not in names:
            from sessionrec.errors import ConfigError

            raise ConfigError(f"unknown paper {name!r}; shipped specs: {', '.join(names)}")
    failed = 0
    for name in paper:
        failed += _run(
            name, data, quick, cache, reports, only, dataset, model, report_only, recorded, no_recorded,
            threads, cpu_scoring, log_file, cpu_lock,
        )  # fmt: skip
    _exit_on_failures(failed)


def _exit_on_failures(failed: int) -> None:
    if failed:  # a nonzero exit, so a supervising loop (until ...; do ...; done) starts it again
        err_console.print(f"{failed} row(s) failed; see the log. Rerun the same command to retry them.")
        raise typer.Exit(3)


@experiment_app.command("list")
def list_command() -> None:
    """The shipped specs, their experiments and how many rows have a registered model."""
    from sessionrec.experiments.spec import load_spec, shipped_specs

    table = RichTable("spec", "experiment", "kind", "datasets", "rows (implemented / all)")
    for name in shipped_specs():
        spec = load_spec(name)
        for e in spec.experiments:
            implemented = sum(r.implemented for r in e.rows)
            table.add_row(
                spec.paper,
                f"{e.id}: {e.title}",
                e.kind,
                ", ".join(e.datasets),
                f"{implemented} / {len(e.rows)}",
            )
    console.print(table)


@experiment_app.command("run")
@friendly_errors
def run_command(
    spec: Annotated[str, typer.Argument(help="A shipped spec name or a spec TOML file.")],
    data: DataOption = None,
    quick: QuickOption = False,
    cache: CacheOption = None,
    reports: ReportsOption = None,
    only: OnlyOption = None,
    dataset: DatasetOption = None,
    model: ModelOption = None,
    report_only: ReportOnlyOption = False,
    recorded: RecordedOption = None,
    no_recorded: NoRecordedOption = False,
    threads: ThreadsOption = None,
    cpu_scoring: ScoringOption = "torch",
    log_file: LogOption = None,
    cpu_lock: LockOption = None,
) -> None:
    """Run (or resume) every row of a spec through the run cache and write its reports."""
    failed = _run(
        spec, data, quick, cache, reports, only, dataset, model, report_only, recorded, no_recorded, threads,
        cpu_scoring, log_file, cpu_lock,
    )  # fmt: skip
    _exit_on_failures(failed)


@experiment_app.command("check")
@friendly_errors
def check_command(
    spec: Annotated[str, typer.Argument(help="A shipped spec name or a spec TOML file.")],
) -> None:
    """Validate a spec (every problem on its own line) and list its rows."""
    from sessionrec.experiments.spec import load_spec

    loaded = load_spec(spec)
    for e in loaded.experiments:
        rows = ", ".join(r.label + ("" if r.implemented else " (not implemented)") for r in e.rows)
        console.print(f"{e.id} [{e.kind}] {e.title}: {rows}", highlight=False)


@experiment_app.command("adopt")
@friendly_errors
def adopt_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (sessionrec train, benchmarks).")],
    data: Annotated[Path, typer.Option("--data", help="The dataset folder it was trained on.")],
    cache: Annotated[Path, typer.Option(help="The run cache.")] = DEFAULT_CACHE,
) -> None:
    """Copy a finished run into the cache under the key its own run.json implies."""
    from sessionrec.data import open_dataset
    from sessionrec.experiments.cache import adopt

    target = adopt(run_dir, open_dataset(data), data.name, cache)
    console.print(f"adopted -> {target}")


def _run(
    spec_name: str,
    data: Path | None,
    quick: bool,
    cache: Path | None,
    reports: Path | None,
    only: list[str] | None,
    dataset: list[str] | None,
    model: list[str] | None,
    report_only: bool,
    recorded: Path | None,
    no_recorded: bool,
    threads: int | None,
    cpu_scoring: str,
    log_file: Path | None,
    cpu_lock: Path | None,
) -> int:
    """Run one spec; the number of failed rows."""
    from sessionrec.experiments.grid import GridOptions, run_spec
    from sessionrec.experiments.spec import load_spec
    from sessionrec.training import TrainerOptions

    _logging(log_file)
    spec = load_spec(spec_name)
    cache = cache or (QUICK_CACHE if quick else DEFAULT_CACHE)
    reports = reports or (cache / "reports" if quick else Path("reports"))
    if no_recorded:
        recorded = None
    elif recorded is None and DEFAULT_RECORDED.is_dir():
        recorded = DEFAULT_RECORDED
    options = GridOptions(
        cache=cache,
        reports=reports,
        data_root=data,
        quick=quick,
        execute=not report_only,
        recorded=recorded,
        experiments=tuple(only) if only else None,
        datasets=tuple(dataset) if dataset else None,
        models=tuple(model) if model else None,
        trainer=TrainerOptions(threads=threads, cpu_scoring=cpu_scoring),  # type: ignore[arg-type]
        cpu_lock=cpu_lock,
    )
    results = run_spec(spec, options)
    failed = 0
    for name, rows in results.items():
        counts: dict[str, int] = {}
        for result in rows.values():
            counts[result.status] = counts.get(result.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        console.print(
            f"{spec.paper} / {name}: {summary} -> {reports / spec.paper / name}/README.md", highlight=False
        )
        failed += counts.get("failed", 0)
    return failed


def _logging(log_file: Path | None) -> None:
    """One line per finished epoch (the trainer) and per finished run (the grid), timestamped."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for logger_name in ("sessionrec.training", "sessionrec.experiments"):
        logger = logging.getLogger(logger_name)
        logger.setLevel(logging.INFO)
        for handler in handlers:
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            if not any(type(h) is type(handler) for h in logger.handlers):
                logger.addHandler(handler)
