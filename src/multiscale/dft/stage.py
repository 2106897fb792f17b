"""DFT stage entry points called by the workflow rules (one function per rule)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, metadata, split_atoms, structure_arrays
from multiscale.dft import convergence, convergence_report
from multiscale.dft.calculator import DFTSettings, cached_single_point, compute_cached, smearing_label
from multiscale.dft.external import CONVERGED, TRAINING, external_configurations
from multiscale.dft.structures import NEEDS_A0, ConfigurationSettings, generate
from multiscale.elastic import eos_properties, fit_cubic_elastic, lattice_from_volume, stress_tensor
from multiscale.errors import ArtifactError, ConfigError, SCFConvergenceError
from multiscale.fileio import atomic_path
from multiscale.material import Material
from multiscale.units import EV_PER_A2_TO_J_PER_M2, EV_PER_A3_TO_GPA


def write_structures(group: str, material: dict, dft: dict, out: str, eos: str | None = None) -> None:
    mat = Material.from_dict(material)
    conf = ConfigurationSettings.from_dict(DFTSettings.from_dict(dft).configurations)
    a0 = None
    if group in NEEDS_A0:
        if eos is None:
            raise ArtifactError(f"group '{group}' needs the EOS artifact (--eos) for the DFT lattice constant")
        a0 = float(read_artifact(eos, "eos").attrs["a0"])
    images = generate(group, mat, conf, a0)
    data = structure_arrays(images)
    data.update(names=[a.info["name"] for a in images], groups=[group] * len(images),
                metadata=[a.info["metadata"] for a in images])
    write_artifact(out, "dft_structures", data, {"group": group, "material": material},
                   inputs=[eos] if eos else [], config={"material": material, "configurations": asdict(conf)})


def run_configuration(structures: str, name: str, dft: dict, out: str, txt: str | None = None, comm=None) -> None:
    """Label one configuration with GPAW (through the cache). On a failed SCF: fail, or drop and record."""
    settings = DFTSettings.from_dict(dft)
    art = read_artifact(structures, "dft_structures")
    images = {a.info["name"]: a for a in images_from_arrays(art.data, labels=False)}
    if name not in images:
        raise ArtifactError(f"{structures}: no configuration named '{name}' (have: {sorted(images)})")
    atoms = images[name]
    atoms.info["group"] = art.attrs["group"]
    try:
        compute_cached(atoms, settings, out, inputs=[structures], txt=txt, comm=comm)
    except SCFConvergenceError as exc:
        if settings.on_failure != "drop":
            raise
        empty = structure_arrays([])
        empty.update(energy=np.zeros(0), forces=np.zeros((0, 3)), stress=np.zeros((0, 6)),
                     scf_iterations=np.zeros(0, int), wall_time=np.zeros(0))
        if comm is None or comm.rank == 0:
            write_artifact(out, "dft_calc", empty, {
                "name": name, "group": art.attrs["group"], "metadata": atoms.info["metadata"],
                "settings": settings.physics(), "cache_key": "", "retries": [{"dropped": str(exc)}]},
                inputs=[structures], config=settings.physics())


def _concat(calcs: Sequence[str]) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    parts: dict[str, list] = {k: [] for k in ("n_atoms", "numbers", "positions", "cell", "pbc", "energy", "forces",
                                              "stress", "scf_iterations", "wall_time")}
    names, groups, metas, dropped = [], [], [], []
    moments: dict[str, list] = {"initial_magmoms": [], "magmoms": []}
    for position, path in enumerate(calcs):
        art = read_artifact(path, "dft_calc")
        if len(art["n_atoms"]) == 0:  # dropped: its row position is kept, so the split of the others is unchanged
            dropped.append({"name": art.attrs["name"], "group": art.attrs["group"], "metadata": art.attrs["metadata"],
                            "position": position, "why": json.loads(art.attrs["retries"])[-1]["dropped"]})
            continue
        for k in parts:
            parts[k].append(art[k])
        for k in moments:  # a spin-paired calculation has zero moments
            moments[k].append(art.data.get(k, np.zeros(len(art["numbers"]))))
        names.append(art.attrs["name"]), groups.append(art.attrs["group"]), metas.append(art.attrs["metadata"])
    shapes = {"positions": (0, 3), "cell": (0, 3, 3), "pbc": (0, 3), "forces": (0, 3), "stress": (0, 6)}
    data = {k: np.concatenate(v) if v else np.zeros(shapes.get(k, (0,))) for k, v in parts.items()}
    data.update(names=names, groups=groups, metadata=metas)
    if any(np.any(m) for m in moments["initial_magmoms"]):  # a magnetic study: the moments travel with the data
        data.update({k: np.concatenate(v) for k, v in moments.items()})
    return data, dropped, [str(c) for c in calcs]


def converged_configurations(elastic_runs: str) -> dict[str, Any]:
    """The convergence study's primitive cells (its elastic part) as dataset rows of the fidelity 'converged'.

    Every distinct calculation of the part at settings at least as tight as the reference in every parameter
    (k-point density, smearing, cutoff): the EOS at the reference settings and each strained cell (unstrained,
    +-normal, +shear) of the scans (the reference row of each scan is one calculation, taken once). A looser scan
    value (e.g. a k-mesh below the reference's, or a cutoff scan run on a coarser mesh through
    ``convergence.elastic.scan_at``) measures a convergence error; it is no converged label. Their labels are
    stresses and forces only: energy NaN, because the scans use several k-meshes and
    cutoffs, so their energies share no reference with each other or with the training settings. Groups:
    ``converged_eos`` and ``converged_elastic``."""
    art = read_artifact(elastic_runs, "dft_convergence_runs")
    material = Material.from_dict(json.loads(art.attrs["material"]))
    images = images_from_arrays(art.data, labels=False)
    reference = json.loads(art.attrs["reference"])
    seen, rows = set(), []
    for i, atoms in enumerate(images):
        if not convergence.at_least_as_tight({p: float(art[p][i]) for p in convergence.ELASTIC_PARAMS}, reference):
            continue
        strain = art["strain_voigt"][i]
        label = str(art["structure"][i]) + ("-" if strain.sum() < 0 else "+" if strain.any() else "")
        key = (float(art["ecut"][i]), float(art["kpt_density"][i]), float(art["smearing"][i]), label)
        if key in seen:
            continue
        seen.add(key)
        series = str(art["series"][i])
        meta = {"fidelity": CONVERGED, "kpts": [int(k) for k in art["kpts"][i]],
                "settings": {"ecut": key[0], "kpt_density": key[1], "smearing": key[2]},
                "strain_voigt": [float(e) for e in strain]}
        if series == "eos":  # a volumetric strain of the cubic crystal around material.a_guess
            a = lattice_from_volume(atoms.get_volume() / len(atoms), material.atoms_per_cubic_cell)
            meta["linear_strain"] = a / material.a_guess - 1
            meta.pop("strain_voigt")
        rows.append((i, f"conv_k{key[1]:g}_s{key[2]:g}_e{key[0]:g}_{key[3]}",
                     "converged_eos" if series == "eos" else "converged_elastic", meta))
    slices = split_atoms(art.data)
    idx = [r[0] for r in rows]
    data = structure_arrays([images[i] for i in idx])
    data.update(energy=np.full(len(idx), np.nan), forces=np.concatenate([art["forces"][slices[i]] for i in idx]),
                stress=art["stress"][idx], scf_iterations=art["scf_iterations"][idx], wall_time=art["wall_time"][idx],
                names=[r[1] for r in rows], groups=[r[2] for r in rows],
                metadata=[json.dumps(r[3], sort_keys=True) for r in rows])
    data["fidelities"] = {CONVERGED: {"settings": json.loads(art.attrs["reference"]), "labels": ["forces", "stress"],
                                      "scans": sorted({f"{k[0]:g} eV, k {k[1]:g}/A^-1, smearing {k[2]:g} eV"
                                                       for k in seen}),
                                      "source": str(elastic_runs)}}
    return data


def _append(data: dict[str, Any], extra: dict[str, Any]) -> None:
    """Append the dataset rows ``extra`` to ``data`` (same keys), in place. Per-atom magnetic moments ``data`` has
    and ``extra`` lacks (rows from a source that does not record them) are NaN: unknown, not zero."""
    for key in ("initial_magmoms", "magmoms"):
        if key in data and key not in extra:
            extra = {**extra, key: np.full(len(extra["numbers"]), np.nan)}
    for key, value in extra.items():
        data[key] = np.concatenate([np.asarray(data[key]), np.asarray(value)]) if len(data[key]) else value


def gather(calcs: Sequence[str], dft: dict, out: str, extxyz: str | None = None, converged: str | None = None) -> None:
    """Collect every labelled configuration into one dataset artifact (and optionally extxyz).

    ``calcs``: the study's own GPAW calculations (fidelity 'training'). ``converged``: the convergence study's
    elastic runs, added as the fidelity 'converged' (:func:`converged_configurations`). ``dft['external']``: the
    user's own labelled files, each entry added as its declared fidelity and group
    (:func:`multiscale.dft.external.external_configurations`; the ``fidelities`` attribute records their declared
    settings and source files). Raises :class:`ConfigError` for an external file the checks before any job would
    refuse, or a dataset of more than one element."""
    data, dropped, inputs = _concat(calcs)
    settings = DFTSettings.from_dict(dft)
    data["fidelity"] = [TRAINING] * len(data["names"])
    fidelities = {TRAINING: {"settings": settings.physics(), "labels": ["energy", "forces", "stress"]}}
    if converged:
        extra = converged_configurations(converged)
        fidelities.update(extra.pop("fidelities"))
        extra["fidelity"] = [CONVERGED] * len(extra["names"])
        _append(data, extra)
        inputs.append(str(converged))
    if settings.external:
        element = None if not len(data["numbers"]) else chemical_symbols[int(data["numbers"][0])]
        extra = external_configurations(settings, element)
        fidelities.update(extra.pop("fidelities"))
        _append(data, extra)
        inputs += [source["file"] for f in fidelities.values() for source in f.get("sources", [])]
    elements = sorted({chemical_symbols[int(z)] for z in data["numbers"]})
    if len(elements) > 1:
        raise ConfigError(f"dft.external: the dataset would hold several elements ({elements}); this SNAP fitter "
                          f"handles one. Fix: external files of material.element only")
    write_artifact(out, "dft_dataset", data, {"settings": settings.physics(), "dropped": dropped,
                                              "fidelities": fidelities}, inputs=inputs, config=settings.physics())
    if extxyz:
        export_extxyz(out, extxyz)


def export_extxyz(dataset: str, out: str) -> None:
    """Write a dataset artifact as extended XYZ: per frame energy (absent for a fidelity without an energy
    reference), forces, stress (ASE: eV/A^3, positive tensile) and ``virial`` (-stress x volume, eV, the key QUIP's
    gap_fit reads), ``config_type`` (the group), ``fidelity`` and the JSON metadata."""
    from ase.io import write

    art = read_artifact(dataset, "dft_dataset")
    images = images_from_arrays(art.data)
    for atoms, stress in zip(images, art["stress"], strict=True):
        atoms.info["config_type"] = atoms.info["group"]
        atoms.info["virial"] = -stress_tensor(stress) / EV_PER_A3_TO_GPA * atoms.get_volume()
    with atomic_path(out) as tmp:
        write(tmp, images, format="extxyz")


def fit_equation_of_state(calcs: Sequence[str], material: dict, out: str) -> None:
    mat = Material.from_dict(material)
    vols, ens = [], []
    for path in calcs:
        art = read_artifact(path, "dft_calc")
        if len(art["n_atoms"]) == 0:
            continue
        n = int(art["n_atoms"][0])
        vols.append(abs(np.linalg.det(art["cell"][0])) / n)
        ens.append(float(art["energy"][0]) / n)
    if len(vols) < 5:
        raise ArtifactError(f"EOS fit needs at least 5 converged volumes, got {len(vols)}: raise "
                            f"dft.configurations.eos.points or fix the failed SCF runs")
    eos = eos_properties(np.array(vols), np.array(ens), mat.atoms_per_cubic_cell)
    write_artifact(out, "eos", {"volume": vols, "energy": ens}, eos, inputs=list(calcs), config=material)


def reference_properties(dataset: str, eos: str, out: str) -> None:
    """DFT reference properties at the dataset's settings: a0, B (EOS) and C11, C12, C44 (stress-strain), and the
    surface, phase and vacancy energies, from the configurations of the fidelity 'training' only (an external file's
    groups may carry the same names, e.g. its own 'elastic' frames, at other settings)."""
    ds = read_artifact(dataset, "dft_dataset")
    e = read_artifact(eos, "eos")
    own = np.flatnonzero(np.asarray(ds["fidelity"], dtype=object) == TRAINING)
    every = images_from_arrays(ds.data)
    images, labels, energies = [every[i] for i in own], ds["stress"][own], ds["energy"][own]
    strains, stresses = [], []
    for atoms, stress in zip(images, labels, strict=True):
        if atoms.info["group"] == "elastic":
            strains.append(metadata(atoms)["strain_voigt"])
            stresses.append(stress)
    if not strains:
        raise ArtifactError(f"{dataset}: no 'elastic' configurations; enable dft.configurations.elastic")
    c = fit_cubic_elastic(np.array(strains), np.array(stresses))
    settings = ds.json_attr("settings")
    cell_note = f"{images[0].get_chemical_formula()} cubic cell, {settings['xc']}, ecut {settings['ecut']} eV, " \
                f"k-density {settings['kpt_density']}/A^-1, {smearing_label(settings)}"
    names = ["a0", "B", "C11", "C12", "C44"]
    values = [e.attrs["a0"], e.attrs["B"], c["C11"][0], c["C12"][0], c["C44"][0]]
    std = [e.attrs["a0_std"], e.attrs["B_std"], c["C11"][1], c["C12"][1], c["C44"][1]]
    units = ["Angstrom", "GPa", "GPa", "GPa", "GPa"]
    notes = [f"Birch-Murnaghan fit; {cell_note}"] * 2 + [f"stress-strain fit, strains "
                                                         f"{sorted({abs(max(s, key=abs)) for s in strains})}; "
                                                         f"{cell_note}"] * 3
    # defect and surface energies against the EOS bulk energy per atom (same k-density and cutoff)
    e_bulk = float(e.attrs["E0"])
    for atoms, energy in zip(images, energies, strict=True):
        meta = metadata(atoms)
        if atoms.info["group"] == "surface" and meta.get("rattle_std", 0.0) == 0.0:
            gamma = (energy - len(atoms) * e_bulk) / (2 * meta["area"]) * EV_PER_A2_TO_J_PER_M2
            names.append(f"surface_energy_{meta['facet']}")
            values.append(gamma)
            units.append("J/m^2")
            notes.append(f"{len(atoms)}-layer 1x1 slab, {meta['vacuum']} A vacuum each side, unrelaxed, vs EOS "
                         f"bulk energy; {settings['xc']}, ecut {settings['ecut']} eV, k-density "
                         f"{settings['kpt_density']}/A^-1, {smearing_label(settings)}")
        elif atoms.info["group"] == "phases":
            names.append(f"phase_{meta['phase']}_minus_{meta['crystal']}")
            values.append(1000.0 * (energy / len(atoms) - e_bulk))
            units.append("meV/atom")
            notes.append(f"{atoms.get_chemical_formula()} {meta['phase']} cell at the crystal's EOS volume per atom "
                         f"(hcp at ideal c/a), vs the EOS minimum energy per atom; {settings['xc']}, ecut "
                         f"{settings['ecut']} eV, k-density {settings['kpt_density']}/A^-1, {smearing_label(settings)}")
        elif atoms.info["group"] == "vacancy":
            names.append("vacancy_formation_energy")
            values.append(energy - len(atoms) * e_bulk)
            units.append("eV")
            relax = meta.get("relaxation")
            if relax:
                cut = "" if relax["converged"] else f", NOT below the target {relax['fmax_target']:g}"
                how = (f"positions relaxed at fixed cell (BFGS, {relax['steps']} steps, largest force "
                       f"{relax['fmax']:.3f} eV/A{cut}; "
                       f"largest displacement {relax['max_displacement']:.3f} A; unrelaxed "
                       f"{relax['energy_unrelaxed'] - len(atoms) * e_bulk:.3f} eV)")
            else:
                how = "unrelaxed (an upper bound)"
            notes.append(f"{meta['sites']}-site supercell {meta['supercell']}, {how}, vs EOS bulk energy; "
                         f"{settings['xc']}, ecut {settings['ecut']} eV, k-density {settings['kpt_density']}/A^-1, "
                         f"{smearing_label(settings)}")
        else:
            continue
        std.append(float("nan"))
    write_artifact(out, "properties", {"names": names, "values": values, "std": std, "units": units,
                                       "notes": notes}, {"scale": "dft", "settings": settings},
                   inputs=[dataset, eos], config=settings)


def assemble_convergence(cells: str, elastic: str, out: str, markdown_out: str, figure: str, properties_out: str,
                         training: str | None = None) -> None:
    """The convergence study from its two parts: its artifact, the converged properties, the Markdown table and
    the figure (``training``: the training-settings properties, shown beside the converged ones)."""
    study = convergence.analyse(cells, elastic, training)
    convergence.write_artifacts(study, [cells, elastic], out, properties_out)
    convergence_report.write_markdown(study, markdown_out, Path(figure).name)
    convergence_report.plot(study, figure)


def spin_comparison(material: dict, dft: dict, comm=None) -> dict[str, Any]:
    """The element's primitive cell at ``material.a_guess``, spin-polarised (``dft.magmom``, default the
    element's measured moment, :data:`multiscale.material.MAGNETIC_MOMENTS`) and spin-paired, through the cache:
    energies (eV/atom), pressures (GPa, -trace(stress)/3), the converged moment (Bohr magnetons per atom) and the
    differences. Raises :class:`ConfigError` if the element has no initial moment (nothing to compare)."""
    from multiscale.dft.calculator import initial_moments

    mat = Material.from_dict(material)
    polarised = DFTSettings.from_dict(dft)
    paired = replace(polarised, magmom=0.0)
    atoms = mat.primitive_cell()
    atoms.info.update(name=f"{mat.element}_spin", group="spin", metadata="{}")
    if not initial_moments(atoms, polarised).any():
        raise ConfigError(f"{mat.element}: dft.magmom gives no initial moment, so there is no spin-polarised state "
                          f"to compare. Fix: a ferromagnet (e.g. Ni, Fe, Co) or dft.magmom > 0")
    out: dict[str, Any] = {"element": mat.element, "a": mat.a_guess, "settings": polarised.physics()}
    for label, settings in (("polarised", polarised), ("paired", paired)):
        path, _ = cached_single_point(atoms, settings, comm=comm)
        art = read_artifact(path, "dft_calc")
        out[label] = {"energy": float(art["energy"][0]) / len(atoms),
                      "pressure": float(-np.mean(art["stress"][0][:3])),
                      "moment": float(art.data["magmom"][0]) / len(atoms) if "magmom" in art.data else 0.0}
    out["energy_difference_meV"] = 1000 * (out["polarised"]["energy"] - out["paired"]["energy"])
    out["pressure_difference_GPa"] = out["polarised"]["pressure"] - out["paired"]["pressure"]
    return out
