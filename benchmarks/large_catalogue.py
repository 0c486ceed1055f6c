"""Recommendation latency for one session over a large catalogue: exact and approximate top-k.

    python benchmarks/large_catalogue.py --items 1000000 --reps 200 --threads 2
    python benchmarks/large_catalogue.py --ann --trained RUN/model --data ../shared/data/diginetica

Builds SR-GNN (paper settings, d = 100) over ``--items`` items with an identity
vocabulary and times ``model.recommend([session], k=20)`` in process, one 5-click
session per call, ``--reps`` distinct sessions after a warm-up: the whole path a server
takes (encode ids, batch, the session graph, the GGNN, the top-k, decode). Reports the
median, p90 and p99 milliseconds.

Exact: the [1, d] x [d, N] product over every item, then top-k. With ``--ann``, also
``recommend(..., approximate=True)`` through a FAISS HNSW index of the item table
(``sessionrec.ann``; build seconds recorded) for each ``--ef-search`` value, and the
recall@k of its top-k against the exact top-k over ``--recall-sessions`` sessions
(|approximate & exact| / k, averaged).

The item table: by default the seeded initial weights, i.i.d. uniform rows, the worst
case for any approximate index (no structure: the top scores barely stand out). With
``--trained MODEL_DIR`` (a saved SR-GNN) and ``--data`` (its dataset), the trained
network and its table, the catalogue grown to ``--items`` by rows drawn from the trained
rows plus Gaussian noise of ``--jitter`` times their per-dimension spread, and the
sessions the dataset's test prefixes: a large catalogue shaped like a trained one.
Writes ``benchmarks/results/large-catalogue.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sessionrec.data import open_dataset
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.models.base import Recommender
from sessionrec.models.registry import create, load_model
from train_throughput import write_result


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "ms_median": round(statistics.median(times), 2),
        "ms_p90": round(times[int(0.9 * len(times)) - 1], 2),
        "ms_p99": round(times[int(0.99 * len(times)) - 1], 2),
    }


def timed(model: Recommender, sessions: list[list[object]], k: int, approximate: bool) -> dict[str, float]:
    for session in sessions[:10]:
        model.recommend([session], k=k, approximate=approximate)
    times = []
    for session in sessions:
        started = time.perf_counter()
        model.recommend([session], k=k, approximate=approximate)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def random_model(n_items: int) -> tuple[Recommender, list[list[object]]]:
    rng = np.random.default_rng(0)
    sessions = [list(rng.integers(1, n_items + 1, 5)) for _ in range(2000)]
    vocab = ItemVocab.identity(n_items)
    model = create("srgnn")
    model.setup(Split.augmented(Sessions.from_lists(sessions[:100]), vocab)).eval()
    return model, [vocab.decode(np.asarray(s)) for s in sessions]


def trained_model(directory: Path, data: Path, n_items: int, jitter: float) -> tuple[Recommender, list]:
    """The saved model with its table grown to ``n_items`` rows (identity ids); test prefixes."""
    model = load_model(directory)
    assert model.module_ is not None and model.popularity_ is not None
    table = model.module_.embedding.weight.detach()
    trained = table[1:]
    grown = max(n_items - len(trained), 0)
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(0, len(trained), (grown,), generator=generator)
    noise = torch.randn(grown, table.shape[1], generator=generator) * trained.std(0) * jitter
    weight = torch.cat([table, trained[picks] + noise])
    model.module_.embedding = torch.nn.Embedding.from_pretrained(weight, freeze=True)
    model.module_.drop_item_columns()
    model.vocab_ = ItemVocab.identity(len(weight) - 1)
    model.popularity_ = np.concatenate([model.popularity_, np.zeros(grown, model.popularity_.dtype)])
    test = open_dataset(data).test
    rng = np.random.default_rng(0)
    picked = rng.choice(len(test), size=min(2000, len(test)), replace=False)
    return model, [model.vocab_.decode(test.prefix(int(i))) for i in picked]


def recall(model: Recommender, sessions: list[list[object]], exact: list[list[object]], k: int) -> float:
    approximate = model.recommend(sessions, k=k, approximate=True, batch_size=32).items
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approximate, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--ann", action="store_true", help="also the approximate index")
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--recall-sessions", type=int, default=500)
    parser.add_argument("--trained", type=Path, help="a saved SR-GNN model directory")
    parser.add_argument("--data", type=Path, help="the dataset the --trained model was trained on")
    parser.add_argument("--jitter", type=float, default=0.5)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "large-catalogue.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.trained:
        model, sessions = trained_model(args.trained, args.data, args.items, args.jitter)
        table = f"trained SR-GNN {args.trained}, grown with jitter {args.jitter}; sessions: test prefixes"
    else:
        model, sessions = random_model(args.items)
        table = "seeded initial weights (i.i.d. uniform rows); sessions: 5 random items"
    result: dict[str, object] = {
        "model": "srgnn",
        "items": model.n_items,
        "table": table,
        "embedding_dim": model.config.embedding_dim,
        "k": args.k,
        "threads": args.threads,
        "reps": args.reps,
        "exact": timed(model, sessions[: args.reps], args.k, approximate=False),
    }
    print(result, flush=True)
    if args.ann:
        import faiss

        faiss.omp_set_num_threads(args.threads)
        started = time.perf_counter()
        index = model.build_index(m=args.m, ef_construction=args.ef_construction)
        result["ann"] = {
            "library": f"faiss-cpu {faiss.__version__} IndexHNSWFlat (inner product)",
            "m": args.m,
            "ef_construction": args.ef_construction,
            "build_seconds": round(time.perf_counter() - started, 1),
            "recall_sessions": args.recall_sessions,
            "by_ef_search": [],
        }
        probes = sessions[: args.recall_sessions]
        exact = model.recommend(probes, k=args.k, batch_size=32).items
        for ef in args.ef_search:
            index.config = index.config.replace(ef_search=ef)
            row = {
                "ef_search": ef,
                **timed(model, sessions[: args.reps], args.k, approximate=True),
                f"recall@{args.k}": round(recall(model, probes, exact, args.k), 4),
            }
            result["ann"]["by_ef_search"].append(row)  # type: ignore[index]
            print(row, flush=True)
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
