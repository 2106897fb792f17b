"""A study's configuration, validated completely before any job runs: the schema, then the semantic checks.

The schema (:mod:`multiscale.config`) checks each key alone; the semantic checks relate keys to each other and
to the files they name (the element and its crystal, a convergence scan reaching beyond the setting it judges,
the specimen's hole inside the plate and its frame against the potential's cutoff, the split fractions, the
baseline potential's files and LAMMPS lines, ``mlip.baseline``, the user's own labelled files, ``dft.external``,
read as the dataset will read them; the experiment file ``data/experiment/<element>.yaml``, read as the record
will read it). Each check lives in the module that owns the
knowledge (``Material.check``, ``Specimen.check``, ``multiscale.lammps.PotentialLines.resolve``, the stages'
settings); they need the stages' settings classes, so they are wired here, above the stages. The workflow
(``workflow/rules/common.smk``), every sweep point and ``multiscale config validate`` call :func:`validate_study`;
the problems found are reported together in one :class:`ConfigError` naming the config files, one line per
problem with its key and its fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from multiscale.active.explore import check_lattice
from multiscale.active.settings import FAMILIES, ActiveLearningSettings
from multiscale.config import read_config, settings_from_dict, validate_config
from multiscale.dft.calculator import DFTSettings
from multiscale.dft.convergence import ConvergenceSettings
from multiscale.dft.external import CONVERGED, TRAINING, check_fidelities, external_sources
from multiscale.divergence.atlas import AtlasSettings
from multiscale.divergence.transitions import load_experiment
from multiscale.errors import ConfigError
from multiscale.material import LATTICE_TABLE, Material, hole_min_coordination, snap_cutoff
from multiscale.mlip.snap import LOOP_GROUP_PREFIX, DescriptorSettings, SNAPSettings
from multiscale.specimen import Specimen
from multiscale.transfer.settings import TransferSettings
from multiscale.units import ANGSTROM_PER_NM


def _build(problems: list[str], make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)``; None, with the message added to ``problems``, when it raises :class:`ConfigError`."""
    try:
        return make(*args)
    except ConfigError as exc:
        problems.append(str(exc))
        return None


def _passes(problems: list[str], check: Callable[..., Any], *args: Any) -> bool:
    """Whether ``check(*args)`` passes; if it raises :class:`ConfigError`, its message is added to ``problems``."""
    try:
        check(*args)
    except ConfigError as exc:
        problems.append(str(exc))
        return False
    return True


def semantic_checks(config: Mapping[str, Any], where: str) -> None:
    """Checks across keys, and of the files the config names, of a schema-valid config with defaults filled in.

    The element and its crystal (:meth:`Material.check`), the convergence scans against the settings they judge,
    the specimen's geometry and its frame against the potential's cutoff, the split fractions and fit weights, the
    baseline potential's files and lines against the element (``ValidationSettings.check``), the fidelities named
    by the fit weights, and each ``dft.external`` file read as the dataset will read it (``ExternalSource.check``:
    readable, every selected frame with forces and a stress and only the study's element, every setting
    declared). Raises one
    :class:`ConfigError` naming ``where`` (the config files) and listing every problem found, one line each with
    its key and fix; a check that needs a setting found invalid is skipped."""
    problems: list[str] = []
    material = _build(problems, Material.from_dict, config["material"])
    element_known = material is not None and _passes(problems, material.check_element)
    if element_known:
        _passes(problems, material.check_crystal)
    dft = _build(problems, DFTSettings.from_dict, config["dft"])
    own = material.lattice if material is not None else None
    if own in config["dft"].get("configurations", {}).get("phases", {}).get("lattices", []):
        problems.append(f"dft.configurations.phases.lattices names the crystal's own lattice '{own}' (the "
                        f"reference the phases are compared with). Fix: list only competing lattices, or auto")
    convergence = _build(problems, ConvergenceSettings.from_dict, config["convergence"])
    if dft is not None and convergence is not None:
        _passes(problems, convergence.check, dft)
    specimen = _build(problems, settings_from_dict, Specimen, config["specimen"], "specimen")
    if specimen is not None:
        _passes(problems, specimen.check, "")
    snap = _build(problems, SNAPSettings.from_dict, config["mlip"])
    if snap is not None:
        _passes(problems, snap.split.check)
        _passes(problems, snap.fit.check)
        if specimen is not None:
            _passes(problems, specimen.check_frame, snap.descriptor.cutoff / ANGSTROM_PER_NM, "")
        if element_known:
            _passes(problems, snap.validation.check, material.element)
        if dft is not None:
            _passes(problems, check_fidelity_weights, snap, dft)
    if snap is not None:
        loop_groups = [g for g in snap.fit.group_weights if g.startswith(LOOP_GROUP_PREFIX)]
        wrong = sorted(set(loop_groups) - {f"{LOOP_GROUP_PREFIX}{f}" for f in FAMILIES})
        if wrong:
            problems.append(f"mlip.group_weights names {wrong}, which is no active-learning group. Fix: one of "
                            f"{[LOOP_GROUP_PREFIX + f for f in FAMILIES]}")
    al = _build(problems, ActiveLearningSettings.from_dict, config.get("active_learning", {}))
    if al is not None and al.iterations and material is not None:
        _passes(problems, check_lattice, material, al.explorers.families)
        if al.rule == "downstream" and al.qoi != "C44" and material.lattice != "fcc":
            problems.append(f"active_learning.qoi = {al.qoi} is a {{111}} stacking-fault energy of an fcc crystal, "
                            f"but material.lattice is {material.lattice}. Fix: qoi: C44")
        if "specimen" in al.explorers.families:  # the explorer's own plate: same checks as the specimen's
            plate = _build(problems, settings_from_dict, Specimen,
                           {**config["specimen"], "size": al.explorers.specimen.size},
                           "active_learning.explorers.specimen.size (with the specimen section)")
            plate_key = "the explorer plate (active_learning.explorers.specimen.size)"
            if plate is not None and _passes(problems, plate.check, plate_key) and snap is not None:
                _passes(problems, plate.check_frame, snap.descriptor.cutoff / ANGSTROM_PER_NM, plate_key)
    atlas = _build(problems, AtlasSettings.from_dict, config.get("divergence", {}))
    if atlas is not None:
        _passes(problems, atlas.environments.check)
    if atlas is not None and _passes(problems, atlas.validity.check):
        for name, (role, section) in atlas.validity.variants(dict(config["specimen"])).items():
            listed = "held_out" if role == "held-out" else "calibration"
            index = re.sub(r"\D", "", name)
            key = f"divergence.validity.{listed}[{index}]"
            variant = _build(problems, settings_from_dict, Specimen, section, f"{key} (with the specimen section)")
            if variant is not None and _passes(problems, variant.check, key) and snap is not None:
                _passes(problems, variant.check_frame, snap.descriptor.cutoff / ANGSTROM_PER_NM, key)
    transfer = _build(problems, TransferSettings.from_dict, config.get("transfer", {}))
    if transfer is not None:
        _passes(problems, transfer.check)
    if element_known:  # the experiment file the record will compare against, read as it will be read
        experiment = Path("data/experiment") / f"{material.element}.yaml"
        if experiment.exists():
            _passes(problems, load_experiment, experiment)
    if dft is not None and element_known:
        sources = _build(problems, external_sources, dft)
        if sources is not None and _passes(problems, check_fidelities, sources):
            for key, source in sources:
                _passes(problems, source.check, key, material.element, dft)
    if problems:
        raise ConfigError(f"invalid study configuration in {where}:\n  - " + "\n  - ".join(problems))


def check_fidelity_weights(snap: SNAPSettings, dft: DFTSettings) -> None:
    """Every fidelity named in ``mlip.fidelity_weights`` is one the dataset will have: training, converged (with
    ``dft.converged_labels``) or a ``dft.external`` fidelity. Raises :class:`ConfigError` naming the key and fix."""
    external = {str(e.get("fidelity", "")) for e in dft.external if isinstance(e, Mapping)}
    have = [TRAINING] + ([CONVERGED] if dft.converged_labels else []) + sorted(external - {"", TRAINING, CONVERGED})
    for name in snap.fit.fidelity_weights:
        if name == CONVERGED and not dft.converged_labels:
            raise ConfigError("mlip.fidelity_weights names the fidelity 'converged', but dft.converged_labels is "
                              "false, so the dataset has none. Fix: set dft.converged_labels: true or remove "
                              "mlip.fidelity_weights.converged")
        if name not in have:
            raise ConfigError(f"mlip.fidelity_weights names the fidelity '{name}', which the dataset will not have "
                              f"(it will have: {', '.join(have)}). Fix: use one of those names (an external "
                              f"fidelity is the fidelity of a dft.external entry) or remove the key")


def validate_study(config: Mapping[str, Any], sources: Sequence[str | Path] = ()) -> dict[str, Any]:
    """The config with defaults filled in, after the schema and the semantic checks.

    ``sources`` are the files the config came from. Raises :class:`ConfigError` naming them, listing every problem
    with its key and fix (the schema's problems first; the semantic checks run on a schema-valid config)."""
    filled = validate_config(config, sources)
    resolve_material_defaults(filled)
    semantic_checks(filled, ", ".join(str(s) for s in sources) or "<config>")
    return filled


def resolve_material_defaults(config: dict[str, Any]) -> None:
    """Replace the per-element defaults a config leaves to the material by their values, in place, so every rule
    (and ``multiscale config validate --show``) sees numbers: ``mlip.rcutfac: auto`` (the lattice's cutoff rule,
    :func:`multiscale.material.snap_cutoff`, divided by 2 ``mlip.element_radius``), ``specimen.min_coordination:
    null`` (the lattice's hole clean-up rule, :func:`multiscale.material.hole_min_coordination`) and
    ``dft.configurations.phases.lattices: auto`` (the lattice's competing phases, ``LATTICE_TABLE``). A material the
    checks will refuse gets the dataclass defaults here; its own error is reported by them."""
    try:
        material = Material.from_dict(config["material"])
        material.check_crystal()
    except (ConfigError, KeyError, TypeError):
        material = None
    if config["mlip"].get("rcutfac") == "auto":
        radius = config["mlip"].get("element_radius", DescriptorSettings().element_radius)
        try:
            config["mlip"]["rcutfac"] = round(snap_cutoff(material) / (2 * float(radius)), 4)
        except (ConfigError, AttributeError, TypeError, ZeroDivisionError):
            config["mlip"]["rcutfac"] = DescriptorSettings().rcutfac
    phases = config["dft"].get("configurations", {}).get("phases", {})
    if phases.get("lattices") == "auto":
        phases["lattices"] = list(LATTICE_TABLE[material.lattice]["competing_phases"]) \
            if material is not None and material.lattice in LATTICE_TABLE else []
    if config["specimen"].get("min_coordination", 0) is None and material is not None:
        try:
            config["specimen"]["min_coordination"] = hole_min_coordination(material.lattice)
        except ConfigError:
            pass  # no rule for the lattice: the MD stage says so, naming specimen.min_coordination


def load_study(*paths: str | Path) -> dict[str, Any]:
    """Read study files (later ones override earlier ones) and validate them completely.

    Raises :class:`ConfigError` naming the files, as :func:`validate_study`."""
    return validate_study(read_config(*paths), paths)
