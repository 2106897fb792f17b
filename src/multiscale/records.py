"""Typed attributes of HDF5 artifacts: structured records stored as JSON and read back as dataclasses.

An artifact kind (:mod:`multiscale.artifacts`) declares, for each structured attribute, the dataclass it holds;
:func:`~multiscale.artifacts.write_artifact` serialises an instance, and :meth:`Artifact.attr` returns the
instance again, so a reader sees what ``specimen`` or ``plasticity`` holds from the class, not from a JSON string.

The conversion is written here rather than taken from a library (pydantic, dacite): it is thirty lines over the
standard library's ``dataclasses`` and ``typing``, and it must keep NaN, ints and floats exactly as written, so
that a report rendered from a record reads as one rendered from the values that made it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from multiscale.errors import ArtifactError


def to_json(value: Any) -> str:
    """JSON text of a record (a dataclass, or a list/dict of them); keys sorted; NaN kept."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {k: plain(x) for k, x in asdict(v).items()}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):  # numpy scalars
            return v.item()
        return v

    return json.dumps(plain(value), sort_keys=True)


def from_plain(tp: Any, value: Any, where: str) -> Any:
    """``value`` (decoded JSON) converted to type ``tp``: dataclasses, list[X], tuple[X, ...], dict[str, X],
    X | None and plain scalars. Raises :class:`ArtifactError` naming ``where`` on a missing or unknown field."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is None:
        return value
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return from_plain(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ArtifactError(f"{where}: expected a {tp.__name__} record, found {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ArtifactError(f"{where}: {tp.__name__} has no field(s) {unknown}; the file was written by "
                                f"another multiscale version: rerun the stage that wrote it")
        missing = [f.name for f in dataclasses.fields(tp) if f.name not in value
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ArtifactError(f"{where}: {tp.__name__} lacks field(s) {missing}; rerun the stage that wrote it")
        return tp(**{k: from_plain(hints[k], v, f"{where}.{k}") for k, v in value.items()})
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return [from_plain(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v, where) for v in value)
        return tuple(from_plain(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is dict:
        _, item = typing.get_args(tp) or (str, Any)
        return {k: from_plain(item, v, f"{where}.{k}") for k, v in value.items()}
    return value


def from_json(tp: Any, text: str, where: str) -> Any:
    """Decode JSON ``text`` into type ``tp`` (see :func:`from_plain`)."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{where}: not a JSON record ({exc}); rerun the stage that wrote it") from None
    return from_plain(tp, value, where)


# ------------------------------------------------------------------------------------------- md_specimen
@dataclass
class SpecimenGeometry:
    """The plate with a hole (nm)."""

    shape: str
    size_nm: float
    hole_radius_nm: float
    hole_centre_nm: list[float]
    interior_half_width_nm: float
    thickness_periods: int
    atoms_removed_at_hole: int = 0


@dataclass
class SpecimenCrystal:
    """Element, lattice, lattice constant (Angstrom) and the crystal directions of the specimen axes."""

    element: str
    lattice: str
    lattice_constant_A: float
    orientation: dict[str, list[int]]


@dataclass
class SpecimenLoading:
    """Boundary conditions in words and the applied uniaxial strain."""

    hole_axis_z: str
    frame: str
    hole: str
    applied_displacement: str
    strain: float


@dataclass
class SpecimenGrid:
    """The shared coarse-graining grid (nm)."""

    cell_nm: float
    kernel_nm: float
    cells_per_edge: int


@dataclass
class SpecimenDescription:
    """Everything the continuum stage needs to rebuild the MD stage's specimen; ``settings`` are the
    ``specimen`` config section it was built from (:class:`multiscale.specimen.Specimen` fields)."""

    geometry: SpecimenGeometry
    crystal: SpecimenCrystal
    boundary_conditions: SpecimenLoading
    grid: SpecimenGrid
    settings: dict[str, Any]


@dataclass
class FarField:
    """Mean stresses (GPa, Voigt) of the far-field grid cells: load-induced, total and residual (zero load)."""

    definition: str
    load_stress: list[float]
    total_stress: list[float]
    residual_stress: list[float]


@dataclass
class PlasticityOnset:
    """The first swept strain with non-lattice atoms in the interior (None: none up to the largest strain)."""

    onset_strain: float | None
    note: str
    non_lattice_interior: int | None = None


@dataclass
class Relaxation:
    """How one specimen relaxation ended: minimiser iterations and the largest force (eV/Angstrom) left, and its
    checks: potential energy per atom above the 0 K crystal's (eV/atom; surfaces and strain make it positive),
    the fraction of interior atoms (away from hole and frame) with the crystal's CNA structure, and what made it
    collapse (empty when the crystal was kept)."""

    strain: float
    iterations: int
    fmax: float
    converged: bool
    energy_above_crystal: float | None = None
    interior_crystal_fraction: float | None = None
    collapsed: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- divergence
@dataclass
class GradeThreshold:
    """g*: the extrapolation grade below which every out-of-sample atom's force error is within tolerance."""

    g_star: float
    std: float
    lower_bound_only: bool
    n_atoms: int
    tolerance_eV_A: float = float("nan")
    meaning: str = ""


@dataclass
class DistanceThreshold:
    """d*: the distance from the hole surface (nm) beyond which the continuum stress is within tolerance."""

    d_star_nm: float
    range_nm: list[float]
    grid_resolution_nm: float
    tolerance: float
    within_everywhere: bool
    meaning: str


@dataclass
class Validity:
    """Validity regions of the two spatial transitions."""

    dft_mlip: GradeThreshold
    atomistic_continuum: DistanceThreshold


@dataclass
class CrossValidation:
    r2_mean: float
    r2_std: float
    folds: int


@dataclass
class Explanation:
    """A discrepancy model: k-fold CV R2, the features ranked by mean |SHAP|, and how far to trust them."""

    cv: CrossValidation
    n_records: int
    ranking: list[tuple[str, float]]
    trust: str


@dataclass
class SweepPoint:
    """One strain of the plasticity sweep: MD vs the linear continuum, and the trust of the MD numbers."""

    strain: float
    md_max_stress_xx: float
    fem_max_stress_xx: float
    relative_max: float
    md_far_stress_xx: float
    fem_far_stress_xx: float
    relative_far: float
    non_lattice_interior: int
    max_grade: float
    n_above: int


@dataclass
class OnsetLocation:
    """Where the non-lattice atoms of the onset strain are."""

    atoms: int
    median_distance_from_hole_nm: float | None
    angle_deg_median: float | None


@dataclass
class SlipPrediction:
    """The linear continuum's first slip: where the largest resolved shear stress (RSS) on the lattice's slip
    systems is, and the applied strain at which it reaches the critical shear strength (the FEM is linear, so its
    stresses scale with the strain). Stresses GPa, distances nm, angle from the loading axis x in degrees."""

    slip_systems: str
    critical_stress_GPa: float | None
    critical_stress_how: str
    max_rss_GPa: float
    at_strain: float
    onset_strain: float | None
    distance_from_hole_nm: float
    angle_deg: float


@dataclass
class RareEvent:
    """MD's first plasticity in the specimen against the continuum's predicted first slip, and whether the
    surrogate chain preserves the event (strain and place)."""

    md_onset_strain: float | None
    md_first_interior_strain: float | None   # first sweep strain with any non-lattice atom away from surfaces
    md_where: OnsetLocation | None           # the interior non-lattice atoms at the onset
    md_mechanism: dict[str, int]             # their CNA classes
    md_defect: str
    continuum: SlipPrediction
    verdict: str


@dataclass
class PlasticityRecord:
    """The strain sweep of the specimen against the linear continuum, with the onset and where it happens."""

    onset_strain: float | None
    note: str
    sweep: list[SweepPoint]
    where: OnsetLocation | None
    largest_divergence: float | None
    untrusted_points: list[float]
    non_lattice_interior: int | None = None
    rare_event: RareEvent | None = None


@dataclass
class MonitorSummary:
    """The specimen's trust monitor over all its relaxations."""

    flagged: bool
    frames: int
    max_grade: float
    max_n_above: int
    atoms_above_at_load: int                           # free atoms (the frame is a held boundary condition)
    median_distance_of_flagged_atoms_nm: float | None  # of those free atoms, from the hole surface
    relaxations: list[Relaxation] = field(default_factory=list)


@dataclass
class EnvironmentCluster:
    """One cluster of atomic environments in descriptor space, labelled by structure.

    Counts by source (``train``, ``calibration``, ``test``: the potential's DFT dataset; ``candidate``:
    unlabelled active-learning candidates and the loop's test set; ``specimen_zero_load``, ``specimen_loaded``,
    ``specimen_sweep``: the plate's free atoms at zero load, at the specimen strain, along the sweep). Force
    errors (eV/Angstrom, norm of the 3-vector) only where DFT exists; ``None`` when no atom of that split falls
    in the cluster. ``cells_dominated``: specimen grid cells where this cluster holds the most free atoms under
    load; ``cell_divergence_mean``: their mean |FEM - MD| / |bulk stress| (``None`` without one)."""

    cluster: int
    label: str
    atoms: dict[str, int]
    coordination_median: float
    structure: str                       # majority common-neighbour-analysis class
    structure_fraction: float            # of the cluster's atoms
    nn_strain_median: float              # mean nearest-neighbour distance / ideal - 1
    hole_distance_median_nm: float | None  # of its specimen atoms, from the hole surface
    groups: dict[str, int]               # dataset and candidate groups (top 3)
    force_rmse_held_out: float | None    # calibration + test atoms
    force_rmse_train: float | None
    force_std_median: float              # epistemic, eV/Angstrom
    grade_median: float
    grade_max: float
    above_threshold_fraction: float
    specimen_share: float                # of all free specimen atoms (both states)
    cells_dominated: int
    cell_divergence_mean: float | None
    force_bound: float | None = None          # Mondrian conformal bound on |F_MLIP - F_DFT| (eV/Angstrom)
    bound_calibration_atoms: int = 0
    bound_test_coverage: float | None = None  # share of the cluster's test atoms within the bound


@dataclass
class ValidityVariant:
    """A specimen of the conformal validity stage: its name, role (training, calibration, held-out) and the
    specimen-section override that made it (the study's own specimen: empty)."""

    name: str
    role: str
    override: dict[str, Any]
