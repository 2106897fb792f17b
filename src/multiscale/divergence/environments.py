"""Which local structures the surrogate gets wrong: atomic environments clustered in descriptor space.

Every atom the study has (the potential's DFT dataset by split, the active-learning candidates and test set, the
specimen's free atoms at zero load, under load and along the plasticity sweep) is described by its linear SNAP
bispectrum, standardised by the training atoms' mean and spread (the potential's own extrapolation grader), reduced
to principal components and clustered with KMeans; the number of clusters is the one with the largest mean
silhouette (Rousseeuw, J. Comput. Appl. Math. 20, 53 (1987)) in a configured range. PCA, KMeans and the silhouette
are scikit-learn's.

Each cluster is then labelled by interpretable structure: coordination (neighbours within the first/second shell
midpoint), the common-neighbour-analysis class (LAMMPS ``cna/atom``), the nearest-neighbour strain and, for specimen
atoms, the distance from the hole surface; and reported with what the atlas knows of it: the MLIP force error where
DFT exists (held-out and training), the epistemic force std and the extrapolation grade of the potential, the
share of specimen atoms, and the continuum-vs-MD divergence of the grid cells it dominates. This is the approach of
interpretable-ML work on materials that clusters a model's features and names the clusters by structure; the
labelling rules (below) are ours, as no library names SNAP-descriptor clusters in words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from multiscale.artifacts import read_artifact
from multiscale.atomsio import images_from_arrays
from multiscale.divergence.atlas import EnvironmentSettings, continuum_cell_records, specimen_crystal
from multiscale.material import (
    CNA,
    Material,
    bulk_coordination,
    coordination_cutoff,
    nearest_neighbour_distance,
)
from multiscale.records import EnvironmentCluster
from multiscale.specimen import Specimen
from multiscale.units import ANGSTROM_PER_NM

# LAMMPS compute cna/atom classes
CNA_NAMES = {0: "unknown", 1: "fcc", 2: "hcp", 3: "bcc", 4: "icosahedral", 5: "other"}
ZERO_FORCE = 1e-6  # eV/Angstrom: a DFT force this small is zero by symmetry
SOURCES = ("train", "calibration", "test", "candidate", "specimen_zero_load", "specimen_loaded", "specimen_sweep")


@dataclass
class AtomSet:
    """Per-atom rows of one source (n atoms): bispectrum ``descriptors`` (n, 1 + K; column 0 constant), ``grade``,
    epistemic ``force_std`` (eV/Angstrom), DFT ``force_error`` (eV/Angstrom, NaN without DFT), ``coordination``,
    ``cna`` id, ``nn_strain``, ``hole_distance`` (nm, NaN off the specimen), ``group`` and the specimen grid
    ``cell`` (-1 off the specimen)."""

    source: str
    descriptors: np.ndarray
    grade: np.ndarray
    force_std: np.ndarray
    force_error: np.ndarray
    coordination: np.ndarray
    cna: np.ndarray
    nn_strain: np.ndarray
    hole_distance: np.ndarray
    group: np.ndarray
    cell: np.ndarray


def nn_strain(atoms: Atoms, cutoff: float, ideal: float) -> np.ndarray:
    """Mean distance to the neighbours within ``cutoff`` (Angstrom) over the ideal nearest-neighbour distance,
    minus 1, per atom (n,); NaN for an atom without neighbours (ASE neighbour list, periodic images included)."""
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list("id", atoms, cutoff)
    count = np.bincount(i, minlength=len(atoms))
    total = np.bincount(i, weights=d, minlength=len(atoms))
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count / ideal - 1.0


def describe_atoms(images: list[Atoms], model, grader, descriptor_settings, material: Material, a0: float
                   ) -> dict[str, np.ndarray]:
    """Descriptors, grade, epistemic force std and structure of every atom of ``images`` (concatenated)."""
    from multiscale.lammps import structure
    from multiscale.mlip.snap import descriptors

    cut, cna_cut = coordination_cutoff(material, a0), CNA.get(material.lattice, (None, 0.854))[1] * a0
    ideal = nearest_neighbour_distance(material, a0)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("descriptors", "grade", "force_std", "coordination", "cna",
                                                         "nn_strain")}
    for atoms in images:
        d = descriptors(atoms, descriptor_settings)
        p = model.predict(d, len(atoms))
        coord, cna = structure(atoms, cut, cna_cut)
        out["descriptors"].append(d["atom"])
        out["grade"].append(grader.grade(d["atom"]))
        out["force_std"].append(np.linalg.norm(p["forces_std_epistemic"], axis=1))
        out["coordination"].append(coord)
        out["cna"].append(cna)
        out["nn_strain"].append(nn_strain(atoms, cut, ideal))
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}


def _atom_set(source: str, rows: dict[str, np.ndarray], force_error=None, group=None, hole_distance=None,
              cell=None) -> AtomSet:
    n = len(rows["grade"])
    return AtomSet(source=source, descriptors=rows["descriptors"], grade=rows["grade"], force_std=rows["force_std"],
                   force_error=np.full(n, np.nan) if force_error is None else force_error,
                   coordination=rows["coordination"], cna=rows["cna"].astype(int), nn_strain=rows["nn_strain"],
                   hole_distance=np.full(n, np.nan) if hole_distance is None else hole_distance,
                   group=np.full(n, source, dtype=object) if group is None else group,
                   cell=np.full(n, -1) if cell is None else cell)


def dataset_sets(dataset: str, potential: str, model, grader, material: Material, a0: float) -> list[AtomSet]:
    """The potential's DFT dataset, one set per split, with each atom's DFT force error."""
    ds = read_artifact(dataset, "dft_dataset")
    pot = read_artifact(potential, "potential")
    if list(pot["n_atoms"]) != list(ds["n_atoms"]):
        from multiscale.errors import ArtifactError

        raise ArtifactError(f"{potential} was not fitted on {dataset} (configuration counts differ). Fix: pass the "
                            f"dataset the potential was trained on (with active learning: the last iteration's)")
    images = images_from_arrays({k: ds[k] for k in ("n_atoms", "numbers", "positions", "cell", "pbc")}, labels=False)
    rows = describe_atoms(images, model, grader, model.settings.descriptor, material, a0)
    split = np.repeat(np.array(pot["split"], dtype=object), ds["n_atoms"])
    group = np.repeat(np.array(ds["groups"], dtype=object), ds["n_atoms"])
    error = np.linalg.norm(pot["forces_pred"] - pot["forces_dft"], axis=1)
    # an atom whose DFT force vanishes by symmetry (EOS and strained perfect cells) tests nothing: no error record
    error[np.linalg.norm(pot["forces_dft"], axis=1) < ZERO_FORCE] = np.nan
    out = []
    for s in ("train", "calibration", "test"):
        m = split == s
        if m.any():
            out.append(_atom_set(s, {k: v[m] for k, v in rows.items()}, error[m], group[m]))
    return out


def candidate_set(paths: list[str], model, grader, material: Material, a0: float) -> list[AtomSet]:
    """The active-learning candidate pools and test set (unlabelled here: grade and std only)."""
    images, groups = [], []
    for path in paths:
        art = read_artifact(path, "al_candidates")
        imgs = images_from_arrays({k: art[k] for k in ("n_atoms", "numbers", "positions", "cell", "pbc")},
                                  labels=False)
        images += imgs
        groups += [g for g, n in zip(art["groups"], art["n_atoms"], strict=True) for _ in range(int(n))]
    if not images:
        return []
    rows = describe_atoms(images, model, grader, model.settings.descriptor, material, a0)
    return [_atom_set("candidate", rows, group=np.array(groups, dtype=object))]


def specimen_sets(specimen: str, model, grader, material: Material) -> list[AtomSet]:
    """The specimen's free atoms (the frame is a boundary condition) at zero load, under load and at every strain
    of the plasticity sweep."""
    from multiscale.md.specimen import build_plate

    sp = read_artifact(specimen, "md_specimen")
    desc = sp.attr("specimen")
    spec = Specimen.from_description(desc, specimen)
    a0 = float(desc.crystal.lattice_constant_A)
    ref = sp["reference"]
    plate = build_plate(spec, material, a0)
    if len(plate) != len(ref) or not np.allclose(plate.positions / ANGSTROM_PER_NM, ref, atol=1e-6):
        from multiscale.errors import ArtifactError

        raise ArtifactError(f"{specimen}: the plate rebuilt from its description does not match its reference "
                            f"sites. Fix: rerun the md_specimen rule with this version of multiscale")
    free = ~sp["frame"].astype(bool)
    hole = np.hypot(ref[:, 0], ref[:, 1]) - desc.geometry.hole_radius_nm
    cell = spec.cell_of(ref[:, :2])
    out = []
    states = [("specimen_zero_load", sp["atom_residual_displacement"]), ("specimen_loaded", sp["atom_displacement"])]
    states += [("specimen_sweep", d) for d in sp["sweep_displacement"]]
    for source, disp in states:
        atoms = plate.copy()
        pos = (ref + disp) * ANGSTROM_PER_NM
        lo, hi = pos[:, :2].min(axis=0), pos[:, :2].max(axis=0)
        pos[:, :2] += 10.0 - lo  # into a box with 10 Angstrom of vacuum around the (strained) plate
        atoms.positions = pos
        atoms.set_cell([*(hi - lo + 20.0), atoms.cell[2, 2]])
        rows = describe_atoms([atoms], model, grader, model.settings.descriptor, material, a0)
        out.append(_atom_set(source, {k: v[free] for k, v in rows.items()}, hole_distance=hole[free],
                             cell=cell[free] if source == "specimen_loaded" else None))
    return out


@dataclass
class Clustering:
    """Cluster of every atom (n,), its 2-D embedding (n, 2; the first two principal components), the numbers of
    clusters tried and their mean silhouettes, and the number chosen."""

    labels: np.ndarray
    embedding: np.ndarray
    tried: np.ndarray
    silhouette: np.ndarray
    k: int


def cluster(x: np.ndarray, source: np.ndarray, s: EnvironmentSettings) -> Clustering:
    """KMeans on the first ``s.components`` principal components of the standardised rows ``x`` (n, K), fitted on
    a source-balanced subsample; k in ``s.clusters`` by the largest mean silhouette (same seed: same clusters).

    Raises ValueError when there are fewer atoms than the largest k."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(s.seed)
    fit = np.concatenate([rng.permutation(np.flatnonzero(source == src))[: s.fit_per_source]
                          for src in dict.fromkeys(source)])
    fit.sort()
    lo, hi = s.clusters
    if len(fit) <= hi:
        raise ValueError(f"{len(fit)} atoms cannot be clustered into up to {hi} clusters "
                         f"(divergence.environments.clusters)")
    pca = PCA(n_components=min(s.components, x.shape[1]), random_state=s.seed).fit(x[fit])
    z = pca.transform(x)
    tried, scores, models = np.arange(lo, hi + 1), [], []
    for k in tried:
        km = KMeans(n_clusters=int(k), n_init=10, random_state=s.seed).fit(z[fit])
        scores.append(silhouette_score(z[fit], km.labels_, sample_size=min(s.silhouette_sample, len(fit)),
                                       random_state=s.seed))
        models.append(km)
    best = int(np.argmax(scores))
    labels = models[best].predict(z)
    return Clustering(labels=labels, embedding=z[:, :2], tried=tried, silhouette=np.array(scores), k=int(tried[best]))


def structure_label(coordination: float, bulk: float, structure: str, lattice: str, strain: float,
                    hole_distance: float | None, specimen_share: float, top_group: str | None) -> str:
    """The cluster in words, from its median coordination relative to the bulk's (>= 0.99: bulk-like; one
    neighbour missing: vacancy neighbour or subsurface; down to ~2/3: surface terrace (fcc {111} 9/12, {100}
    8/12); fewer: step, kink, edge or adatom), its majority CNA class, nearest-neighbour strain and where it
    lives."""
    frac = coordination / bulk
    if frac >= 0.99:
        if structure == lattice:
            kind = (f"bulk-like {lattice}, " + ("stretched" if strain > 0 else "compressed")
                    if abs(strain) > 0.01 else f"bulk-like {lattice}")
        elif structure == "hcp":
            kind = "hcp-stacked (stacking-fault or twin-boundary layer)"
        else:
            kind = f"fully coordinated but not {lattice} (hot, sheared or disordered)"
    elif frac >= 1.0 - 1.5 / bulk:
        kind = "one neighbour missing (vacancy neighbour or subsurface)"
    elif frac >= 0.62:
        kind = "surface terrace"
    else:
        kind = "step, kink, edge or adatom"
    where = []
    if specimen_share > 0.5 and hole_distance is not None:
        where.append("at the hole surface" if hole_distance < 0.4 else
                     f"specimen interior, median {hole_distance:.2g} nm from the hole")
    if top_group:
        where.append(f"mostly {top_group}")
    return kind + (f" ({', '.join(where)})" if where else "")


def mondrian_force_bounds(error: np.ndarray, source: np.ndarray, labels: np.ndarray, confidence: float
                          ) -> dict[int, tuple[float | None, int, int, float | None]]:
    """Class-conditional (Mondrian) split-conformal bounds on the MLIP force error per cluster (Vovk et al.,
    Algorithmic Learning in a Random World (2005), ch. 4; crepes' ``ConformalRegressor`` with ``bins``): calibrated
    on the ``calibration`` atoms of each cluster, tested on its ``test`` atoms. Returns cluster -> (bound in
    eV/Angstrom or None when the cluster has too few calibration atoms for the confidence, calibration atoms, test
    atoms, test coverage or None without test atoms)."""
    from crepes import ConformalRegressor

    known = np.isfinite(error)
    cal, test = (source == "calibration") & known, (source == "test") & known
    out: dict[int, tuple[float | None, int, int, float | None]] = {}
    if not cal.any():
        return out
    cr = ConformalRegressor().fit(residuals=error[cal], bins=labels[cal])
    for c in np.unique(labels):
        n_cal, n_test = int(np.sum(cal & (labels == c))), int(np.sum(test & (labels == c)))
        if n_cal == 0:
            out[int(c)] = (None, 0, n_test, None)
            continue
        hi = float(cr.predict_int(np.zeros(1), bins=np.array([c]), confidence=confidence)[0, 1])
        bound = hi if np.isfinite(hi) else None
        cov = (float(np.mean(error[test & (labels == c)] <= hi)) if n_test else None)
        out[int(c)] = (bound, n_cal, n_test, cov)
    return out


def _rmse(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.sqrt(np.mean(v**2))) if len(v) else None


def summarise(atoms: dict[str, np.ndarray], labels: np.ndarray, cell_divergence: np.ndarray, threshold: float,
              bulk: float, lattice: str, bounds: dict[int, tuple[float | None, int, int, float | None]]
              ) -> list[EnvironmentCluster]:
    """One :class:`EnvironmentCluster` per cluster, worst held-out force error first (then largest grade);
    ``bounds``: the Mondrian conformal force-error bounds (:func:`mondrian_force_bounds`)."""
    src = atoms["source"]
    spec = np.char.startswith(src.astype(str), "specimen")
    loaded = (src == "specimen_loaded") & (atoms["cell"] >= 0)
    n_cells = len(cell_divergence)
    counts = np.zeros((n_cells, int(labels.max()) + 1))
    np.add.at(counts, (atoms["cell"][loaded], labels[loaded]), 1)
    dominant = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)
    out = []
    for c in range(int(labels.max()) + 1):
        m = labels == c
        if not m.any():
            continue
        cna = Counter(CNA_NAMES.get(int(v), "unknown") for v in atoms["cna"][m])
        structure, count = cna.most_common(1)[0]
        hole = atoms["hole_distance"][m & spec]
        groups = Counter(str(g) for g in atoms["group"][m & ~spec])
        share = float(np.sum(m & spec) / max(np.sum(spec), 1))
        cells = dominant == c
        div = cell_divergence[cells]
        div = div[np.isfinite(div)]
        strain = float(np.nanmedian(atoms["nn_strain"][m]))
        coord = float(np.median(atoms["coordination"][m]))
        hole_median = float(np.median(hole)) if len(hole) else None
        own_share = float(np.mean(spec[m]))
        top = groups.most_common(1)[0][0] if groups and own_share < 0.5 else None
        out.append(EnvironmentCluster(
            cluster=c, label=structure_label(coord, bulk, structure, lattice, strain, hole_median, own_share, top),
            atoms={s: int(np.sum(m & (src == s))) for s in SOURCES if np.any(m & (src == s))},
            coordination_median=coord, structure=structure, structure_fraction=count / int(m.sum()),
            nn_strain_median=strain, hole_distance_median_nm=hole_median, groups=dict(groups.most_common(3)),
            force_rmse_held_out=_rmse(atoms["force_error"][m & np.isin(src, ("calibration", "test"))]),
            force_rmse_train=_rmse(atoms["force_error"][m & (src == "train")]),
            force_std_median=float(np.median(atoms["force_std"][m])), grade_median=float(np.median(atoms["grade"][m])),
            grade_max=float(np.max(atoms["grade"][m])),
            above_threshold_fraction=float(np.mean(atoms["grade"][m] > threshold)), specimen_share=share,
            cells_dominated=int(cells.sum()), cell_divergence_mean=float(np.mean(div)) if len(div) else None,
            force_bound=bounds.get(c, (None, 0, 0, None))[0], bound_calibration_atoms=bounds.get(c, (None, 0))[1],
            bound_test_coverage=bounds.get(c, (None, 0, 0, None))[3]))
    return sorted(out, key=lambda e: (-(e.force_rmse_held_out or -1.0), -e.grade_median))


@dataclass
class Environments:
    """The clustered environments of one study: per-atom ``data`` (datasets of the ``environments`` artifact),
    the cluster records, the clustering and the threshold of the grade."""

    clusters: list[EnvironmentCluster]
    clustering: Clustering
    data: dict[str, np.ndarray]
    threshold: float
    test_coverage: float      # of the Mondrian force-error bounds, pooled over the test atoms (NaN: none)
    confidence: float


def compute_environments(dataset: str, potential: str, specimen: str, continuum: str, candidates: list[str],
                         settings: EnvironmentSettings) -> Environments:
    """Cluster and label every atom of the study (see the module docstring). Paths: the potential's DFT dataset,
    the potential, the specimen and its continuum solution, active-learning candidate pools (may be empty)."""
    from multiscale.mlip.stage import load_grader, load_model

    model, _ = load_model(potential)
    grader = load_grader(potential)
    sp = read_artifact(specimen, "md_specimen")
    desc = sp.attr("specimen")
    material, a0 = specimen_crystal(desc)
    sets = (dataset_sets(dataset, potential, model, grader, material, a0)
            + candidate_set(candidates, model, grader, material, a0) + specimen_sets(specimen, model, grader, material))
    atoms = {k: np.concatenate([getattr(s, k) for s in sets]) for k in
             ("descriptors", "grade", "force_std", "force_error", "coordination", "cna", "nn_strain",
              "hole_distance", "group", "cell")}
    atoms["source"] = np.concatenate([np.full(len(s.grade), s.source, dtype=object) for s in sets])
    x = (atoms["descriptors"][:, 1:] - grader.mean_) / grader.scale_
    clustering = cluster(x, atoms["source"], settings)
    cont = read_artifact(continuum, "continuum")
    bulk = bulk_coordination(material, a0)
    c = continuum_cell_records(sp, cont, float(desc.geometry.hole_radius_nm), float(desc.grid.cell_nm), bulk)
    threshold = model.settings.validation.extrapolation_threshold
    bounds = mondrian_force_bounds(atoms["force_error"], atoms["source"], clustering.labels, settings.confidence)
    clusters = summarise(atoms, clustering.labels, np.where(c["valid"], c["relative"], np.nan), threshold, bulk,
                         material.lattice, bounds)
    # pooled over the test atoms whose cluster has a finite bound (the others have no interval to cover them)
    bound_of = np.array([np.nan if bounds.get(int(k), (None,))[0] is None else bounds[int(k)][0]
                         for k in clustering.labels])
    test = (atoms["source"] == "test") & np.isfinite(atoms["force_error"]) & np.isfinite(bound_of)
    pooled = float(np.mean(atoms["force_error"][test] <= bound_of[test])) if test.any() else float("nan")
    data = {"cluster": clustering.labels.astype(int), "embedding": clustering.embedding,
            "source": atoms["source"].astype(str), "group": atoms["group"].astype(str),
            **{k: atoms[k] for k in ("grade", "force_std", "force_error", "coordination", "nn_strain",
                                     "hole_distance")},
            "cna": atoms["cna"].astype(int), "clusters_tried": clustering.tried.astype(int),
            "silhouette": clustering.silhouette}
    return Environments(clusters=clusters, clustering=clustering, data=data, threshold=threshold,
                        test_coverage=pooled, confidence=settings.confidence)
