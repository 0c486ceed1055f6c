"""Search spaces: which config keys a tuner may vary, over which typed ranges.

A model declares its space as the class attribute ``search_space`` (a
:class:`SearchSpace`); :meth:`SearchSpace.validate_for` checks it against the
model's config class (every name a field, every range of the field's type and
valid for the config), so a bad space fails in a test, not in a long study.
This module needs no tuner library; ``sessionrec.tuning.study`` runs Optuna on it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sessionrec.config import Config
from sessionrec.errors import ConfigError


class Suggester(Protocol):
    """What a parameter needs from a trial (an ``optuna.Trial`` satisfies it)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False
    step: int = 1

    kind = int

    def suggest(self, trial: Suggester, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    kind = float

    def suggest(self, trial: Suggester, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def corners(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    kind = object

    def suggest(self, trial: Suggester, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def corners(self) -> list[Any]:
        return list(self.options)


Param = IntRange | FloatRange | Choice


@dataclass(frozen=True)
class SearchSpace:
    """Named parameter ranges; every name is a key of the model's config."""

    params: dict[str, Param]

    def __post_init__(self) -> None:
        for name, param in self.params.items():
            if isinstance(param, (IntRange, FloatRange)):
                if not param.low < param.high:
                    raise ConfigError(f"search space {name}: low {param.low} must be below high {param.high}")
                if param.log and param.low <= 0:
                    raise ConfigError(f"search space {name}: a log range needs low > 0, got {param.low}")
            elif isinstance(param, Choice) and not param.options:
                raise ConfigError(f"search space {name}: no options")

    def suggest(self, trial: Suggester) -> dict[str, Any]:
        return {name: param.suggest(trial, name) for name, param in self.params.items()}

    def validate_for(self, config_class: type[Config], fixed: dict[str, Any] | None = None) -> None:
        """Raise :class:`ConfigError` unless every range fits ``config_class`` (with ``fixed`` keys)."""
        fields = {f.name: f for f in dataclasses.fields(config_class)}
        hints = typing.get_type_hints(config_class)
        for name, param in self.params.items():
            if name not in fields:
                raise ConfigError(
                    f"search space of {config_class.__name__}: {name!r} is not a config key; "
                    f"valid keys: {', '.join(fields)}"
                )
            if param.kind is int and hints[name] is not int:
                raise ConfigError(f"search space {name}: an integer range for a {hints[name]} field")
            if param.kind is float and hints[name] is not float:
                raise ConfigError(f"search space {name}: a float range for a {hints[name]} field")
            for value in param.corners():  # each end (each option) must make a valid config
                config_class.from_dict({**(fixed or {}), name: value})
