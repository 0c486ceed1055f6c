"""The run cache: one run directory per (model, resolved config, protocol, data, version).

A run's key is the SHA-256 of its model name, its resolved config (preset, overrides,
protocol overrides and seed all applied), the protocol (selection, refit, validation
fraction; ties for heuristics), the dataset's fingerprint (its manifest without the
machine's path, and the SHA-256 of its train and test splits) and the package version.
The run lives in ``CACHE/<dataset>/<model>-<key[:12]>/``, a standard run directory
(``runs.py``) plus ``cache-key.json``. A finished run is never recomputed; an unfinished
one is resumed (neural runs from their last epoch or in-epoch checkpoint, refit included),
so a grid killed at any point continues where it stopped when started again.

A finished run directory trained elsewhere (``sessionrec train``, the accuracy benchmark)
can be adopted: its key is computed from its own ``run.json``, and a spec row whose
resolved config and protocol are the same then finds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec import __version__
from sessionrec.data.dataset import Dataset
from sessionrec.errors import CheckpointError, ConfigError
from sessionrec.evaluation import Evaluation, TieMode, load_counts
from sessionrec.models.base import Recommender
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.prepared import split_fingerprint
from sessionrec.models.registry import create
from sessionrec.runs import Run, finish_run, start_run
from sessionrec.training import TrainerOptions
from sessionrec.workflow import train_and_evaluate

log = logging.getLogger("sessionrec.experiments")
KEY_FILE = "cache-key.json"
RANKS_FILE = "ranks-test.npy"
COUNTS_FILE = "counts-test.npz"  # above / tied per sample and the tie mode: paired tests honour ties
CLASSIC_TIES = "conservative"


@dataclass
class RunResult:
    """What a report needs from one run (or a recorded result standing in for it)."""

    status: str  # "done" | "not implemented" | "pending" | "failed"
    metrics: dict[str, float] = field(default_factory=dict)
    by_length: dict[str, dict[str, float]] = field(default_factory=dict)
    ranks: np.ndarray | None = None
    lengths: np.ndarray | None = None
    protocol: str = ""  # what produced the figures, in words
    source: str = ""  # "run <dir>" or "recorded <file>"
    epochs: int | None = None  # epochs the reported model was trained
    train_sps: float | None = None  # median training samples/s over epochs
    score_ms: float | None = None  # scoring milliseconds per test sample
    error: str = ""
    counts: tuple[np.ndarray, np.ndarray, TieMode] | None = None  # above, tied, tie mode (COUNTS_FILE)

    @property
    def evaluation(self) -> Evaluation | None:
        """The test evaluation under the run's own tie mode (what its metrics were computed with).

        Runs finished before COUNTS_FILE existed have ranks only: they are read as exact ranks.
        """
        if self.lengths is None:
            return None
        if self.counts is not None:
            above, tied, ties = self.counts
            return Evaluation(above, tied, self.lengths, ties)
        if self.ranks is None:
            return None
        return Evaluation.from_ranks(np.rint(self.ranks), self.lengths)


def data_fingerprint(dataset: Dataset) -> str:
    """The dataset's identity: manifest (paths left out) and the SHA-256 of both splits."""
    manifest = {k: v for k, v in dataset.manifest.items() if k not in ("path", "source_path", "created")}
    payload = json.dumps(manifest, sort_keys=True, default=str)
    parts = [payload, split_fingerprint(dataset.train), split_fingerprint(dataset.test)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def protocol_of(model: Recommender, select_on: str, refit: bool, valid_fraction: float) -> dict[str, Any]:
    """The protocol part of a run's key."""
    if isinstance(model, NeuralRecommender):
        return {
            "select_on": select_on,
            "refit": refit and select_on == "valid",
            "valid_fraction": valid_fraction if select_on == "valid" else None,
            "valid_mode": "last",
        }
    return {"fit": "all training sessions", "ties": CLASSIC_TIES}


def run_key(
    model_name: str, config: dict[str, Any], protocol: dict[str, Any], fingerprint: str, version: str
) -> tuple[str, dict[str, Any]]:
    payload = {
        "model": model_name,
        "config": config,
        "protocol": protocol,
        "data": fingerprint,
        "sessionrec_version": version,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return digest, payload


def run_directory(cache: Path, dataset_name: str, model_name: str, key: str) -> Path:
    return cache / dataset_name / f"{model_name}-{key[:12]}"


@dataclass(frozen=True)
class Job:
    """One run to look up or compute: a model ready to train, its protocol and where it goes."""

    model: Recommender
    protocol: dict[str, Any]
    directory: Path
    key: str
    payload: dict[str, Any]


def make_job(
    model: Recommender, select_on: str, refit: bool, valid_fraction: float, fingerprint: str, cache: Path,
    dataset_name: str,
) -> Job:  # fmt: skip
    protocol = protocol_of(model, select_on, refit, valid_fraction)
    key, payload = run_key(model.name, model.config.to_dict(), protocol, fingerprint, __version__)
    return Job(model, protocol, run_directory(cache, dataset_name, model.name, key), key, payload)


def cached_result(job: Job) -> RunResult | None:
    """The finished run at the job's directory, or None."""
    run = Run(job.directory)
    if not run.info_path.is_file() or not run.finished:
        return None
    return result_from_run(run)


def execute(job: Job, dataset: Dataset, options: TrainerOptions, data_path: str | None = None) -> RunResult:
    """Train or fit the job's model into its directory (resuming a partial run) and evaluate it."""
    run = Run(job.directory)
    model = job.model
    if isinstance(model, NeuralRecommender):
        resume = run.info_path.is_file()
        if resume:
            log.info("resuming %s", job.directory)
        train_and_evaluate(
            model,
            dataset,
            job.directory,
            select_on=job.protocol["select_on"],
            valid_fraction=job.protocol["valid_fraction"] or 0.1,
            resume=resume,
            overwrite=not resume,
            options=dataclasses.replace(options),  # train_and_evaluate fills in the run's own fields
            data_path=data_path,
            refit=job.protocol["refit"],
        )
    else:
        started = start_run(job.directory, model, dataset.manifest, overwrite=True, protocol=job.protocol)
        clock = time.perf_counter()
        model.fit(dataset.train)
        fit_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        evaluation = model.evaluate(dataset.test, ties=CLASSIC_TIES)
        test_seconds = time.perf_counter() - clock
        np.save(job.directory / RANKS_FILE, evaluation.ranks)
        evaluation.save_counts(job.directory / COUNTS_FILE)
        finish_run(
            started,
            model,
            test_metrics=evaluation.metrics(),
            test_by_length=evaluation.by_length(),
            ties=CLASSIC_TIES,
            fit_seconds=round(fit_seconds, 2),
            test_seconds=round(test_seconds, 2),
        )
    (job.directory / KEY_FILE).write_text(json.dumps({"key": job.key, **job.payload}, indent=2) + "\n")
    return result_from_run(run)


def result_from_run(run: Run) -> RunResult:
    info = run.info()
    ranks_path = run.directory / RANKS_FILE
    ranks = np.load(ranks_path) if ranks_path.is_file() else None
    counts = load_counts(run.directory / COUNTS_FILE) if (run.directory / COUNTS_FILE).is_file() else None
    history = [*run.read_metrics(), *info.get("refit_history", [])]
    speeds = [r["train_samples_per_s"] for r in history if r.get("train_samples_per_s")]
    n_test = len(ranks) if ranks is not None else info.get("data", {}).get("stats", {}).get("test_samples")
    test_seconds = info.get("test_seconds")
    return RunResult(
        "done",
        info.get("test_metrics", {}),
        info.get("test_by_length", {}),
        ranks,
        None,  # the test split's prefix lengths, set by whoever holds the dataset
        describe_run(info),
        f"run {run.directory}",
        info.get("refit_epochs", (info.get("best_epoch", -1) + 1) or info.get("epochs_run")),
        float(np.median(speeds)) if speeds else None,
        1000.0 * test_seconds / n_test if test_seconds and n_test else None,
        counts=counts,
    )


def describe_run(info: dict[str, Any]) -> str:
    """The protocol that produced a run's figures, in a few words."""
    protocol = info.get("protocol", {})
    config = info.get("config", {})
    if "fit" in protocol:
        return f"fitted on all training sessions; {protocol.get('ties', CLASSIC_TIES)} ties"
    return describe_neural(
        protocol.get("select_on", "valid"),
        bool(protocol.get("refit")),
        info.get("best_epoch", -1),
        info.get("epochs_run"),
        info.get("refit_epochs"),
        config,
    )


def describe_neural(
    select_on: str,
    refit: bool,
    best_epoch: int,
    epochs_run: int | None,
    refit_epochs: int | None,
    config: dict[str, Any],
) -> str:
    stopping = f"patience {config.get('patience')}"
    if config.get("min_delta"):
        stopping += f", min Δ {config['min_delta']}"
    if select_on == "none":
        return f"fixed {epochs_run} epochs on all training sessions, no selection"
    text = f"valid: epoch {best_epoch + 1} of {epochs_run} selected ({stopping}, cap {config.get('epochs')})"
    if refit:
        text += f"; refit {refit_epochs} epochs on all sessions"
    else:
        text += "; no refit (trained on 90% of the sessions)"
    return text + f"; seed {config.get('seed')}"


def adopt(run_dir: Path, dataset: Dataset, dataset_name: str, cache: Path) -> Path:
    """Copy a finished run made elsewhere into the cache, under the key its run.json implies."""
    run = Run(run_dir)
    info = run.info()
    if info.get("status") != "finished":
        raise CheckpointError(f"{run_dir}: only a finished run can be adopted")
    if info.get("data", {}).get("stats") != dataset.manifest.get("stats"):
        raise CheckpointError(f"{run_dir}: the run was trained on other data than {dataset_name}")
    if not (run_dir / RANKS_FILE).is_file():
        raise CheckpointError(f"{run_dir}: no {RANKS_FILE}: the run was not evaluated by this package")
    name = info.get("preset") or info["model"]
    try:
        model = create(name, **info["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{run_dir}: its config no longer resolves ({exc})") from None
    recorded = info.get("protocol", {})
    if "fit" in recorded:
        protocol = recorded
    else:
        protocol = protocol_of(
            model, recorded.get("select_on", "valid"), bool(recorded.get("refit")),
            recorded.get("valid_fraction", 0.1),
        )  # fmt: skip
    key, payload = run_key(
        model.name, model.config.to_dict(), protocol, data_fingerprint(dataset), info["sessionrec_version"]
    )
    target = run_directory(cache, dataset_name, model.name, key)
    if Run(target).info_path.is_file() and Run(target).finished:
        return target
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("checkpoint.pt"))
    (target / KEY_FILE).write_text(
        json.dumps({"key": key, "adopted_from": str(run_dir), **payload}, indent=2)
    )
    return target
