"""Benchmark scripts' own edge cases (they are run by hand, so a crash shows up late)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import torch

from tests.conftest import synthetic_dataset

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_throughput_with_no_ranking_repetition(tmp_path: Path) -> None:
    synthetic_dataset().save(tmp_path / "syn")
    args = argparse.Namespace(
        model="srgnn", data=tmp_path / "syn", set=["embedding_dim=8"], threads=1, cpu_scoring="torch",
        batches=2, warmup=1, reps=1, eval_reps=0, eval_batch_size=100, epoch=False, eval_fresh=False,
    )  # fmt: skip
    before = torch.get_num_threads()
    try:
        result = _script("train_throughput").measure(args)
    finally:
        torch.set_num_threads(before)
    assert result["eval_seconds"] == [] and result["eval_seconds_median"] is None
    assert result["trained_test_HR@20"] is None and result["train_samples_per_s_median"] > 0
    (segment,) = result["subnormal_share_per_segment"]  # one record per timed segment
    assert set(segment) == set(result["subnormal_share_at_end"])
    assert segment["score_gradient_below_normal"] >= segment["softmax_below_normal"]


def test_soak_mix_has_the_bad_share_and_fits_the_session_cap() -> None:
    soak = _script("soak")
    sessions = [[1, 2, 3][: 1 + i % 3] for i in range(50)]
    requests = soak.build_requests(sessions, 4000, 0.1, seed=0)
    kinds = [kind for kind, *_ in requests]
    assert abs(kinds.count("malformed") / 4000 - 0.05) < 0.015
    assert abs(kinds.count("hostile") / 4000 - 0.05) < 0.015
    hostile = [json.loads(body) for kind, _, _, body in requests if kind == "hostile"]
    assert {b.get("item", b.get("items", [None])[-1]) for b in hostile} == set(soak.HOSTILE_IDS)
    ids = {path.rsplit("/", 2)[-2] for _, _, path, _ in requests if path.endswith("/events")}
    assert len(ids) <= soak.SESSION_POOL
