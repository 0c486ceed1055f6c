"""The data commands through Typer's test runner: outputs, options, and one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sessionrec.cli import data_commands
from sessionrec.data.dataset import Dataset
from sessionrec.data.synthetic import synthetic_log
from sessionrec.errors import ConfigError

runner = CliRunner()


def flat(output: str) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    data_commands.register(app)
    return app


def test_synth_then_preprocess_then_info(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    result = runner.invoke(
        app, ["data", "synth", str(log), "--sessions", "800", "--items", "60", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert log.read_text().splitlines()[0] == "session_id,item_id,timestamp"
    assert len(log.read_text().splitlines()) - 1 == synthetic_log(800, 60, seed=4).height

    out = tmp_path / "ds"
    args = ["preprocess", "custom", str(log), str(out), "--test-days", "3", "-o", "min_item_support=2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    dataset = Dataset.load(out)
    assert dataset.manifest["protocol"]["min_item_support"] == 2
    assert dataset.manifest["protocol"]["test_days"] == 3.0

    result = runner.invoke(app, ["data", "info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["stats"]["train_samples"] == len(dataset.train)
    assert info["stats"]["test_samples"] == len(dataset.test)
    table = runner.invoke(app, ["data", "info", str(out)])
    assert table.exit_code == 0
    assert "training samples" in table.output and f"{len(dataset.train):,}" in table.output
    assert "drop_rare_items" in table.output  # the per-step counts


def test_preprocess_yoochoose_fraction(app: typer.Typer, raw_samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "yc4"
    result = runner.invoke(
        app,
        ["preprocess", "yoochoose", str(raw_samples / "sample_yoochoose.dat"), str(out), "--fraction", "4"],
    )
    assert result.exit_code == 0, result.output
    assert len(Dataset.load(out).train) == 357 // 4  # the sample has 357 training prefixes


def test_import_pickles(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "pickles"
    source.mkdir()
    (source / "all_train_seq.txt").write_bytes(pickle.dumps([[1, 2, 3], [3, 1]]))
    (source / "test.txt").write_bytes(pickle.dumps(([[2]], [3])))
    result = runner.invoke(app, ["import-pickles", str(source), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    dataset = Dataset.load(tmp_path / "out")
    assert (len(dataset.train), len(dataset.test)) == (3, 1)


def test_errors_are_one_line_and_exit_2(app: typer.Typer, raw_samples: Path, tmp_path: Path) -> None:
    yoochoose = str(raw_samples / "sample_yoochoose.dat")
    result = runner.invoke(app, ["preprocess", "diginetica", yoochoose, str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.startswith("error:")
    assert "sample_yoochoose.dat: not a Diginetica" in flat(result.output)
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()
    result = runner.invoke(
        app, ["preprocess", "yoochoose", yoochoose, str(tmp_path / "x"), "--fractions", "4"]
    )
    assert result.exit_code == 2 and "unknown key(s) fractions; valid keys" in flat(result.output)
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 2 and "not a sessionrec dataset" in flat(result.output)


def test_sources_lists_defaults(app: typer.Typer) -> None:
    result = runner.invoke(app, ["data", "sources"])
    assert result.exit_code == 0
    assert "fraction=1" in flat(result.output) and "max_session_id=120000" in flat(result.output)


def test_parse_options() -> None:
    tokens = ["fraction=64", "--test-days", "3.5", "--item_column=sku", "--flag", "--max-session-length"]
    tokens.append("null")
    assert data_commands.parse_options(tokens) == {
        "fraction": 64,
        "test_days": 3.5,
        "item_column": "sku",
        "flag": True,
        "max_session_length": None,
    }
    with pytest.raises(ConfigError, match="key=value"):
        data_commands.parse_options(["fraction"])


def test_reader_options_before_out_are_understood(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    assert (
        runner.invoke(app, ["data", "synth", str(log), "--sessions", "800", "--items", "60"]).exit_code == 0
    )
    out = tmp_path / "ds"
    args = ["preprocess", "custom", str(log), "--test-days", "3", "--min-item-support=2", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    protocol = Dataset.load(out).manifest["protocol"]
    assert (protocol["test_days"], protocol["min_item_support"]) == (3.0, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "log.csv"]  # no "--test-days" folder


def test_split_out_names_the_ambiguity() -> None:
    assert data_commands.split_out(Path("ds"), ["--x", "1"]) == (Path("ds"), ["--x", "1"])
    assert data_commands.split_out(Path("--x"), ["1", "ds", "--y=2"]) == (Path("ds"), ["--x", "1", "--y=2"])
    with pytest.raises(ConfigError, match=r"cannot tell OUT from the reader options in '--flag ds'"):
        data_commands.split_out(Path("--flag"), ["ds"])  # ds would be --flag's value: no OUT left
