"""The one fit path with a prepared global structure: train, save, load, resume, cache, integrity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.data.batching import make_batch
from sessionrec.errors import CheckpointError
from sessionrec.graphs.transitions import row_normalise, transition_counts
from sessionrec.models.prepared import PREPARED_FILE, cache_path
from sessionrec.models.registry import create, load_model, load_run_model
from sessionrec.runs import Run
from sessionrec.training import TrainerOptions
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset
from tests.models.toy_models import FAST, ToyTransitions


def scores(model: object, data: object) -> torch.Tensor:
    test = data.test  # type: ignore[attr-defined]
    return model.score(make_batch(test, np.arange(len(test)), model.batch_spec))  # type: ignore[attr-defined]


def test_trains_saves_loads_with_the_prepared_graph(tmp_path: Path) -> None:
    data = synthetic_dataset()
    result = train_and_evaluate(create("toy-transitions", **FAST), data, tmp_path / "run", refit=True)
    loaded = load_run_model(result.run.directory)
    expected = row_normalise(transition_counts(data.train.sessions, data.n_items, self_loops=False))
    assert (loaded.prepared_["transitions"] != expected).nnz == 0  # the refit prepared on all sessions
    # the graph is not in the weights file: identical scores need it loaded from prepared.npz
    model_again = create("toy-transitions", **{**FAST, "epochs": result.info["refit_epochs"]})
    model_again.fit(data.train)
    assert torch.equal(scores(loaded, data), scores(model_again, data))


def test_resume_reuses_the_prepared_structure_and_ends_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_dataset()
    straight = train_and_evaluate(create("toy-transitions", **FAST), data, tmp_path / "straight")
    first = {**FAST, "epochs": 1, "patience": 10}
    train_and_evaluate(create("toy-transitions", **first), data, tmp_path / "resumed")
    prepared_file = tmp_path / "resumed" / PREPARED_FILE
    before = prepared_file.read_bytes()

    def no_rebuild(self: ToyTransitions, train: object) -> dict[str, object]:
        raise AssertionError("a resumed run must not prepare again")

    monkeypatch.setattr(ToyTransitions, "prepare", no_rebuild)
    resumed = train_and_evaluate(
        create("toy-transitions", **FAST), data, tmp_path / "resumed", resume=True, overwrite=False
    )
    assert prepared_file.read_bytes() == before
    assert resumed.info["test_metrics"] == straight.info["test_metrics"]
    a, b = load_run_model(straight.run.directory), load_run_model(resumed.run.directory)
    assert torch.equal(scores(a, data), scores(b, data))


def test_costly_structures_are_cached_by_training_data_and_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESSIONREC_CACHE_DIR", str(tmp_path))  # an empty cache
    data = synthetic_dataset()
    calls: list[int] = []
    original = ToyTransitions.prepare

    def counted(self: ToyTransitions, train: object) -> dict[str, object]:
        calls.append(1)
        return original(self, train)  # type: ignore[arg-type]

    monkeypatch.setattr(ToyTransitions, "prepare", counted)
    first = create("toy-transitions", **{**FAST, "epochs": 1})
    first.prepare_fit(data.train)
    path = cache_path("toy-transitions", {"self_loops": False}, first.train_fingerprint_ or "")
    assert path is not None and path.is_file() and len(calls) == 1
    again = create("toy-transitions", **{**FAST, "epochs": 1})
    again.prepare_fit(data.train)
    assert len(calls) == 1  # read from the cache
    assert (again.prepared_["transitions"] != first.prepared_["transitions"]).nnz == 0
    create("toy-transitions", self_loops=True).prepare_fit(data.train)  # other settings: rebuilt
    part, _ = data.validation_split(0.2)
    create("toy-transitions").prepare_fit(part)  # other sessions: rebuilt
    assert len(calls) == 3
    path.write_bytes(path.read_bytes()[:50])  # a damaged cache entry is rebuilt, not trusted
    create("toy-transitions").prepare_fit(data.train)
    assert len(calls) == 4
    monkeypatch.setenv("SESSIONREC_CACHE_DIR", "off")
    create("toy-transitions").prepare_fit(data.train)
    assert len(calls) == 5


def test_damaged_or_foreign_prepared_files_are_one_clear_error(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("toy-transitions", **{**FAST, "epochs": 1}).fit(data.train)
    model.save(tmp_path / "m")
    prepared = tmp_path / "m" / PREPARED_FILE
    raw = bytearray(prepared.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    prepared.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"prepared\.npz: content does not match the SHA-256"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="missing"):
        prepared.unlink()
        load_model(tmp_path / "m")


def test_resume_on_other_training_sessions_is_refused(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("toy-transitions", **{**FAST, "epochs": 1})
    run = train_and_evaluate(model, data, tmp_path / "run", select_on="none").run
    other, _ = data.validation_split(0.3)
    again = create("toy-transitions", **{**FAST, "epochs": 2})
    with pytest.raises(CheckpointError, match="prepared on other training sessions"):
        again.fit(other, None, TrainerOptions(run=Run(run.directory), resume=True))


def test_a_flipped_byte_in_any_saved_file_is_named_at_load(tmp_path: Path) -> None:
    data = synthetic_dataset()
    create("toy-transitions", **{**FAST, "epochs": 1}).fit(data.train).save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir() if p.name != "model.json")
    assert {"weights.pt", PREPARED_FILE, "popularity.npy"} <= set(files)
    for name in files:
        path = tmp_path / "m" / name
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 3] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match=rf"{name}: content does not match the SHA-256"):
            load_model(tmp_path / "m")
        path.write_bytes(original)
    load_model(tmp_path / "m")  # restored: loads again
