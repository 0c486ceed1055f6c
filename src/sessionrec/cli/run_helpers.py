"""Helpers of the model commands: loading data, evaluating with a progress bar, saved ranks.

Per-sample counts (items above the target, items tied with it) live in
``RUN/ranks-<data name>.npz``; they give the metrics of every tie mode, so
``evaluate`` and ``fit`` write them once and ``compare`` reuses them instead of
scoring the test set again.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sessionrec.cli.common import console, err_console
from sessionrec.data import open_dataset
from sessionrec.data.dataset import Dataset
from sessionrec.errors import DataError
from sessionrec.evaluation import CUTOFFS, DEFAULT_TIES, Evaluation, evaluate_scores
from sessionrec.models.base import Recommender
from sessionrec.models.registry import load_run_model
from sessionrec.runs import Run

HEADER = "HR@K = P@K = Recall@K (one held-out item per test prefix); full ranking, in %"


class Ties(StrEnum):
    expected = "expected"
    optimistic = "optimistic"
    conservative = "conservative"


DEFAULT = Ties(DEFAULT_TIES)
TIES_HELP = (
    "Rank of a target tied with other items: expected under random tie-breaking (exact), "
    "best place (optimistic, the papers'), or worst place (conservative)."
)


def load_data(path: Path) -> Dataset:
    """A dataset directory, or a folder of SR-GNN pickles imported on the fly."""
    return open_dataset(path)


def data_name(path: Path) -> str:
    """The name ranks are filed under: the data folder's own name."""
    return path.resolve().name


def ranks_path(run: Path, data: Path) -> Path:
    """Where a run keeps its per-sample counts on ``data`` (every tie mode comes from them)."""
    return run / f"ranks-{data_name(data)}.npz"


def save_ranks(path: Path, evaluation: Evaluation) -> None:
    np.savez(path, above=evaluation.above, tied=evaluation.tied)


def load_ranks(path: Path, lengths: np.ndarray, ties: Ties) -> Evaluation | None:
    """Saved counts that fit these test samples, or None (absent, stale or unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            above, tied = npz["above"], npz["tied"]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if above.shape != lengths.shape or tied.shape != lengths.shape or (tied < 1).any():
        return None
    return Evaluation(above.astype(np.int64), tied.astype(np.int64), lengths, ties.value)


def check_compatible(model: Recommender, dataset: Dataset, data: Path) -> None:
    """Refuse to rank a dataset whose item ids are not the ones the model was fitted on."""
    vocab = model.vocab_
    assert vocab is not None, "a loaded model is fitted"
    if vocab.n_items != dataset.n_items or not np.array_equal(vocab.external, dataset.vocab.external):
        raise DataError(
            f"{data}: its {dataset.n_items} items are not the vocabulary the model was fitted on "
            f"({vocab.n_items} items)"
        )


def evaluate_with_progress(model: Recommender, dataset: Dataset, batch_size: int, ties: Ties) -> Evaluation:
    """Full-ranking evaluation on the test split, with a progress bar on stderr."""
    split = dataset.test
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("scoring", total=len(split))
        return evaluate_scores(
            model.score,
            split,
            model.batch_spec,
            batch_size,
            ties.value,
            model.device,
            progress=lambda n: bar.advance(task, n),
        )


def print_metrics(metrics: dict[str, float], ties: Ties) -> None:
    """HR/MRR/NDCG at 5, 10, 20 as a table, under the line that says what HR@K means."""
    console.print(f"{HEADER}; ties {describe(ties)}", highlight=False)
    table = Table()
    for column in ("K", "HR@K", "MRR@K", "NDCG@K"):
        table.add_column(column, justify="right")
    for k in CUTOFFS:
        table.add_row(str(k), *(f"{metrics[f'{m}@{k}']:.2f}" for m in ("HR", "MRR", "NDCG")))
    console.print(table)


def describe(ties: Ties) -> str:
    """The tie mode as a report states it."""
    return "expected (uniformly random tie-breaking)" if ties is Ties.expected else ties.value


def by_length_table(breakdown: dict[str, dict[str, float]]) -> Table:
    """Metrics per prefix length 1..10 and 11+, with the number of samples of each."""
    table = Table(title="by prefix length")
    for column in ("length", "samples", "HR@10", "MRR@10", "HR@20", "MRR@20"):
        table.add_column(column, justify="right")
    for length, row in breakdown.items():
        cells = (f"{row[m]:.2f}" for m in ("HR@10", "MRR@10", "HR@20", "MRR@20"))
        table.add_row(length, str(int(row["samples"])), *cells)
    return table


def ranks_for(run: Path, dataset: Dataset, data: Path, batch_size: int, ties: Ties) -> Evaluation:
    """The run's saved ranks on this data when they fit, else a fresh evaluation (then saved)."""
    path = ranks_path(run, data)
    lengths = dataset.test.prefix_lengths.astype(np.int64)
    Run(run).info()  # a clear error when RUN is not a run
    saved = load_ranks(path, lengths, ties) if path.is_file() else None
    if saved is not None:
        return saved
    model = load_run_model(run)
    check_compatible(model, dataset, data)
    evaluation = evaluate_with_progress(model, dataset, batch_size, ties)
    save_ranks(path, evaluation)
    return evaluation
