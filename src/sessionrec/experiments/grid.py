"""Run a spec: every experiment's rows on every dataset, through the run cache, then the reports.

Rows are taken in spec order, dataset by dataset. For each row and seed the runner looks,
in order, for a finished run in the cache, a recorded benchmark result (unless told not
to), and otherwise trains or fits it (resuming a partial run), unless ``execute`` is off
(then the row is "pending"). A row whose model is not registered is "not implemented".
For a ``heatmap`` or ``importance`` experiment the finished run's saved model is then
loaded from the cache and its own export method (``attention_maps``,
``distance_importance``) gives the weights the report draws; nothing is retrained.
A run that fails is logged and reported as failed; the grid goes on. Reports are
rewritten after every finished run, so a grid that runs for days shows its progress.

``quick``: each dataset is replaced by a small seeded synthetic one, neural models are
shrunk (``QUICK_OVERRIDES``, at most ``QUICK_EPOCHS`` epochs) and each sweep axis keeps its
first, middle and last values (``quick_spec``); everything else, the protocol, the cache,
the reports, is the same code path.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.data import open_dataset
from sessionrec.data.dataset import Dataset
from sessionrec.data.synthetic import synthetic_dataset
from sessionrec.errors import CheckpointError, ConfigError
from sessionrec.experiments import cache as run_cache
from sessionrec.experiments.cache import RunResult
from sessionrec.experiments.recorded import Recorded, load_recorded, match
from sessionrec.experiments.report import write_dataset_report, write_index
from sessionrec.experiments.spec import EXPORT_METHOD, Experiment, Protocol, RowSpec, Spec
from sessionrec.models.base import Recommender
from sessionrec.models.registry import create, load_model, resolve
from sessionrec.runs import Run
from sessionrec.training import TrainerOptions

log = logging.getLogger("sessionrec.experiments")

QUICK_OVERRIDES: dict[str, Any] = {"embedding_dim": 16, "batch_size": 64, "attention_dim": 0}
QUICK_EPOCHS = 2
QUICK_DATA = {"n_sessions": 400, "n_items": 60}
QUICK_SWEEP_POINTS = 3  # per axis: the first, middle and last values


def quick_spec(spec: Spec) -> Spec:
    """The spec a quick run runs: each sweep axis thinned to its first, middle and last values."""
    experiments = []
    for e in spec.experiments:
        if e.kind == "sweep":
            kept = {k: _thin(v) for k, v in e.grid.items()}
            rows = tuple(r for r in e.rows if all(r.axes[k] in kept[k] for k in kept))
            e = replace(e, rows=rows, grid=kept)
        experiments.append(e)
    return replace(spec, experiments=tuple(experiments))


def _thin(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(values) <= QUICK_SWEEP_POINTS:
        return values
    return (values[0], values[len(values) // 2], values[-1])


@dataclass
class GridOptions:
    cache: Path
    reports: Path
    data_root: Path | None = None
    quick: bool = False
    execute: bool = True
    recorded: Path | None = None  # folder of recorded benchmark results; None: none used
    experiments: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None  # run only rows of these models (others are looked up)
    datasets: tuple[str, ...] | None = None
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    cpu_lock: Path | None = None  # a file lock taken around each run (shared machines), not between


@contextlib.contextmanager
def _locked(path: Path | None, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (nothing when None)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ConfigError(f"{path}: another grid is running on this cache") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


Results = dict[tuple[str, str], RunResult]  # (experiment id, row label) -> result, per dataset


def run_spec(spec: Spec, options: GridOptions) -> dict[str, Results]:
    """Every experiment on every selected dataset; returns results by dataset.

    Only the selected experiments (``options.experiments``) are run; every other row is
    looked up (cache, recorded results), so the rewritten reports stay whole.
    """
    selected = {spec.experiment(e).id for e in options.experiments} if options.experiments else None
    datasets = [d for d in spec.datasets if options.datasets is None or d in options.datasets]
    if options.datasets:
        unknown = sorted(set(options.datasets) - set(spec.datasets))
        if unknown:
            raise ConfigError(
                f"{spec.paper}: no dataset {', '.join(unknown)}; it has {', '.join(spec.datasets)}"
            )
    recorded = [] if options.quick else load_recorded(options.recorded)
    if options.quick:
        spec = quick_spec(spec)
    with _locked(options.cache / ".grid.lock" if options.execute else None, blocking=False):
        return _run_datasets(spec, options, datasets, selected, recorded)


def _run_datasets(
    spec: Spec, options: GridOptions, datasets: list[str], selected: set[str] | None, recorded: list[Recorded]
) -> dict[str, Results]:
    everything: dict[str, Results] = {}
    for dataset_name in datasets:
        chosen = [e for e in spec.experiments if dataset_name in e.datasets]
        if not chosen:
            continue
        data = load_data(spec, dataset_name, options)
        context = _Context(data, dataset_name, run_cache.data_fingerprint(data), recorded, options)
        results: Results = {}
        everything[dataset_name] = results
        for execute in (False, True):  # look every row up first, so progress reports are whole
            if execute and not options.execute:
                break
            for experiment in chosen:
                if execute and selected is not None and experiment.id not in selected:
                    continue
                for row in experiment.rows_for(dataset_name):
                    key = (experiment.id, row.label)
                    if execute and results[key].status not in ("pending", "failed"):
                        continue
                    if execute and options.models is not None and row.model not in options.models:
                        continue
                    per_seed = [
                        _row_result(row, experiment, seed, context, execute)
                        for seed in experiment.protocol.seeds
                    ]
                    results[key] = _over_seeds(per_seed)
                    ran = any(r.source.startswith("run") and r.status == "done" for r in per_seed)
                    if execute and ran and not options.quick:
                        write_dataset_report(spec, dataset_name, results, options.reports, options.quick)
        write_dataset_report(spec, dataset_name, results, options.reports, options.quick)
    write_index(spec, options.reports, options.quick)
    return everything


@dataclass
class _Context:
    data: Dataset
    dataset_name: str
    fingerprint: str
    recorded: list[Recorded]
    options: GridOptions
    done: dict[str, RunResult] = field(default_factory=dict)  # by run key: shared rows run once


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


def build_model(row: RowSpec, protocol: Protocol, seed: int, quick: bool, dataset: str = "") -> Recommender:
    """The row's model with the protocol's overrides (where its config has the key), the seed
    and the row's overrides (those it gives for ``dataset`` last)."""
    cls, _ = resolve(row.model)
    names = set(cls.config_class.field_names())
    values: dict[str, Any] = {k: v for k, v in protocol.overrides.items() if k in names}
    if protocol.epochs is not None and "epochs" in names:
        values["epochs"] = protocol.epochs
    if "seed" in names:
        values["seed"] = seed
    if quick:
        values.update({k: v for k, v in QUICK_OVERRIDES.items() if k in names})
    values.update(row.overrides_for(dataset))
    if quick and "epochs" in names:
        values["epochs"] = min(values.get("epochs", QUICK_EPOCHS), QUICK_EPOCHS)
        values["patience"] = 1
    return create(row.model, **values)


def _row_result(
    row: RowSpec, experiment: Experiment, seed: int, context: _Context, execute: bool
) -> RunResult:
    result = _run_result(row, experiment, seed, context, execute)
    if experiment.kind in EXPORT_METHOD and result.status == "done":
        result = replace(result, exports=exports_of(experiment, result, context.data))
    return result


def exports_of(experiment: Experiment, result: RunResult, data: Dataset) -> dict[str, Any]:
    """The weights a heatmap or importance experiment draws, read out of the run's saved model.

    JSON-ready: ``{"error": why}`` when they cannot be had (a recorded result has no model).
    """
    if not result.source.startswith("run "):
        return {"error": f"no saved model to read weights from ({result.source or 'no run'})"}
    try:
        model = load_model(Run(Path(result.source.removeprefix("run "))).model_dir)
        if experiment.kind == "heatmap":
            return _heatmap_exports(experiment, model, data)
        return _importance_exports(model)
    except (RuntimeError, KeyError, ValueError, OSError, CheckpointError) as exc:
        log.warning("%s: weights not exported (%s)", experiment.id, exc)
        return {"error": f"{type(exc).__name__}: {exc}"}


def heatmap_cases(lengths: np.ndarray, sessions: np.ndarray, length: int, cases: int) -> np.ndarray:
    """Test samples drawn, one prefix per session: those whose prefix has ``length`` items,
    first in test order, then those of the nearest lengths (shorter first on a tie)."""
    distance = np.abs(lengths.astype(np.int64) - length) * 2 + (lengths > length)
    order = np.lexsort((np.arange(len(lengths)), distance))
    _, first = np.unique(sessions[order], return_index=True)  # each session's nearest prefix
    return np.sort(order[np.sort(first)][:cases])


def _heatmap_exports(experiment: Experiment, model: Recommender, data: Dataset) -> dict[str, Any]:
    test = data.test
    samples = heatmap_cases(test.prefix_lengths, test.sample_session, experiment.length, experiment.cases)
    sessions = [test.prefix(int(i)) for i in samples]
    maps = model.attention_maps(sessions)  # type: ignore[attr-defined]
    if experiment.weights not in maps:
        raise KeyError(f"{model.name} returns no {experiment.weights!r} weights (it has {sorted(maps)})")
    weights = np.asarray(maps[experiment.weights])
    vocab, targets = test.vocab, test.targets
    cases = []
    for row, (sample, session) in enumerate(zip(samples, sessions, strict=True)):
        window = getattr(model.config, "max_length", 0) or len(session)
        shown = session[-window:]  # the items the model attended over
        n = len(shown)
        cut = weights[row][:n, :n] if weights.ndim == 3 else weights[row][:n]
        cases.append(
            {
                "sample": int(sample),
                "prefix_length": len(session),
                "items": [str(v) for v in vocab.decode(shown)],
                "target": str(vocab.decode([int(targets[sample])])[0]),
                "weights": np.round(cut.astype(np.float64), 6).tolist(),
            }
        )
    return {"weights": experiment.weights, "cases": cases}


def _importance_exports(model: Recommender) -> dict[str, Any]:
    exported = model.distance_importance()  # type: ignore[attr-defined]
    return {
        "labels": [str(x) for x in exported["labels"]],
        "mean": np.round(np.asarray(exported["mean"], dtype=np.float64), 6).tolist(),  # [layers, buckets]
        "std": np.round(np.asarray(exported["std"], dtype=np.float64), 6).tolist(),
    }


def _run_result(
    row: RowSpec, experiment: Experiment, seed: int, context: _Context, execute: bool
) -> RunResult:
    if not row.implemented:
        return RunResult("not implemented", protocol=f"model {row.model!r} is not registered yet")
    options, data, dataset_name = context.options, context.data, context.dataset_name
    protocol = experiment.protocol
    model = build_model(row, protocol, seed, options.quick, dataset_name)
    job = run_cache.make_job(
        model, protocol.select_on, protocol.refit, protocol.valid_fraction, context.fingerprint,
        options.cache, dataset_name,
    )  # fmt: skip
    if job.key in context.done:
        return context.done[job.key]
    result = run_cache.cached_result(job)
    if result is None and context.recorded:
        result = match(context.recorded, model, dataset_name, protocol.select_on, protocol.refit)
    if result is None and execute:
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
        data_path = str(options.data_root / dataset_name) if options.data_root else None
        try:
            with _locked(options.cpu_lock):
                result = run_cache.execute(job, data, options.trainer, data_path=data_path)
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
        return RunResult("pending", protocol=f"not run yet ({job.directory})")
    if result.ranks is not None:
        result = replace(result, lengths=data.test.prefix_lengths.astype(np.int64))
    if result.status in ("done", "failed"):  # a failed run is retried by the next start, not now
        context.done[job.key] = result
    return result


def _over_seeds(results: list[RunResult]) -> RunResult:
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
