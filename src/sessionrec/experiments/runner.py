"""Run a paper table: every row on every dataset, one protocol, a report beside the papers'.

Each row's run goes to ``OUT/runs/<dataset>/<label>``; a finished run is reused, so
an interrupted table resumes where it stopped (neural runs also resume mid-training
from their last epoch checkpoint). The report (``OUT/<table>.md``, ``.csv``,
``.json``) lists test HR@20 / MRR@20 (= P@20, Recall@20) with the published figures
and the difference. Heuristics are evaluated with conservative ties.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sessionrec.data import open_dataset
from sessionrec.data.dataset import Dataset
from sessionrec.experiments.tables import TABLES, Table
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create
from sessionrec.runs import Run, finish_run, start_run
from sessionrec.training import TrainerOptions
from sessionrec.workflow import train_and_evaluate

Log = Callable[[str], None]


def run_row(
    model_name: str, overrides: dict[str, Any], data: Dataset, out: Path, options: TrainerOptions
) -> dict[str, float]:
    run = Run(out)
    if run.info_path.is_file() and run.finished:
        return run.info()["test_metrics"]
    model = create(model_name, **overrides)
    if isinstance(model, NeuralRecommender):
        resume = run.checkpoint_path.is_file()
        result = train_and_evaluate(model, data, out, resume=resume, overwrite=not resume, options=options)
        return result.info["test_metrics"]
    started = start_run(out, model, data.manifest, overwrite=True)
    model.fit(data.train)
    metrics = model.evaluate(data.test, ties="conservative").metrics()
    finish_run(started, model, test_metrics=metrics, ties="conservative")
    return metrics


def run_table(
    name: str,
    data_root: Path,
    out: Path,
    datasets: list[str] | None = None,
    options: TrainerOptions | None = None,
    log: Log = print,
) -> list[dict[str, Any]]:
    table = TABLES[name]
    rows: list[dict[str, Any]] = []
    for dataset_name in datasets or table.datasets:
        data = open_dataset(data_root / dataset_name)
        for row in table.rows:
            log(f"{table.name}: {row.label} on {dataset_name}")
            metrics = run_row(
                row.model,
                row.overrides,
                data,
                out / "runs" / dataset_name / row.label,
                options or TrainerOptions(),
            )
            published = row.published.get(dataset_name)
            rows.append(
                {
                    "dataset": dataset_name,
                    "model": row.label,
                    "registered_as": row.model,
                    "HR@20": round(metrics["HR@20"], 2),
                    "MRR@20": round(metrics["MRR@20"], 2),
                    "published_HR@20": published[0] if published else None,
                    "published_MRR@20": published[1] if published else None,
                }
            )
    write_report(table, rows, out)
    return rows


def write_report(table: Table, rows: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{table.name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    with (out / f"{table.name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# {table.title}",
        "",
        "Test HR@20 / MRR@20 in % (HR@20 = P@20 = Recall@20); neural epochs selected on the last 10%",
        "of the training samples; heuristics with conservative ties.",
        "",
        "| dataset | model | HR@20 | MRR@20 | published | difference |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["published_HR@20"] is None:
            published = difference = "-"
        else:
            published = f"{r['published_HR@20']:.2f} / {r['published_MRR@20']:.2f}"
            difference = (
                f"{r['HR@20'] - r['published_HR@20']:+.2f} / {r['MRR@20'] - r['published_MRR@20']:+.2f}"
            )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['HR@20']:.2f} | {r['MRR@20']:.2f} | "
            f"{published} | {difference} |"
        )
    (out / f"{table.name}.md").write_text("\n".join(lines) + "\n")
