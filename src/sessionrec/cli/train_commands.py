"""``sessionrec train``: neural models, through the trainer, into a run directory."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import torch
import typer

from sessionrec.cli.common import console, friendly_errors
from sessionrec.errors import ConfigError
from sessionrec.models import registry
from sessionrec.models.neural import NeuralRecommender
from sessionrec.runtime.contention import warn_if_oversubscribed
from sessionrec.runtime.split_blas import CPU_SCORING_BACKENDS
from sessionrec.training import TrainerOptions


class SelectOn(StrEnum):
    valid = "valid"
    test = "test"
    none = "none"


# built from the backends split_blas knows, so the CLI never lists one it cannot run
CpuScoring = StrEnum("CpuScoring", {name: name for name in CPU_SCORING_BACKENDS})  # type: ignore[misc]
DEFAULT_CPU_SCORING = CpuScoring(CPU_SCORING_BACKENDS[0])


class ValidMode(StrEnum):
    last = "last"
    random = "random"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("train")(train_command)


@friendly_errors
def train_command(
    model: Annotated[str, typer.Argument(help="A registered neural model or preset (sessionrec models).")],
    data: Annotated[Path, typer.Argument(help="Dataset directory or folder of SR-GNN pickles.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory (created, or resumed).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Config file (JSON/TOML, e.g. from sessionrec tune); --set applies on top."
        ),
    ] = None,
    select_on: Annotated[
        SelectOn,
        typer.Option(
            help="Select epochs on a validation split, on test (papers' habit), or not at all "
            "(train --set epochs=N on every training session)."
        ),
    ] = SelectOn.valid,
    refit: Annotated[
        bool,
        typer.Option(
            help="After selecting the epoch on validation, retrain on all training sessions for that "
            "many epochs and evaluate that model."
        ),
    ] = False,
    valid_fraction: Annotated[float, typer.Option(help="Share of training samples held out.")] = 0.1,
    valid_mode: Annotated[ValidMode, typer.Option(help="Hold out the most recent or random sessions.")] = (
        ValidMode.last
    ),
    resume: Annotated[bool, typer.Option(help="Continue a killed run from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch.")] = None,
    cpu_scoring: Annotated[
        CpuScoring,  # type: ignore[valid-type]
        typer.Option(
            help="How a CPU runs the item-scoring products: torch, or OpenBLAS with the items split "
            "across --threads threads (faster on some CPUs; same results up to float32 rounding)."
        ),
    ] = DEFAULT_CPU_SCORING,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if present).")
    ] = None,
    max_batches: Annotated[
        int | None, typer.Option(min=1, help="Cap batches per epoch (quick runs).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per epoch.")] = True,
    checkpoint_minutes: Annotated[
        float,
        typer.Option(
            min=0,
            help="Also checkpoint within an epoch every this many minutes, so --resume loses at most "
            "that much (0: after every batch).",
        ),
    ] = 10.0,
    nproc: Annotated[
        int,
        typer.Option(
            min=1,
            help="Train with this many data-parallel processes on this machine (torchrun; "
            "gloo on CPU, NCCL on GPUs). Global batch size and lr stay the config's.",
        ),
    ] = 1,
) -> None:
    """Train MODEL on DATA with validation-based selection; evaluate on test; save the run."""
    from sessionrec import distributed
    from sessionrec.cli.run_helpers import Ties, load_data, print_metrics
    from sessionrec.workflow import train_and_evaluate

    if nproc > 1 and not distributed.launched():
        raise typer.Exit(launch_processes(nproc))
    device = distributed.rank_device(device)
    distributed.init_from_env(device)
    recommender = registry.create_from_overrides(model, set_ or [], config_file=config)
    if not isinstance(recommender, NeuralRecommender):
        raise ConfigError(f"{model} is a classic model: use `sessionrec fit {model} DATA --out RUN`")
    dataset = load_data(data)
    if device in (None, "cpu"):
        warn_if_oversubscribed(threads or torch.get_num_threads())
    options = TrainerOptions(
        device=device,
        threads=threads,
        cpu_scoring=cpu_scoring.value,
        progress=progress,
        max_batches=max_batches,
        checkpoint_minutes=checkpoint_minutes,
    )
    result = train_and_evaluate(
        recommender,
        dataset,
        out,
        select_on.value,
        valid_fraction,
        valid_mode.value,
        resume=resume,
        overwrite=overwrite,
        options=options,
        data_path=str(data),
        refit=refit,
    )
    info = result.info
    if not distributed.is_writer():
        return
    # with no selection no epoch is "best": the trainer's -1 means none was scored
    chosen = (
        "no selection, the last epoch kept"
        if select_on is SelectOn.none
        else f"best epoch {info['best_epoch']}"
    )
    console.print(
        f"trained [bold]{model}[/]: {info['epochs_run']} epochs, {chosen}, {info['train_seconds']}s -> {out}"
    )
    if refit:
        console.print(f"refit on all training sessions for {info['refit_epochs']} epochs")
    selected = "no selection" if select_on is SelectOn.none else f"epochs selected on {select_on.value}"
    console.print(f"test metrics, {selected}:")
    print_metrics(info["test_metrics"], Ties(result.evaluation.ties))
    if select_on is SelectOn.test:
        console.print(f"[yellow]note:[/] {info['note']}")


def launch_processes(nproc: int) -> int:
    """Run this same command under ``torch.distributed.run`` with ``nproc`` local processes."""
    import sys

    from torch.distributed import run as torchrun

    args, skip = [], False
    for arg in sys.argv[1:]:  # this command line without --nproc
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    try:
        torchrun.main(["--standalone", f"--nproc-per-node={nproc}", "-m", "sessionrec", *args])
    except SystemExit as exc:  # torchrun exits with the failed rank's code
        return int(exc.code or 0)
    except Exception as exc:  # ChildFailedError: torchrun has already printed the rank's error
        console.print(f"[red]distributed training failed:[/] {type(exc).__name__}")
        return 1
    return 0
