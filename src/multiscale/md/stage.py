"""MD stage entry points: 0 K properties, the specimen, thermal expansion and speed, each with the fitted potential."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, read_properties, write_artifact
from multiscale.errors import CalculationError
from multiscale.fileio import write_text_atomic
from multiscale.lammps import Potential, Session, baseline_potential
from multiscale.material import Material, hole_min_coordination
from multiscale.md.properties import CrystalCheck, MDSettings, posterior_properties, thermal_expansion
from multiscale.md.specimen import (
    CoarseGrainer,
    SpecimenRun,
    bulk_stress,
    fields,
    interior_bulk_mask,
    relax_unloaded_and_loaded,
)
from multiscale.mlip.stage import load_grader, load_model
from multiscale.progress import Progress
from multiscale.records import FarField, PlasticityOnset, Relaxation
from multiscale.specimen import Specimen
from multiscale.units import ANGSTROM_PER_NM, property_units


@contextmanager
def _scratch(out: str, comm, files: dict[str, str]):
    """A scratch folder beside ``out`` (visible to every rank, also across nodes) holding ``files`` (name ->
    text, written by rank 0); removed afterwards, also on error."""
    rank0 = comm is None or comm.rank == 0
    tmp = Path(out).parent / f".{Path(out).name}.work"
    if rank0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, text in files.items():
            (tmp / name).write_text(text)
    if comm is not None:
        comm.barrier()
    try:
        yield tmp
    finally:
        if comm is not None:
            comm.barrier()
        if rank0:
            shutil.rmtree(tmp, ignore_errors=True)


def _potential_files(art) -> dict[str, str]:
    return {"snap.snapparam": art.attrs["snapparam"], "snap.snapcoeff": art.attrs["snapcoeff"]}


def run_properties(potential: str, material: dict[str, Any], md: dict[str, Any], out: str, comm=None) -> None:
    """Properties with the posterior mean and draws; LAMMPS runs domain-decomposed over ``comm``."""
    settings = MDSettings.from_dict(md)
    mat = Material.from_dict(material)
    model, element = load_model(potential)
    art = read_artifact(potential, "potential")
    rank0 = comm is None or comm.rank == 0
    with _scratch(out, comm, {"snap.snapparam": art.attrs["snapparam"]}) as tmp:
        mean, std, samples = posterior_properties(model, element, tmp / "snap.snapparam", mat, settings, tmp, comm)
    if not rank0:
        return
    names = list(mean)
    values = dict(mean)
    post = {}
    for k in names:
        ok = [s[k] for s in samples if np.isfinite(s[k])]
        post[k] = f"std over {len(ok)} of {settings.posterior_samples} posterior draws"
        if len(ok) < len(samples):
            post[k] += (f" ({len(samples) - len(ok)} relaxations collapsed: an atom moved > 1/4 of the nearest-"
                        f"neighbour distance or the energy fell below the crystal's; left out)")
        if not np.isfinite(mean[k]) and ok:
            values[k] = float(np.mean(ok))
            post[k] += "; the posterior-mean potential collapsed too: value = mean over the stable draws"
    sf = settings.surface
    sfs = settings.stacking_fault
    how = {k: f"{{111}}<112> path, {sfs.points} shifts to a0/sqrt(6), {3 * sfs.periods} layers, relaxed normal to "
              f"the fault at fixed cell" for k in ("isf_111", "usf_111")}
    how.update({k: "at the crystal's volume per atom (hcp at ideal c/a), atoms on symmetry sites" for k in mean
                if k.startswith("phase_")})
    how |= {"vacancy_formation_energy": f"relaxed at constant volume, {settings.vacancy_supercell}^3 cubic supercell "
                                       f"({4 * settings.vacancy_supercell**3 if mat.lattice == 'fcc' else '-'} "
                                       f"sites), vs bulk energy per atom"}
    for f in sf.facets:
        how[f"surface_energy_{f}"] = f"relaxed 1x1 slab, {sf.layers} layers, {sf.vacuum} A vacuum each side"
    notes = [f"LAMMPS 0 K, {how.get(k, f'{settings.supercell}^3 cubic supercell, +/-{settings.strain} strains')}; "
             f"{post[k]}" for k in mean]
    write_artifact(out, "properties", {
        "names": names, "values": [values[k] for k in names], "std": [std[k] for k in names],
        "units": [property_units(k) for k in names], "notes": notes,
        "samples": np.array([[s[k] for k in names] for s in samples]).reshape(len(samples), len(names)),
    }, {"scale": "md", "settings": {"md": md}}, inputs=[potential], config={"md": md, "material": material})


def run_specimen(potential: str, properties: str, material: dict[str, Any], md: dict[str, Any],
                 specimen: dict[str, Any], out: str, comm=None) -> None:
    """Relax the plate with a hole at zero load, at the specimen strain and along the plasticity sweep."""
    import json

    spec = Specimen.from_dict(specimen, "config: specimen")
    mat = Material.from_dict(material)
    MDSettings.from_dict(md)  # the md section is validated even though the specimen uses only its own keys
    model, element = load_model(potential)
    art = read_artifact(potential, "potential")
    props = read_properties(properties)
    a0, e_crystal = props["a0"][0], props["E0"][0]
    rank0 = comm is None or comm.rank == 0
    threshold = model.settings.validation.extrapolation_threshold
    sna = model.settings.descriptor.compute_args(quadratic=False)
    with _scratch(out, comm, _potential_files(art)) as tmp:
        pot = Potential.snap(tmp / "snap.snapcoeff", tmp / "snap.snapparam", element)
        bulk = bulk_stress(pot, mat, a0, spec, spec.strain, comm)
        run = SpecimenRun(spec, mat, a0, pot, sna, model, load_grader(potential), comm=comm,
                          grader_threshold=threshold, e_crystal=e_crystal)
        try:
            residual, loaded = relax_unloaded_and_loaded(run, spec.strain)
            ref_nm = run.reference / ANGSTROM_PER_NM
            frame = run.frame_mask()
            cg = CoarseGrainer(spec, ref_nm, ~frame)
            interior_bulk = interior_bulk_mask(spec, ref_nm)
            sweep = []
            ruined = any(r["collapsed"] for r in run.stops)  # at zero load or the specimen strain: not swept
            for eps in sorted(e for e in spec.plasticity_strains if e > spec.strain and not ruined):
                run.load(eps)
                f = fields(run)
                non = run.non_lattice(f["cna"])
                grid_stress = cg.field(f["stress"])
                sweep.append({"strain": eps, "non_lattice_interior": int(np.sum(non & interior_bulk)),
                              "non_lattice": int(np.sum(non)), "max_grade": float(f["grade"][~frame].max()),
                              "n_above": int(np.sum(f["grade"][~frame] > threshold)),
                              "far_stress_xx": float(np.nanmean(grid_stress[cg.far_field(), 0])),
                              "max_stress_xx": float(np.nanmax(grid_stress[:, 0])),
                              "energy": run.energy(), "cna": f["cna"].astype(int), "displacement": f["displacement"],
                              "collapsed": run.stops[-1]["collapsed"]})
                if run.stops[-1]["collapsed"]:
                    break  # a collapsed crystal is not loaded further: larger strains would only report the ruin
            frames = run.monitor.frames
            flagged = run.monitor.flagged
            stops = run.stops
            removed = int(run.atoms.info.get("removed_at_hole", 0))
        finally:
            run.close()
    if not rank0:
        return
    grid = {"centres": cg.centres,
            "displacement": cg.field(loaded["displacement"]), "stress": cg.field(loaded["stress"]),
            "load_displacement": cg.field(loaded["displacement"] - residual["displacement"]),
            "load_stress": cg.field(loaded["stress"] - residual["stress"]),
            "residual_displacement": cg.field(residual["displacement"]),
            "residual_stress": cg.field(residual["stress"])}
    far = cg.far_field()
    far_info = FarField(definition=f"grid cells farther than {spec.half_interior:.3g} nm (the interior half-width) "
                                   f"from the hole centre ({int(far.sum())} cells)",
                        load_stress=np.nanmean(grid["load_stress"][far], axis=0).tolist(),
                        total_stress=np.nanmean(grid["stress"][far], axis=0).tolist(),
                        residual_stress=np.nanmean(grid["residual_stress"][far], axis=0).tolist())
    onset = next((s for s in sweep if s["non_lattice_interior"] >= 4), None)
    largest = max([s["strain"] for s in sweep], default=spec.strain)
    collapsed = [r for r in stops if r["collapsed"]]
    if onset and onset["collapsed"]:
        plasticity = PlasticityOnset(onset_strain=None, note=(
            f"NOT plasticity: the specimen collapsed at strain {onset['strain']} ({'; '.join(onset['collapsed'])}), "
            f"so no onset is reported; the potential is unfit at these strains"))
    elif onset:
        plasticity = PlasticityOnset(onset_strain=onset["strain"], non_lattice_interior=onset["non_lattice_interior"],
                                     note="first swept strain with >= 4 non-lattice atoms away from the hole surface "
                                          "and frame")
    else:
        plasticity = PlasticityOnset(onset_strain=None, note=(
            f"no plasticity below the largest swept strain ({largest})" if not collapsed else
            f"the specimen collapsed at strain {collapsed[0]['strain']} ({'; '.join(collapsed[0]['collapsed'])})"))
    n = len(ref_nm)
    col = lambda key, dtype=float: np.array([s[key] for s in sweep], dtype=dtype)  # noqa: E731
    data = {
        "reference": ref_nm, "frame": frame, "displacement": loaded["displacement"], "stress": loaded["stress"],
        "residual_displacement": residual["displacement"], "residual_stress": residual["stress"],
        "coordination": loaded["coordination"], "cna": loaded["cna"].astype(int), "atom_std": loaded["atom_std"],
        "grade": loaded["grade"],
        **{f"monitor_{k}": np.array([f[k] for f in frames]) for k in
           ("step", "strain", "max_std", "mean_std", "max_grade", "n_above")},
        **grid,
        "cell_atoms": cg.stat(np.ones(n), "count"),
        "cell_coordination": cg.stat(loaded["coordination"], "mean"),
        "cell_non_lattice": cg.stat((loaded["cna"] != run.cna_id).astype(float), "mean"),
        "cell_max_std": cg.stat(loaded["atom_std"], "max"),
        "cell_max_grade": cg.stat(loaded["grade"], "max"),
        "sweep_strain": col("strain"), "sweep_non_lattice_interior": col("non_lattice_interior", int),
        "sweep_non_lattice": col("non_lattice", int), "sweep_max_grade": col("max_grade"),
        "sweep_n_above": col("n_above", int), "sweep_far_stress_xx": col("far_stress_xx"),
        "sweep_max_stress_xx": col("max_stress_xx"), "sweep_energy": col("energy"),
        "sweep_cna": np.array([s["cna"] for s in sweep], dtype=int).reshape(len(sweep), n),
        "atom_displacement": loaded["displacement"], "atom_residual_displacement": residual["displacement"],
        "sweep_displacement": np.array([s["displacement"] for s in sweep], dtype=float).reshape(len(sweep), n, 3),
    }
    data["monitor_step"] = data["monitor_step"].astype(int)
    data["monitor_n_above"] = data["monitor_n_above"].astype(int)
    write_artifact(out, "md_specimen", data, {
        "specimen": spec.description(a0, mat.element, mat.lattice, removed,
                                     hole_min_coordination(mat.lattice, spec.min_coordination)),
        "flagged": bool(flagged),
        "bulk_stress": bulk.tolist(), "far_field": far_info,
        "plasticity": plasticity, "potential": pot.name, "relaxations": [Relaxation(**r) for r in stops],
        "settings": json.dumps({"md": md, "specimen": specimen})},
        inputs=[potential, properties], config={"md": md, "specimen": specimen, "material": material})


def run_speed(potential: str, properties: str, material: dict[str, Any], baseline: dict[str, Any] | str | None,
              out: str, comm=None, steps: int = 200, repeat: int = 6) -> None:
    """Atom-steps per second of the fitted potential and of the classical baseline on the same system (the cubic
    supercell at the MD lattice constant, NVE from 300 K), measured in the same process, one after the other.

    ``baseline`` is the ``mlip.baseline`` config value (``auto``, None or LAMMPS lines), turned into a potential
    by :func:`multiscale.lammps.baseline_potential` as the MLIP validation does. Writes JSON to ``out``; raises
    :class:`ConfigError` naming mlip.baseline when its files are missing or not for the element."""
    import json
    import time

    mat = Material.from_dict(material)
    a0 = read_properties(properties)["a0"][0]
    art = read_artifact(potential, "potential")
    _, element = load_model(potential)
    rank0 = comm is None or comm.rank == 0
    atoms = mat.cubic_cell(a0).repeat(repeat)
    result = {"system": f"{len(atoms)}-atom {mat.lattice} {element} supercell, NVE from 300 K, {steps} steps",
              "ranks": 1 if comm is None else comm.size, "potentials": {}}
    with _scratch(out, comm, _potential_files(art)) as tmp:
        pots = [Potential.snap(tmp / "snap.snapcoeff", tmp / "snap.snapparam", element)]
        classical = baseline_potential(baseline, element, "mlip.baseline")
        if classical is not None:  # a distinct name: the results are keyed by it
            pots.append(classical if classical.name != pots[0].name else
                        Potential(classical.pair_style, classical.pair_coeff, f"{classical.name} (baseline)"))
        for pot in pots:
            with Session(atoms, pot, comm) as s:
                s.run("velocity all create 300.0 4928459 loop geom\nfix nve all nve\nrun 10")
                t0 = time.perf_counter()
                s.run(f"run {steps}")
                wall = time.perf_counter() - t0
            result["potentials"][pot.name] = {"wall_s": wall, "atom_steps_per_s": len(atoms) * steps / wall}
    if rank0 and len(pots) > 1:
        speeds = [v["atom_steps_per_s"] for v in result["potentials"].values()]
        result["baseline_over_fitted"] = speeds[1] / speeds[0]
    if rank0:
        write_text_atomic(out, json.dumps(result, indent=2) + "\n")


def run_thermal(potential: str, properties: str, material: dict[str, Any], md: dict[str, Any], out: str,
                comm=None) -> None:
    """Lattice constant vs temperature (NPT) and the thermal expansion coefficient, with the posterior-mean
    potential and ``md.thermal.posterior_samples`` draws (spread = propagated potential uncertainty)."""
    settings = MDSettings.from_dict(md)
    mat = Material.from_dict(material)
    model, element = load_model(potential)
    art = read_artifact(potential, "potential")
    a0 = read_properties(properties)["a0"][0]
    th = settings.thermal
    draws = model.sample_coefficients(int(th.posterior_samples), settings.seed + 1)
    rank0 = comm is None or comm.rank == 0
    texts = {"snap.snapparam": art.attrs["snapparam"], "mean.snapcoeff": model.snapcoeff(element)}
    for i, coef in enumerate(draws):
        texts[f"sample{i}.snapcoeff"] = model.snapcoeff(element, coef)
    results = []
    names = [n for n in texts if n.endswith(".snapcoeff")]
    progress = Progress(len(names), "NPT temperature series (posterior mean, then draws)", enabled=rank0)
    grading = (load_grader(potential), model.settings.descriptor.compute_args(quadratic=False),
               model.settings.validation.extrapolation_threshold)
    failed = 0
    with _scratch(out, comm, texts) as tmp:
        for name in names:
            pot = Potential.snap(tmp / name, tmp / "snap.snapparam", element)
            label = name.removesuffix(".snapcoeff")
            try:
                result = thermal_expansion(pot, mat, a0, settings, comm, grading)
            except CalculationError as exc:
                if name == "mean.snapcoeff":  # the potential's own NPT run failed: a collapse, reported as such
                    nan = float("nan")
                    result = {"temperatures": [float(t) for t in th.temperatures], "a": [nan] * len(th.temperatures),
                              "a_err": [nan] * len(th.temperatures), "alpha": nan, "t_ref": 300.0,
                              "checks": [CrystalCheck(float(t), nan, nan, nan, collapsed=[
                                  f"LAMMPS failed: {str(exc).splitlines()[0][:200]}"]) for t in th.temperatures]}
                    results.append(result)
                    progress.done(f"{label}: LAMMPS failed, reported as collapsed")
                    continue
                failed += 1
                progress.done(f"{label}: failed, left out")
                continue
            collapsed = [c for c in result["checks"] if c.collapsed]
            if collapsed and name != "mean.snapcoeff":
                failed += 1  # a draw whose crystal collapsed is left out of the spread, and counted
                progress.done(f"{label}: collapsed ({collapsed[0].describe()}), left out")
                continue
            results.append(result)
            progress.done(label)
    if not rank0:
        return
    mean, samples = results[0], results[1:]
    checks = "; ".join(c.describe() for c in mean["checks"])
    if any(c.collapsed for c in mean["checks"]):
        verdict = "NOT A NUMBER: the posterior-mean potential's crystal collapsed in NPT"
    elif any(c.untrusted for c in mean["checks"]):
        verdict = "UNTRUSTED: atoms beyond the extrapolation threshold in NPT"
    else:
        verdict = "checked: crystal kept, every atom within the extrapolation threshold"
    left_out = f"; {failed} of {len(names) - 1} draws failed or collapsed, left out" if failed else ""
    names, values, std, units, notes = ["alpha"], [mean["alpha"]], [], ["1/K"], []
    spread = lambda key, i=None: float(np.std([s[key] if i is None else s[key][i] for s in samples], ddof=1)) \
        if len(samples) > 1 else float("nan")  # noqa: E731
    std.append(spread("alpha") if np.isfinite(mean["alpha"]) else float("nan"))  # no number, no spread
    base = (f"NPT (Nose-Hoover, zero pressure) {th.supercell}^3 cubic supercell, {th.equilibration} + "
            f"{th.steps} steps of {th.timestep} ps; std over {len(samples)} posterior draws")
    base += left_out
    notes.append(f"{verdict}; linear fit of a(T) over {mean['temperatures']} K, divided by a({mean['t_ref']:.0f} "
                 f"K); {base}; checks: {checks}")
    for i, t in enumerate(mean["temperatures"]):
        names.append(f"a_{int(round(t))}K")
        check = mean["checks"][i]
        values.append(float("nan") if check.collapsed else mean["a"][i])
        std.append(float(np.hypot(spread("a", i), mean["a_err"][i])) if samples else mean["a_err"][i])
        units.append("Angstrom")
        notes.append(("NOT A NUMBER (collapsed); " if check.collapsed else "UNTRUSTED; " if check.untrusted else "")
                     + f"time average, block standard error {mean['a_err'][i]:.1e} A combined with the posterior "
                     f"spread; {base}; check: {check.describe()}")
    write_artifact(out, "properties", {
        "names": names, "values": values, "std": std, "units": units, "notes": notes,
        "samples": np.array([[s["alpha"]] + list(s["a"]) for s in samples]).reshape(len(samples), len(names)),
    }, {"scale": "md", "settings": {"md": md}}, inputs=[potential, properties], config={"md": md})
