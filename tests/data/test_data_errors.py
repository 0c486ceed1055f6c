"""Bad input: one DataError (ConfigError for options) naming file, line or column, and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionrec.data.readers import preprocess
from sessionrec.errors import ConfigError, DataError

DIGINETICA = "session_id;user_id;item_id;timeframe;eventdate\n1;NA;5;10;2016-05-09\n1;NA;6;20;2016-05-09\n"
YOOCHOOSE = "1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "source", ["diginetica", "yoochoose", "retailrocket", "tmall", "nowplaying", "custom"]
)
def test_empty_and_missing_files(tmp_path: Path, source: str) -> None:
    with pytest.raises(DataError, match=r"empty\.csv: empty file"):
        preprocess(source, write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match=r"absent\.csv: file not found"):
        preprocess(source, tmp_path / "absent.csv")


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"views\.csv: no data rows"):
        preprocess("diginetica", write(tmp_path, "views.csv", DIGINETICA.splitlines()[0] + "\n"))


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        ("diginetica", YOOCHOOSE, r"not a Diginetica .* expected a ';'-separated header"),
        ("yoochoose", DIGINETICA, r"not a Yoochoose .* expected 4 comma-separated fields .* found 1"),
        ("retailrocket", DIGINETICA, r"not a RetailRocket .* expected the header"),
        ("tmall", YOOCHOOSE, r"not a Tmall .* expected a tab-separated header"),
        ("nowplaying", DIGINETICA, r"not a Nowplaying .* expected a tab-separated header"),
    ],
)
def test_file_of_another_source(tmp_path: Path, source: str, text: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        preprocess(source, write(tmp_path, "raw.csv", text))


def test_missing_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "views.csv", "sessionId;userId;itemId;eventdate\n1;NA;5;2016-05-09\n")
    with pytest.raises(
        DataError, match=r"views\.csv: missing column\(s\) 'timeframe'.*found columns 'sessionId'"
    ):
        preprocess("diginetica", path)
    path = write(tmp_path, "log.csv", "session_id,item,timestamp\n1,5,100\n")
    with pytest.raises(DataError, match=r"log\.csv: missing column\(s\) 'item_id'; found columns"):
        preprocess("custom", path)
    with pytest.raises(DataError, match=r"missing column\(s\) 'Time'"):
        preprocess("tmall", write(tmp_path, "t.csv", "SessionId\tItemId\n1\t2\n"))


def test_unparsable_values_name_line_and_column(tmp_path: Path) -> None:
    bad_time = YOOCHOOSE + "2,yesterday,214536500,0\n"
    with pytest.raises(
        DataError, match=r"clicks\.dat, line 3, column 'timestamp': expected an ISO timestamp.*'yesterday'"
    ):
        preprocess("yoochoose", write(tmp_path, "clicks.dat", bad_time))
    bad_date = DIGINETICA + "2;NA;7;30;09/05/2016\n"
    with pytest.raises(
        DataError, match=r"views\.csv, line 4, column 'eventdate': expected a date YYYY-MM-DD"
    ):
        preprocess("diginetica", write(tmp_path, "views.csv", bad_date))
    bad_item = DIGINETICA + "2;NA;x7;30;2016-05-09\n"
    with pytest.raises(DataError, match=r"line 4, column 'item_id': expected an integer item id, found 'x7'"):
        preprocess("diginetica", write(tmp_path, "views.csv", bad_item))
    empty_field = "session_id,item_id,timestamp\n1,5,100\n1,,101\n"
    with pytest.raises(
        DataError, match=r"line 3, column 'item_id': expected an item id, found an empty field"
    ):
        preprocess("custom", write(tmp_path, "log.csv", empty_field))
    bad_iso = "session_id,item_id,timestamp\n1,5,2024-01-01T10:00:00Z\n1,6,soon\n"
    with pytest.raises(DataError, match=r"line 3, column 'timestamp': expected an ISO 8601 datetime"):
        preprocess("custom", write(tmp_path, "log.csv", bad_iso))


def test_short_rows(tmp_path: Path) -> None:
    # a truncated last line (the item and category fields are missing)
    with pytest.raises(
        DataError, match=r"clicks\.dat, line 3, column 'item': expected an integer item id, found an empty"
    ):
        preprocess("yoochoose", write(tmp_path, "clicks.dat", YOOCHOOSE + "3,2014-04-07T10:51:09.277Z\n"))


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) fractions; valid keys: .*fraction"):
        preprocess("yoochoose", "x.dat", fractions=64)
    with pytest.raises(ConfigError, match=r"fraction must be >= 1"):
        preprocess("yoochoose", "x.dat", fraction=0)
    with pytest.raises(ConfigError, match=r"unknown source 'movielens'; valid sources: diginetica"):
        preprocess("movielens", "x.csv")


def test_not_a_parquet_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"log\.parquet: not a readable Parquet file"):
        preprocess("custom", write(tmp_path, "log.parquet", "session_id,item_id\n"))
