"""PNG figures of an experiment, in the papers' forms (matplotlib, Agg backend; ``plots`` extra).

- ``bars``: one panel per metric, a bar per row (ablations, variants); the published value
  of a row, where the paper gives one, is drawn beside it as a hatched bar;
- ``curves``: one panel per metric, the sweep's first axis on x, a line per value of the
  second axis; published points dashed;
- ``by_length``: one panel per metric at 20, the test prefix length (1..10, 11+) on x, a
  line per model;
- ``heatmap``: a trained model's attention weights over chosen test sessions: one panel
  per session for a square map (query position on y, the key positions it attends to on
  x, darker = more weight, as the papers draw them), or one panel with a row per session
  for a vector map (weight per item position);
- ``importance``: the learned weight per signed relative distance, a line per layer (the
  mean over the feature dimensions, a band of one standard deviation), the uniform
  weighting dashed.
Rows without a result are named on the axis with their status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sessionrec.errors import ConfigError
from sessionrec.experiments.spec import Experiment

OURS, PAPER = "#3b6ea8", "#c9c9c9"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("figures need matplotlib: pip install 'sessionrec[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_label(key: str) -> str:
    name, k = key.split("@")
    return {"HR": f"HR@{k} = P@{k} = Recall@{k} (%)", "MRR": f"MRR@{k} (%)"}.get(name, f"{key} (%)")


def draw(
    experiment: Experiment,
    dataset: str,
    rows: list[dict[str, Any]],
    path: Path,
    compare: tuple[str, list[dict[str, Any]]] | None = None,
) -> None:
    """``compare``: another sweep's name and rows, drawn on a sweep's axes beside it."""
    plt = _pyplot()
    if experiment.figure == "heatmap":
        fig = _heatmap(plt, experiment, rows[0])
    elif experiment.figure == "importance":
        fig = _importance(plt, experiment, rows[0])
    else:
        fig = _metric_panels(plt, experiment, rows, compare)
    fig.suptitle(f"{experiment.title} ({dataset})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _metric_panels(
    plt: Any,
    experiment: Experiment,
    rows: list[dict[str, Any]],
    compare: tuple[str, list[dict[str, Any]]] | None = None,
) -> Any:
    keys = list(experiment.metric_keys)
    if experiment.figure == "by_length":
        keys = [k for k in keys if k.endswith("@20")] or keys[:2]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        if experiment.figure == "bars":
            _bars(ax, rows, key)
        elif experiment.figure == "curves":
            _curves(ax, experiment, rows, key, compare)
        else:
            _by_length(ax, rows, key)
        ax.set_ylabel(_axis_label(key))
        ax.grid(axis="y", alpha=0.3)
    return fig


def _heatmap(plt: Any, experiment: Experiment, row: dict[str, Any]) -> Any:
    cases = row["exports"]["cases"]
    name = experiment.weights.replace("_", "-")
    if isinstance(cases[0]["weights"][0], list):  # a square map per session: query x key
        import numpy as np

        fig, axes = plt.subplots(
            1, len(cases) + 1, figsize=(4.6 * len(cases) + 0.9, 4.8), squeeze=False,
            gridspec_kw={"width_ratios": [1.0] * len(cases) + [0.05]},
        )  # fmt: skip
        cmap = plt.get_cmap("Blues").copy()
        cmap.set_bad("#f2f2f2")  # the keys a causal query may not see
        causal = True
        for ax, (number, case) in zip(axes[0], enumerate(cases, 1), strict=False):
            weights = np.asarray(case["weights"], dtype=float)
            n = len(weights)
            upper = np.triu_indices(n, 1)
            causal = causal and not np.any(weights[upper])
            if causal:
                weights[upper] = np.nan
            image = ax.imshow(weights, cmap=cmap, vmin=0.0, vmax=1.0, origin="upper")
            ticks = list(range(n))
            ax.set_xticks(ticks, [str(j + 1) for j in ticks], fontsize=7)
            ax.set_yticks(ticks, [str(i + 1) for i in ticks], fontsize=7)
            ax.set_xlabel("key: item position j (1 = oldest)")
            ax.set_ylabel("query: item position i")
            ax.set_title(f"case {number}: test sample {case['sample']}, {n} items", fontsize=9)
        masked = " (grey: j > i, not visible to query i)" if causal else ""
        fig.colorbar(image, cax=axes[0][-1], label=f"{name} weight{masked}")
        return fig
    width = max(len(c["weights"]) for c in cases)
    grid = [c["weights"] + [float("nan")] * (width - len(c["weights"])) for c in cases]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * width + 2.5), 0.45 * len(cases) + 2.0))
    image = ax.imshow(grid, cmap="Blues", vmin=0.0, aspect="auto")
    ax.set_xticks(range(width), [str(j + 1) for j in range(width)], fontsize=7)
    ax.set_yticks(range(len(cases)), [str(i + 1) for i in range(len(cases))], fontsize=7)
    ax.set_xlabel("item position in the session (1 = oldest; blank: shorter session)")
    ax.set_ylabel("case")
    fig.colorbar(image, ax=ax, label=f"{name} weight")
    return fig


def _importance(plt: Any, experiment: Experiment, row: dict[str, Any]) -> Any:
    import numpy as np

    from sessionrec.experiments.report import _signed_distance

    exports = row["exports"]
    labels = exports["labels"]
    order = sorted(range(len(labels)), key=lambda b: _signed_distance(labels[b]))
    x = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(order) + 2.0), 3.8))
    for k, (mean, std) in enumerate(zip(exports["mean"], exports["std"], strict=True)):
        m, sd = np.asarray(mean)[order], np.asarray(std)[order]
        ax.plot(x, m, "o-", ms=3, label=f"layer {k + 1} (mean over features)")
        ax.fill_between(x, m - sd, m + sd, alpha=0.2)
    ax.axhline(1.0 / len(labels), color="grey", ls="--", lw=1, label="uniform weighting")
    ax.set_xticks(x, [labels[b] for b in order], fontsize=7, rotation=90)
    ax.set_xlabel("relative distance of the co-occurring item (- before, + after)")
    ax.set_ylabel("importance weight (softmax over distances)")
    ax.set_ylim(bottom=0.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _bars(ax: Any, rows: list[dict[str, Any]], key: str) -> None:
    width = 0.38
    values = []
    for i, r in enumerate(rows):
        ours, paper = r.get(key), r.get(f"paper {key}")
        if ours is not None:
            ax.bar(i - width / 2, ours, width, color=OURS, label="ours" if i == 0 or not values else None)
            ax.text(i - width / 2, ours, f"{ours:.2f}", ha="center", va="bottom", fontsize=7)
            values.append(ours)
        if paper is not None:
            ax.bar(i + width / 2, paper, width, color=PAPER, hatch="//", edgecolor="#777", label="paper")
            ax.text(i + width / 2, paper, f"{paper:.2f}", ha="center", va="bottom", fontsize=7)
            values.append(paper)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", ncol=2)
    names = [r["label"] if r["status"] == "done" else f"{r['label']}\n({r['status']})" for r in rows]
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    if values:  # the papers' bar charts start near the smallest value, so differences show
        low, high = min(values), max(values)
        span = max(high - low, 0.5)
        ax.set_ylim(max(0.0, low - 0.6 * span), high + 0.45 * span)  # room for the legend


def _curves(
    ax: Any,
    experiment: Experiment,
    rows: list[dict[str, Any]],
    key: str,
    compare: tuple[str, list[dict[str, Any]]] | None = None,
) -> None:
    axes = list(experiment.grid)
    first, second = axes[0], axes[1] if len(axes) > 1 else None
    if compare is not None:
        name, others = compare
        done = [r for r in others if r.get(key) is not None and first in r["axes"]]
        if done:
            ax.plot(
                [r["axes"][first] for r in done], [r[key] for r in done], "^-", color="#b5651d", label=name
            )
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["axes"].get(second) if second else None, []).append(r)
    for value, members in groups.items():
        name = f"{second}={value}" if second else (rows[0]["model"] if compare else "ours")
        done = [r for r in members if r.get(key) is not None]
        if done:
            ax.plot([r["axes"][first] for r in done], [r[key] for r in done], "o-", label=name)
        paper = [r for r in members if r.get(f"paper {key}") is not None]
        if paper:
            ax.plot(
                [r["axes"][first] for r in paper], [r[f"paper {key}"] for r in paper], "s--",
                color="grey", label=f"paper{' ' + name if second else ''}",
            )  # fmt: skip
    missing = [r for r in rows if r["status"] != "done"]
    if missing:
        ax.text(
            0.02, 0.02, f"{len(missing)} point(s) {missing[0]['status']}", transform=ax.transAxes, fontsize=7
        )
    ax.set_xlabel(first)
    values = experiment.grid[first]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values)
    if numeric and max(values) / min(values) >= 50:  # e.g. beta from 0.001 to 1: a log axis
        ax.set_xscale("log")
        ax.set_xticks(list(values), [f"{v:g}" for v in values])
        ax.minorticks_off()
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _by_length(ax: Any, rows: list[dict[str, Any]], key: str) -> None:
    from sessionrec.experiments.report import LENGTH_LABELS

    for r in rows:
        points = [(i, r["by_length"][b][key]) for i, b in enumerate(LENGTH_LABELS) if b in r["by_length"]]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3, label=r["label"])
    missing = [f"{r['label']} ({r['status']})" for r in rows if not r["by_length"]]
    if missing:
        ax.text(0.02, 0.02, "no by-length data: " + ", ".join(missing), transform=ax.transAxes, fontsize=7)
    ax.set_xticks(range(len(LENGTH_LABELS)), LENGTH_LABELS)
    ax.set_xlabel("test prefix length")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
