"""The papers' result tables as data: which models, on which benchmark, against which figures.

A table is a list of rows; each row names a registered model or preset, optional
config overrides, and the published HR@20 / MRR@20 per dataset (from
``shared/data/reference-results.md``). ``sessionrec experiment run TABLE`` fits or
trains every row under the one protocol of this package (validation selection for
neural models) and reports our figures beside the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIGI, YC64 = "diginetica", "yoochoose1_64"


@dataclass(frozen=True)
class Row:
    label: str
    model: str
    published: dict[str, tuple[float, float]] = field(default_factory=dict)  # dataset -> HR@20, MRR@20
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    datasets: tuple[str, ...]
    rows: tuple[Row, ...]


_BASELINES = (
    Row("POP", "pop", {DIGI: (0.89, 0.20), YC64: (6.71, 1.65)}),
    Row("S-POP", "spop", {DIGI: (21.06, 13.68), YC64: (30.44, 18.35)}),
    Row("Item-KNN", "itemknn", {DIGI: (35.75, 11.57), YC64: (51.60, 21.81)}),
    Row("SR-GNN", "srgnn", {DIGI: (50.73, 17.59), YC64: (70.57, 30.94)}),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "tagnn-main",
            "TAGNN Table 2: TAGNN against the baselines",
            (DIGI, YC64),
            (*_BASELINES, Row("TAGNN", "tagnn", {DIGI: (51.31, 18.03), YC64: (71.02, 31.12)})),
        ),
        Table(
            "tagnn-ablation",
            "TAGNN section 3.3 variants (session embedding ablations)",
            (DIGI, YC64),
            (
                Row("TAGNN-L", "tagnn-l"),
                Row("TAGNN-Avg", "tagnn-avg"),
                Row("TAGNN-Att", "tagnn-att"),
                Row("TAGNN-L+Att", "tagnn-l+att"),
                Row("TAGNN", "tagnn", {DIGI: (51.31, 18.03), YC64: (71.02, 31.12)}),
            ),
        ),
        Table(
            "sriem-main",
            "SR-IEM Table 2: SR-IEM against the baselines",
            (DIGI, YC64),
            (*_BASELINES[1:], Row("SR-IEM", "sriem", {DIGI: (52.35, 17.64), YC64: (71.15, 31.71)})),
        ),
        Table(
            "sriem-ablation",
            "SR-IEM section 4.3: the importance extraction module replaced",
            (DIGI, YC64),
            (
                Row("SR-STAMP", "sr-stamp"),
                Row("SR-SAT", "sr-sat"),
                Row("SR-IEM", "sriem", {DIGI: (52.35, 17.64), YC64: (71.15, 31.71)}),
            ),
        ),
        Table(
            "classic",
            "Heuristic baselines (every paper's first rows)",
            (DIGI, YC64),
            (*_BASELINES[:3], Row("SKNN", "sknn")),
        ),
    )
}
