"""A paper table runs end to end on a small benchmark folder, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessionrec.experiments import runner, tables
from tests.conftest import synthetic_dataset


def test_table_runs_reports_and_reuses_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synthetic_dataset().save(tmp_path / "data" / "toy")
    table = tables.Table(
        "toy",
        "a toy table",
        ("toy",),
        (
            tables.Row("POP", "pop", {"toy": (10.0, 5.0)}),
            tables.Row("SR-GNN", "srgnn", overrides={"embedding_dim": 8, "epochs": 1}),
        ),
    )
    monkeypatch.setitem(tables.TABLES, "toy", table)
    monkeypatch.setattr(runner, "TABLES", tables.TABLES)
    rows = runner.run_table("toy", tmp_path / "data", tmp_path / "out", log=lambda _: None)
    assert [r["model"] for r in rows] == ["POP", "SR-GNN"]
    report = (tmp_path / "out" / "toy.md").read_text()
    assert "| toy | POP |" in report and "10.00 / 5.00" in report
    pop = rows[0]
    assert report.count("|") > 10 and f"{pop['HR@20'] - 10.0:+.2f}" in report
    assert json.loads((tmp_path / "out" / "toy.json").read_text()) == rows

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished row was trained again")

    monkeypatch.setattr(runner, "train_and_evaluate", refuse)
    assert runner.run_table("toy", tmp_path / "data", tmp_path / "out", log=lambda _: None) == rows
