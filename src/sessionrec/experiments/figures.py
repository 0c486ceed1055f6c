"""PNG figures of an experiment, in the papers' forms (matplotlib, Agg backend; ``plots`` extra).

- ``bars``: one panel per metric, a bar per row (ablations, variants); the published value
  of a row, where the paper gives one, is drawn beside it as a hatched bar;
- ``curves``: one panel per metric, the sweep's first axis on x, a line per value of the
  second axis; published points dashed;
- ``by_length``: one panel per metric at 20, the test prefix length (1..10, 11+) on x, a
  line per model.
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


def draw(experiment: Experiment, dataset: str, rows: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    keys = list(experiment.metric_keys)
    if experiment.figure == "by_length":
        keys = [k for k in keys if k.endswith("@20")] or keys[:2]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        if experiment.figure == "bars":
            _bars(ax, rows, key)
        elif experiment.figure == "curves":
            _curves(ax, experiment, rows, key)
        else:
            _by_length(ax, rows, key)
        ax.set_ylabel(_axis_label(key))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{experiment.title} ({dataset})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def _curves(ax: Any, experiment: Experiment, rows: list[dict[str, Any]], key: str) -> None:
    axes = list(experiment.grid)
    first, second = axes[0], axes[1] if len(axes) > 1 else None
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["axes"].get(second) if second else None, []).append(r)
    for value, members in groups.items():
        name = f"{second}={value}" if second else "ours"
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
