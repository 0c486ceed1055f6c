"""Spec files: validation with one line per problem, sweeps, shipped specs run end to end (--quick)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sessionrec.errors import ConfigError
from sessionrec.experiments.grid import GridOptions, quick_spec, run_spec
from sessionrec.experiments.spec import Experiment, load_spec, parse_spec, shipped_specs
from sessionrec.training import TrainerOptions

BAD = """
paper = "bad"
datasets = ["d"]
colour = "blue"

[protocol]
select_on = "test"

[[experiment]]
id = "t"
kind = "histogram"

[[experiment.row]]
label = "A"
model = "srgnn"
overrides = { embeding_dim = 8 }
published.d = { "HR@50" = 1.0 }

[[experiment.row]]
label = "B"
model = "pop"
colour = "red"
"""


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert lines[0] == "6 problem(s) in the spec:"
    problems = "\n".join(lines[1:])
    for expected in (
        "unknown key 'colour'",  # top level
        "select_on must be 'valid' or 'none'",
        "kind must be one of table, ablation, sweep, by_length, time, heatmap, importance, got 'histogram'",
        "row 'A' (srgnn): SRGNNConfig: unknown key(s) embeding_dim",
        "row 'A': published.d.HR@50: not reported here",
        "row 'B': unknown key 'colour'",
    ):
        assert expected in problems
    assert len(lines) == 7


def test_a_sweep_expands_its_grid_with_published_values_in_order() -> None:
    spec = parse_spec(
        {
            "paper": "s",
            "datasets": ["d"],
            "protocol": {"select_on": "none", "epochs": 2},
            "experiment": [
                {
                    "id": "d",
                    "kind": "sweep",
                    "model": "srgnn",
                    "grid": {"embedding_dim": [8, 16], "steps": [1, 2]},
                    "published": {"d": {"HR@20": [1.0, 2.0, 3.0, 4.0]}},
                }
            ],
        }
    )
    rows = spec.experiments[0].rows
    assert [r.label for r in rows] == [
        "embedding_dim=8, steps=1", "embedding_dim=8, steps=2",
        "embedding_dim=16, steps=1", "embedding_dim=16, steps=2",
    ]  # fmt: skip
    assert rows[2].overrides == {"embedding_dim": 16, "steps": 1} and rows[2].published == {
        "d": {"HR@20": 3.0}
    }
    assert spec.experiments[0].figure == "curves"


def test_a_fixed_epoch_protocol_needs_its_epoch_count() -> None:
    raw = {"paper": "p", "datasets": ["d"], "protocol": {"select_on": "none"}, "experiment": []}
    with pytest.raises(ConfigError, match="select_on = 'none' trains a fixed epoch count: set epochs"):
        parse_spec(raw)


def test_shipped_specs_name_the_five_papers_and_every_published_row_is_kept() -> None:
    assert shipped_specs() == ["focol", "i3gn", "lgsr", "sriem", "tagnn"]
    sriem = load_spec("sriem")
    assert [e.id for e in sriem.experiments] == ["table2", "table3", "fig2", "fig3"]
    table2 = sriem.experiment("table2")
    assert [r.label for r in table2.rows] == [
        "S-POP", "Item-KNN", "FPMC", "GRU4Rec", "NARM", "STAMP", "CSRM", "SR-GNN", "SR-IEM",
    ]  # fmt: skip
    assert table2.rows[-1].published["yoochoose1_64"] == {"HR@20": 71.15, "MRR@20": 31.71}
    assert sriem.experiment("table3").rows[0].published["diginetica"] == {"train": 4.63, "test": 19.32}


@pytest.mark.parametrize("paper", ["tagnn", "sriem", "i3gn", "lgsr", "focol"])
def test_quick_runs_every_row_and_renders_every_report(paper: str, tmp_path: Path) -> None:
    options = GridOptions(
        cache=tmp_path / "cache", reports=tmp_path / "reports", quick=True, trainer=TrainerOptions(threads=1)
    )
    results = run_spec(load_spec(paper), options)
    spec = quick_spec(load_spec(paper))  # what a quick run runs: sweeps at 3 points per axis
    assert set(results) == set(spec.datasets)
    for dataset, rows in results.items():
        out = tmp_path / "reports" / paper / dataset
        chosen = [e for e in spec.experiments if dataset in e.datasets]
        for experiment in chosen:
            for row in experiment.rows_for(dataset):
                result = rows[(experiment.id, row.label)]
                assert result.status == ("done" if row.implemented else "not implemented"), (
                    experiment.id,
                    row.label,
                    result.error,
                )
                if experiment.kind in ("heatmap", "importance"):
                    _check_exports(experiment, result.exports)
            assert (out / f"{experiment.id}.csv").is_file()
            if experiment.figure:
                assert (out / f"{experiment.id}.png").stat().st_size > 5000
        report = (out / "README.md").read_text()
        assert report.count("\n## ") == len(chosen) and "QUICK RUN" in report
    index = (tmp_path / "reports" / paper / "README.md").read_text()
    assert all(f"[{d}]({d}/README.md)" in index for d in spec.datasets)


def _check_exports(experiment: Experiment, exports: dict[str, Any]) -> None:
    """The weights read out of the trained model are what they claim to be."""
    assert "error" not in exports, exports
    if experiment.kind == "importance":  # softmax over the distance buckets, per feature
        mean = np.asarray(exports["mean"])
        assert mean.shape[1] == len(exports["labels"]) and (mean > 0).all()
        np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-4)
        return
    assert 1 <= len(exports["cases"]) <= experiment.cases
    for case in exports["cases"]:
        weights = np.asarray(case["weights"])
        n = len(case["items"])
        if experiment.weights == "self_attention":  # causal softmax rows: query i sees j <= i
            assert weights.shape == (n, n)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)
            assert not weights[np.triu_indices(n, 1)].any()
        else:  # the aggregation softmax over the session's items
            assert weights.shape == (n,)
            np.testing.assert_allclose(weights.sum(), 1.0, atol=1e-4)


def test_without_execution_every_row_is_pending_or_not_implemented(tmp_path: Path) -> None:
    options = GridOptions(
        cache=tmp_path / "cache", reports=tmp_path / "reports", quick=True, execute=False,
        trainer=TrainerOptions(threads=1),
    )  # fmt: skip
    run_spec(load_spec("i3gn"), options)
    spec = quick_spec(load_spec("i3gn"))
    for dataset in spec.datasets:
        rows = json.loads((tmp_path / "reports" / "i3gn" / dataset / "results.json").read_text())
        for experiment in [e for e in spec.experiments if dataset in e.datasets]:
            labels = [r["label"] for r in rows[experiment.id]]
            assert labels == [r.label for r in experiment.rows_for(dataset)]
            for r, row in zip(rows[experiment.id], experiment.rows_for(dataset), strict=True):
                assert r["status"] == ("pending" if row.implemented else "not implemented")
    assert [r.label for r in spec.experiment("fig7").rows] == ["heads=1", "heads=8", "heads=32"]


def test_the_cli_reproduces_quick_and_reports_a_bad_spec(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sessionrec.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["reproduce", "sriem", "--quick", "--cache", str(tmp_path / "c"), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "reports" / "sriem" / "diginetica" / "fig3.png").is_file()
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    result = runner.invoke(app, ["experiment", "check", str(bad)])
    assert result.exit_code == 2 and "6 problem(s) in the spec" in result.output
    assert runner.invoke(app, ["reproduce", "nosuchpaper", "--quick"]).exit_code == 2
