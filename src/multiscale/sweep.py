"""Parameter sweeps: a study's ``sweep`` section expands into points, and each stage into tagged directories.

``sweep: {mlip.twojmax: [4, 6, 8]}`` gives three points. A stage's directory is tagged only by the swept
parameters that affect it or anything upstream of it, so a sweep over a SNAP setting shares one DFT stage
(``dft/``) and gets ``mlip@twojmax-4/``, ``md@twojmax-4/``... Several keys sweep as a grid (all combinations).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multiscale.config import load_schema
from multiscale.errors import ConfigError
from multiscale.study import validate_study

# The config sections each stage's results depend on (its own and everything upstream).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "dft": ("material", "dft"),
    "mlip": ("material", "dft", "mlip"),
    "al": ("material", "dft", "mlip", "specimen", "active_learning"),
    "md": ("material", "dft", "mlip", "specimen", "active_learning", "md"),
    "continuum": ("material", "dft", "mlip", "specimen", "active_learning", "md", "continuum"),
    "divergence": ("material", "dft", "mlip", "specimen", "active_learning", "md", "continuum", "divergence"),
}
# A swept setting reaches every stage whose sections hold it, except the settings below, whose reach is narrower
# than their section: the classical baseline is only compared against (the MLIP validation scores it, the MD speed
# benchmark times it, the record reports both), so a sweep over it shares the fit, the MD and the continuum and
# tags only the products of the pseudo-stage "baseline" (``mlip/validation{tag}.h5``, ``md/speed{tag}.json``)
# and the record.
NARROW_KEYS: dict[str, tuple[str, ...]] = {"mlip.baseline": ("baseline", "divergence")}
# Pseudo-stages whose products depend on the sections of a stage but not on a narrow key of it: the atomic-
# environment clusters and the conformal validity stage (``divergence/environments{tag}.h5``, ``validity{tag}/``) read
# the divergence section but not the baseline.
PSEUDO_SECTIONS: dict[str, tuple[str, ...]] = {"atlas": STAGE_SECTIONS["divergence"]}
STAGES = (*STAGE_SECTIONS, "baseline", *PSEUDO_SECTIONS)
_SAFE = re.compile(r"[^A-Za-z0-9_.=+,-]")
TAG_PATTERN = r"(@[A-Za-z0-9_.=+,-]+)?"


@dataclass(frozen=True)
class Point:
    label: str  # "" without a sweep
    values: dict[str, Any]  # swept key -> value at this point
    config: dict[str, Any]  # complete, validated config of this point
    tags: dict[str, str]  # stage -> "" or "@..." directory suffix


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = ",".join(_fmt(v) for v in value)
    else:
        text = str(value)
    return _SAFE.sub("_", text)


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = copy.deepcopy(value)


def _check_key(schema: Mapping[str, Any], dotted: str, where: str) -> None:
    node: Mapping[str, Any] = schema
    for part in dotted.split("."):
        props = node.get("properties", {})
        if part not in props:
            raise ConfigError(f"invalid sweep in {where}: key 'sweep.{dotted}' does not name a config setting "
                              f"('{part}' unknown; known here: {', '.join(sorted(props)) or 'none'}). "
                              f"Fix: use a dotted path such as mlip.twojmax")
        node = props[part]
    if dotted.split(".")[0] == "convergence":
        raise ConfigError(f"invalid sweep in {where}: 'sweep.{dotted}' cannot be swept: the convergence study "
                          f"already scans its settings. Fix: list the values in {dotted} instead")
    if dotted.split(".")[0] == "transfer":
        raise ConfigError(f"invalid sweep in {where}: 'sweep.{dotted}' cannot be swept: the transfer experiment "
                          f"is one per study. Fix: one study file per transfer setting")
    if dotted.split(".")[0] in ("study", "sweep"):
        raise ConfigError(f"invalid sweep in {where}: 'sweep.{dotted}' cannot be swept")


def _check_distinct(key: str, values: Sequence[Any], short: str, where: str) -> None:
    """Every value of the swept ``key`` gets its own directory tag. Raises :class:`ConfigError` naming the key and
    the values that share one (a value listed twice, or values that format alike: 4.04 and 4.0400001)."""
    seen: dict[str, Any] = {}
    for v in values:
        tag = f"{short}-{_fmt(v)}"
        if tag in seen:
            same = seen[tag] == v and type(seen[tag]) is type(v)
            raise ConfigError(f"invalid sweep in {where}: 'sweep.{key}' " + (
                f"lists the value {v!r} twice. Fix: remove the repeated value" if same else
                f"values {seen[tag]!r} and {v!r} give the same directory tag '{tag}' (values are written with 6 "
                f"significant digits), so one point would overwrite the other. Fix: remove one of them, or make "
                f"them differ in their first 6 significant digits"))
        seen[tag] = v


def expand(config: Mapping[str, Any], sources: Sequence[str] = ()) -> list[Point]:
    """All points of a study config; a config without a sweep is one point with label ''.

    Every point is validated (:func:`multiscale.study.validate_study`), which resolves its per-element defaults
    (``mlip.rcutfac: auto``) for that point: pass the config as read (``multiscale.config.read_config``), so a
    sweep over the material gives each point its own cutoff (a validated config has them resolved already).
    Raises :class:`ConfigError` naming the files (``sources``) and the key for a sweep key that is not a setting or
    cannot be swept, an empty list of values, two values that map to one directory, or a point that fails
    :func:`multiscale.study.validate_study`."""
    where = ", ".join(map(str, sources)) or "<config>"
    sweep = dict(config.get("sweep") or {})
    base = {k: v for k, v in config.items() if k != "sweep"}
    if not sweep:
        return [Point("", {}, validate_study(copy.deepcopy(dict(config)), list(map(str, sources))),
                      {s: "" for s in STAGES})]
    schema = load_schema()
    for key, values in sweep.items():
        _check_key(schema, key, where)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"invalid sweep in {where}: 'sweep.{key}' must be a non-empty list of values")
    keys = list(sweep)
    short = {k: k.split(".")[-1] for k in keys}
    if len(set(short.values())) < len(keys):
        short = {k: k.replace(".", "-") for k in keys}
    for key in keys:
        _check_distinct(key, sweep[key], short[key], where)
    points = []
    for combo in itertools.product(*(sweep[k] for k in keys)):
        cfg = copy.deepcopy(base)
        for k, v in zip(keys, combo, strict=True):
            _set(cfg, k, v)
        label = "_".join(f"{short[k]}-{_fmt(v)}" for k, v in zip(keys, combo, strict=True))
        try:
            cfg = validate_study(cfg, [f"{where} (sweep point {label})"])
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
        cfg["sweep"] = sweep
        tags = {}
        for stage in STAGES:
            parts = [f"{short[k]}-{_fmt(v)}" for k, v in zip(keys, combo, strict=True) if reaches(k, stage)]
            tags[stage] = "@" + "_".join(parts) if parts else ""
        points.append(Point(label, dict(zip(keys, combo, strict=True)), cfg, tags))
    return points


def reaches(key: str, stage: str) -> bool:
    """Whether the swept setting ``key`` (dotted) changes the products of ``stage`` (one of :data:`STAGES`)."""
    if key in NARROW_KEYS:
        return stage in NARROW_KEYS[key]
    return key.split(".")[0] in {**STAGE_SECTIONS, **PSEUDO_SECTIONS}.get(stage, ())


def point_for(points: Sequence[Point], stage: str, tag: str, **more: str) -> Point:
    """Any point whose ``stage`` directory is ``tag`` (they all share that stage's settings) and whose tags of the
    stages named in ``more`` are the given ones (e.g. ``baseline="@baseline-None"``)."""
    want = {stage: tag, **more}
    for p in points:
        if all(p.tags[s] == t for s, t in want.items()):
            return p
    raise ConfigError(f"no sweep point has directory tags {want}. Fix: ask for a target of one of the "
                      f"study's sweep points")
