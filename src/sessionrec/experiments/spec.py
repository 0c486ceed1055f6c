"""Experiment specs: a paper's tables, ablations and studies as declarative TOML data.

A spec file (``specs/<paper>.toml`` in this package, or any path) holds::

    paper = "tagnn"                       # the spec's name (``sessionrec reproduce tagnn``)
    title = "..."
    source = "..."                        # where the published figures come from
    datasets = ["diginetica", "yoochoose1_64"]
    proposed = "TAGNN"                    # the row every other row is tested against
    metrics = ["HR", "MRR"]               # and cutoffs: the figures the paper reports
    cutoffs = [20]

    [protocol]                            # how every neural row is trained (overridable
    select_on = "valid"                   #   per experiment): "valid" (epochs selected on the
    refit = true                          #   last 10% of the training samples, then refit on all)
    valid_fraction = 0.1                  #   or "none" (a fixed epoch count: the cheaper option
    seeds = [2020]                        #   for sweeps; ``epochs`` is then required)
    overrides = { patience = 1 }          # config keys applied where a row's model has them

    [[experiment]]
    id = "fig2"                           # file names in the report
    title = "..."
    kind = "ablation"                     # table | ablation | sweep | by_length | time
                                          #   | heatmap | importance
    [[experiment.row]]
    label = "TAGNN-L"
    model = "tagnn-l"                     # a registered model or preset
    overrides = { ... }                   # config keys on top of the preset
    published.diginetica = { "HR@20" = 51.31, "MRR@20" = 18.03 }
    reasons.diginetica = "why we are more than a point below, when we are"
    dataset_overrides.yoochoose1_64 = { embedding_dim = 100 }   # config keys on one dataset

A ``sweep`` experiment names one ``model`` and a ``grid`` (``{key = [values]}``, one
axis or two); its rows are the grid's product, labelled ``key=value``; its published
values are lists in that order; ``compare_with`` names another sweep over the same first
axis, drawn in the same figure (I3GN's k beside SKNN's). A ``time`` experiment reports training and scoring
time relative to the proposed row (published values keyed ``train`` and ``test``).

Two kinds read weights out of one trained model (``model``, optional ``label``,
``overrides``, ``dataset_overrides``; its run is shared with any row of the same
config and protocol): ``heatmap`` draws the attention weights of chosen test sessions
(``weights`` names the map the model's ``attention_maps`` returns, e.g.
``"self_attention"`` [L, L] per session or ``"aggregation"`` [L] per session; ``cases``
test prefixes of ``length`` items, the first in test order, the nearest lengths when
too few have it); ``importance`` draws the learned weight per relative distance that
the model's ``distance_importance`` exports. Papers only draw these: they take no
published values.

An experiment's ``reasons`` (by dataset) apply to its rows that give none (sweeps'
rows have no other place for one); its ``dataset_overrides`` apply to every row, under
the row's own.

Every key is checked on load; all problems are reported at once, one line each. A row
whose model is not registered is kept and reported as "not implemented".
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from sessionrec.errors import ConfigError, UnknownModelError
from sessionrec.models.registry import resolve

KINDS = ("table", "ablation", "sweep", "by_length", "time", "heatmap", "importance")
FIGURE_OF_KIND = {
    "table": None,
    "ablation": "bars",
    "sweep": "curves",
    "by_length": "by_length",
    "time": None,
    "heatmap": "heatmap",
    "importance": "importance",
}
FIGURES = ("bars", "curves", "by_length", "heatmap", "importance")
# the kinds that read weights out of a trained model, and the model method that exports them
EXPORT_METHOD = {"heatmap": "attention_maps", "importance": "distance_importance"}
SINGLE_MODEL_KINDS = ("sweep", *EXPORT_METHOD)
HEATMAP_KEYS = ("weights", "cases", "length")
METRIC_NAMES = ("HR", "MRR", "NDCG")
TIME_KEYS = ("train", "test")
SPEC_PACKAGE = "sessionrec.experiments.specs"

_TOP_KEYS = {
    "paper",
    "title",
    "source",
    "datasets",
    "proposed",
    "metrics",
    "cutoffs",
    "protocol",
    "experiment",
}
_PROTOCOL_KEYS = {"select_on", "refit", "valid_fraction", "epochs", "seeds", "overrides"}
_EXPERIMENT_KEYS = {
    "id", "title", "kind", "source", "note", "datasets", "proposed", "metrics", "cutoffs",
    "protocol", "row", "model", "grid", "overrides", "published", "figure", "reasons",
    "dataset_overrides", "label", "compare_with", *HEATMAP_KEYS,
}  # fmt: skip
_ROW_KEYS = {
    "label", "model", "overrides", "published", "reasons", "datasets", "note", "dataset_overrides",
}  # fmt: skip


@dataclass(frozen=True)
class Protocol:
    """How a neural row is trained and selected; heuristics are fitted on all training sessions."""

    select_on: str = "valid"
    refit: bool = True
    valid_fraction: float = 0.1
    epochs: int | None = None
    seeds: tuple[int, ...] = (2020,)
    overrides: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.select_on == "none":
            text = f"a fixed {self.epochs} epochs on all training sessions, no selection"
        else:
            text = f"epochs selected on the last {self.valid_fraction:.0%} of the training samples (MRR@20)"
            text += ", then refit on all training sessions for the selected count" if self.refit else ""
            if self.epochs:
                text += f"; at most {self.epochs} epochs"
        stopping = ", ".join(f"{k}={v}" for k, v in sorted(self.overrides.items()))
        seeds = ", ".join(str(s) for s in self.seeds)
        return (
            f"{text}; {stopping + '; ' if stopping else ''}seed{'s' if len(self.seeds) > 1 else ''} {seeds}"
        )


@dataclass(frozen=True)
class RowSpec:
    label: str
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)
    published: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset -> metric -> value
    reasons: dict[str, str] = field(default_factory=dict)  # dataset -> why we are below the paper
    datasets: tuple[str, ...] | None = None
    note: str = ""
    axes: dict[str, Any] = field(default_factory=dict)  # a sweep row's grid values
    dataset_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # dataset -> config keys

    def overrides_for(self, dataset: str) -> dict[str, Any]:
        """The row's config keys on ``dataset``: its overrides, then that dataset's."""
        return {**self.overrides, **self.dataset_overrides.get(dataset, {})}

    @property
    def implemented(self) -> bool:
        try:
            resolve(self.model)
        except UnknownModelError:
            return False
        return True


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    kind: str
    rows: tuple[RowSpec, ...]
    datasets: tuple[str, ...]
    proposed: str | None
    metric_keys: tuple[str, ...]  # e.g. ("HR@20", "MRR@20")
    protocol: Protocol
    source: str = ""
    note: str = ""
    figure: str | None = None
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # dataset -> reason for rows giving none
    weights: str = ""  # heatmap: the attention map drawn
    cases: int = 2  # heatmap: test sessions drawn
    length: int = 15  # heatmap: their prefix length
    compare_with: str = ""  # sweep: another sweep's id, drawn on the same axes (I3GN against SKNN)

    def rows_for(self, dataset: str) -> list[RowSpec]:
        return [r for r in self.rows if r.datasets is None or dataset in r.datasets]


@dataclass(frozen=True)
class Spec:
    paper: str
    title: str
    source: str
    datasets: tuple[str, ...]
    experiments: tuple[Experiment, ...]
    path: str = ""

    def experiment(self, experiment_id: str) -> Experiment:
        for e in self.experiments:
            if e.id == experiment_id:
                return e
        raise ConfigError(f"{self.paper}: no experiment {experiment_id!r}; it has {self.experiment_ids()}")

    def experiment_ids(self) -> str:
        return ", ".join(e.id for e in self.experiments)


def shipped_specs() -> list[str]:
    """The names of the specs shipped in the package (one per paper)."""
    folder = resources.files(SPEC_PACKAGE)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(name_or_path: str | Path) -> Spec:
    """A shipped spec by name (``tagnn``) or a TOML file by path, validated."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: no such spec file")
        text, where = path.read_text(), str(path)
    else:
        names = shipped_specs()
        if str(name_or_path) not in names:
            raise ConfigError(f"unknown spec {str(name_or_path)!r}; shipped: {', '.join(names)}")
        resource = resources.files(SPEC_PACKAGE) / f"{name_or_path}.toml"
        text, where = resource.read_text(), f"src/sessionrec/experiments/specs/{name_or_path}.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML ({exc})") from None
    return parse_spec(raw, where)


def parse_spec(raw: dict[str, Any], where: str = "<spec>") -> Spec:
    """Validate a spec's parsed TOML; every problem is listed in one :class:`ConfigError`."""
    errors: list[str] = []
    _unknown(raw, _TOP_KEYS, where, errors)
    paper = _get(raw, "paper", str, where, errors, required=True) or "?"
    datasets = tuple(_get(raw, "datasets", list, where, errors, required=True) or ())
    metrics = _get(raw, "metrics", list, where, errors) or ["HR", "MRR"]
    cutoffs = _get(raw, "cutoffs", list, where, errors) or [20]
    protocol = _protocol(raw.get("protocol", {}), Protocol(), f"{where}: protocol", errors)
    experiments = []
    seen: set[str] = set()
    for i, e in enumerate(_get(raw, "experiment", list, where, errors, required=True) or []):
        exp = _experiment(e, i, raw, datasets, metrics, cutoffs, protocol, where, errors)
        if exp is not None:
            if exp.id in seen:
                errors.append(f"{where}: experiment id {exp.id!r} appears twice")
            seen.add(exp.id)
            experiments.append(exp)
    _check_comparisons(experiments, where, errors)
    if errors:
        raise ConfigError(f"{len(errors)} problem(s) in the spec:\n  " + "\n  ".join(errors))
    return Spec(
        paper, str(raw.get("title", paper)), str(raw.get("source", "")), datasets, tuple(experiments), where
    )


def _check_comparisons(experiments: list[Experiment], where: str, errors: list[str]) -> None:
    """``compare_with`` names another sweep over the same first axis."""
    by_id = {e.id: e for e in experiments}
    for e in experiments:
        if not e.compare_with:
            continue
        here = f"{where}: experiment {e.id!r}: compare_with"
        other = by_id.get(e.compare_with)
        if e.kind != "sweep":
            errors.append(f"{here}: only a sweep is drawn beside another sweep")
        elif other is None or other.kind != "sweep" or other is e:
            errors.append(f"{here}: {e.compare_with!r} is not another sweep of this spec")
        elif list(other.grid)[:1] != list(e.grid)[:1]:
            errors.append(f"{here}: {other.id!r} sweeps {list(other.grid)[:1]}, not {list(e.grid)[:1]}")


def _experiment(
    e: Any,
    index: int,
    top: dict[str, Any],
    datasets: tuple[str, ...],
    metrics: list[Any],
    cutoffs: list[Any],
    protocol: Protocol,
    where: str,
    errors: list[str],
) -> Experiment | None:
    here = f"{where}: experiment[{index}]"
    if not isinstance(e, dict):
        errors.append(f"{here}: must be a table")
        return None
    exp_id = _get(e, "id", str, here, errors, required=True) or f"#{index}"
    here = f"{where}: experiment {exp_id!r}"
    _unknown(e, _EXPERIMENT_KEYS, here, errors)
    kind = _get(e, "kind", str, here, errors) or "table"
    if kind not in KINDS:
        errors.append(f"{here}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        kind = "table"
    exp_datasets = tuple(_get(e, "datasets", list, here, errors) or datasets)
    for d in exp_datasets:
        if d not in datasets:
            errors.append(f"{here}: dataset {d!r} is not among the spec's datasets {list(datasets)}")
    exp_metrics = _get(e, "metrics", list, here, errors) or metrics
    exp_cutoffs = _get(e, "cutoffs", list, here, errors) or cutoffs
    for m in exp_metrics:
        if m not in METRIC_NAMES:
            errors.append(f"{here}: metric {m!r} is not one of {', '.join(METRIC_NAMES)}")
    for k in exp_cutoffs:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            errors.append(f"{here}: cutoff {k!r} must be a positive integer")
    metric_keys = tuple(f"{m}@{k}" for k in exp_cutoffs for m in exp_metrics)
    allowed = set(TIME_KEYS) if kind == "time" else set(metric_keys)
    exp_protocol = _protocol(e.get("protocol", {}), protocol, f"{here}: protocol", errors)
    figure = _get(e, "figure", str, here, errors) or FIGURE_OF_KIND[kind] or "none"
    if figure not in (*FIGURES, "none"):
        errors.append(f"{here}: figure must be {', '.join(FIGURES)} or none, got {figure!r}")
    elif figure in EXPORT_METHOD and figure != kind:
        errors.append(f"{here}: figure {figure!r} draws a {figure} experiment's weights, not a {kind}'s")
        figure = "none"
    elif kind in EXPORT_METHOD and figure not in (kind, "none"):
        errors.append(f"{here}: a {kind} experiment draws figure {kind!r} (or none), got {figure!r}")
        figure = kind
    reasons = _reasons(e, here, exp_datasets, errors)
    exp_dataset_overrides = _dataset_overrides(e, here, exp_datasets, errors)
    rows: list[RowSpec] = []
    grid: dict[str, tuple[Any, ...]] = {}
    heatmap = _heatmap_keys(e, kind, here, errors)
    if kind == "sweep":
        if "label" in e:
            errors.append(f"{here}: a sweep's rows are labelled by its grid; remove 'label'")
        rows, grid = _sweep_rows(e, here, exp_datasets, allowed, errors)
    elif kind in EXPORT_METHOD:
        rows = _export_rows(e, kind, here, errors)
    else:
        for key in ("model", "grid", "label"):
            if key in e:
                errors.append(
                    f"{here}: {key!r} belongs to {', '.join(SINGLE_MODEL_KINDS)} experiments (use rows)"
                )
        for j, r in enumerate(_get(e, "row", list, here, errors, required=True) or []):
            row = _row(r, f"{here} row[{j}]", exp_datasets, allowed, errors)
            if row is not None:
                rows.append(row)
    labels = [r.label for r in rows]
    for label in {x for x in labels if labels.count(x) > 1}:
        errors.append(f"{here}: row label {label!r} appears twice")
    proposed = e.get("proposed", top.get("proposed"))
    if kind != "sweep" and proposed is not None and proposed not in labels:
        if "proposed" in e or kind == "time":
            errors.append(f"{here}: proposed row {proposed!r} is not among its rows {labels}")
        proposed = None
    if kind == "time" and proposed is None:
        errors.append(f"{here}: a time experiment needs a proposed row (times are relative to it)")
    if exp_dataset_overrides:
        rows = [
            replace(
                r,
                dataset_overrides={
                    d: {**exp_dataset_overrides.get(d, {}), **r.dataset_overrides.get(d, {})}
                    for d in {*exp_dataset_overrides, *r.dataset_overrides}
                },
            )
            for r in rows
        ]
    for row in rows:
        _check_model(row, exp_protocol, here, errors, kind)
    return Experiment(
        exp_id,
        str(e.get("title", exp_id)),
        kind,
        tuple(rows),
        exp_datasets,
        proposed if kind != "sweep" else None,
        metric_keys,
        exp_protocol,
        str(e.get("source", "")),
        str(e.get("note", "")),
        None if figure == "none" else figure,
        grid,
        reasons,
        compare_with=_get(e, "compare_with", str, here, errors) or "",
        **heatmap,
    )


def _reasons(raw: dict[str, Any], here: str, datasets: tuple[str, ...], errors: list[str]) -> dict[str, str]:
    reasons = _get(raw, "reasons", dict, here, errors) or {}
    for dataset, text in reasons.items():
        if dataset not in datasets:
            errors.append(f"{here}: reasons.{dataset}: not one of the experiment's datasets")
        elif not isinstance(text, str):
            errors.append(f"{here}: reasons.{dataset} must be a string")
    return {k: str(v) for k, v in reasons.items()}


def _dataset_overrides(
    raw: dict[str, Any], here: str, datasets: tuple[str, ...], errors: list[str]
) -> dict[str, dict[str, Any]]:
    values = _get(raw, "dataset_overrides", dict, here, errors) or {}
    out = {}
    for dataset, overrides in values.items():
        if dataset not in datasets:
            errors.append(f"{here}: dataset_overrides.{dataset}: not one of the experiment's datasets")
        elif not isinstance(overrides, dict):
            errors.append(f"{here}: dataset_overrides.{dataset} must be a table of config keys")
        else:
            out[dataset] = dict(overrides)
    return out


def _heatmap_keys(e: dict[str, Any], kind: str, here: str, errors: list[str]) -> dict[str, Any]:
    """``weights``, ``cases``, ``length``: a heatmap experiment's choice of map and sessions."""
    if kind != "heatmap":
        for key in HEATMAP_KEYS:
            if key in e:
                errors.append(f"{here}: {key!r} belongs to heatmap experiments")
        return {}
    weights = _get(e, "weights", str, here, errors, required=True) or ""
    out: dict[str, Any] = {"weights": weights}
    for key, low in (("cases", 1), ("length", 1)):
        if key in e:
            value = e[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                errors.append(f"{here}: {key} must be an integer >= {low}, got {value!r}")
            else:
                out[key] = value
    return out


def _export_rows(e: dict[str, Any], kind: str, here: str, errors: list[str]) -> list[RowSpec]:
    """The one row of a heatmap or importance experiment: the model whose weights are drawn."""
    model = _get(e, "model", str, here, errors, required=True) or "?"
    for key in ("row", "grid"):
        if key in e:
            errors.append(f"{here}: a {kind} experiment draws one model's weights: remove {key!r}")
    if "published" in e:
        errors.append(
            f"{here}: a {kind} experiment takes no published values (papers only draw these weights; "
            "say so in its note)"
        )
    label = _get(e, "label", str, here, errors) or model
    overrides = _get(e, "overrides", dict, here, errors) or {}
    return [RowSpec(label, model, dict(overrides))]


def _sweep_rows(
    e: dict[str, Any], here: str, datasets: tuple[str, ...], allowed: set[str], errors: list[str]
) -> tuple[list[RowSpec], dict[str, tuple[Any, ...]]]:
    model = _get(e, "model", str, here, errors, required=True) or "?"
    raw_grid = _get(e, "grid", dict, here, errors, required=True) or {}
    if "row" in e:
        errors.append(f"{here}: a sweep's rows come from its grid; remove 'row'")
    if not 1 <= len(raw_grid) <= 2:
        errors.append(f"{here}: grid must have one or two axes, got {len(raw_grid)}")
    grid = {}
    for key, values in raw_grid.items():
        if not isinstance(values, list) or not values:
            errors.append(f"{here}: grid.{key} must be a non-empty list")
        else:
            grid[key] = tuple(values)
    base = _get(e, "overrides", dict, here, errors) or {}
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    published: dict[str, dict[str, list[Any]]] = _get(e, "published", dict, here, errors) or {}
    per_row: list[dict[str, dict[str, float]]] = [{} for _ in points]
    for dataset, values in published.items():
        if dataset not in datasets:
            errors.append(f"{here}: published.{dataset}: not one of the experiment's datasets")
            continue
        for metric, series in (values or {}).items():
            if metric not in allowed:
                errors.append(f"{here}: published.{dataset}.{metric}: metric not reported here")
            elif not isinstance(series, list) or len(series) != len(points):
                errors.append(
                    f"{here}: published.{dataset}.{metric}: needs {len(points)} values, one per point"
                )
            else:
                for i, v in enumerate(series):
                    if v is not None:
                        per_row[i].setdefault(dataset, {})[metric] = float(v)
    rows = [
        RowSpec(
            ", ".join(f"{k}={v}" for k, v in point.items()),
            model,
            {**base, **point},
            per_row[i],
            axes=point,
        )
        for i, point in enumerate(points)
    ]
    return rows, grid


def _row(
    r: Any, here: str, datasets: tuple[str, ...], allowed: set[str], errors: list[str]
) -> RowSpec | None:
    if not isinstance(r, dict):
        errors.append(f"{here}: must be a table")
        return None
    label = _get(r, "label", str, here, errors, required=True) or "?"
    here = f"{here.rsplit(' row[', 1)[0]} row {label!r}"
    _unknown(r, _ROW_KEYS, here, errors)
    model = _get(r, "model", str, here, errors, required=True) or "?"
    published: dict[str, dict[str, float]] = {}
    for dataset, values in (_get(r, "published", dict, here, errors) or {}).items():
        if dataset not in datasets:
            errors.append(f"{here}: published.{dataset}: not one of the experiment's datasets")
            continue
        if not isinstance(values, dict):
            errors.append(f"{here}: published.{dataset} must be a table of metric = value")
            continue
        for metric, value in values.items():
            if metric not in allowed:
                errors.append(f"{here}: published.{dataset}.{metric}: not reported here ({sorted(allowed)})")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                errors.append(f"{here}: published.{dataset}.{metric} must be a number")
            else:
                published.setdefault(dataset, {})[metric] = float(value)
    reasons = _get(r, "reasons", dict, here, errors) or {}
    for dataset in reasons:
        if dataset not in datasets:
            errors.append(f"{here}: reasons.{dataset}: not one of the experiment's datasets")
    row_datasets = _get(r, "datasets", list, here, errors)
    return RowSpec(
        label,
        model,
        _get(r, "overrides", dict, here, errors) or {},
        published,
        {k: str(v) for k, v in reasons.items()},
        tuple(row_datasets) if row_datasets else None,
        str(r.get("note", "")),
        dataset_overrides=_dataset_overrides(r, here, datasets, errors),
    )


def _check_model(row: RowSpec, protocol: Protocol, here: str, errors: list[str], kind: str = "table") -> None:
    """A registered model's overrides must be valid config keys and values; an experiment
    that reads weights out of it needs the model's export method."""
    try:
        cls, preset = resolve(row.model)
    except UnknownModelError:
        return  # reported as "not implemented"
    for dataset in ("", *row.dataset_overrides):
        try:
            cls.config_class.from_dict({**preset, **row.overrides_for(dataset)})
        except ConfigError as exc:
            on = f" on {dataset}" if dataset else ""
            errors.append(f"{here} row {row.label!r} ({row.model}{on}): {exc}")
            break
    method = EXPORT_METHOD.get(kind)
    if method and not callable(getattr(cls, method, None)):
        errors.append(f"{here}: a {kind} experiment needs a model with {method}(); {row.model} has none")
    names = set(cls.config_class.field_names())
    for key, value in protocol.overrides.items():
        if key in names:
            try:
                cls.config_class.from_dict({**preset, key: value})
            except ConfigError as exc:
                errors.append(f"{here}: protocol override {key}={value!r} for {row.model}: {exc}")


def _protocol(raw: Any, base: Protocol, here: str, errors: list[str]) -> Protocol:
    if not isinstance(raw, dict):
        errors.append(f"{here}: must be a table")
        return base
    _unknown(raw, _PROTOCOL_KEYS, here, errors)
    select_on = raw.get("select_on", base.select_on)
    if select_on not in ("valid", "none"):
        errors.append(f"{here}: select_on must be 'valid' or 'none' (test selection is not a protocol here)")
        select_on = base.select_on
    refit = raw.get("refit", base.refit if select_on == "valid" else False)
    if not isinstance(refit, bool):
        errors.append(f"{here}: refit must be true or false")
        refit = base.refit
    if refit and select_on != "valid":
        errors.append(f"{here}: refit needs select_on = 'valid'")
        refit = False
    fraction = raw.get("valid_fraction", base.valid_fraction)
    if not isinstance(fraction, float) or not 0.0 < fraction < 1.0:
        errors.append(f"{here}: valid_fraction must be a float in (0, 1)")
        fraction = base.valid_fraction
    epochs = raw.get("epochs", base.epochs)
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        errors.append(f"{here}: epochs must be a positive integer")
        epochs = base.epochs
    if select_on == "none" and epochs is None:
        errors.append(f"{here}: select_on = 'none' trains a fixed epoch count: set epochs")
    seeds = raw.get("seeds", list(base.seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        errors.append(f"{here}: seeds must be a non-empty list of integers")
        seeds = list(base.seeds)
    overrides = raw.get("overrides", base.overrides)
    if not isinstance(overrides, dict):
        errors.append(f"{here}: overrides must be a table")
        overrides = base.overrides
    for key in ("seed", "epochs"):
        if key in overrides:
            errors.append(f"{here}: overrides.{key}: use the protocol's {key}s / epochs keys")
    return Protocol(select_on, refit, fraction, epochs, tuple(seeds), dict(overrides))


def _unknown(raw: dict[str, Any], allowed: set[str], here: str, errors: list[str]) -> None:
    for key in sorted(set(raw) - allowed):
        errors.append(f"{here}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def _get(
    raw: dict[str, Any], key: str, kind: type, here: str, errors: list[str], required: bool = False
) -> Any:
    if key not in raw:
        if required:
            errors.append(f"{here}: missing key {key!r}")
        return None
    value = raw[key]
    if not isinstance(value, kind):
        errors.append(f"{here}: {key!r} must be a {kind.__name__}, got {type(value).__name__}")
        return None
    return value
