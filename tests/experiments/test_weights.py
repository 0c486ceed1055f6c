"""Heatmap and importance experiments (weights read out of a trained model), dataset overrides
and experiment-level reasons: validation, case selection, figures, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sessionrec.errors import ConfigError
from sessionrec.experiments import figures, grid
from sessionrec.experiments.cache import RunResult
from sessionrec.experiments.report import write_dataset_report
from sessionrec.experiments.spec import parse_spec


def spec_with(*experiments: dict[str, Any], datasets: tuple[str, ...] = ("d",)) -> dict[str, Any]:
    return {"paper": "w", "datasets": list(datasets), "experiment": list(experiments)}


HEATMAP = {
    "id": "h",
    "kind": "heatmap",
    "model": "lgsr",
    "weights": "self_attention",
    "cases": 2,
    "length": 5,
}
IMPORTANCE = {"id": "i", "kind": "importance", "model": "focol", "overrides": {"gnn_layers": 1}}


def test_heatmap_and_importance_parse_into_one_row_of_their_model() -> None:
    spec = parse_spec(spec_with(HEATMAP, {**IMPORTANCE, "label": "FOCOL, L_G = 1"}))
    heatmap, importance = spec.experiments
    assert heatmap.figure == "heatmap" and heatmap.weights == "self_attention"
    assert (heatmap.cases, heatmap.length) == (2, 5)
    assert [(r.label, r.model) for r in heatmap.rows] == [("lgsr", "lgsr")]
    assert importance.figure == "importance" and importance.rows[0].label == "FOCOL, L_G = 1"
    assert importance.rows[0].overrides == {"gnn_layers": 1}


def test_each_bad_weights_key_gets_its_own_line() -> None:
    bad = spec_with(
        {"id": "a", "kind": "heatmap", "model": "lgsr", "cases": 0},  # no weights, cases < 1
        {"id": "b", "kind": "heatmap", "model": "srgnn", "weights": "x"},  # no attention_maps
        {**IMPORTANCE, "id": "c", "published": {"d": {"HR@20": [1.0]}}, "row": []},
        {"id": "e", "kind": "table", "weights": "aggregation", "row": [{"label": "P", "model": "pop"}]},
        {**IMPORTANCE, "id": "f", "figure": "bars"},
        {**HEATMAP, "id": "g", "overrides": {"heads": 2}},  # not an LGSR key
    )
    with pytest.raises(ConfigError) as info:
        parse_spec(bad)
    lines = str(info.value).splitlines()
    assert lines[0] == "8 problem(s) in the spec:"
    for expected in (
        "experiment 'a': missing key 'weights'",
        "experiment 'a': cases must be an integer >= 1, got 0",
        "experiment 'b': a heatmap experiment needs a model with attention_maps(); srgnn has none",
        "experiment 'c': a importance experiment draws one model's weights: remove 'row'",
        "experiment 'c': a importance experiment takes no published values",
        "experiment 'e': 'weights' belongs to heatmap experiments",
        "experiment 'f': a importance experiment draws figure 'importance' (or none), got 'bars'",
        "experiment 'g' row 'lgsr' (lgsr): LGSRConfig: unknown key(s) heads",
    ):
        assert sum(expected in line for line in lines) == 1, expected


def test_heatmap_cases_take_one_prefix_per_session_nearest_the_length() -> None:
    lengths = np.array([3, 15, 15, 14, 16, 15, 16])
    sessions = np.array([0, 1, 1, 2, 3, 4, 5])
    # length 15: samples 1 (session 1; sample 2 is the same session) and 5, then the nearest
    # length, shorter first: 14 (sample 3) before the 16s
    assert grid.heatmap_cases(lengths, sessions, 15, 3).tolist() == [1, 3, 5]
    assert grid.heatmap_cases(lengths, sessions, 15, 4).tolist() == [1, 3, 4, 5]
    assert grid.heatmap_cases(lengths, sessions, 2, 1).tolist() == [0]


def test_dataset_overrides_apply_on_their_dataset_under_the_rows_own() -> None:
    spec = parse_spec(
        spec_with(
            {
                "id": "t",
                "dataset_overrides": {"y": {"embedding_dim": 100, "heads": 4}},
                "reasons": {"y": "another split"},
                "row": [
                    {"label": "I3GN", "model": "i3gn", "dataset_overrides": {"y": {"heads": 2}}},
                    {"label": "I3GN-8", "model": "i3gn", "overrides": {"heads": 8}},
                ],
            },
            datasets=("d", "y"),
        )
    )
    experiment = spec.experiments[0]
    first, second = experiment.rows
    protocol = experiment.protocol
    assert grid.build_model(first, protocol, 1, False, "d").config.embedding_dim == 50
    on_y = grid.build_model(first, protocol, 1, False, "y").config
    assert (on_y.embedding_dim, on_y.heads) == (100, 2)  # the row's own wins
    assert grid.build_model(second, protocol, 1, False, "y").config.heads == 4  # over plain overrides
    assert experiment.reasons == {"y": "another split"}
    with pytest.raises(ConfigError, match=r"row 'I3GN' \(i3gn on y\): heads must be in 1..64"):
        parse_spec(
            spec_with(
                {
                    "id": "t",
                    "row": [{"label": "I3GN", "model": "i3gn", "dataset_overrides": {"y": {"heads": 0}}}],
                },
                datasets=("d", "y"),
            )
        )


def _rows(exports: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"label": "M", "status": "done", "exports": exports}]


def _labelled(fig: Any) -> None:
    """Every panel that shows data names both axes (a colour bar names its one)."""
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or not ax.get_xlabel():
            assert ax.get_ylabel(), "an axis without labels"
        else:
            assert ax.get_xlabel() and ax.get_ylabel()


def test_heatmap_and_importance_figures_render_with_labelled_axes(tmp_path: Path) -> None:
    plt = figures._pyplot()
    causal = [[1.0, 0.0, 0.0], [0.3, 0.7, 0.0], [0.2, 0.5, 0.3]]
    square = {"weights": "self_attention", "cases": [
        {"sample": 4, "items": ["7", "8", "9"], "weights": causal},
        {"sample": 9, "items": ["1", "2"], "weights": [[1.0, 0.0], [0.4, 0.6]]},
    ]}  # fmt: skip
    vector = {"weights": "aggregation", "cases": [
        {"sample": 1, "items": ["5", "6", "7"], "weights": [0.2, 0.3, 0.5]},
        {"sample": 2, "items": ["5", "6"], "weights": [0.6, 0.4]},
    ]}  # fmt: skip
    importance = {"labels": ["+1", ">+1", "-1", "<-1"], "mean": [[0.4, 0.1, 0.3, 0.2]], "std": [[0.05] * 4]}
    spec = parse_spec(
        spec_with(
            {**HEATMAP, "id": "h1"},
            {**HEATMAP, "id": "h2", "weights": "aggregation"},
            IMPORTANCE,
        )
    )
    h1, h2, imp = spec.experiments
    for experiment, exports in ((h1, square), (h2, vector), (imp, importance)):
        draw = figures._heatmap if experiment.kind == "heatmap" else figures._importance
        fig = draw(plt, experiment, _rows(exports)[0])
        _labelled(fig)
        plt.close(fig)
        figures.draw(experiment, "d", _rows(exports), tmp_path / f"{experiment.id}.png")
        assert (tmp_path / f"{experiment.id}.png").stat().st_size > 5000
    # the importance panel orders the distances from far before to far after
    fig = figures._importance(plt, imp, _rows(importance)[0])
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["<-1", "-1", "+1", ">+1"]
    plt.close(fig)


def test_reports_write_the_weights_or_say_why_not(tmp_path: Path) -> None:
    spec = parse_spec(spec_with({**HEATMAP, "weights": "aggregation"}, IMPORTANCE))
    exports = {"weights": "aggregation", "cases": [
        {"sample": 3, "prefix_length": 2, "items": ["5", "6"], "target": "7", "weights": [0.25, 0.75]},
    ]}  # fmt: skip
    results = {
        ("h", "lgsr"): RunResult("done", {"HR@20": 50.0, "MRR@20": 20.0}, exports=exports, source="run x"),
        ("i", "focol"): RunResult("done", {"HR@20": 50.0, "MRR@20": 20.0}, exports={"error": "no model"}),
    }
    out = write_dataset_report(spec, "d", results, tmp_path)
    report = (out / "README.md").read_text()
    assert "- case 1: test sample 3, prefix of 2 items [5 6], next item 7" in report
    assert "| 1 | 0.250 | 0.750 |" in report
    assert "Weights not exported: no model." in report
    assert (out / "h.png").is_file() and not (out / "i.png").exists()
    csv_lines = (out / "h-weights.csv").read_text().splitlines()
    assert csv_lines == ["case,sample,query,key,item,weight", "1,3,,1,5,0.25", "1,3,,2,6,0.75"]


def test_a_sweep_is_drawn_beside_the_sweep_it_compares_with(tmp_path: Path) -> None:
    i3gn = {"id": "k", "kind": "sweep", "model": "i3gn", "grid": {"k": [0, 40]}, "compare_with": "k-sknn"}
    sknn = {"id": "k-sknn", "kind": "sweep", "model": "sknn", "grid": {"k": [40]}}
    with pytest.raises(ConfigError) as info:
        parse_spec(spec_with({**i3gn, "compare_with": "nope"}, {**sknn, "grid": {"sample_size": [10]}}))
    assert "experiment 'k': compare_with: 'nope' is not another sweep of this spec" in str(info.value)
    with pytest.raises(ConfigError, match=r"'k-sknn' sweeps \['sample_size'\], not \['k'\]"):
        parse_spec(spec_with(i3gn, {**sknn, "grid": {"sample_size": [10]}}))
    spec = parse_spec(spec_with(i3gn, sknn))
    results = {("k", f"k={v}"): RunResult("done", {"HR@20": 40.0 + v / 10, "MRR@20": 10.0}) for v in (0, 40)}
    results[("k-sknn", "k=40")] = RunResult("done", {"HR@20": 30.0, "MRR@20": 9.0})
    out = write_dataset_report(spec, "d", results, tmp_path)
    assert (out / "k.png").is_file()
    plt = figures._pyplot()
    fig, ax = plt.subplots()
    rows = [
        {"label": f"k={v}", "model": "i3gn", "status": "done", "axes": {"k": v}, "HR@20": 40.0}
        for v in (0, 40)
    ]
    other = [{"label": "k=40", "model": "sknn", "status": "done", "axes": {"k": 40}, "HR@20": 30.0}]
    figures._curves(ax, spec.experiments[0], rows, "HR@20", ("sknn", other))
    assert [line.get_label() for line in ax.get_lines()] == ["sknn", "i3gn"]
    assert ax.get_lines()[0].get_xydata().tolist() == [[40.0, 30.0]]
    plt.close(fig)


def test_a_sweep_over_decades_is_drawn_on_a_log_axis() -> None:
    spec = parse_spec(
        spec_with(
            {"id": "b", "kind": "sweep", "model": "focol", "grid": {"cl_weight": [0.001, 0.01, 1.0]}},
            {"id": "k", "kind": "sweep", "model": "sknn", "grid": {"k": [40, 80]}},
        )
    )
    plt = figures._pyplot()
    for experiment, scale in zip(spec.experiments, ("log", "linear"), strict=True):
        fig, ax = plt.subplots()
        rows = [{"label": r.label, "status": "done", "axes": r.axes, "HR@20": 1.0} for r in experiment.rows]
        figures._curves(ax, experiment, rows, "HR@20")
        assert ax.get_xscale() == scale
        plt.close(fig)
