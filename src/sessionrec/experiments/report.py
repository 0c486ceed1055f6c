"""Reports of a spec's results: Markdown in the paper's layout, CSV, PNG figures.

``REPORTS/<paper>/<dataset>/``: ``README.md`` (every experiment: our figure, the
published one and the difference side by side for every metric the paper reports, a
paired significance test of each row against the paper's proposed model, the protocol
that produced each row), ``<experiment>.csv`` and ``<experiment>.png`` (grouped bars for
ablations, curves for sweeps, curves by session length; the published values drawn beside
ours where the paper gives them). ``REPORTS/<paper>/README.md`` puts the datasets side by
side, as the papers' tables do. A row more than ``BELOW`` points under its paper on any
metric shows the spec's written reason, or says that none is written yet.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessionrec import __version__
from sessionrec.evaluation import compare
from sessionrec.experiments.spec import Experiment, Spec

if TYPE_CHECKING:
    from sessionrec.experiments.cache import RunResult

BELOW = 1.0  # points
LENGTH_LABELS = [*(str(i) for i in range(1, 11)), "11+"]
QUICK_BANNER = (
    "> **QUICK RUN**: a small synthetic stand-in for this dataset and shrunk models. It checks "
    "that the pipeline runs; its figures are not results."
)
METRIC_TITLES = {"HR": "HR@{k} (= P@{k} = Recall@{k}, %)", "MRR": "MRR@{k} (%)", "NDCG": "NDCG@{k} (%)"}


def report_dir(root: Path, spec: Spec, dataset: str) -> Path:
    return root / spec.paper / dataset


def write_dataset_report(
    spec: Spec,
    dataset: str,
    results: dict[tuple[str, str], RunResult],
    root: Path,
    quick: bool = False,
    experiments: list[Experiment] | None = None,
) -> Path:
    out = report_dir(root, spec, dataset)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [e for e in (experiments or spec.experiments) if dataset in e.datasets]
    lines = [f"# {spec.title}: {dataset}", ""]
    if quick:
        lines += [QUICK_BANNER, ""]
    lines += [
        f"Spec `{spec.path}`; written by sessionrec {__version__} "
        f"(`sessionrec reproduce {spec.paper}{' --quick' if quick else ' --data DIR'}`). "
        f"Sources: {spec.source}.",
        "",
        "Test: every prefix of every test session, its next item ranked against every item (full "
        "ranking); HR@K = P@K = Recall@K. Heuristics are scored with conservative ties, neural models "
        "with expected ties; the paired tests compare both rows under the proposed model's tie "
        "mode (expected: ties broken at random). Each row "
        "states the protocol that produced it: runs made by this spec (`run`) or results recorded "
        "by `benchmarks/` (`recorded`, no per-sample ranks, hence no significance test).",
        "",
    ]
    table_rows: dict[str, list[dict[str, Any]]] = {}
    for experiment in chosen:
        rows = _rows(experiment, dataset, results, quick)
        table_rows[experiment.id] = rows
        lines += _section(experiment, dataset, rows, out)
    (out / "README.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(table_rows, indent=2, default=_json_default) + "\n")
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def _rows(
    experiment: Experiment, dataset: str, results: dict[tuple[str, str], RunResult], quick: bool = False
) -> list[dict[str, Any]]:
    from sessionrec.experiments.cache import RunResult

    proposed = results.get((experiment.id, experiment.proposed)) if experiment.proposed else None
    base_eval = proposed.evaluation if proposed is not None else None
    rows = []
    for spec_row in experiment.rows_for(dataset):
        result = results.get((experiment.id, spec_row.label), RunResult("pending"))
        published = spec_row.published.get(dataset, {})
        row: dict[str, Any] = {
            "label": spec_row.label,
            "model": spec_row.model,
            "status": result.status,
            "epochs": result.epochs,
            "protocol": result.protocol if result.status != "failed" else result.error,
            "source": result.source,
            "axes": spec_row.axes,
            "by_length": result.by_length,
            "train_sps": result.train_sps,
            "score_ms": result.score_ms,
        }
        below = []
        for key in experiment.metric_keys:
            ours = result.metrics.get(key) if result.status == "done" else None
            paper = published.get(key)
            row[key] = ours
            row[f"paper {key}"] = paper
            row[f"diff {key}"] = ours - paper if ours is not None and paper is not None else None
            if not quick and row[f"diff {key}"] is not None and row[f"diff {key}"] < -BELOW:
                below.append(key)
        if experiment.kind == "time":
            row["paper train"], row["paper test"] = published.get("train"), published.get("test")
        row["p_t"] = row["p_mcnemar"] = None
        evaluation = result.evaluation
        if spec_row.label == experiment.proposed:
            row["p_t"] = row["p_mcnemar"] = "-"
        elif (
            evaluation is not None and base_eval is not None and len(evaluation.ranks) == len(base_eval.ranks)
        ):
            test = compare(evaluation.with_ties(base_eval.ties), base_eval, cutoff=20)
            row["p_t"], row["p_mcnemar"] = test.t_pvalue, test.mcnemar_pvalue
        note = [spec_row.note] if spec_row.note else []
        if below:
            reason = spec_row.reasons.get(dataset)
            note.append(
                f"{', '.join(below)} more than {BELOW:g} point below the paper: "
                + (reason if reason else "**no reason written yet**")
            )
        row["note"] = " ".join(note)
        rows.append(row)
    if experiment.kind == "time":
        _relative_times(experiment, rows)
    return rows


def _relative_times(experiment: Experiment, rows: list[dict[str, Any]]) -> None:
    base = next((r for r in rows if r["label"] == experiment.proposed), None)
    for r in rows:
        r["rel train"] = r["rel test"] = None
        if base and base["train_sps"] and r["train_sps"]:
            r["rel train"] = base["train_sps"] / r["train_sps"]
        if base and base["score_ms"] and r["score_ms"]:
            r["rel test"] = r["score_ms"] / base["score_ms"]


def _fmt(value: Any, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ours(row: dict[str, Any], key: str) -> str:
    if row["status"] != "done":
        return row["status"]
    return _fmt(row[key])


def _section(experiment: Experiment, dataset: str, rows: list[dict[str, Any]], out: Path) -> list[str]:
    lines = [f"## {experiment.title}", ""]
    if experiment.source:
        lines += [f"Paper: {experiment.source}.", ""]
    lines += [f"Protocol: {experiment.protocol.describe()}.", ""]
    if experiment.note:
        lines += [experiment.note, ""]
    if experiment.kind == "time":
        lines += _time_table(experiment, rows)
    else:
        header = ["model"]
        for key in experiment.metric_keys:
            header += [key, "paper", "Δ"]
        against = experiment.proposed or "–"
        header += [
            f"p MRR (paired t) vs {against}",
            f"p HR@20 (McNemar) vs {against}",
            "epochs",
            "protocol",
            "note",
        ]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [r["label"]]
            for key in experiment.metric_keys:
                cells += [_ours(r, key), _fmt(r[f"paper {key}"]), _fmt(r[f"diff {key}"], signed=True)]
            protocol = r["protocol"]
            if r["source"].startswith("recorded "):
                protocol = f"recorded (`benchmarks/results/{r['source'].split(' ', 1)[1]}`): {protocol}"
            elif r["source"].startswith("run ") and r["status"] == "done":
                protocol = f"run: {protocol}"
            cells += [_p(r["p_t"]), _p(r["p_mcnemar"]), _fmt(r["epochs"], 0), protocol, r["note"]]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        lines.append("")
        if experiment.kind == "by_length":
            lines += _length_tables(experiment, rows)
    _write_csv(experiment, dataset, rows, out / f"{experiment.id}.csv")
    if experiment.figure and any(r["status"] == "done" for r in rows):
        from sessionrec.experiments.figures import draw

        path = out / f"{experiment.id}.png"
        draw(experiment, dataset, rows, path)
        lines += [f"![{experiment.title}]({path.name})", ""]
    elif experiment.figure:
        (out / f"{experiment.id}.png").unlink(missing_ok=True)
        lines += ["(figure drawn once a row has a result)", ""]
    return lines


def _time_table(experiment: Experiment, rows: list[dict[str, Any]]) -> list[str]:
    header = [
        "model", "train samples/s", f"training time vs {experiment.proposed}", "paper",
        "scoring ms/sample", f"test time vs {experiment.proposed}", "paper", "source",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        if r["status"] != "done":
            cells = [
                r["label"],
                r["status"],
                "–",
                _fmt(r["paper train"]),
                "–",
                "–",
                _fmt(r["paper test"]),
                "",
            ]
        else:
            cells = [
                r["label"], _fmt(r["train_sps"], 0), _fmt(r["rel train"]), _fmt(r["paper train"]),
                _fmt(r["score_ms"], 3), _fmt(r["rel test"]), _fmt(r["paper test"]), r["source"].split(" ")[0],
            ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Training time: the median over epochs of the training samples/s each run recorded, as a ratio "
        f"to {experiment.proposed}'s. Test time: seconds to score and rank the test split once, per sample "
        "(recorded results: their validation scoring per sample). Runs recorded on a shared machine at "
        "different times: ratios within about 20% are noise.",
        "",
    ]
    return lines


def _length_tables(experiment: Experiment, rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for key in [k for k in experiment.metric_keys if k.endswith("@20")] or list(experiment.metric_keys)[:2]:
        lines += [f"{key} by prefix length:", ""]
        lines += ["| model | " + " | ".join(LENGTH_LABELS) + " |", "|" + "---|" * (len(LENGTH_LABELS) + 1)]
        for r in rows:
            values = [_fmt(r["by_length"].get(b, {}).get(key)) for b in LENGTH_LABELS]
            lines.append(f"| {r['label']} | " + " | ".join(values) + " |")
        lines.append("")
    return lines


def _write_csv(experiment: Experiment, dataset: str, rows: list[dict[str, Any]], path: Path) -> None:
    keys = list(experiment.metric_keys)
    fields = ["dataset", "experiment", "label", "model", "status"]
    for key in keys:
        fields += [key, f"paper {key}", f"diff {key}"]
    if experiment.kind == "time":
        fields += ["train_sps", "rel train", "paper train", "score_ms", "rel test", "paper test"]
    if experiment.kind == "by_length":
        fields += [f"{key} length {b}" for key in keys for b in LENGTH_LABELS]
    fields += ["p_t", "p_mcnemar", "epochs", "protocol", "source", "note"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            record = {**r, "dataset": dataset, "experiment": experiment.id}
            if experiment.kind == "by_length":
                for key in keys:
                    for b in LENGTH_LABELS:
                        record[f"{key} length {b}"] = r["by_length"].get(b, {}).get(key)
            writer.writerow({k: _csv_value(record.get(k)) for k in fields})


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return "" if value is None else value


def write_index(spec: Spec, root: Path, quick: bool = False) -> Path:
    """``REPORTS/<paper>/README.md``: every table with the datasets side by side."""
    out = root / spec.paper
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {spec.title}", ""]
    if quick:
        lines += [QUICK_BANNER, ""]
    per_dataset = {}
    for dataset in spec.datasets:
        path = out / dataset / "results.json"
        if path.is_file():
            per_dataset[dataset] = json.loads(path.read_text())
    lines += [
        "Reports by dataset: " + ", ".join(f"[{d}]({d}/README.md)" for d in per_dataset) + ".",
        "",
        "Each cell: ours (paper). The per-dataset reports give the differences, significance and protocol.",
        "",
    ]
    for experiment in spec.experiments:
        datasets = [d for d in experiment.datasets if d in per_dataset and experiment.id in per_dataset[d]]
        if not datasets or experiment.kind == "time":
            continue
        lines += [f"## {experiment.title}", ""]
        header = ["model"] + [f"{d} {k}" for d in datasets for k in experiment.metric_keys]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        labels = list(dict.fromkeys(r["label"] for d in datasets for r in per_dataset[d][experiment.id]))
        for label in labels:
            cells = [label]
            for d in datasets:
                row = next((r for r in per_dataset[d][experiment.id] if r["label"] == label), None)
                for k in experiment.metric_keys:
                    if row is None:
                        cells.append("")
                        continue
                    ours = _fmt(row[k]) if row["status"] == "done" else row["status"]
                    paper = row.get(f"paper {k}")
                    cells.append(f"{ours} ({_fmt(paper)})" if paper is not None else ours)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    return out
