"""Typed, validated configurations.

Every model has a frozen dataclass config whose defaults are its paper's settings.
Configs are built from dicts or ``key=value`` strings with unknown keys rejected
(the error lists the valid ones) and values coerced to the declared field type.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Self

from sessionrec.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config: construction, validation and (de)serialisation."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            object.__setattr__(self, field.name, _coerce(type(self), field, value))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range; override to add checks."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(cls.field_names())}"
            )
        return cls(**values)

    @classmethod
    def from_overrides(cls, overrides: list[str], base: dict[str, Any] | None = None) -> Self:
        """Build from ``key=value`` strings (the CLI's ``--set``) on top of ``base``."""
        values = dict(base or {})
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--set expects key=value, got {item!r}")
            values[key.strip()] = _parse_literal(raw.strip())
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> Self:
        return self.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def check(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def _parse_literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare string such as mode=last


def _coerce(owner: type, field: dataclasses.Field[Any], value: Any) -> Any:
    hint = typing.get_type_hints(owner)[field.name]
    where = f"{owner.__name__}.{field.name}"
    try:
        return _coerce_to(hint, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce_to(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce_to(option, value)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise TypeError("; ".join(errors))
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ValueError(f"expected one of {list(allowed)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(hint) or (Any,)
        return tuple(_coerce_to(inner, v) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TypeError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeError(f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        if not math.isfinite(value):  # lr=inf trains to NaN; nothing here means infinity
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    return value
