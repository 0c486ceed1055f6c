"""Run directories: --overwrite removes only a run, and only what a run writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionrec.cli import app
from sessionrec.errors import CheckpointError
from sessionrec.models.registry import create
from sessionrec.runs import Run, remove_run, start_run
from tests.conftest import synthetic_dataset

runner = CliRunner()


def _fit(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, ["fit", *(str(a) for a in args)])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "syn"
    synthetic_dataset().save(path)
    return path


def test_overwrite_refuses_a_directory_that_is_not_a_run(data: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    (home / "notes.txt").write_text("keep me")
    (home / "run.json").write_text("[1, 2]")  # a JSON file by that name is not a run's manifest
    code, output = _fit("pop", data, "--out", home, "--overwrite")
    assert code == 2
    assert f"refusing to overwrite {home}: it is not a sessionrec run directory" in output
    assert "nothing was deleted" in output
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt", "photos", "run.json"]
    assert (home / "photos" / "cat.jpg").read_bytes() == b"\xff\xd8"


def test_overwrite_removes_only_what_a_run_wrote(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _fit("pop", data, "--out", out)[0] == 0
    (out / "README.md").write_text("my notes on this run")
    (out / "refit").mkdir()
    (out / "refit" / "metrics.jsonl").write_text("{}\n")
    (out / ".checkpoint.pt.abc.tmp").write_bytes(b"partial")
    written = sorted(p.name for p in out.iterdir())
    assert {"run.json", "model", "README.md"} <= set(written)
    assert any(name.startswith("ranks-syn.") for name in written)
    assert _fit("spop", data, "--out", out, "--overwrite")[0] == 0
    assert Run(out).info()["model"] == "spop"
    assert (out / "README.md").read_text() == "my notes on this run"
    assert not (out / "refit").exists() and not (out / ".checkpoint.pt.abc.tmp").exists()


def test_remove_run_keeps_foreign_files_inside_refit(tmp_path: Path) -> None:
    (tmp_path / "refit").mkdir()
    (tmp_path / "run.json").write_text(json.dumps({"model": "srgnn", "status": "running"}))
    (tmp_path / "refit" / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / "refit" / "mine.txt").write_text("x")
    assert remove_run(tmp_path) == ["refit"]
    assert [p.name for p in (tmp_path / "refit").iterdir()] == ["mine.txt"]


def test_messages_name_the_way_out_that_exists(data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("a,b\n")
    code, output = _fit("pop", data, "--out", other)
    assert code == 2 and "is not empty and holds no sessionrec run" in output and "--resume" not in output
    unfinished = tmp_path / "unfinished"
    start_run(unfinished, create("pop"), {})
    code, output = _fit("pop", data, "--out", unfinished)
    assert code == 2 and "a fit that did not end" in output and "--resume" not in output
    with pytest.raises(CheckpointError, match=r"continue it with `sessionrec train \.\.\. --resume`"):
        start_run(unfinished, create("srgnn"), {})
