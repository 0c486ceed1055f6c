"""LGSR's epoch on a benchmark: its g skip-gram passes against its recommender pass and SR-GNN's epoch.

    python benchmarks/lgsr_epoch.py ../shared/data/diginetica --threads 2

One process, interleaved rounds: each round times ``--sg-batches`` skip-gram batches of
LGSR (its walks, its log-uniform sampler, its lazy Adam: ``LGSRModule.skipgram_pass``),
``--batches`` recommender steps of LGSR (batch 512) and ``--batches`` SR-GNN steps (batch
100), each after a short warm-up, so the three share the machine's state. Whole passes and
epochs are extrapolated from the medians over rounds: a skip-gram pass is
ceil(walks / walks per batch) batches, an epoch |train| / (samples per second). Also times
``prepare`` (the global graph, its alias tables and the walks). Writes
``results/lgsr-epoch-<data>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sessionrec.data import open_dataset
from sessionrec.models.lgsr import LGSRModule
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create_from_overrides
from sessionrec.runtime.memory import retain_freed_buffers
from train_throughput import cpu_flags, cpu_name, training_setup

HERE = Path(__file__).resolve().parent


def rate(setup: tuple, batches: int, warmup: int) -> float:
    """Training samples/s of ``batches`` trainer steps after ``warmup`` steps."""
    module, trainer, optimizer, iterator = setup
    for _ in range(warmup):
        trainer.step(module, optimizer, next(iterator))
    samples, started = 0, time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
        trainer.step(module, optimizer, batch)
        samples += batch.size
    return samples / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--set", action="append", default=[], help="LGSR config override key=value")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="recommender steps per round and model")
    parser.add_argument("--sg-batches", type=int, default=400, help="skip-gram batches per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_buffers()
    data = open_dataset(args.data)
    lgsr = create_from_overrides("lgsr", args.set)
    srgnn = create_from_overrides("srgnn", [])
    assert isinstance(lgsr, NeuralRecommender) and isinstance(srgnn, NeuralRecommender)
    started = time.perf_counter()
    lgsr.prepare(data.train)  # timed on its own; the setup below may read it from the cache
    prepare_seconds = time.perf_counter() - started
    lgsr_setup = training_setup(lgsr, data)
    module = lgsr_setup[0]
    assert isinstance(module, LGSRModule)
    srgnn_setup = training_setup(srgnn, data)
    sg_optimizer = module._optimizer(lgsr.config.lr)
    rng = np.random.default_rng(0)
    module.skipgram_pass(rng, sg_optimizer, args.warmup)
    sg, rec, ref = [], [], []
    for _ in range(args.rounds):
        ref.append(rate(srgnn_setup, args.batches, args.warmup))
        rec.append(rate(lgsr_setup, args.batches, args.warmup))
        begun = time.perf_counter()
        module.skipgram_pass(rng, sg_optimizer, args.sg_batches)
        sg.append((time.perf_counter() - begun) / args.sg_batches)
    config = lgsr.config
    n_train = len(data.train)
    per_batch = statistics.median(sg)
    pass_seconds = per_batch * module.skipgram_batches()
    rec_epoch = n_train / statistics.median(rec)
    srgnn_epoch = n_train / statistics.median(ref)
    full_epoch = rec_epoch + config.skipgram_passes * pass_seconds
    result = {
        "data": args.data.name,
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "threads": args.threads,
        "torch": torch.__version__,
        "rounds": args.rounds,
        "config": config.to_dict(),
        "prepare_seconds": round(prepare_seconds, 2),
        "walks": len(module.walks),
        "walks_per_batch": config.walks_per_batch,
        "skipgram_batches_per_pass": module.skipgram_batches(),
        "skipgram_ms_per_batch": [round(1000 * s, 2) for s in sg],
        "skipgram_pass_seconds": round(pass_seconds, 1),
        "lgsr_recommender_samples_per_s": [round(r, 1) for r in rec],
        "srgnn_samples_per_s": [round(r, 1) for r in ref],
        "lgsr_recommender_epoch_seconds": round(rec_epoch, 1),
        "srgnn_epoch_seconds": round(srgnn_epoch, 1),
        "lgsr_full_epoch_seconds": round(full_epoch, 1),
        "recommender_ratio_to_srgnn": round(statistics.median(rec) / statistics.median(ref), 3),
        "pass_over_recommender_epoch": round(pass_seconds / rec_epoch, 3),
        "full_epoch_over_srgnn_epoch": round(full_epoch / srgnn_epoch, 3),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or HERE / "results" / f"lgsr-epoch-{args.data.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    keys = (
        "prepare_seconds",
        "skipgram_pass_seconds",
        "lgsr_recommender_epoch_seconds",
        "srgnn_epoch_seconds",
    )
    keys += ("recommender_ratio_to_srgnn", "pass_over_recommender_epoch", "full_epoch_over_srgnn_epoch")
    print(json.dumps({k: result[k] for k in keys}))


if __name__ == "__main__":
    main()
