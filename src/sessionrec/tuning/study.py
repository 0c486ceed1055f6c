"""Tune a model's declared search space with Optuna, on the validation split only.

Every trial fits the model on the training part of ``Dataset.validation_split`` and
scores the held-out sessions; the test split is never read. The study lives in an
SQLite file, so a killed or extended tune resumes where it stopped: ``trials`` is
the number of finished trials the study should hold. The model's defaults are the
first trial of a new study, so the tuned config is never worse on validation.
Optuna is an optional dependency (``pip install sessionrec[tune]``), imported here only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.data.dataset import Dataset
from sessionrec.data.sessions import Split
from sessionrec.errors import ConfigError
from sessionrec.evaluation import CUTOFFS, TieMode
from sessionrec.io import atomic_write_bytes
from sessionrec.models import registry


@dataclass(frozen=True)
class TuneOptions:
    trials: int | None = 20  # finished trials the study should hold (None: until ``minutes``)
    minutes: float | None = None  # wall-clock budget of this invocation
    metric: str = "MRR@20"
    ties: TieMode = "conservative"  # heuristics tie many items: never let a tie help
    valid_fraction: float = 0.1
    valid_mode: str = "last"
    valid_samples: int | None = None  # score a seeded subset of the validation prefixes
    batch_size: int = 500
    seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)  # config values held fixed


@dataclass(frozen=True)
class TuneResult:
    model: str
    config: dict[str, Any]  # the full best config
    params: dict[str, Any]  # the searched keys' best values
    value: float
    metrics: dict[str, float]  # all validation metrics of the best trial
    finished_trials: int
    study: str
    storage: str
    budget: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "config": self.config,
            "tuning": {
                "params": self.params,
                "value": self.value,
                "valid_metrics": self.metrics,
                "finished_trials": self.finished_trials,
                "study": self.study,
                "storage": self.storage,
                "budget": self.budget,
            },
        }

    def write(self, path: str | Path) -> Path:
        """The best config as JSON that ``sessionrec fit/train --config`` accepts."""
        path = Path(path)
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode())
        return path


def tuning_splits(dataset: Dataset, options: TuneOptions) -> tuple[Split, Split]:
    """The training part and the (optionally subsampled) validation part; never the test split."""
    train, valid = dataset.validation_split(options.valid_fraction, options.valid_mode)  # type: ignore[arg-type]
    if options.valid_samples is not None and options.valid_samples < len(valid):
        rng = np.random.default_rng(options.seed)
        valid = valid.select(np.sort(rng.choice(len(valid), options.valid_samples, replace=False)))
    return train, valid


def tune(
    model: str, dataset: Dataset, storage: str | Path, options: TuneOptions, study_name: str | None = None
) -> TuneResult:
    """Search ``model``'s declared space; the study is stored (and resumed) in ``storage``."""
    import optuna

    cls, preset = registry.resolve(model)
    space = cls.search_space
    if space is None:
        raise ConfigError(f"{model} declares no search space: nothing to tune")
    fixed = {**preset, **options.fixed}
    overlap = sorted(set(options.fixed) & set(space.params))
    if overlap:
        raise ConfigError(f"cannot both fix and tune {', '.join(overlap)}")
    space.validate_for(cls.config_class, fixed)
    known = [f"{name}@{k}" for k in CUTOFFS for name in ("HR", "MRR", "NDCG")]
    if options.metric not in known:
        raise ConfigError(f"unknown metric {options.metric!r}; choose one of {', '.join(known)}")
    if options.trials is None and options.minutes is None:
        raise ConfigError("give a budget: a number of trials, minutes, or both")
    train, valid = tuning_splits(dataset, options)

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        recommender = registry.create(model, **options.fixed, **params)
        started = time.perf_counter()
        recommender.fit(train)
        fitted = time.perf_counter()
        metrics = recommender.evaluate(valid, options.batch_size, options.ties).metrics()
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("fit_seconds", round(fitted - started, 3))
        trial.set_user_attr("evaluate_seconds", round(time.perf_counter() - fitted, 3))
        return float(metrics[options.metric])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{Path(storage).resolve()}"
    name = study_name or f"{model}-{options.metric}"
    existing = optuna.create_study(study_name=name, storage=url, direction="maximize", load_if_exists=True)
    done = _finished(existing)
    # a resumed study draws fresh random points rather than the first run's again
    sampler = optuna.samplers.TPESampler(seed=options.seed + len(existing.trials))
    study = optuna.load_study(study_name=name, storage=url, sampler=sampler)
    if not study.trials:
        defaults = cls.config_class.from_dict(fixed).to_dict()
        study.enqueue_trial({key: defaults[key] for key in space.params}, skip_if_exists=True)
    remaining = None if options.trials is None else max(options.trials - done, 0)
    if remaining != 0:
        timeout = None if options.minutes is None else options.minutes * 60.0
        study.optimize(objective, n_trials=remaining, timeout=timeout, catch=(ConfigError,))
    if _finished(study) == 0:
        raise ConfigError(f"study {name!r} has no finished trial")
    best = study.best_trial
    config = cls.config_class.from_dict({**fixed, **best.params}).to_dict()
    budget = {
        "trials": options.trials,
        "minutes": options.minutes,
        "metric": options.metric,
        "ties": options.ties,
        "valid_fraction": options.valid_fraction,
        "valid_mode": options.valid_mode,
        "valid_samples": len(valid),
        "train_samples": len(train),
        "seed": options.seed,
    }
    return TuneResult(
        model,
        config,
        dict(best.params),
        float(best.value),
        best.user_attrs.get("metrics", {}),
        _finished(study),
        name,
        str(storage),
        budget,
    )


def _finished(study: Any) -> int:
    import optuna

    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
