"""Study configuration files: reading, merging, and validation against workflow/schemas/config.schema.yaml.

The JSON Schema is the single source of truth for keys, types, defaults and descriptions; this module checks a
config against it and fills the defaults. The checks that need the stages' settings (a scan reaching beyond
the setting it judges, a specimen's geometry) sit above the stages, in :mod:`multiscale.study`, which is what
the workflow and the CLI call before any job runs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from multiscale.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path) if path else SCHEMA_PATH
    if not p.exists():
        raise ConfigError(f"config schema not found at {p}; run from a multiscale checkout")
    return yaml.safe_load(p.read_text())


def _fill_defaults(schema: Mapping[str, Any], instance: Any) -> Any:
    """Return ``instance`` with every missing key set to its schema default (recursively, also in the objects of
    an array such as ``dft.external``)."""
    if schema.get("type") == "array" and isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        return [_fill_defaults(schema["items"], item) for item in instance]
    if schema.get("type") != "object" or not isinstance(instance, dict):
        return instance
    out = dict(instance)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if key in out:
            out[key] = _fill_defaults(sub, out[key])
    return out


def _describe(schema: Mapping[str, Any], path: Sequence[Any]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def validate_config(config: Mapping[str, Any], sources: Sequence[str | Path] = (),
                    schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate a study config against the schema and return it with defaults filled in.

    ``sources`` are the files the config was read from (named in error messages).
    Raises :class:`ConfigError` listing every problem: unknown keys, wrong types, impossible values.
    """
    import jsonschema

    schema = schema or load_schema()
    where = ", ".join(str(s) for s in sources) or "<config>"
    filled = _fill_defaults(schema, copy.deepcopy(dict(config)))
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            for name in extra:
                full = f"{key}.{name}" if err.absolute_path else name
                problems.append(f"unknown key '{full}'. Fix: remove it or use one of: {', '.join(allowed)}")
            continue
        node = _describe(schema, list(err.absolute_path))
        hint = node.get("description", "")
        default = node.get("default")
        fix = f"expected: {hint}" if hint else ""
        if default is not None:
            fix += f" (default: {default})"
        if not fix:  # a key without a description (e.g. a swept key): say what the schema asked for
            wanted = {k: v for k, v in err.schema.items() if k not in ("description", "default")}
            fix = f"give a value that satisfies {json.dumps(wanted, sort_keys=True, default=str)}"
        problems.append(f"key '{key}' = {err.instance!r}: {err.message}. Fix: {fix.strip()}")
    if problems:
        raise ConfigError(f"invalid study configuration in {where}:\n  - " + "\n  - ".join(problems))
    return filled


def settings_from_dict(cls: type, d: Mapping[str, Any], key: str) -> Any:
    """A settings dataclass from its config section ``d`` (nested dataclass fields from nested mappings).

    ``key`` is the section's dotted path (named in errors). Raises :class:`ConfigError` on an unknown key, so a
    stage called directly (CLI JSON arguments, no schema in between) rejects a typo as the workflow does."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {unknown}. Fix: use one of {names} (see "
                          f"workflow/schemas/config.schema.yaml)")
    hints = typing.get_type_hints(cls)
    return cls(**{k: settings_from_dict(hints[k], v, f"{key}.{k}")
                  if dataclasses.is_dataclass(hints[k]) and isinstance(v, Mapping) else v for k, v in d.items()})


def read_config(*paths: str | Path) -> dict[str, Any]:
    """Read one or more YAML files, later ones overriding earlier ones (deeply); not validated.

    Raises :class:`ConfigError` naming the file when one is missing, not YAML, or not a mapping."""
    merged: dict[str, Any] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p} must hold a mapping of keys, not {type(data).__name__}")
        merged = deep_update(merged, data)
    return merged


def deep_update(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out
