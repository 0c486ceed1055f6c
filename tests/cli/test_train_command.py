"""``sessionrec train`` through Typer's CliRunner: a short SR-GNN run on synthetic data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionrec.runtime.split_blas import set_cpu_scoring
from tests.cli.test_model_commands import invoke, said
from tests.conftest import synthetic_dataset

QUICK = ["--set", "embedding_dim=16", "--set", "epochs=2", "--set", "batch_size=64", "--no-progress"]


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    synthetic_dataset().save(tmp_path / "syn")
    yield tmp_path / "syn"
    set_cpu_scoring("torch")  # the option is process-wide


def test_train_with_openblas_scoring_records_it_per_epoch(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = invoke("train", "srgnn", data, "--out", out, "--cpu-scoring", "openblas", *QUICK)
    assert code == 0, output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["cpu_scoring"] for r in records] == ["openblas", "openblas"]
    assert all(0 <= r["valid_HR@20"] <= 100 for r in records)


def test_unknown_cpu_scoring_backend_is_a_usage_error(data: Path, tmp_path: Path) -> None:
    code, output = invoke("train", "srgnn", data, "--out", tmp_path / "run", "--cpu-scoring", "mkl", *QUICK)
    assert code == 2 and said(output, "--cpu-scoring")
    assert not (tmp_path / "run").exists()


def test_fixed_epochs_say_no_epoch_was_selected(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = invoke("train", "srgnn", data, "--out", out, "--select-on", "none", *QUICK)
    assert code == 0, output
    assert said(output, "2 epochs, no selection, the last epoch kept") and "best epoch -1" not in output
    assert said(output, "test metrics, no selection:") and said(output, "ties expected")
