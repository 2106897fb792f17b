"""Active-learning entry points called by the workflow rules (one function per rule).

Iteration ``k`` (0-based) starts from the potential ``P_k`` (``P_0``: the MLIP stage's first model) and its
dataset ``D_k``: :func:`explore` makes and grades the candidate pool with ``P_k``; :func:`select` picks the batch
(and, at k = 0, the fixed test set); :func:`label` runs GPAW on them through the shared content cache;
:func:`extend` writes ``D_(k+1)`` = ``D_k`` + the labels, which the MLIP fit turns into ``P_(k+1)``;
:func:`record` scores every ``P_k`` on the fixed test set and writes the learning record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multiscale.active import explore as ex
from multiscale.active import select as sel
from multiscale.active.settings import ActiveLearningSettings
from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, structure_arrays
from multiscale.dft.calculator import DFTSettings, cached_single_point
from multiscale.errors import ArtifactError, SCFConvergenceError
from multiscale.fileio import write_text_atomic
from multiscale.lammps import Potential
from multiscale.material import Material
from multiscale.mlip.stage import load_grader, load_model
from multiscale.plotting import pyplot, save
from multiscale.progress import Progress
from multiscale.specimen import Specimen

AL_GROUP_PREFIX = "al_"  # groups of configurations the loop labelled (all trained on: see mlip.stage.dataset_split)


def _a0(eos: str) -> float:
    return float(read_artifact(eos, "eos").attrs["a0"])


def _structures(images, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    data = structure_arrays(images)
    data.update(names=[a.info["name"] for a in images], groups=[a.info["group"] for a in images],
                metadata=[a.info["metadata"] for a in images], **(extra or {}))
    return data


def _specimen_candidates(potential: str, model, grader, material: Material, a0: float, specimen: dict[str, Any],
                         s: ActiveLearningSettings, comm=None) -> tuple[list, dict[str, Any]]:
    """Cut-outs of the explorer's plate relaxed with the current potential, and per strain the number of free
    atoms beyond the threshold and the largest grade (the record's specimen trust figures)."""
    from multiscale.md.specimen import SpecimenRun

    e = s.explorers.specimen
    spec = Specimen.from_dict({**specimen, "size": e.size}, "config: specimen (active-learning explorer)")
    art = read_artifact(potential, "potential")
    files = json.loads(art.attrs["files"])
    pot = Potential.snap(files[0], files[1], str(art.attrs["element"]))
    threshold = model.settings.validation.extrapolation_threshold
    run = SpecimenRun(spec, material, a0, pot, model.settings.descriptor.compute_args(quadratic=False), model,
                      grader, comm=comm, grader_threshold=threshold)
    out, stats = [], {}
    try:
        free = ~run.frame_mask()
        for strain in sorted(e.strains):
            run.load(strain)
            _, grade = run.uncertainty()
            positions = run.positions()
            stats[f"{strain:g}"] = {"flagged_free_atoms": int(np.sum(free & (grade > threshold))),
                                    "max_grade": float(grade[free].max()),
                                    "collapsed": run.stops[-1]["collapsed"]}
            out += ex.specimen_cutouts(positions, float(run.atoms.cell[2, 2]), grade, free, threshold, e,
                                       int(material.cubic_cell(a0).numbers[0]), strain)
    finally:
        run.close()
    return out, stats


def explore(potential: str, eos: str, material: dict, specimen: dict, al: dict, iteration: int, out: str,
            comm=None) -> None:
    """The candidate pool of one iteration, graded with ``potential``: an ``al_candidates`` artifact."""
    s = ActiveLearningSettings.from_dict(al)
    mat = Material.from_dict(material)
    a0 = _a0(eos)
    model, element = load_model(potential)
    grader = load_grader(potential)
    rng = np.random.default_rng([s.seed, iteration])
    fam = s.explorers.families
    ex.check_lattice(mat, fam)
    art = read_artifact(potential, "potential")
    files = json.loads(art.attrs["files"])
    pot = Potential.snap(files[0], files[1], element)
    pool, stats = [], {}
    if "strained_bulk" in fam:
        pool += ex.strained_bulk(mat, a0, s.explorers.strained_bulk, rng)
    if "stacking_fault" in fam:
        pool += ex.stacking_fault_path(mat, a0, s.explorers.stacking_fault, rng)
    if "hot_md" in fam:
        pool += ex.hot_md(pot, mat, a0, s.explorers.hot_md)
    if "specimen" in fam:
        cuts, stats = _specimen_candidates(potential, model, grader, mat, a0, specimen, s, comm)
        pool += cuts
    if comm is not None and comm.rank != 0:
        return
    for a in pool:
        a.info["name"] = f"it{iteration}_{a.info['name']}"
    graded = ex.grade(pool, model, grader, model.settings.descriptor)
    write_artifact(out, "al_candidates", _structures(pool, {
        "grade": np.concatenate([g.grade for g in graded]) if graded else np.zeros(0),
        "force_std": np.concatenate([g.force_std for g in graded]) if graded else np.zeros(0),
        "max_grade": [float(g.grade.max()) for g in graded]}),
        {"iteration": iteration, "specimen": stats, "threshold": model.settings.validation.extrapolation_threshold,
         "settings": al}, inputs=[potential, eos], config={"al": al, "material": material, "specimen": specimen})


def _images(path: str, kind: str):
    art = read_artifact(path, kind)
    return art, images_from_arrays({k: art[k] for k in ("n_atoms", "numbers", "positions", "cell", "pbc", "names",
                                                       "groups", "metadata")}, labels=False)


def _test_indices(pool, s: ActiveLearningSettings) -> list[int]:
    return sel.fixed_test_set([a.info["group"] for a in pool], s.test_per_family, np.random.default_rng([s.seed, 99]))


def test_structures(candidates: str, al: dict, out: str) -> None:
    """The fixed test set: ``test_per_family`` configurations of every explorer family of iteration 0's pool,
    drawn once from its own seed; :func:`select` never picks them."""
    s = ActiveLearningSettings.from_dict(al)
    art, pool = _images(candidates, "al_candidates")
    if int(art.attrs["iteration"]) != 0:
        raise ArtifactError(f"{candidates}: the fixed test set is drawn from iteration 0's pool, this is iteration "
                            f"{art.attrs['iteration']}'s")
    _write_subset(out, pool, art, _test_indices(pool, s), {"role": "fixed test set", "scores": [], "rule": "test"},
                  al)


def select(candidates: str, potential: str, dataset: str, material: dict, eos: str, al: dict, iteration: int,
           out: str) -> None:
    """The batch of one iteration by the configured rule (``al_candidates`` artifact of the picked ones, with each
    pick's score), within the DFT budget (labels of the loop in ``dataset`` so far); at iteration 0 the fixed test
    set (:func:`test_structures`) is excluded. An empty batch when the budget is spent or no candidate's grade
    exceeds ``stop_grade`` (the stop rule)."""
    s = ActiveLearningSettings.from_dict(al)
    art, pool = _images(candidates, "al_candidates")
    model, _ = load_model(potential)
    grader = load_grader(potential)
    rng = np.random.default_rng([s.seed, iteration, 7])
    test = _test_indices(pool, s) if iteration == 0 else []
    used = int(sum(str(g).startswith(AL_GROUP_PREFIX) for g in read_artifact(dataset, "dft_dataset")["groups"]))
    n = max(0, min(s.batch_size, s.budget - used))
    if s.stop_grade is not None and max(art["max_grade"], default=0.0) <= s.stop_grade:
        n = 0
    graded = ex.grade(pool, model, grader, model.settings.descriptor) if n else []
    scores: list[float] = []
    if n == 0:
        picked: list[int] = []
    elif s.rule == "uncertainty":
        picked = sel.by_uncertainty(graded, n, grader, s.diversity, exclude=test)
        scores = [float(graded[i].grade.max()) for i in picked]
    elif s.rule == "downstream":
        g = sel.qoi_gradient(s.qoi, Material.from_dict(material), _a0(eos), model.settings.descriptor)
        picked, scores = sel.by_downstream(graded, pool, n, model, g, exclude=test)
    else:
        picked = sel.by_random(len(pool), n, rng, exclude=test)
        scores = [float(graded[i].grade.max()) for i in picked]
    _write_subset(out, pool, art, picked, {"role": "batch", "scores": scores, "rule": s.rule,
                                           "budget_used_before": used}, al)


def _write_subset(out: str, pool, art, idx: Sequence[int], attrs: dict[str, Any], al: dict) -> None:
    images = [pool[i] for i in idx]
    per_atom = np.concatenate([np.arange(a, b) for a, b in zip(*_bounds(art["n_atoms"], idx), strict=True)]) \
        if idx else np.zeros(0, int)
    write_artifact(out, "al_candidates", _structures(images, {
        "grade": art["grade"][per_atom], "force_std": art["force_std"][per_atom],
        "max_grade": art["max_grade"][list(idx)]}),
        {"iteration": int(art.attrs["iteration"]), "specimen": art.attrs["specimen"],
         "threshold": float(art.attrs["threshold"]), "settings": al, "selection": attrs},
        inputs=[str(art.path)], config=al)


def _bounds(n_atoms: np.ndarray, idx: Sequence[int]) -> tuple[list[int], list[int]]:
    ends = np.cumsum(n_atoms)
    return [int(ends[i] - n_atoms[i]) for i in idx], [int(ends[i]) for i in idx]


def label(structures: str, dft: dict, out: str, comm=None) -> None:
    """GPAW single points of every configuration in ``structures`` through the shared content cache (a killed
    job resumes: finished calculations are cache hits), one progress line each, as a ``dft_dataset`` of
    fidelity 'training' (the study's DFT settings). A configuration whose SCF fails follows ``dft.on_failure``."""
    settings = DFTSettings.from_dict(dft)
    art, images = _images(structures, "al_candidates")
    rank0 = comm is None or comm.rank == 0
    progress = Progress(len(images), "DFT single points of the active-learning batch", enabled=rank0)
    rows, dropped = [], []
    for position, atoms in enumerate(images):
        try:
            path, ran = cached_single_point(atoms, settings, comm=comm)
        except SCFConvergenceError as exc:
            if settings.on_failure != "drop":
                raise
            dropped.append({"name": atoms.info["name"], "group": atoms.info["group"],
                            "metadata": atoms.info["metadata"], "position": position, "why": str(exc)})
            progress.done(f"{atoms.info['name']}: dropped")
            continue
        progress.done(atoms.info["name"], cached=not ran)
        if rank0:
            rows.append((atoms, read_artifact(path, "dft_calc")))
    if not rank0:
        return
    data = _structures([a for a, _ in rows])
    data.update(energy=[float(c["energy"][0]) for _, c in rows],
                forces=np.concatenate([c["forces"] for _, c in rows]) if rows else np.zeros((0, 3)),
                stress=np.array([c["stress"][0] for _, c in rows]).reshape(-1, 6),
                scf_iterations=[int(c["scf_iterations"][0]) for _, c in rows],
                wall_time=[float(c["wall_time"][0]) for _, c in rows], fidelity=["training"] * len(rows))
    if any("initial_magmoms" in c.data for _, c in rows):  # spin-polarised labels: the moments travel along
        data.update({k: np.concatenate([c.data.get(k, np.zeros(len(a))) for a, c in rows])
                     for k in ("initial_magmoms", "magmoms")})
    write_artifact(out, "dft_dataset", data, {"settings": settings.physics(), "dropped": dropped,
                                              "fidelities": {"training": {"settings": settings.physics(),
                                                                          "labels": ["energy", "forces", "stress"]}}},
                   inputs=[structures], config=settings.physics())


def extend(dataset: str, labels: Sequence[str], out: str) -> None:
    """``dataset`` plus the configurations of every ``labels`` dataset (the loop's DFT labels), one dataset."""
    base = read_artifact(dataset, "dft_dataset")
    data = {k: list(v) if v.dtype == object else v for k, v in base.data.items()}
    dropped = json.loads(base.attrs["dropped"])
    for path in labels:
        lab = read_artifact(path, "dft_dataset")
        rows = len(data["names"]) + sum(1 for _ in dropped)  # where this batch's rows start, drops included
        extra = dict(lab.data)
        for k in ("initial_magmoms", "magmoms"):  # moments a batch does not record are unknown (NaN)
            if k in data and k not in extra:
                extra[k] = np.full(len(extra["numbers"]), np.nan)
        for k, v in extra.items():
            if k in data:
                data[k] = list(data[k]) + list(v) if isinstance(data[k], list) else np.concatenate([data[k], v])
        # a dropped label keeps its place after every row before it, so the base split never shifts
        dropped += [{**d, "position": rows + int(d.get("position", 0))} for d in json.loads(lab.attrs["dropped"])]
    write_artifact(out, "dft_dataset", data, {"settings": base.attrs["settings"], "dropped": dropped,
                                              "fidelities": base.attrs["fidelities"]},
                   inputs=[dataset, *labels], config={"labels": list(labels)})


def _test_scores(potential: str, testset: str) -> dict[str, float]:
    """Energy (meV/atom), force (eV/A) and stress (GPa) RMSE of ``potential`` on the labelled test set."""
    from multiscale.mlip.snap import descriptors

    model, _ = load_model(potential)
    ds = read_artifact(testset, "dft_dataset")
    images = images_from_arrays(ds.data)
    de, df, dsig = [], [], []
    start = 0
    for i, atoms in enumerate(images):
        n = len(atoms)
        p = model.predict(descriptors(atoms, model.settings.descriptor), n)
        de.append(p["energy"] - ds["energy"][i] / n)  # the model predicts per atom; the label is per cell
        df.append(p["forces"] - ds["forces"][start:start + n])
        dsig.append(p["stress"] - ds["stress"][i])
        start += n
    rms = lambda x: float(np.sqrt(np.mean(np.square(np.concatenate([np.ravel(v) for v in x]))))) if x else np.nan  # noqa: E731
    return {"energy_rmse_meV_atom": 1000 * rms(de), "force_rmse_eV_A": rms(df), "stress_rmse_GPa": rms(dsig)}


def _monitor_coverage(potential: str, batch: str, labels: str, coverage: float) -> float:
    """The trust monitor's own coverage: the fraction of force components of the batch whose DFT value fell
    inside the split-conformal interval the potential predicted before the DFT call. The multiplier is calibrated
    as the MLIP validation does (:func:`multiscale.mlip.validation.conformal_report`: the potential's calibration
    split, configurations with non-zero DFT forces only); NaN without labels or without a finite multiplier (a
    calibration set too small to promise the coverage is no coverage of 1)."""
    from multiscale.mlip.snap import descriptors
    from multiscale.mlip.validation import conformal_quantile, coverage_of, force_informative

    pot = read_artifact(potential, "potential")
    informative = force_informative({"forces_dft": pot["forces_dft"]}, pot["n_atoms"])
    cal = np.repeat((pot["split"] == "calibration") & informative, pot["n_atoms"])
    if not cal.any():
        return float("nan")
    q = conformal_quantile((np.abs(pot["forces_dft"][cal] - pot["forces_pred"][cal]) / pot["forces_std"][cal]).ravel(),
                           coverage)
    model, _ = load_model(potential)
    lab = read_artifact(labels, "dft_dataset")
    errs, stds, start = [], [], 0
    for atoms in images_from_arrays(lab.data):
        n = len(atoms)
        p = model.predict(descriptors(atoms, model.settings.descriptor), n)
        errs.append(p["forces"] - lab["forces"][start:start + n])
        stds.append(p["forces_std"])
        start += n
    if not errs:
        return float("nan")
    return float(coverage_of(np.concatenate(errs), np.concatenate(stds), q))


@dataclass
class LoopArtifacts:
    """Paths of one loop's artifacts: per iteration k the potential P_k and its candidate pool (k = 0..K), the
    batch P_k chose and its DFT labels (k = 0..K-1); the labelled fixed test set; the DFT EOS (lattice constant)."""

    potentials: Sequence[str]
    candidates: Sequence[str]
    batches: Sequence[str]
    labels: Sequence[str]
    testset: str
    eos: str


def record(loop: LoopArtifacts, material: dict, al: dict, mlip: dict, out: str, figure: str) -> None:
    """The learning record: per iteration k (potential P_k), DFT labels used so far, RMSE on the fixed test set,
    the monitor's coverage on the batch P_k chose, C44 and the stacking-fault energies of P_k (closed form, with
    posterior std), and the specimen's flagged free atoms and largest grade per explorer strain; the learning
    curve (test force RMSE vs DFT calls) as ``figure``."""
    potentials, candidates, batches, labels = loop.potentials, loop.candidates, loop.batches, loop.labels
    testset, eos = loop.testset, loop.eos
    s = ActiveLearningSettings.from_dict(al)
    mat = Material.from_dict(material)
    a0 = _a0(eos)
    coverage = float(mlip.get("coverage", 0.9))
    rows: dict[str, list[float]] = {k: [] for k in (
        "iteration", "dft_calls", "energy_rmse", "force_rmse", "stress_rmse", "coverage", "c44", "c44_std",
        "usf_111", "usf_111_std", "isf_111", "isf_111_std", "specimen_flagged", "specimen_max_grade")}
    calls = 0
    by_strain = []
    for k, potential in enumerate(potentials):
        model, _ = load_model(potential)
        scores = _test_scores(potential, testset)
        rows["iteration"].append(k)
        rows["dft_calls"].append(calls)
        rows["energy_rmse"].append(scores["energy_rmse_meV_atom"])
        rows["force_rmse"].append(scores["force_rmse_eV_A"])
        rows["stress_rmse"].append(scores["stress_rmse_GPa"])
        rows["coverage"].append(_monitor_coverage(potential, batches[k], labels[k], coverage)
                                if k < len(labels) else float("nan"))
        for q, key in (("C44", "c44"), ("usf_111", "usf_111"), ("isf_111", "isf_111")):
            if q != "C44" and mat.lattice != "fcc":
                rows[key].append(float("nan"))
                rows[f"{key}_std"].append(float("nan"))
                continue
            g = sel.qoi_gradient(q, mat, a0, model.settings.descriptor)
            rows[key].append(float(g @ model.coef_))
            rows[f"{key}_std"].append(float(np.sqrt(g @ model.covariance_ @ g)))
        stats = json.loads(read_artifact(candidates[k], "al_candidates").attrs["specimen"]) \
            if k < len(candidates) else {}
        by_strain.append(stats)
        first = stats.get(min(stats, key=float)) if stats else None
        rows["specimen_flagged"].append(first["flagged_free_atoms"] if first else -1)
        rows["specimen_max_grade"].append(first["max_grade"] if first else float("nan"))
        if k < len(labels):
            calls += len(read_artifact(labels[k], "dft_dataset")["names"])
    test = read_artifact(testset, "dft_dataset")
    write_artifact(out, "al_record", {k: np.array(v) for k, v in rows.items()}, {
        "rule": s.rule, "qoi": s.qoi, "settings": al,
        "test_set": {"names": list(test["names"]), "groups": list(test["groups"])},
        "specimen_by_strain": by_strain},
        inputs=[*potentials, testset], config={"al": al})
    _learning_curve(rows, s.rule, figure)


def _learning_curve(rows: dict[str, list[float]], rule: str, figure: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(rows["dft_calls"], rows["force_rmse"], "o-", label=rule)
    ax.set_xlabel("DFT calls of the loop")
    ax.set_ylabel("force RMSE on the fixed test set (eV/Å)")
    ax.legend()
    save(fig, figure)


def dft_economy(curves: dict[str, tuple[np.ndarray, np.ndarray]], baseline: str = "random") -> dict[str, float]:
    """Per selection rule, the DFT labels it needs to reach the ``baseline`` rule's final test force RMSE, as a
    fraction of the baseline's labels (NaN: never reached within its iterations; the baseline itself is 1).
    ``curves``: rule -> (DFT calls, test force RMSE) per iteration. Raises :class:`ArtifactError` without the
    baseline rule."""
    if baseline not in curves:
        raise ArtifactError(f"the DFT economy compares with the '{baseline}' rule, which no point ran. Fix: sweep "
                            f"active_learning.rule over a list that includes {baseline}")
    calls, rmse = curves[baseline]
    target, spent = float(rmse[-1]), float(calls[-1])
    out = {}
    for rule, (c, r) in curves.items():
        reached = [float(n) for n, e in zip(c, r, strict=True) if e <= target]
        out[rule] = reached[0] / spent if reached and spent > 0 else float("nan")
    return out


def compare_rules(records: dict[str, str], out: str, figure: str) -> None:
    """The learning curves of several loops (sweep points over ``active_learning.rule``) on one figure, and the
    DFT economy of each rule against the random one (:func:`dft_economy`) as Markdown. The points must share the
    fixed test set (same iteration-0 pool and seed), which is checked. Raises :class:`ArtifactError` otherwise."""
    arts = {label: read_artifact(path, "al_record") for label, path in records.items()}
    tests = {label: tuple(a.json_attr("test_set")["names"]) for label, a in arts.items()}
    if len(set(tests.values())) > 1:
        raise ArtifactError(f"the loops {sorted(records)} were scored on different test sets; a comparison needs "
                            f"one. Fix: sweep only active_learning.rule (the pool and the test set then coincide)")
    rules = [str(a.attrs["rule"]) for a in arts.values()]
    if len(set(rules)) < len(rules):
        raise ArtifactError(f"several loops of {sorted(records)} ran the same selection rule ({rules}); the DFT "
                            f"economy compares rules. Fix: sweep only active_learning.rule")
    curves = {str(a.attrs["rule"]): (a["dft_calls"], a["force_rmse"]) for a in arts.values()}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for rule, (c, r) in curves.items():
        ax.plot(c, r, "o-", label=rule)
    ax.set_xlabel("DFT calls of the loop")
    ax.set_ylabel("force RMSE on the fixed test set (eV/Å)")
    ax.legend()
    save(fig, figure)
    lines = ["# Active learning: selection rules compared", "",
             f"Fixed test set: {len(next(iter(tests.values())))} configurations, one per explorer family, never "
             f"trained on. Figure: `{figure}`.", "",
             "| rule | DFT calls | test force RMSE per iteration (eV/Å) | DFT calls to reach random's final RMSE, "
             "fraction of random's |", "|---|---|---|---|"]
    economy = dft_economy(curves) if "random" in curves else {}
    for rule, (c, r) in curves.items():
        frac = economy.get(rule, float("nan"))
        lines.append(f"| {rule} | {', '.join(str(int(n)) for n in c)} | {', '.join(f'{e:.4g}' for e in r)} | "
                     + (f"{frac:.2f}" if np.isfinite(frac) else "not reached" if economy else "no random rule")
                     + " |")
    write_text_atomic(out, "\n".join(lines) + "\n")
