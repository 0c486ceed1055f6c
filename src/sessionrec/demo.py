"""The end-to-end demo behind ``make demo``.

A seeded synthetic click log goes the way a user's own log would: the ``custom``
reader and the standard protocol, the classic baselines, a short SR-GNN training
run with validation-based selection, full-ranking evaluation on the held-out last
days, and recommendations for one live session in the log's own item ids. Every
model is saved as a run directory under ``runs/demo/`` that ``sessionrec evaluate``,
``recommend`` and ``serve`` accept.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sessionrec.data.readers import preprocess
from sessionrec.data.synthetic import write_synthetic_csv
from sessionrec.evaluation import Evaluation
from sessionrec.models.registry import create
from sessionrec.runs import finish_run, start_run
from sessionrec.training import TrainerOptions
from sessionrec.workflow import train_and_evaluate

CLASSIC = ("pop", "spop", "itemknn", "sknn")
console = Console()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out: Path = args.out

    console.rule("1. a synthetic click log, preprocessed like a real one")
    log = write_synthetic_csv(
        out / "clicks.csv", n_sessions=args.sessions, n_items=args.items, seed=args.seed
    )
    dataset = preprocess("custom", log, out / "data", test_days=3)
    stats = dataset.stats()
    console.print(
        f"{log}: {stats['clicks']:,} clicks -> {stats['train_samples']:,} training and "
        f"{stats['test_samples']:,} test samples over {stats['items']:,} items (last 3 days = test)"
    )

    results: dict[str, tuple[Evaluation, float]] = {}
    console.rule("2. classic baselines")
    for name in CLASSIC:
        model = create(name)
        started = time.perf_counter()
        model.fit(dataset.train)
        seconds = time.perf_counter() - started
        run = start_run(out / "runs" / name, model, dataset.manifest, overwrite=True)
        evaluation = model.evaluate(dataset.test, ties="conservative")
        finish_run(run, model, test_metrics=evaluation.metrics(), ties="conservative")
        results[name] = (evaluation, seconds)
        console.print(f"{name:8s} fitted in {seconds:5.1f}s")

    console.rule(f"3. SR-GNN, {args.epochs} epochs, epochs selected on the last 10% of training")
    srgnn = create("srgnn", epochs=args.epochs)
    options = TrainerOptions(progress=True)
    trained = train_and_evaluate(srgnn, dataset, out / "runs" / "srgnn", overwrite=True, options=options)
    results["srgnn"] = (srgnn.evaluate(dataset.test, ties="conservative"), trained.info["train_seconds"])

    console.rule("4. full-ranking test metrics (%)")
    table = Table(caption="HR@K = P@K = Recall@K; ties counted against the target (conservative)")
    for column in ("model", "HR@10", "MRR@10", "HR@20", "MRR@20", "NDCG@20", "fit s"):
        table.add_column(column, justify="right")
    for name, (evaluation, seconds) in results.items():
        m = evaluation.metrics()
        cells = (f"{m[key]:.2f}" for key in ("HR@10", "MRR@10", "HR@20", "MRR@20", "NDCG@20"))
        table.add_row(name, *cells, f"{seconds:.1f}")
    console.print(table)

    console.rule("5. recommendations for a live session (the log's own item ids)")
    session = [*dataset.vocab.decode(dataset.test.prefix(0)), "not-in-catalogue"]
    recs = srgnn.recommend([session], k=10, exclude_seen=False)
    console.print(f"session (oldest first): {session}")
    console.print(f"unknown items dropped:  {recs.unknown_items[0]}")
    console.print(f"next true click:        {dataset.vocab.decode([int(dataset.test.targets[0])])[0]}")
    for rank, (item, score) in enumerate(zip(recs.items[0], recs.scores[0], strict=True), start=1):
        console.print(f"  {rank:2d}. item {item!s:>6}  score {score:7.3f}")
    console.rule("next")
    console.print(f"sessionrec evaluate {out}/runs/srgnn {out}/data --by-length")
    console.print(f"sessionrec recommend {out}/runs/srgnn --items {' '.join(map(str, session[:3]))}")
    console.print(f"sessionrec serve {out}/runs/srgnn   # then POST /v1/recommend, docs at /docs")


if __name__ == "__main__":
    main()
