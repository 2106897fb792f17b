"""The divergence atlas: per-record divergences with features, validity regions, and their explanations.

Two spatial/per-entity transitions get a full treatment:

* DFT -> MLIP, per atom of the out-of-sample configurations (calibration and test splits): force error with
  the features group, volumetric and shear strain of the cell, nearest-neighbour distance, coordination,
  extrapolation grade and predicted force std.
* atomistic -> continuum, per cell of the shared grid: FEM minus MD (load-induced) stress and displacement, with
  the features distance to the hole surface, local strain and strain gradient (of the continuum field),
  coordination deficit, non-lattice fraction and MLIP uncertainty. The validity region d* uses the divergence
  relative to the bulk stress (the tolerance statement); the discrepancy model explains the divergence relative to
  the local stress, and the bulk-normalised one is explained too, so a user sees how the ranking depends on it.

For each: a validity region (the MLIP grade g* below which forces stay within tolerance; the distance d* from
the hole beyond which the continuum stress stays within tolerance), with its uncertainty, and a discrepancy model
(gradient-boosted trees) whose cross-validated R2 says how far its SHAP attributions can be trusted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multiscale.artifacts import Artifact, read_artifact, read_properties
from multiscale.config import settings_from_dict
from multiscale.material import Material, bulk_coordination, coordination_cutoff
from multiscale.mlip.snap import SNAPSettings
from multiscale.records import (
    CrossValidation,
    DistanceThreshold,
    Explanation,
    GradeThreshold,
    MonitorSummary,
    OnsetLocation,
    PlasticityRecord,
    RareEvent,
    SlipPrediction,
    SweepPoint,
    Validity,
)
from multiscale.specimen import Specimen


@dataclass
class EnvironmentSettings:
    """Clustering of atomic environments (:mod:`.environments`): KMeans on the first ``components`` principal
    components of the standardised bispectrum, fitted on at most ``fit_per_source`` atoms of each source (so the
    ~10^4 near-identical interior specimen atoms do not outvote the training set), the number of clusters chosen
    in ``clusters`` = [min, max] by the largest mean silhouette (on at most ``silhouette_sample`` atoms); the
    per-cluster (Mondrian) conformal force-error bounds at ``confidence``."""

    clusters: list[int] = field(default_factory=lambda: [4, 10])
    components: int = 8
    fit_per_source: int = 1500
    silhouette_sample: int = 4000
    seed: int = 0
    confidence: float = 0.9

    def check(self) -> None:
        """Raises :class:`ConfigError` for a cluster range whose minimum exceeds its maximum."""
        from multiscale.errors import ConfigError

        if self.clusters[0] > self.clusters[1]:
            raise ConfigError(f"divergence.environments.clusters = {self.clusters}: the smallest number of clusters "
                              f"exceeds the largest. Fix: [min, max], e.g. [4, 10]")


@dataclass
class ValiditySettings:
    """Conformal validity regions (:mod:`.conformal`): specimens that differ from the study's (each an override of
    the ``specimen`` section, relaxed without the plasticity sweep): ``calibration`` ones calibrate the intervals,
    ``held_out`` ones test their coverage at the nominal ``confidence``. Empty: no validity stage."""

    confidence: float = 0.9
    calibration: list[dict[str, Any]] = field(default_factory=list)
    held_out: list[dict[str, Any]] = field(default_factory=list)

    def variants(self, specimen: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Name -> (role, the study's specimen section with the override, no sweep): ``cal<i>`` and ``held<i>``."""
        out = {}
        for role, prefix, items in (("calibration", "cal", self.calibration), ("held-out", "held", self.held_out)):
            for i, patch in enumerate(items):
                out[f"{prefix}{i}"] = (role, {**specimen, **patch, "plasticity_strains": []})
        return out

    def check(self) -> None:
        """Raises :class:`ConfigError` for held-out specimens without a calibration specimen."""
        from multiscale.errors import ConfigError

        if self.calibration and not self.held_out:
            raise ConfigError("divergence.validity.calibration lists specimens but divergence.validity.held_out is "
                              "empty: nothing would test the intervals' coverage. Fix: add held-out specimen "
                              "overrides, e.g. [{hole_radius: 1.4}, {strain: 0.01}]")
        if self.held_out and not self.calibration:
            raise ConfigError("divergence.validity.held_out lists specimens but divergence.validity.calibration is "
                              "empty: the conformal intervals need calibration cells. Fix: add one specimen "
                              "override to calibration, e.g. [{hole_radius: 1.0}]")


@dataclass
class AtlasSettings:
    force_tolerance: float = 0.1      # eV/Angstrom
    stress_tolerance: float = 0.05    # relative to the far-field (bulk) stress norm
    cv_folds: int = 5
    seed: int = 0
    n_estimators: int = 200
    max_depth: int = 3
    learning_rate: float = 0.05
    bootstrap: int = 200
    environments: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    validity: ValiditySettings = field(default_factory=ValiditySettings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AtlasSettings:
        return settings_from_dict(cls, d, "divergence")


# ------------------------------------------------------------------------------------------ explanations
def explain(x: np.ndarray, y: np.ndarray, names: list[str], s: AtlasSettings) -> tuple[Explanation, np.ndarray]:
    """Gradient-boosted trees on (x, y): k-fold cross-validated R2, then SHAP values (n_records, n_features) of
    the model fitted on all records (global ranking = mean |SHAP| per feature; Lundberg & Lee, NeurIPS 2017,
    TreeSHAP)."""
    import shap
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_score

    n = len(y)
    model = GradientBoostingRegressor(n_estimators=s.n_estimators, max_depth=s.max_depth,
                                      learning_rate=s.learning_rate, subsample=0.8, random_state=s.seed)
    folds = min(s.cv_folds, n)
    if folds >= 2 and np.ptp(y) > 0:
        r2 = cross_val_score(model, x, y, cv=KFold(folds, shuffle=True, random_state=s.seed), scoring="r2")
        cv = CrossValidation(float(np.mean(r2)), float(np.std(r2, ddof=1)), folds)
    else:
        cv = CrossValidation(float("nan"), float("nan"), folds)
    model.fit(x, y)
    values = np.asarray(shap.TreeExplainer(model).shap_values(x))
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(importance)[::-1]
    return Explanation(cv=cv, n_records=int(n), ranking=[(names[i], float(importance[i])) for i in order],
                       trust=_trust(cv.r2_mean)), values


def _trust(r2: float) -> str:
    if not np.isfinite(r2):
        return "not assessable (too few records or no variation)"
    if r2 >= 0.7:
        return "strong: the features explain most of the divergence"
    if r2 >= 0.3:
        return "moderate: rankings indicative, individual attributions uncertain"
    return "weak: do not act on these attributions"


# ------------------------------------------------------------------------------------------ DFT -> MLIP
MLIP_FEATURES = ["volumetric_strain", "shear_strain", "nn_distance", "coordination", "grade", "predicted_std",
                 "is_surface", "is_vacancy", "is_rattle"]


def _strain_invariants(meta: dict[str, Any]) -> tuple[float, float]:
    from multiscale.elastic import voigt_to_tensor

    if "strain_voigt" in meta:
        e = voigt_to_tensor(np.asarray(meta["strain_voigt"], float))
    elif "linear_strain" in meta:
        e = np.eye(3) * float(meta["linear_strain"])
    else:
        e = np.zeros((3, 3))
    dev = e - np.trace(e) / 3 * np.eye(3)
    return float(np.trace(e)), float(np.sqrt(2.0 / 3.0 * np.sum(dev * dev)))


def mlip_atom_records(ds: Artifact, val: Artifact, cut: float) -> dict[str, Any]:
    """Per-atom records of the out-of-sample configurations: force error and features (``cut``: the neighbour
    cutoff of the coordination, Angstrom)."""
    from ase.neighborlist import neighbor_list

    from multiscale.atomsio import images_from_arrays

    images = images_from_arrays(ds.data)
    split = np.array(val["split"], dtype=object)
    rows, err, cfg, grp = [], [], [], []
    start = 0
    for k, atoms in enumerate(images):
        n = len(atoms)
        sl = slice(start, start + n)
        start += n
        if split[k] == "train":
            continue
        meta = json.loads(atoms.info.get("metadata", "{}") or "{}")
        vol, shear = _strain_invariants(meta)
        i, d = neighbor_list("id", atoms, cut)
        coord = np.bincount(i, minlength=n)
        nn = np.full(n, np.inf)
        np.minimum.at(nn, i, d)
        g = str(atoms.info.get("group"))
        for j in range(n):
            rows.append([vol, shear, nn[j], coord[j], val["grade"][sl][j], val["force_std"][sl][j],
                         float(g == "surface"), float(g == "vacancy"), float(g in ("rattle", "thermal"))])
            err.append(val["force_error"][sl][j])
            cfg.append(str(ds["names"][k]))
            grp.append(g)
    return {"features": np.array(rows, float).reshape(-1, len(MLIP_FEATURES)), "error": np.array(err, float),
            "config": np.array(cfg, dtype=object), "group": np.array(grp, dtype=object)}


def grade_threshold(grade: np.ndarray, error: np.ndarray, tol: float, s: AtlasSettings) -> GradeThreshold:
    """g*: the largest grade such that every atom at or below it has force error <= tol; bootstrap spread."""

    def gstar(g, e):
        order = np.argsort(g)
        bad = np.flatnonzero(e[order] > tol)
        if len(bad) == 0:
            return float(g.max()), True
        if bad[0] == 0:
            return 0.0, False
        return float(g[order][bad[0] - 1]), False

    if len(grade) == 0:
        return GradeThreshold(g_star=float("nan"), std=float("nan"), lower_bound_only=False, n_atoms=0)
    value, all_ok = gstar(grade, error)
    rng = np.random.default_rng(s.seed)
    boots = [gstar(grade[idx], error[idx])[0] for idx in
             (rng.integers(0, len(grade), len(grade)) for _ in range(s.bootstrap))]
    return GradeThreshold(g_star=value, std=float(np.std(boots, ddof=1)), lower_bound_only=all_ok,
                          n_atoms=int(len(grade)), tolerance_eV_A=tol,
                          meaning=("every out-of-sample atom is within tolerance: g* is only a lower bound (no "
                                   "failure seen)" if all_ok else
                                   "atoms with grade <= g* all had force errors within tolerance"))


# ------------------------------------------------------------------------------------------ MD -> continuum
# physical features only: raw positions would let the model memorise where a cell is instead of explaining why
CONTINUUM_FEATURES = ["distance_to_hole", "local_strain", "strain_gradient", "coordination_deficit",
                      "non_lattice_fraction", "mlip_uncertainty"]


def fill_nearest(a: np.ndarray) -> np.ndarray:
    """``a`` (2-D grid) with every non-finite cell set to the value of its nearest finite cell."""
    from scipy.ndimage import distance_transform_edt

    missing = ~np.isfinite(a)
    if not missing.any():
        return a
    idx = distance_transform_edt(missing, return_distances=False, return_indices=True)
    return a[tuple(idx)]


def continuum_cell_records(sp: Artifact, cont: Artifact, radius: float, grid_h: float, bulk_coordination: float
                           ) -> dict[str, Any]:
    """Per grid cell: FEM minus MD (load-induced) fields, relative stress divergence, and features."""
    centres = sp["centres"]
    n = int(round(np.sqrt(len(centres))))
    u_md = sp["load_displacement"]
    s_md, s_fem = sp["load_stress"], cont["stress"]
    bulk = np.array(sp.attr("bulk_stress"))  # GPa, Voigt
    scale = float(np.linalg.norm(bulk))
    ds = s_fem - s_md
    rel = np.linalg.norm(ds, axis=1) / scale
    # the explained quantity: the error of the continuum's local stress relative to the local (MD) stress, so that
    # how loaded a cell is does not masquerade as why the continuum is wrong there (floor: 10% of the bulk stress)
    local = np.linalg.norm(ds, axis=1) / np.maximum(np.linalg.norm(s_md, axis=1), 0.1 * scale)
    rel_std = np.linalg.norm(cont["std_stress"], axis=1) / scale if "std_stress" in cont.data else np.zeros(len(rel))
    du = np.linalg.norm(cont["displacement"][:, :2] - u_md[:, :2], axis=1)
    # local strain and its gradient from the continuum's own displacement field on the grid (finite differences):
    # the state a continuum user knows, not the MD response whose departure from it is being explained.
    # Cells inside the hole carry no value: fill them with the nearest cell's value first, so the cells at the
    # hole surface (where the divergence is largest) get one-sided differences instead of NaN
    u_fem = cont["displacement"]
    ux = fill_nearest(u_fem[:, 0].reshape(n, n))
    uy = fill_nearest(u_fem[:, 1].reshape(n, n))
    dux_dy, dux_dx = np.gradient(ux, grid_h)
    duy_dy, duy_dx = np.gradient(uy, grid_h)
    exx, eyy, exy = dux_dx, duy_dy, 0.5 * (dux_dy + duy_dx)
    strain = np.sqrt(exx**2 + eyy**2 + 2 * exy**2)
    gy, gx = np.gradient(strain, grid_h)
    grad = np.hypot(gx, gy)
    dist = np.hypot(centres[:, 0], centres[:, 1]) - radius
    feats = np.column_stack([dist, strain.ravel(), grad.ravel(), bulk_coordination - sp["cell_coordination"],
                             sp["cell_non_lattice"], sp["cell_max_std"]])
    ok = np.isfinite(rel) & np.all(np.isfinite(feats), axis=1)
    return {"features": feats, "relative": rel, "local_relative": local, "relative_std": rel_std, "du": du, "ds": ds,
            "distance": dist, "valid": ok, "scale": scale}


def distance_threshold(distance: np.ndarray, rel: np.ndarray, rel_std: np.ndarray, tol: float, grid_h: float
                       ) -> DistanceThreshold:
    """d*: the smallest distance from the hole surface beyond which every cell's relative stress divergence is
    within tol. Its uncertainty: d* recomputed with the divergence shifted by -/+ the FEM posterior std, and the
    grid resolution."""

    def dstar(r):
        order = np.argsort(distance)[::-1]
        bad = np.flatnonzero(r[order] > tol)
        if len(bad) == 0:
            return float(distance.min()), True
        if bad[0] == 0:
            return float("inf"), False
        return float(distance[order][bad[0] - 1]), False

    value, everywhere = dstar(rel)
    lo, _ = dstar(rel - rel_std)
    hi, _ = dstar(rel + rel_std)
    return DistanceThreshold(
        d_star_nm=value, range_nm=[lo, hi], grid_resolution_nm=grid_h, tolerance=tol, within_everywhere=everywhere,
        meaning=("the continuum stress is within tolerance in every cell, down to the hole" if everywhere else
                 "cells farther than d* from the hole surface all have |FEM - MD| / |sigma_bulk| <= tol"
                 if np.isfinite(value) else "even the farthest cell exceeds the tolerance"))


# ------------------------------------------------------------------------------------------ plasticity
def plasticity_record(sp: Artifact, cont: Artifact, strain0: float, radius: float, usf: float | None = None,
                      material: Material | None = None) -> PlasticityRecord:
    """MD along the strain sweep vs the linear continuum (its fields scale with the strain); with the ``material``
    (and the potential's unstable stacking-fault energy ``usf``, mJ/m^2) also the rare-event comparison."""
    info = sp.attr("plasticity")
    strains = sp["sweep_strain"]
    fem_max0 = float(np.nanmax(cont["stress"][:, 0]))
    far = np.hypot(*cont["centres"].T) >= sp.attr("specimen").geometry.interior_half_width_nm
    fem_far0 = float(np.nanmean(cont["stress"][far, 0]))
    rows = []
    ref = sp["reference"]
    for k, eps in enumerate(strains):
        fem_max, fem_far = fem_max0 * eps / strain0, fem_far0 * eps / strain0
        md_max, md_far = float(sp["sweep_max_stress_xx"][k]), float(sp["sweep_far_stress_xx"][k])
        rows.append(SweepPoint(strain=float(eps), md_max_stress_xx=md_max, fem_max_stress_xx=fem_max,
                               relative_max=(fem_max - md_max) / abs(md_max), md_far_stress_xx=md_far,
                               fem_far_stress_xx=fem_far, relative_far=(fem_far - md_far) / abs(md_far),
                               non_lattice_interior=int(sp["sweep_non_lattice_interior"][k]),
                               max_grade=float(sp["sweep_max_grade"][k]), n_above=int(sp["sweep_n_above"][k])))
    where = None
    if info.onset_strain is not None:
        k = int(np.flatnonzero(np.isclose(strains, info.onset_strain))[0])
        lattice_id = int(np.bincount(sp["cna"]).argmax())
        non = sp["sweep_cna"][k] != lattice_id
        r = np.hypot(ref[non, 0], ref[non, 1]) - radius
        where = OnsetLocation(
            atoms=int(non.sum()), median_distance_from_hole_nm=float(np.median(r)) if non.any() else None,
            angle_deg_median=float(np.degrees(np.median(np.abs(np.arctan2(ref[non, 1], ref[non, 0])))))
            if non.any() else None)
    jumps = [abs(r.relative_max) for r in rows]
    return PlasticityRecord(onset_strain=info.onset_strain, note=info.note,
                            non_lattice_interior=info.non_lattice_interior, sweep=rows, where=where,
                            largest_divergence=max(jumps) if jumps else None,
                            untrusted_points=[r.strain for r in rows if r.n_above > 0],
                            rare_event=rare_event(sp, cont, strain0, radius, usf, material)
                            if material is not None else None)


def specimen_crystal(desc) -> tuple[Material, float]:
    """The material and the lattice constant (Angstrom) the MD specimen was built with, from its description."""
    a0 = float(desc.crystal.lattice_constant_A)
    return Material(element=desc.crystal.element, lattice=desc.crystal.lattice, a_guess=a0), a0


# ------------------------------------------------------------------------------------------ rare events
CNA_CLASSES = {0: "unknown", 1: "fcc", 2: "hcp", 3: "bcc", 4: "icosahedral", 5: "other"}  # LAMMPS cna/atom


def critical_shear_stress(material: Material, a0: float, usf: float | None) -> tuple[float | None, str]:
    """Critical resolved shear stress (GPa) of the first slip from the unstable stacking-fault energy ``usf``
    (mJ/m^2) of the potential: the Frenkel sinusoid over the partial's path, tau_c = pi gamma_us / b_p, b_p = a0/sqrt(6)
    the {111}<112> partial (Frenkel, Z. Phys. 37, 572 (1926); gamma_us as the barrier: Rice, J. Mech. Phys. Solids
    40, 239 (1992)). An upper-bound estimate of the ideal shear strength (Ogata et al., Science 298, 807 (2002): Al
    relaxed 2.84 GPa from DFT). ``None`` without a USF (e.g. bcc: no {111} fault is computed)."""
    if usf is None or material.lattice != "fcc" or not np.isfinite(usf):
        return None, "no unstable stacking-fault energy for this lattice: no critical strength"
    b = a0 / np.sqrt(6.0)
    return float(np.pi * usf * 1e-3 / (b * 1e-10) * 1e-9), (
        f"pi gamma_us / b_p with the potential's gamma_us = {usf:.4g} mJ/m^2, b_p = a0/sqrt(6) = {b:.4g} Angstrom "
        f"(Frenkel sinusoid; an upper-bound estimate of the ideal shear strength)")


def continuum_slip(stress: np.ndarray, centres: np.ndarray, spec: Specimen, material: Material, strain0: float,
                   critical: tuple[float | None, str]) -> SlipPrediction:
    """The largest resolved shear stress over the lattice's slip systems in the FEM cells (rotated into the
    specimen frame) at the specimen strain, where it is, and the strain at which it reaches ``critical``.
    ``stress``: (n_cells, 6) FEM Voigt stress (GPa) at ``strain0``; ``centres``: (n_cells, 2) in nm."""
    from multiscale.elastic import stress_tensor
    from multiscale.material import partial_slip_systems, slip_systems

    # fcc: the partials, whose critical stress the unstable stacking-fault energy sets; otherwise full slip
    name, normals, slips = (partial_slip_systems if material.lattice == "fcc" else slip_systems)(material.lattice)
    rot = spec.rotation()
    n_s, s_s = normals @ rot.T, slips @ rot.T  # crystal -> specimen frame
    ok = np.all(np.isfinite(stress), axis=1)
    rss = np.full(len(stress), np.nan)
    for i in np.flatnonzero(ok):
        sigma = stress_tensor(stress[i])
        rss[i] = np.max(np.abs(np.einsum("ki,ij,kj->k", s_s, sigma, n_s)))
    i = int(np.nanargmax(rss))
    x, y = centres[i]
    tau_c, how = critical
    return SlipPrediction(slip_systems=f"{name} ({len(normals)} systems)", critical_stress_GPa=tau_c,
                          critical_stress_how=how, max_rss_GPa=float(rss[i]), at_strain=strain0,
                          onset_strain=strain0 * tau_c / float(rss[i]) if tau_c else None,
                          distance_from_hole_nm=float(np.hypot(x, y) - spec.hole_radius),
                          angle_deg=float(np.degrees(np.abs(np.arctan2(y, x)))))


def rare_event(sp: Artifact, cont: Artifact, strain0: float, radius: float, usf: float | None,
               material: Material) -> RareEvent:
    """MD's first plasticity (interior non-lattice atoms: where, which CNA classes) against the continuum's
    predicted first slip, with a verdict: preserved when the onset strains agree within the sweep's step and the
    places within 1 nm of distance from the hole."""
    from multiscale.md.specimen import interior_bulk_mask

    desc = sp.attr("specimen")
    spec = Specimen.from_description(desc, "md_specimen")
    a0 = float(desc.crystal.lattice_constant_A)
    info = sp.attr("plasticity")
    strains = np.asarray(sp["sweep_strain"], float)
    ref = sp["reference"]
    interior = interior_bulk_mask(spec, ref)
    lattice_id = int(np.bincount(sp["cna"]).argmax())
    non = [(sp["sweep_cna"][k] != lattice_id) & interior for k in range(len(strains))]
    first = next((float(strains[k]) for k in range(len(strains)) if non[k].any()), None)
    where, mechanism, defect = None, {}, "none"
    if info.onset_strain is not None:
        k = int(np.flatnonzero(np.isclose(strains, info.onset_strain))[0])
        m = non[k]
        r = np.hypot(ref[m, 0], ref[m, 1]) - radius
        where = OnsetLocation(atoms=int(m.sum()), median_distance_from_hole_nm=float(np.median(r)),
                              angle_deg_median=float(np.degrees(np.median(np.abs(np.arctan2(ref[m, 1], ref[m, 0]))))))
        mechanism = dict(Counter(CNA_CLASSES.get(int(v), "unknown") for v in sp["sweep_cna"][k][m]).most_common())
        hcp = mechanism.get("hcp", 0) / max(sum(mechanism.values()), 1)
        defect = ("stacking fault or twin (hcp-classified close-packed layers)" if hcp >= 0.5 else
                  "dislocation cores or local disorder (non-crystalline CNA)"
                  if material.lattice == "fcc" else "non-lattice atoms (CNA other than the lattice's)")
    cont_pred = continuum_slip(cont["stress"], sp["centres"], spec, material, strain0,
                               critical_shear_stress(material, a0, usf))
    largest = float(strains.max()) if len(strains) else strain0
    ec = cont_pred.onset_strain
    if not len(strains):
        verdict = "not tested: no plasticity sweep (specimen.plasticity_strains)"
    elif "collapsed" in info.note:
        verdict = f"not comparable: {info.note}"
    elif ec is None:
        verdict = "not comparable: the continuum has no critical strength for this lattice"
    elif info.onset_strain is None:
        verdict = (f"no event in either up to strain {largest:g}: preserved" if ec > largest else
                   f"not preserved: the continuum predicts slip at strain {ec:.3g} but MD shows no plasticity up to "
                   f"{largest:g}")
    else:
        k = int(np.flatnonzero(np.isclose(strains, info.onset_strain))[0])
        below = float(strains[k - 1]) if k > 0 else strain0
        strain_ok = below - 1e-12 <= ec <= info.onset_strain + (info.onset_strain - below)
        place_ok = abs(where.median_distance_from_hole_nm - cont_pred.distance_from_hole_nm) <= 1.0
        verdict = ("preserved: " if strain_ok and place_ok else "partly preserved: " if strain_ok or place_ok
                   else "not preserved: ") + (
            f"MD onset at {info.onset_strain:g} (first interior non-lattice atoms between {below:g} and "
            f"{info.onset_strain:g}), {where.median_distance_from_hole_nm:.3g} nm from the hole; continuum slip at "
            f"{ec:.3g}, {cont_pred.distance_from_hole_nm:.3g} nm from the hole")
    return RareEvent(md_onset_strain=info.onset_strain, md_first_interior_strain=first, md_where=where,
                     md_mechanism=mechanism, md_defect=defect, continuum=cont_pred, verdict=verdict)


# ------------------------------------------------------------------------------------------ the atlas
@dataclass
class AtlasMaps:
    """Per-cell and per-atom fields the atlas figures draw (grid cells, nm; stresses GPa; forces eV/Angstrom)."""

    centres: np.ndarray           # (n_cells, 2) shared grid
    md_stress_xx: np.ndarray      # (n_cells,) MD load-induced sigma_xx
    fem_stress_xx: np.ndarray     # (n_cells,) FEM sigma_xx
    distance: np.ndarray          # (n_valid,) distance of each valid cell from the hole surface
    relative: np.ndarray          # (n_valid,) |FEM - MD| / |bulk stress|
    relative_std: np.ndarray      # (n_valid,) its FEM posterior std
    force_dft: np.ndarray         # (n_atoms_total, 3) dataset forces
    force_pred: np.ndarray        # (n_atoms_total, 3) MLIP forces
    force_std: np.ndarray         # (n_atoms_total, 3) predictive std
    atom_split: np.ndarray        # (n_atoms_total,) train / calibration / test
    monitor_max_grade: np.ndarray  # (n_frames,)
    monitor_n_above: np.ndarray   # (n_frames,)


@dataclass
class Atlas:
    """The divergence atlas of one study, computed from its artifacts (rendered by :mod:`.report` and
    :mod:`.figures`; stored in the ``divergence`` artifact: ``data`` as datasets, the records as attributes)."""

    settings: AtlasSettings
    validity: Validity
    explanations: dict[str, Explanation | None]
    plasticity: PlasticityRecord
    monitor: MonitorSummary
    data: dict[str, np.ndarray]
    maps: AtlasMaps
    hole_radius_nm: float
    grid_nm: float
    strain: float
    threshold: float

    def attrs(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The typed attributes of the ``divergence`` artifact (``settings``: the config section)."""
        return {"validity": self.validity, "explanations": self.explanations, "plasticity": self.plasticity,
                "monitor": self.monitor, "settings": settings}


CONTINUUM_LOCAL = "atomistic->continuum (per-cell |FEM - MD| / |MD stress|)"
CONTINUUM_BULK = "atomistic->continuum (per-cell |FEM - MD| / |bulk stress|, as in d*)"
MLIP_ATOMS = "dft->mlip (per-atom force error)"


def compute_atlas(dataset: str, potential: str, validation: str, specimen: str, continuum: str,
                  settings: dict[str, Any], md: str | None = None) -> Atlas:
    """Per-record divergences, validity regions and discrepancy models of the two spatial transitions."""
    s = AtlasSettings.from_dict(settings)
    pot = read_artifact(potential, "potential")
    val = read_artifact(validation, "mlip_validation")
    sp = read_artifact(specimen, "md_specimen")
    cont = read_artifact(continuum, "continuum")
    desc = sp.attr("specimen")
    radius, grid_h = float(desc.geometry.hole_radius_nm), float(desc.grid.cell_nm)
    mat, a0_md = specimen_crystal(desc)
    threshold = SNAPSettings.from_dict(pot.json_attr("settings")).validation.extrapolation_threshold

    # DFT -> MLIP, per atom
    ds = read_artifact(dataset, "dft_dataset")
    a = mlip_atom_records(ds, val, coordination_cutoff(mat, a0_md))
    mlip_exp, mlip_shap = (explain(a["features"], a["error"], MLIP_FEATURES, s) if len(a["error"]) > 2
                           else (None, np.full(a["features"].shape, np.nan)))
    gstar = grade_threshold(a["features"][:, MLIP_FEATURES.index("grade")], a["error"], s.force_tolerance, s)

    # atomistic -> continuum, per cell
    c = continuum_cell_records(sp, cont, radius, grid_h, bulk_coordination(mat, a0_md))
    ok = c["valid"]
    cont_exp, cont_shap = explain(c["features"][ok], c["local_relative"][ok], CONTINUUM_FEATURES, s)
    cont_bulk_exp, _ = explain(c["features"][ok], c["relative"][ok], CONTINUUM_FEATURES, s)
    cell_shap = np.full(c["features"].shape, np.nan)
    cell_shap[ok] = cont_shap
    has = np.isfinite(c["relative"])  # d* from every cell with a divergence, whatever its features
    dstar = distance_threshold(c["distance"][has], c["relative"][has], np.nan_to_num(c["relative_std"][has]),
                               s.stress_tolerance, grid_h)
    strain = float(desc.boundary_conditions.strain)
    usf = read_properties(md).get("usf_111", (None, None))[0] if md else None
    flagged_at = (sp["grade"] > threshold) & ~sp["frame"].astype(bool)  # free atoms, as the monitor counts them
    monitor = MonitorSummary(
        flagged=bool(sp.attrs["flagged"]), frames=int(len(sp["monitor_step"])),
        max_grade=float(np.max(sp["monitor_max_grade"])), max_n_above=int(np.max(sp["monitor_n_above"])),
        atoms_above_at_load=int(np.sum(flagged_at)),
        median_distance_of_flagged_atoms_nm=(float(np.median(np.hypot(sp["reference"][flagged_at, 0],
                                                                      sp["reference"][flagged_at, 1]) - radius))
                                             if flagged_at.any() else None),
        relaxations=sp.attr("relaxations"))
    data = {"mlip_feature_names": MLIP_FEATURES, "atom_features": a["features"], "atom_error": a["error"],
            "atom_shap": mlip_shap, "atom_config": a["config"], "atom_group": a["group"],
            "continuum_feature_names": CONTINUUM_FEATURES, "cell_centres": sp["centres"],
            "cell_features": c["features"], "cell_stress_difference": c["ds"],
            "cell_displacement_difference": c["du"], "cell_relative": c["relative"],
            "cell_local_relative": c["local_relative"],
            "cell_relative_std": c["relative_std"], "cell_valid": ok, "cell_shap": cell_shap}
    maps = AtlasMaps(centres=sp["centres"], md_stress_xx=sp["load_stress"][:, 0], fem_stress_xx=cont["stress"][:, 0],
                     distance=c["distance"][ok], relative=c["relative"][ok], relative_std=c["relative_std"][ok],
                     force_dft=pot["forces_dft"], force_pred=pot["forces_pred"], force_std=pot["forces_std"],
                     atom_split=np.repeat(np.array(pot["split"], dtype=object), pot["n_atoms"]),
                     monitor_max_grade=sp["monitor_max_grade"], monitor_n_above=sp["monitor_n_above"])
    return Atlas(settings=s, validity=Validity(dft_mlip=gstar, atomistic_continuum=dstar),
                 explanations={MLIP_ATOMS: mlip_exp, CONTINUUM_LOCAL: cont_exp, CONTINUUM_BULK: cont_bulk_exp},
                 plasticity=plasticity_record(sp, cont, strain, radius, usf, mat), monitor=monitor, data=data,
                 maps=maps,
                 hole_radius_nm=radius, grid_nm=grid_h, strain=strain, threshold=threshold)
