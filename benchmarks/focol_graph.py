"""FOCOL's fine-grained co-occurrence graph on a benchmark: build time, size, FOGCN cost, and the cap.

    python benchmarks/focol_graph.py ../shared/data/diginetica --threads 2

- build: ``graphs.fog.fine_grained_graph`` on the training sessions, median of ``--reps``
  builds, with distances capped at ``--max-distance`` (FOCOL's default, 10) and uncapped
  (every distance up to the longest session, as the official code);
- size: position pairs, unordered item pairs, stored entries per bucket, the share of
  position pairs beyond the cap;
- FOGCN: seconds of one forward + backward of the L_G = 3 layers over the whole item graph
  (d = 100), as every training step runs it, median of ``--reps``: with one importance
  weight per distance bucket (FOCOL's default, one sparse product per layer), capped and
  uncapped, and with one per bucket and feature (the official code's form), capped;
- the cap against the exact form: the capped graph can only give one weight to all distances
  past K. With per-feature importance weights P drawn at random (softmax of N(0, 1) logits
  over the uncapped buckets: far rougher than the learned profile of the paper's figure 4),
  the capped model is given the same weights up to K and, past it, their count-weighted mean
  (the best single weight); the relative error ||E_g(capped) - E_g(exact)|| / ||E_g(exact)||
  of the 3-layer output is reported. At equal weights (the initial state) both are identical.
  Likewise for one weight per distance (FOCOL's default) against one per distance and
  feature (the code's): per-feature weights = softmax of N(0, s^2) logits (s = 0.3, 1), the
  per-distance form given their mean over the features.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import scipy.sparse as sp
import torch

from sessionrec.data import open_dataset
from sessionrec.graphs.fog import FineGrainedGraph, fine_grained_graph
from sessionrec.nn.fogcn import FOGCN, BucketGraph, bucket_mix, distance_layer
from train_throughput import cpu_name


def timed_build(sessions: object, n_items: int, cap: int | None, reps: int) -> tuple[FineGrainedGraph, float]:
    seconds, fog = [], None
    for _ in range(reps):
        started = time.perf_counter()
        fog = fine_grained_graph(sessions, n_items, cap)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - started)
    assert fog is not None
    return fog, statistics.median(seconds)


def bucket_graph(fog: FineGrainedGraph, importance: str = "feature") -> BucketGraph:
    per_feature = importance == "feature"
    halves = [sp.csr_array(m[1:, 1:]) for m in fog.halves()]
    return BucketGraph(halves, with_edges=not per_feature, with_buckets=per_feature)


def fogcn_seconds(graph: BucketGraph, dim: int, layers: int, reps: int, importance: str) -> float:
    torch.manual_seed(0)
    model = FOGCN(dim, graph.n_buckets, layers, importance=importance)
    for layer in model.layers:  # away from the uniform start
        torch.nn.init.normal_(layer.weight)
    embeddings = torch.randn(graph.n_nodes, dim, requires_grad=True)
    seconds = []
    for _ in range(reps + 1):
        started = time.perf_counter()
        model(embeddings, graph).square().mean().backward()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:])  # the first call warms up


def propagate(
    embeddings: torch.Tensor, weights: torch.Tensor, graph: BucketGraph, layers: int
) -> torch.Tensor:
    """E_g with fixed importance weights, P [n_b, d] (per feature) or p [n_b] (per distance),
    in every layer (the code's weighted mean)."""
    total, hidden = embeddings, embeddings
    for _ in range(layers):
        if weights.dim() == 1:
            hidden = distance_layer(hidden, weights, graph)
        else:
            denominator = graph.degrees @ weights
            hidden = torch.where(
                denominator > 0, bucket_mix(hidden, weights, graph) / denominator.clamp(min=1e-30), 0.0
            )
        total = total + hidden
    return total / (layers + 1)


def cap_error_per_distance(exact: FineGrainedGraph, capped: FineGrainedGraph, dim: int, layers: int) -> float:
    """As ``cap_error`` with one random weight per distance (shared by the features)."""
    k, big = capped.max_distance, exact.max_distance
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2 * (big + 1)), dim=0)
    counts = torch.tensor([float(m.sum()) for m in exact.halves()])

    def merge(half: torch.Tensor) -> torch.Tensor:
        far = counts[k:]
        mean = (half[k:] * far).sum() / far.sum().clamp(min=1.0)
        return torch.cat([half[:k], mean[None]])

    capped_weights = torch.cat([merge(weights[: big + 1]), merge(weights[big + 1 :])])
    embeddings = torch.randn(exact.n_items, dim)
    with torch.no_grad():
        reference = propagate(embeddings, weights, bucket_graph(exact, "distance"), layers)
        approx = propagate(embeddings, capped_weights, bucket_graph(capped, "distance"), layers)
    return float((approx - reference).norm() / reference.norm())


def per_distance_error(capped: FineGrainedGraph, dim: int, layers: int, spread: float) -> float:
    """Relative error of E_g with one weight per distance against one per distance and feature.

    Per-feature weights P = softmax over buckets of N(0, spread^2) logits; the per-distance
    form gets their mean over the features (figure 4's expectation curve).
    """
    halves = [sp.csr_array(m[1:, 1:]) for m in capped.halves()]
    graph = BucketGraph(halves, with_edges=True, with_buckets=True)
    torch.manual_seed(0)
    weights = torch.softmax(spread * torch.randn(capped.n_buckets, dim), dim=0)
    embeddings = torch.randn(capped.n_items, dim)
    with torch.no_grad():
        reference = propagate(embeddings, weights, graph, layers)
        approx = propagate(embeddings, weights.mean(1), graph, layers)
    return float((approx - reference).norm() / reference.norm())


def cap_error(exact: FineGrainedGraph, capped: FineGrainedGraph, dim: int, layers: int) -> dict[str, float]:
    """Relative error of the capped E_g against the exact one at random weights (see the docstring)."""
    k, big = capped.max_distance, exact.max_distance
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2 * (big + 1), dim), dim=0)
    counts = torch.tensor([float(m.sum()) for m in exact.halves()])  # per distance 1..L (+ empty)

    def merge(half: torch.Tensor) -> torch.Tensor:
        far = counts[k:]
        mean = (half[k:] * far[:, None]).sum(0) / far.sum().clamp(min=1.0)
        return torch.cat([half[:k], mean[None, :]])

    capped_weights = torch.cat([merge(weights[: big + 1]), merge(weights[big + 1 :])])
    embeddings = torch.randn(exact.n_items, dim)
    with torch.no_grad():
        reference = propagate(embeddings, weights, bucket_graph(exact), layers)
        approx = propagate(embeddings, capped_weights, bucket_graph(capped), layers)
        uniform = torch.full((capped.n_buckets, dim), 1.0 / capped.n_buckets)
        same = propagate(embeddings, uniform, bucket_graph(capped), layers)
        uniform_exact = torch.full((exact.n_buckets, dim), 1.0 / exact.n_buckets)
        same_exact = propagate(embeddings, uniform_exact, bucket_graph(exact), layers)
    return {
        "relative_error_random_weights": float((approx - reference).norm() / reference.norm()),
        "relative_error_equal_weights": float((same - same_exact).norm() / same_exact.norm()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-distance", type=int, default=10)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--feature-reps", type=int, default=1, help="reps of the slow per-feature form")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = open_dataset(args.data)
    sessions, n_items = data.train.sessions, data.n_items
    capped, capped_build = timed_build(sessions, n_items, args.max_distance, args.reps)
    exact, exact_build = timed_build(sessions, n_items, None, 1)
    pairs = capped.position_pairs()
    beyond_pairs = float(capped.beyond.sum())
    result = {
        "data": args.data.name,
        "cpu": cpu_name(),
        "threads": args.threads,
        "sessions": len(sessions),
        "clicks": len(sessions.items),
        "items": n_items,
        "max_distance": args.max_distance,
        "longest_distance": exact.max_distance,
        "position_pairs": pairs,
        "item_pairs_unordered": capped.item_pairs(),
        "stored_entries_per_distance": [int(m.nnz) for m in capped.halves()],
        "share_of_position_pairs_beyond_cap": round(beyond_pairs / pairs, 4),
        "build_seconds_capped_median": round(capped_build, 2),
        "build_seconds_uncapped": round(exact_build, 2),
        "fogcn_forward_backward_seconds_per_distance_capped": round(
            fogcn_seconds(bucket_graph(capped, "distance"), args.dim, args.layers, args.reps, "distance"), 3
        ),
        "fogcn_forward_backward_seconds_per_distance_uncapped": round(
            fogcn_seconds(bucket_graph(exact, "distance"), args.dim, args.layers, args.reps, "distance"), 3
        ),
        "fogcn_forward_backward_seconds_per_feature_capped": round(
            fogcn_seconds(bucket_graph(capped), args.dim, args.layers, args.feature_reps, "feature"), 3
        ),
        **{k: round(v, 5) for k, v in cap_error(exact, capped, args.dim, args.layers).items()},
        **{
            f"relative_error_per_distance_vs_per_feature_spread_{spread}": round(
                per_distance_error(capped, args.dim, args.layers, spread), 5
            )
            for spread in (0.3, 1.0)
        },
        "relative_error_random_weights_per_distance": round(
            cap_error_per_distance(exact, capped, args.dim, args.layers), 5
        ),
        "dim": args.dim,
        "layers": args.layers,
        "reps": args.reps,
        "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or Path(__file__).parent / "results" / f"focol-graph-{args.data.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
