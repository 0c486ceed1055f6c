"""Run a spec: every experiment's rows on every dataset, through the run cache, then the reports.

Rows are taken in spec order, dataset by dataset. For each row and seed the runner looks,
in order, for a finished run in the cache, a recorded benchmark result (unless told not
to), and otherwise trains or fits it (resuming a partial run), unless ``execute`` is off
(then the row is "pending"). A row whose model is not registered is "not implemented".
A run that fails is logged and reported as failed; the grid goes on. Reports are
rewritten after every finished run, so a grid that runs for days shows its progress.

``quick``: each dataset is replaced by a small seeded synthetic one and neural models are
shrunk (``QUICK_OVERRIDES``, at most ``QUICK_EPOCHS`` epochs); everything else, the
protocol, the cache, the reports, is the same code path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.data import open_dataset
from sessionrec.data.dataset import Dataset
from sessionrec.data.synthetic import synthetic_dataset
from sessionrec.errors import ConfigError
from sessionrec.experiments import cache as run_cache
from sessionrec.experiments.cache import RunResult
from sessionrec.experiments.recorded import Recorded, load_recorded, match
from sessionrec.experiments.report import write_dataset_report, write_index
from sessionrec.experiments.spec import Experiment, Protocol, RowSpec, Spec
from sessionrec.models.base import Recommender
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create, resolve
from sessionrec.training import TrainerOptions

log = logging.getLogger("sessionrec.experiments")

QUICK_OVERRIDES: dict[str, Any] = {"embedding_dim": 16, "batch_size": 64, "attention_dim": 0}
QUICK_EPOCHS = 2
QUICK_DATA = {"n_sessions": 400, "n_items": 60}


@dataclass
class GridOptions:
    cache: Path
    reports: Path
    data_root: Path | None = None
    quick: bool = False
    execute: bool = True
    recorded: Path | None = None  # folder of recorded benchmark results; None: none used
    experiments: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    trainer: TrainerOptions = field(default_factory=TrainerOptions)


Results = dict[tuple[str, str], RunResult]  # (experiment id, row label) -> result, per dataset


def run_spec(spec: Spec, options: GridOptions) -> dict[str, Results]:
    """Every selected experiment on every selected dataset; returns results by dataset."""
    experiments = (
        [spec.experiment(e) for e in options.experiments] if options.experiments else spec.experiments
    )
    datasets = [d for d in spec.datasets if options.datasets is None or d in options.datasets]
    if options.datasets:
        unknown = sorted(set(options.datasets) - set(spec.datasets))
        if unknown:
            raise ConfigError(
                f"{spec.paper}: no dataset {', '.join(unknown)}; it has {', '.join(spec.datasets)}"
            )
    recorded = [] if options.quick else load_recorded(options.recorded)
    everything: dict[str, Results] = {}
    for dataset_name in datasets:
        chosen = [e for e in experiments if dataset_name in e.datasets]
        if not chosen:
            continue
        data = load_data(spec, dataset_name, options)
        fingerprint = run_cache.data_fingerprint(data)
        results: Results = {}
        everything[dataset_name] = results
        done: dict[str, RunResult] = {}  # by run key: a row shared by experiments runs once
        for experiment in chosen:
            for row in experiment.rows_for(dataset_name):
                per_seed = []
                for seed in experiment.protocol.seeds:
                    result = _row_result(
                        row, experiment, seed, data, dataset_name, fingerprint, recorded, done, options
                    )
                    per_seed.append(result)
                    if result.source.startswith("run") and result.status == "done" and not options.quick:
                        write_dataset_report(spec, dataset_name, results, options.reports, options.quick)
                results[(experiment.id, row.label)] = _over_seeds(per_seed, data)
        write_dataset_report(spec, dataset_name, results, options.reports, options.quick, experiments=chosen)
    write_index(spec, options.reports, options.quick)
    return everything


def load_data(spec: Spec, dataset_name: str, options: GridOptions) -> Dataset:
    if options.quick:
        seed = spec.datasets.index(dataset_name)
        data = synthetic_dataset(seed=seed, **QUICK_DATA)
        data.manifest["quick_stand_in_for"] = dataset_name
        return data
    if options.data_root is None:
        raise ConfigError("--data DIR is needed (the folder holding the benchmark datasets), or --quick")
    path = options.data_root / dataset_name
    if not path.exists():
        raise ConfigError(f"{path}: no such dataset folder (expected {dataset_name} under --data)")
    return open_dataset(path)


def build_model(row: RowSpec, protocol: Protocol, seed: int, quick: bool) -> Recommender:
    """The row's model with the protocol's overrides (where its config has the key) and the seed."""
    cls, _ = resolve(row.model)
    names = set(cls.config_class.field_names())
    values: dict[str, Any] = {k: v for k, v in protocol.overrides.items() if k in names}
    if protocol.epochs is not None and "epochs" in names:
        values["epochs"] = protocol.epochs
    if "seed" in names:
        values["seed"] = seed
    if quick:
        values.update({k: v for k, v in QUICK_OVERRIDES.items() if k in names})
    values.update(row.overrides)
    if quick and "epochs" in names:
        values["epochs"] = min(values.get("epochs", QUICK_EPOCHS), QUICK_EPOCHS)
        values["patience"] = 1
    return create(row.model, **values)


def _row_result(
    row: RowSpec,
    experiment: Experiment,
    seed: int,
    data: Dataset,
    dataset_name: str,
    fingerprint: str,
    recorded: list[Recorded],
    done: dict[str, RunResult],
    options: GridOptions,
) -> RunResult:
    if not row.implemented:
        return RunResult("not implemented", protocol=f"model {row.model!r} is not registered yet")
    protocol = experiment.protocol
    model = build_model(row, protocol, seed, options.quick)
    job = run_cache.make_job(
        model,
        protocol.select_on,
        protocol.refit,
        protocol.valid_fraction,
        fingerprint,
        options.cache,
        dataset_name,
    )
    if job.key in done:
        return done[job.key]
    result = run_cache.cached_result(job)
    if result is None and recorded:
        result = match(recorded, model, dataset_name, protocol.select_on, protocol.refit)
    if result is None and options.execute:
        log.info(
            "%s %s: %s on %s (seed %d) -> %s",
            experiment.id,
            row.label,
            row.model,
            dataset_name,
            seed,
            job.directory,
        )
        clock = time.perf_counter()
        try:
            result = run_cache.execute(job, data, options.trainer, data_path=str(options.data_root or ""))
        except Exception as exc:  # one failed run must not stop a grid that runs for days
            log.exception("%s on %s failed", row.label, dataset_name)
            result = RunResult("failed", error=f"{type(exc).__name__}: {exc}", source=f"run {job.directory}")
        else:
            metrics = result.metrics
            log.info(
                "finished %s on %s (seed %d) in %.0f s: HR@20 %.2f MRR@20 %.2f [%s]",
                row.label, dataset_name, seed, time.perf_counter() - clock,
                metrics.get("HR@20", float("nan")), metrics.get("MRR@20", float("nan")), job.directory,
            )  # fmt: skip
    if result is None:
        result = RunResult("pending", protocol=f"not run yet ({job.directory})")
    if result.ranks is not None:
        result = replace(result, lengths=data.test.prefix_lengths.astype(np.int64))
    done[job.key] = result
    return result


def _over_seeds(results: list[RunResult], data: Dataset) -> RunResult:
    """One seed's result as it is; several seeds' metrics averaged (ranks of the first kept)."""
    if len(results) == 1 or any(r.status != "done" for r in results):
        return next((r for r in results if r.status != "done"), results[0])
    first = results[0]
    metrics = {k: float(np.mean([r.metrics[k] for r in results])) for k in first.metrics}
    by_length = {
        b: {k: float(np.mean([r.by_length[b][k] for r in results])) for k in first.by_length[b]}
        for b in first.by_length
        if all(b in r.by_length for r in results)
    }
    return replace(
        first,
        metrics=metrics,
        by_length=by_length,
        protocol=f"{first.protocol}; mean of {len(results)} seeds",
    )


def is_neural(model: Recommender) -> bool:
    return isinstance(model, NeuralRecommender)
