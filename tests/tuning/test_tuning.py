"""Tuning: declared search spaces, the Optuna study (validation only, resumable), config files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionrec.cli import app
from sessionrec.data.dataset import Dataset
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create_from_overrides, load_run_model, resolve
from sessionrec.models.sknn import SKNNConfig
from sessionrec.tuning.space import FloatRange, IntRange, SearchSpace
from tests.conftest import synthetic_dataset

pytest.importorskip("optuna")
from sessionrec.tuning.study import TuneOptions, tune

KNN = ["sknn", "vsknn", "stan", "vstan"]
runner = CliRunner()


def invoke(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


# -- search spaces -------------------------------------------------------------------------
@pytest.mark.parametrize("name", KNN)
def test_each_knn_model_declares_a_space_that_fits_its_config(name: str) -> None:
    cls, _ = resolve(name)
    assert cls.search_space is not None and {"k", "sample_size"} <= set(cls.search_space.params)
    cls.search_space.validate_for(cls.config_class)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (SearchSpace({"neighbours": IntRange(1, 5)}), "'neighbours' is not a config key"),
        (SearchSpace({"k": FloatRange(1.0, 5.0)}), "a float range"),
        (SearchSpace({"k": IntRange(0, 5)}), "k must be >= 1"),  # an end outside the config's range
    ],
)
def test_a_bad_space_is_refused_before_any_trial(space: SearchSpace, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        space.validate_for(SKNNConfig)


def test_a_range_must_be_ordered_and_log_ranges_positive() -> None:
    with pytest.raises(ConfigError, match="below"):
        SearchSpace({"k": IntRange(5, 5)})
    with pytest.raises(ConfigError, match="log"):
        SearchSpace({"k": IntRange(0, 5, log=True)})


# -- the study -----------------------------------------------------------------------------
class Poisoned:
    """A test split that fails the moment anything reads it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the tuner read the test split ({name})")

    def __len__(self) -> int:
        raise AssertionError("the tuner read the test split (len)")


def test_the_tuner_never_reads_the_test_split(tmp_path: Path) -> None:
    data = synthetic_dataset()
    poisoned = Dataset(data.train, Poisoned(), data.manifest)  # type: ignore[arg-type]
    options = TuneOptions(trials=3)
    blind = tune("stan", poisoned, tmp_path / "blind.sqlite", options)
    seeing = tune("stan", data, tmp_path / "seeing.sqlite", options)
    # the same trials, the same best: what the test split holds changes nothing
    assert blind.finished_trials == 3
    assert blind.params == seeing.params and blind.value == seeing.value
    assert blind.budget["train_samples"] + blind.budget["valid_samples"] == len(data.train)


def test_a_study_resumes_from_its_sqlite_file(tmp_path: Path) -> None:
    import optuna

    data = synthetic_dataset()
    storage = tmp_path / "study.sqlite"
    first = tune("vsknn", data, storage, TuneOptions(trials=2))
    assert first.finished_trials == 2
    again = tune("vsknn", data, storage, TuneOptions(trials=2))  # already holds 2: nothing to run
    assert again.finished_trials == 2
    more = tune("vsknn", data, storage, TuneOptions(trials=4))
    assert more.finished_trials == 4
    study = optuna.load_study(study_name="vsknn-MRR@20", storage=f"sqlite:///{storage}")
    trials = study.trials
    # the first trial is the model's defaults; the resumed run kept the first two and drew new points
    cls, _ = resolve("vsknn")
    defaults = cls.config_class().to_dict()
    assert trials[0].params == {key: defaults[key] for key in cls.search_space.params}
    assert len(trials) == 4 and trials[2].params not in (trials[0].params, trials[1].params)
    assert more.value == max(t.value for t in trials)


# -- config files --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def syn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tune")
    synthetic_dataset().save(root / "syn")
    return root


def test_tune_then_fit_with_the_config_file_reproduces_the_tuned_config(syn: Path) -> None:
    best = syn / "best.json"
    code, output = invoke("tune", "stan", syn / "syn", "--trials", 3, "--out", best)
    assert code == 0, output
    assert (syn / "best.sqlite").is_file()
    written = json.loads(best.read_text())
    assert written["model"] == "stan" and written["tuning"]["finished_trials"] == 3
    code, output = invoke("fit", "stan", syn / "syn", "--config", best, "--out", syn / "run")
    assert code == 0, output
    assert load_run_model(syn / "run").config.to_dict() == written["config"]
    # --set still applies on top of the file
    code, output = invoke("fit", "stan", syn / "syn", "--config", best, "--set", "k=7", "--out", syn / "run7")
    assert code == 0, output
    assert load_run_model(syn / "run7").config.to_dict() == {**written["config"], "k": 7}


def test_a_toml_file_of_plain_keys_is_read(tmp_path: Path) -> None:
    path = tmp_path / "stan.toml"
    path.write_text("k = 50\nlambda_near = 2.5\n")
    model = create_from_overrides("stan", [], config_file=path)
    assert model.config.k == 50 and model.config.lambda_near == 2.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ({"config": {"k": 10, "neighbours": 3}}, "neighbours"),
        ({"k": "many"}, "k"),
        ({"model": "sknn", "config": {"k": 10}}, "sknn"),
    ],
)
def test_a_bad_config_file_gives_one_clear_error_naming_the_key(
    syn: Path, content: dict[str, Any], named: str
) -> None:
    path = syn / f"bad-{named}.json"
    path.write_text(json.dumps(content))
    code, output = invoke("fit", "stan", syn / "syn", "--config", path, "--out", syn / f"never-{named}")
    assert code == 2
    assert output.count("error:") == 1 and str(path.name) in output and named in output, output
    assert not (syn / f"never-{named}").exists()


def test_train_accepts_a_config_file_for_neural_models(tmp_path: Path) -> None:
    path = tmp_path / "srgnn.json"
    path.write_text(json.dumps({"model": "srgnn", "config": {"epochs": 2}}))
    assert create_from_overrides("srgnn", ["batch_size=8"], config_file=path).config.epochs == 2  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"srgnn\.json.*nope"):
        path.write_text(json.dumps({"nope": 1}))
        create_from_overrides("srgnn", [], config_file=path)


def test_an_unknown_metric_or_no_budget_is_refused_before_any_trial(tmp_path: Path) -> None:
    data = synthetic_dataset()
    with pytest.raises(ConfigError, match="unknown metric 'AUC'"):
        tune("sknn", data, tmp_path / "s.sqlite", TuneOptions(metric="AUC"))
    with pytest.raises(ConfigError, match="budget"):
        tune("sknn", data, tmp_path / "s.sqlite", TuneOptions(trials=None, minutes=None))
    with pytest.raises(ConfigError, match="both fix and tune k"):
        tune("sknn", data, tmp_path / "s.sqlite", TuneOptions(fixed={"k": 5}))
    assert not (tmp_path / "s.sqlite").exists()
