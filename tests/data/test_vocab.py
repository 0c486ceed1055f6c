"""The item-id policy of the vocabulary: typed catalogues, canonical integer strings, no exceptions."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sessionrec.data.vocab import ItemVocab, parse_int_id

INTS = ItemVocab(np.array([5, 12, 4269, -3], dtype=np.int64))
STRS = ItemVocab(np.array(["12", "a", "²"]))


def test_catalogue_types_are_recorded() -> None:
    assert (INTS.kind, STRS.kind) == ("int", "str")


def test_integer_catalogue_takes_ints_and_canonical_ascii_strings_only() -> None:
    assert [INTS.lookup(x) for x in (12, "12", "012", "-3", np.int32(5))] == [2, 2, 2, 4, 1]
    # superscripts, other scripts' digits, doubled signs, padding: not integers here
    for item in ("²", "٤٢٦٩", "--5", "+12", " 12", "12\n", "1_2", "１２", "", "-", True, 1.0, None, [12]):
        assert INTS.lookup(item) is None, item
    known, unknown = INTS.encode([12, "²", "4269", "٤٢٦٩"])
    assert known == [2, 3] and unknown == ["²", "٤٢٦٩"]


def test_string_catalogue_takes_strings_as_they_are_and_ints_as_decimal() -> None:
    assert [STRS.lookup(x) for x in ("12", 12, "a", "²")] == [1, 1, 2, 3]
    assert [STRS.lookup(x) for x in (" 12", "A", True, None, 1.5)] == [None] * 5


@given(st.text(max_size=12) | st.integers() | st.none() | st.booleans() | st.floats())
def test_lookup_never_raises_and_knows_only_canonical_forms(item: object) -> None:
    index = INTS.lookup(item)
    number = parse_int_id(item)
    if isinstance(item, str):
        canonical = re.fullmatch(r"-?[0-9]+", item) is not None
        assert (number is not None) == canonical and (not canonical or number == int(item))
    assert index == (None if number is None else {5: 1, 12: 2, 4269: 3, -3: 4}.get(number))
    STRS.lookup(item)  # never raises either
