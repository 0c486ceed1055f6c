"""The item vocabulary: external item ids <-> dense internal indices 1..N (0 = padding).

Item-id policy (one for the library, the CLI and the service):

- A catalogue is typed, and the type is recorded with it: ``int`` (saved as
  ``items.npy``) or ``str`` (saved as ``items.json``); see :attr:`ItemVocab.kind`.
- An ``int`` catalogue takes integers, and strings holding an integer in canonical
  ASCII form: an optional ``-`` then the digits ``0-9`` (``"12"`` is item 12). Anything
  else (``"²"``, ``"--5"``, ``" 12"``, ``"٤٢٦٩"``, ``"x"``) does not parse as the
  catalogue's type and is an *unknown item*: dropped and reported, like an id that
  parses but is not in the catalogue. A ``str`` catalogue takes strings as they are
  and integers as their decimal string.
- Looking an id up never raises: whatever a client sends can make its own items
  unknown, never fail a request, a batch or a stored session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sessionrec.errors import DataError

ExternalId = int | str
# ASCII only: str.isdigit() and int() also accept superscripts and other scripts' digits
_CANONICAL_INT = re.compile(r"-?[0-9]{1,4000}")  # 4000: under int()'s digit limit


def parse_int_id(item: object) -> int | None:
    """The integer an external id stands for in an ``int`` catalogue, or None if it is none."""
    if isinstance(item, bool):
        return None
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, str) and _CANONICAL_INT.fullmatch(item):
        return int(item)
    return None


@dataclass(frozen=True)
class ItemVocab:
    """``external[i - 1]`` is the external id of internal item ``i``.

    External ids are either all integers or all strings (``kind``). Integer
    vocabularies accept canonical ASCII digit strings on lookup, so JSON clients may
    send either (the module docstring states the whole policy).
    """

    external: np.ndarray
    _index: dict[ExternalId, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.external.dtype.kind not in "iuU":
            object.__setattr__(self, "external", self.external.astype(str))
        if not self._index:
            values = self.external.tolist()
            self._index.update(zip(values, range(1, len(values) + 1), strict=True))
            if len(self._index) != len(values):
                raise DataError("item vocabulary holds duplicate external ids")

    @classmethod
    def identity(cls, n_items: int) -> ItemVocab:
        """External id ``i`` is internal item ``i`` (SR-GNN pickles are numbered so)."""
        return cls(np.arange(1, n_items + 1, dtype=np.int64))

    @property
    def kind(self) -> str:
        return "str" if self.external.dtype.kind == "U" else "int"

    @property
    def n_items(self) -> int:
        return len(self.external)

    def __len__(self) -> int:
        return self.n_items

    def lookup(self, item: object) -> int | None:
        """Internal index of an external id, or None when the item is unknown (never raises)."""
        if isinstance(item, bool):
            return None
        if self.kind == "int":
            number = parse_int_id(item)
            return None if number is None else self._index.get(number)
        if isinstance(item, (str, int, np.integer)):
            return self._index.get(str(item))
        return None

    def encode(self, items: Iterable[object]) -> tuple[list[int], list[object]]:
        """Map a session to internal indices; unknown items are dropped and returned."""
        known: list[int] = []
        unknown: list[object] = []
        for item in items:
            index = self.lookup(item)
            if index is None:
                unknown.append(item)
            else:
                known.append(index)
        return known, unknown

    def decode(self, indices: Sequence[int] | np.ndarray) -> list[ExternalId]:
        return self.external[np.asarray(indices, dtype=np.int64) - 1].tolist()

    def save(self, directory: Path) -> None:
        if self.kind == "int":
            np.save(directory / "items.npy", self.external.astype(np.int64))
        else:
            (directory / "items.json").write_text(json.dumps(self.external.tolist()))

    @classmethod
    def load(cls, directory: Path) -> ItemVocab:
        if (directory / "items.npy").exists():
            return cls(np.load(directory / "items.npy"))
        if (directory / "items.json").exists():
            return cls(np.asarray(json.loads((directory / "items.json").read_text()), dtype=str))
        raise DataError(f"{directory}: no item vocabulary (items.npy or items.json)")
