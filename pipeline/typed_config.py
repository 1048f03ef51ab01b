"""Typed configuration: dataclasses loaded from YAML, with unknown keys and wrong types refused.

Every layer's config is a dataclass; this module turns YAML (and `key=value` overrides) into one,
so that a typo fails before any work with one clear line naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import UserError

T = TypeVar("T")
# libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster), else PyYAML's own
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as e:
        raise UserError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a mapping")
    return data


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is list or origin is tuple:
        if not isinstance(value, list | tuple):
            raise UserError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise UserError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads `1e-4` as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and type mismatches are user errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise UserError(f"{where}: {e}") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=value` → (['a', 'b'], value), with the value parsed as YAML (so 3, true, [1,2] work)."""
    if "=" not in item:
        raise UserError(f"override {item!r} must look like key=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = dict(data)
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for k in path[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise UserError(f"override {item!r}: {k!r} is not a mapping")
        node[path[-1]] = value
    return out


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


SPEED_ONLY = {"version": False}  # field metadata: a setting that changes speed or memory, never bytes


def speed_only(default: Any) -> Any:
    """A dataclass field whose value never changes a stage's output (batch sizes, chunk sizes):
    it stays out of version ids, so tuning it does not rerun the stage and everything after it."""
    return dataclasses.field(default=default, metadata=SPEED_ONLY)


def identity(obj: Any) -> Any:
    """`to_dict` without the `speed_only` fields, at any depth: what a version id hashes."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: identity(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("version", True)}
    if isinstance(obj, dict):
        return {k: identity(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [identity(v) for v in obj]
    return obj
