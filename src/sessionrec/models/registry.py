"""The one explicit registry of models and their paper variants (presets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sessionrec.errors import UnknownModelError
from sessionrec.models.base import Recommender, read_model_meta

_MODELS: dict[str, type[Recommender]] = {}
_PRESETS: dict[str, tuple[str, dict[str, Any], str]] = {}

M = TypeVar("M", bound=type[Recommender])


def register(name: str) -> Callable[[M], M]:
    """Class decorator: make a model available under ``name``."""

    def decorate(cls: M) -> M:
        if name in _MODELS or name in _PRESETS:
            raise ValueError(f"model name {name!r} is registered twice")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return decorate


def register_preset(name: str, base: str, description: str = "", **overrides: Any) -> None:
    """A named paper variant: ``base`` with config ``overrides`` (e.g. ``tagnn-l``)."""
    if name in _MODELS or name in _PRESETS:
        raise ValueError(f"model name {name!r} is registered twice")
    _PRESETS[name] = (base, overrides, description)


def available() -> list[str]:
    _load_builtin()
    return sorted([*_MODELS, *_PRESETS])


def model_classes() -> dict[str, type[Recommender]]:
    """The registered models (presets excluded), by name."""
    _load_builtin()
    return dict(_MODELS)


def base_name(name: str) -> str:
    """The model a preset is a variant of (a model's own name for a model)."""
    _load_builtin()
    if name in _PRESETS:
        return _PRESETS[name][0]
    resolve(name)  # unknown names raise
    return name


def presets() -> dict[str, tuple[str, dict[str, Any], str]]:
    _load_builtin()
    return dict(_PRESETS)


def resolve(name: str) -> tuple[type[Recommender], dict[str, Any]]:
    """The class and config overrides behind a model or preset name."""
    _load_builtin()
    if name in _MODELS:
        return _MODELS[name], {}
    if name in _PRESETS:
        base, overrides, _ = _PRESETS[name]
        return _MODELS[base], dict(overrides)
    raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(available())}")


def create(name: str, **overrides: Any) -> Recommender:
    cls, preset_overrides = resolve(name)
    model = cls(cls.config_class.from_dict({**preset_overrides, **overrides}))
    model.preset = name if name in _PRESETS else None
    return model


def create_from_overrides(name: str, overrides: list[str]) -> Recommender:
    """A model from ``key=value`` strings (the CLI's ``--set``), validated against its config."""
    cls, preset_overrides = resolve(name)
    model = cls(cls.config_class.from_overrides(overrides, base=preset_overrides))
    model.preset = name if name in _PRESETS else None
    return model


def load_model(directory: str | Path) -> Recommender:
    """Load any saved model, whatever its class."""
    meta = read_model_meta(Path(directory))
    cls, _ = resolve(meta["model"])
    return cls.load(directory)


def load_run_model(run_directory: str | Path) -> Recommender:
    """The model of a finished run directory (``sessionrec fit`` / ``train`` output)."""
    from sessionrec.runs import Run

    return load_model(Run(Path(run_directory)).require_finished())


def _load_builtin() -> None:
    import sessionrec.models  # noqa: F401 - importing registers the built-in models
