"""Typed, validated frozen dataclasses from plain YAML data.

A small schema engine: each config section is a frozen dataclass whose fields
carry their type hint and, through :func:`option`, a help line and range. The
parser walks YAML data against those hints, so every error can name the dotted
key (``optimizer.generator.learning_rate``) and what would fix it. Standard
library only: the CLI validates configs without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union

from aigc_cli.errors import ConfigError


def option(default: Any, help: str, *, min: float | None = None, max: float | None = None,
           min_exclusive: bool = False) -> Any:
    """A dataclass field with a help line and an optional numeric range."""
    metadata = {"help": help, "min": min, "max": max, "min_exclusive": min_exclusive}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple for sequence defaults; configs are frozen")
    return dataclasses.field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    """A nested dataclass field whose default is the section's own defaults."""
    return dataclasses.field(default_factory=cls, metadata={"help": help})


def did_you_mean(name: str, choices: typing.Iterable[str]) -> str:
    """A '; did you mean X?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def parse(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from YAML data, raising ConfigError on bad input."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'the config'} must be a mapping of keys to values, "
                          f"got {_describe(data)}", key=path)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"unknown key '{where}'{did_you_mean(str(key), fields)}",
                              key=where)
    values = {}
    for name, field in fields.items():
        if name in data:
            key = f"{path}.{name}" if path else name
            values[name] = convert(hints[name], data[name], key)
            _check_range(field, values[name], key)
    return cls(**values)


def convert(hint: Any, value: Any, key: str) -> Any:
    """Convert one YAML value to the type ``hint`` names."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, key)
        return _first_that_converts(inner, value, key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(str(a) for a in args)
            raise ConfigError(f"{key} must be one of: {choices}; got {value!r}"
                              f"{did_you_mean(str(value), map(str, args))}", key=key)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {_describe(value)}", key=key)
        return tuple(convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {_describe(value)}", key=key)
        return {k: convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, key)
    return _scalar(hint, value, key)


def _scalar(hint: type, value: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {_describe(value)}", key=key)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        raise ConfigError(f"{key} must be a whole number, got {_describe(value)}", key=key)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        # YAML 1.1 reads `1e-4` (no dot) as a string; accept what float() accepts.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number, got {_describe(value)}", key=key)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {_describe(value)}", key=key)
    raise TypeError(f"unsupported config type {hint!r} at {key}")


def _first_that_converts(hints: list, value: Any, key: str) -> Any:
    errors = []
    for hint in hints:
        try:
            return convert(hint, value, key)
        except ConfigError as error:
            errors.append(str(error).split(" must be ", 1)[-1].split(",")[0])
    raise ConfigError(f"{key} must be {' or '.join(errors)}, got {_describe(value)}", key=key)


def _check_range(field: dataclasses.Field, value: Any, key: str) -> None:
    low, high = field.metadata.get("min"), field.metadata.get("max")
    numbers = value if isinstance(value, tuple) else (value,)
    for number in numbers:
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} must be a finite number, got {number}", key=key)
        if low is not None:
            if field.metadata.get("min_exclusive") and number <= low:
                raise ConfigError(f"{key} must be > {low}, got {number}", key=key)
            if number < low:
                raise ConfigError(f"{key} must be >= {low}, got {number}", key=key)
        if high is not None and number > high:
            raise ConfigError(f"{key} must be <= {high}, got {number}", key=key)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def to_dict(instance: Any) -> Any:
    """Plain YAML-safe data (dicts, lists, scalars) from a config dataclass."""
    if dataclasses.is_dataclass(instance):
        return {f.name: to_dict(getattr(instance, f.name)) for f in dataclasses.fields(instance)}
    if isinstance(instance, dict):
        return {k: to_dict(v) for k, v in instance.items()}
    if isinstance(instance, (list, tuple)):
        return [to_dict(v) for v in instance]
    return instance


def describe_fields(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type, default, help) rows for a config reference."""
    rows = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        hint = hints[field.name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        if inner and typing.get_origin(hint) in (Union, types.UnionType):
            rows.append((key, "section / null", None, field.metadata.get("help", "")))
            rows.extend(describe_fields(inner[0], key + "."))
            continue
        if dataclasses.is_dataclass(hint):
            rows.append((key, "section", "", field.metadata.get("help", "")))
            rows.extend(describe_fields(hint, key + "."))
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        rows.append((key, _type_name(hint), to_dict(default), field.metadata.get("help", "")))
    return rows


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " / ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        return " / ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[1])}"
    return getattr(hint, "__name__", str(hint))
