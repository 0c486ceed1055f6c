"""The spec runner on a toy spec: cache, resume, recorded results, adoption, significance, reports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sessionrec.experiments import cache as run_cache
from sessionrec.experiments import grid
from sessionrec.experiments.grid import GridOptions, run_spec
from sessionrec.experiments.spec import parse_spec
from sessionrec.models.registry import create
from sessionrec.training import Trainer, TrainerOptions
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset

TINY = {"embedding_dim": 8, "batch_size": 50, "epochs": 3}


def toy_spec(**protocol: Any) -> dict[str, Any]:
    return {
        "paper": "toy",
        "datasets": ["toy"],
        "proposed": "SR-GNN",
        "protocol": {"select_on": "valid", "refit": False, "overrides": {"patience": 5}, **protocol},
        "experiment": [
            {
                "id": "main",
                "kind": "ablation",
                "row": [
                    {"label": "POP", "model": "pop", "published": {"toy": {"HR@20": 99.0, "MRR@20": 1.0}}},
                    {"label": "Future", "model": "no-such-model-yet"},
                    {"label": "SR-GNN", "model": "srgnn", "overrides": TINY},
                ],
            }
        ],
    }


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    synthetic_dataset().save(tmp_path / "data" / "toy")
    return tmp_path / "data"


def options(tmp_path: Path, data_root: Path, **changes: Any) -> GridOptions:
    return GridOptions(
        cache=tmp_path / "cache", reports=tmp_path / "reports", data_root=data_root,
        trainer=TrainerOptions(threads=1), **changes,
    )  # fmt: skip


def test_runs_once_reports_and_never_recomputes(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = parse_spec(toy_spec())
    results = run_spec(spec, options(tmp_path, data_root))["toy"]
    assert results[("main", "Future")].status == "not implemented"
    pop, srgnn = results[("main", "POP")], results[("main", "SR-GNN")]
    assert pop.status == srgnn.status == "done"
    # the paired test of POP against the proposed row, on the same ranks the runs saved
    from sessionrec.evaluation import compare

    expected = compare(pop.evaluation.with_ties(srgnn.evaluation.ties), srgnn.evaluation).t_pvalue
    rows = json.loads((tmp_path / "reports" / "toy" / "toy" / "results.json").read_text())["main"]
    assert rows[0]["p_t"] == pytest.approx(expected) and rows[2]["p_t"] == "-"
    assert rows[1]["status"] == "not implemented"
    # POP is far below its (made-up) published HR@20 and the spec gives no reason: said so
    report = (tmp_path / "reports" / "toy" / "toy" / "README.md").read_text()
    assert "HR@20 more than 1 point below the paper: **no reason written yet**" in report
    assert "| Future | not implemented |" in report
    assert (tmp_path / "reports" / "toy" / "toy" / "main.png").stat().st_size > 1000
    csv_lines = (tmp_path / "reports" / "toy" / "toy" / "main.csv").read_text().splitlines()
    assert len(csv_lines) == 4 and csv_lines[0].startswith("dataset,experiment,label,model,status,HR@20")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(run_cache, "execute", refuse)
    again = run_spec(spec, options(tmp_path, data_root))["toy"]
    np.testing.assert_array_equal(again[("main", "SR-GNN")].ranks, srgnn.ranks)


def test_cached_evaluations_keep_the_runs_ties(tmp_path: Path, data_root: Path) -> None:
    """A heuristic's tied items survive the cache: the paired test sees the ranks its metrics had."""
    spec = toy_spec()
    spec["experiment"][0]["row"][0] = {"label": "S-POP", "model": "spop"}
    results = run_spec(parse_spec(spec), options(tmp_path, data_root))["toy"]
    spop = results[("main", "S-POP")]
    evaluation = spop.evaluation
    assert evaluation is not None and evaluation.ties == run_cache.CLASSIC_TIES
    assert evaluation.tied.max() > 1  # S-POP ties the session's items
    assert evaluation.metrics() == pytest.approx(spop.metrics)
    optimistic = evaluation.with_ties("optimistic").metrics()
    assert optimistic["MRR@20"] > evaluation.metrics()["MRR@20"]


def test_an_interrupted_run_resumes_at_its_checkpoint(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = parse_spec(toy_spec())
    straight = run_spec(spec, options(tmp_path / "straight", data_root))["toy"][("main", "SR-GNN")]
    original = Trainer._validate
    calls = {"n": 0}

    def killed_in_epoch_two(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_validate", killed_in_epoch_two)
    first = run_spec(spec, options(tmp_path, data_root))["toy"][("main", "SR-GNN")]
    assert first.status == "failed" and "killed" in first.error
    monkeypatch.setattr(Trainer, "_validate", original)
    resumed = run_spec(spec, options(tmp_path, data_root))["toy"][("main", "SR-GNN")]
    assert resumed.status == "done"
    run_dir = Path(resumed.source.removeprefix("run "))
    lines = run_dir.joinpath("metrics.jsonl").read_text().splitlines()
    epochs = [json.loads(line)["epoch"] for line in lines]
    assert epochs == [0, 1, 2]  # epoch 0 kept from the killed process, not trained again
    np.testing.assert_array_equal(resumed.ranks, straight.ranks)


def test_recorded_results_fill_rows_with_their_protocol(tmp_path: Path, data_root: Path) -> None:
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    config = create("srgnn", **{**TINY, "patience": 2}).config.to_dict()  # another stopping rule
    metrics = {"HR@20": 40.0, "MRR@20": 15.0}
    report = {
        "model": "srgnn", "data": "toy", "select_on": "valid", "config": config, "test_metrics": metrics,
        "best_epoch": 1, "epochs_run": 3, "history": [],
    }  # fmt: skip
    (recorded / "accuracy-srgnn-toy.json").write_text(json.dumps(report))
    quick_check = {**report, "max_batches_per_epoch": 10, "test_metrics": {"HR@20": 1.0, "MRR@20": 1.0}}
    (recorded / "accuracy-srgnn-toy-quick10.json").write_text(json.dumps(quick_check))
    spec = parse_spec(toy_spec())
    result = run_spec(spec, options(tmp_path, data_root, recorded=recorded, execute=False))["toy"]
    srgnn = result[("main", "SR-GNN")]
    assert srgnn.metrics == metrics and srgnn.source == "recorded accuracy-srgnn-toy.json"
    assert "epoch 2 of 3 selected (patience 2" in srgnn.protocol and "no refit" in srgnn.protocol
    assert result[("main", "POP")].status == "pending"  # nothing cached, recorded or run


def test_a_finished_run_made_elsewhere_is_adopted(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionrec.data import open_dataset

    data = open_dataset(data_root / "toy")
    model = create("srgnn", **{**TINY, "patience": 5})
    trained = train_and_evaluate(model, data, tmp_path / "elsewhere", options=TrainerOptions(threads=1))
    target = run_cache.adopt(tmp_path / "elsewhere", data, "toy", tmp_path / "cache")
    monkeypatch.setattr(run_cache, "execute", lambda *a, **k: pytest.fail("recomputed"))
    spec = toy_spec()
    spec["experiment"][0]["row"] = spec["experiment"][0]["row"][2:]
    result = run_spec(parse_spec(spec), options(tmp_path, data_root))["toy"][("main", "SR-GNN")]
    assert result.source == f"run {target}"
    np.testing.assert_array_equal(result.ranks, trained.evaluation.ranks)


def test_fixed_epoch_protocol_and_seeds_change_the_key(tmp_path: Path) -> None:
    fixed = parse_spec(toy_spec(select_on="none", epochs=2, seeds=[1, 2])).experiments[0]
    row = replace(fixed.rows[2], overrides={"embedding_dim": 8})  # the protocol's epochs, not the row's
    first, second = (grid.build_model(row, fixed.protocol, seed, quick=False) for seed in (1, 2))
    assert first.config.epochs == 2 and first.config.seed == 1 and second.config.seed == 2
    jobs = [run_cache.make_job(m, "none", False, 0.1, "data", tmp_path, "toy").key for m in (first, second)]
    assert jobs[0] != jobs[1]
