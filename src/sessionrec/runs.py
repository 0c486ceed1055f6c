"""Run directories: what ``fit``/``train`` produce and ``evaluate``/``serve`` consume.

Layout::

    RUN_DIR/
      run.json        model name, preset, resolved config, data manifest, package
                      version, selection protocol, status ("running" | "finished"),
                      and, once evaluated, the test metrics
      model/          the fitted model (Recommender.save)
      metrics.jsonl   one JSON line per epoch (neural models)
      checkpoint.pt   the last training checkpoint (neural models; for --resume)
      refit/          checkpoint and metrics of the refit phase (``train --refit``)
      ranks-*.npy|npz per-sample ranks kept by ``evaluate``, ``fit``, ``train``

A run is "finished" only once its model is saved; ``run.json`` is written
atomically, so an interrupted run never passes for a finished one.

``overwrite`` replaces only a run: a directory is one when its ``run.json`` names
a model and a status, and only the entries above (and the temporary files of
their atomic writes) are removed; anything else in it is left alone. A non-empty
directory that is not a run is never written to.
"""

from __future__ import annotations

import fnmatch
import json
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessionrec import __version__
from sessionrec.errors import CheckpointError
from sessionrec.io import atomic_write_bytes

if TYPE_CHECKING:  # runs know models only by type: the trainer imports this module
    from sessionrec.models.base import Recommender

RUN_FILE = "run.json"
MODEL_DIR = "model"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
REFIT_DIR = "refit"
# what a run writes, as glob patterns (the dotted ones: leftovers of atomic writes)
RUN_ENTRIES = (
    RUN_FILE, MODEL_DIR, METRICS_FILE, CHECKPOINT_FILE, REFIT_DIR, "ranks-*.npy", "ranks-*.npz",
    f".{RUN_FILE}.*.tmp", f".{CHECKPOINT_FILE}.*.tmp", f".{MODEL_DIR}.*.tmp", f".{MODEL_DIR}.old",
)  # fmt: skip

# Keys that only decide when training stops: the weights of the epochs already trained do
# not depend on them, and the selection state (best epoch, epochs since) holds under any
# value, so a run may be resumed with new ones (to cap a selection that creeps on).
STOPPING_KEYS = frozenset({"epochs", "patience"})


def same_training(
    config: dict[str, Any], other: dict[str, Any], defaults: dict[str, Any] | None = None
) -> bool:
    """Whether two resolved configs train the same weights, epoch for epoch.

    A key missing from one side counts as its value in ``defaults``: a run saved before
    the config gained a key resumes as long as the new key keeps its default.
    """
    base = defaults or {}
    return _training_part({**base, **config}) == _training_part({**base, **other})


def _training_part(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in STOPPING_KEYS}


@dataclass(frozen=True)
class Run:
    directory: Path

    @property
    def info_path(self) -> Path:
        return self.directory / RUN_FILE

    @property
    def model_dir(self) -> Path:
        return self.directory / MODEL_DIR

    @property
    def metrics_path(self) -> Path:
        return self.directory / METRICS_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    def info(self) -> dict[str, Any]:
        if not self.info_path.is_file():
            raise CheckpointError(f"{self.directory}: not a sessionrec run ({RUN_FILE} missing)")
        try:
            return json.loads(self.info_path.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{self.info_path}: invalid JSON ({exc})") from None

    def write_info(self, info: dict[str, Any]) -> None:
        atomic_write_bytes(self.info_path, json.dumps(info, indent=2, default=str).encode())

    def update_info(self, **changes: Any) -> dict[str, Any]:
        info = {**self.info(), **changes}
        self.write_info(info)
        return info

    @property
    def finished(self) -> bool:
        return self.info_path.is_file() and self.info().get("status") == "finished"

    def require_finished(self) -> Path:
        """The saved model's directory; one clear error while the run has not finished."""
        info = self.info()
        if info.get("status") != "finished":
            raise CheckpointError(
                f"{self.directory}: the run has not finished (status {info.get('status')!r})"
            )
        return self.model_dir

    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]


def start_run(
    directory: str | Path,
    model: Recommender,
    data_manifest: dict[str, Any],
    overwrite: bool = False,
    resume: bool = False,
    **extra: Any,
) -> Run:
    """Create (or, with ``resume``, reopen) a run directory for ``model``.

    A directory that already holds a finished run is refused unless ``overwrite``;
    one holding an unfinished run is refused unless ``resume`` or ``overwrite``; any
    other non-empty directory is refused, ``overwrite`` or not.
    """
    run = Run(Path(directory))
    if run.directory.exists() and any(run.directory.iterdir()):
        if overwrite:
            remove_run(run.directory)
        elif resume:
            _check_resumable(run, model)
            return run
        else:
            raise CheckpointError(_occupied(run, model))
    run.directory.mkdir(parents=True, exist_ok=True)
    run.write_info(
        {
            "status": "running",
            "model": model.name,
            "preset": model.preset,
            "config": model.config.to_dict(),
            "data": data_manifest,
            "sessionrec_version": __version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }
    )
    return run


def is_run_directory(directory: Path) -> bool:
    """Whether ``directory`` holds a sessionrec run: a ``run.json`` naming a model and a status."""
    try:
        info = json.loads((directory / RUN_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and {"model", "status"} <= set(info)


def remove_run(directory: Path) -> list[str]:
    """Delete what a run wrote in ``directory`` and return the names left alone.

    Refused (nothing deleted) unless ``directory`` is a run directory.
    """
    if not is_run_directory(directory):
        raise CheckpointError(
            f"refusing to overwrite {directory}: it is not a sessionrec run directory "
            f"(no valid {RUN_FILE}), so nothing was deleted; choose a new or empty --out"
        )
    return _remove_entries(directory)


def discard_run(directory: Path) -> None:
    """Undo a run that failed part-way: what it wrote goes, and the directory if nothing else is left."""
    if is_run_directory(directory) and not _remove_entries(directory):
        directory.rmdir()


def _remove_entries(directory: Path) -> list[str]:
    kept: list[str] = []
    for entry in sorted(directory.iterdir()):
        if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in RUN_ENTRIES):
            kept.append(entry.name)
        elif entry.name == REFIT_DIR and entry.is_dir() and not entry.is_symlink():
            if _remove_entries(entry):  # the refit phase writes run files too; keep foreign ones
                kept.append(entry.name)
            else:
                entry.rmdir()
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return kept


def _check_resumable(run: Run, model: Recommender) -> None:
    info, config = run.info(), model.config.to_dict()
    if info.get("model") != model.name or not same_training(
        info.get("config", {}), config, type(model.config)().to_dict()
    ):
        raise CheckpointError(
            f"{run.directory}: --resume needs the same model and config as the run "
            f"(only {', '.join(sorted(STOPPING_KEYS))} may change)"
        )
    if info["config"] != config:  # record the new stopping rule and the one it replaced
        before = info["config"]
        changes = {k: [before.get(k), config.get(k)] for k in STOPPING_KEYS if before.get(k) != config.get(k)}
        run.update_info(config=config, resumed_with=[*info.get("resumed_with", []), changes])


def _occupied(run: Run, model: Recommender) -> str:
    """Why a non-empty directory is refused, and the way out that exists for this model."""
    from sessionrec.models.neural import NeuralRecommender

    if not is_run_directory(run.directory):
        return (
            f"{run.directory} is not empty and holds no sessionrec run; choose a new or empty "
            "directory (--overwrite replaces only a run directory)"
        )
    if run.finished:
        return f"{run.directory} already holds a finished run; pass --overwrite to replace it"
    if isinstance(model, NeuralRecommender):
        return (
            f"{run.directory} is not empty: it holds an unfinished run; continue it with "
            "`sessionrec train ... --resume` "
            "or pass --overwrite to replace it"
        )
    return (
        f"{run.directory} is not empty: it holds an unfinished run (a fit that did not end); "
        "pass --overwrite to replace it"
    )


def finish_run(run: Run, model: Recommender, **extra: Any) -> None:
    """Save the model, then mark the run finished (in that order)."""
    model.save(run.model_dir)
    run.update_info(status="finished", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra)
