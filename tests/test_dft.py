"""GPAW at tiny size: physics of single points, the cache, and SCF failure handling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.dft import calculator
from multiscale.dft.calculator import compute_cached, kpoint_mesh, run_single_point
from multiscale.dft.stage import run_configuration, write_structures
from multiscale.dft.structures import ConfigurationSettings, configuration_names, generate
from multiscale.errors import ConfigError, SCFConvergenceError
from multiscale.material import Material


def test_kpoint_density_is_shape_independent():
    prim = bulk("Al", "fcc", a=4.04)
    cubic = bulk("Al", "fcc", a=4.04, cubic=True)
    assert kpoint_mesh(cubic.cell[:], 5.0) == (8, 8, 8)
    assert kpoint_mesh(cubic.repeat((2, 1, 1)).cell[:], 5.0) == (4, 8, 8)
    assert kpoint_mesh(prim.cell[:], 5.0) == (14, 14, 14)


def test_an_equation_of_state_samples_every_volume_with_one_mesh():
    """At k-density 5 the 3%-compressed cubic cell would get 9^3 and the others 8^3: a kink in E(V) and a
    biased bulk modulus. The EOS generator sizes every volume's mesh from the unstrained cell, and the mesh
    enters the cache key."""
    from multiscale.dft.calculator import DFTSettings, cache_key, kpoints_for

    conf = ConfigurationSettings.from_dict({"eos": {"points": 7, "max_strain": 0.03}})
    cells = generate("eos", Material(), conf)
    settings = DFTSettings(kpt_density=5.0)
    assert {kpoint_mesh(a.cell[:], 5.0) for a in cells} == {(8, 8, 8), (9, 9, 9)}  # what the cells alone give
    assert {kpoints_for(a, settings) for a in cells} == {(8, 8, 8)}
    plain = cells[0].copy()
    plain.info["metadata"] = "{}"
    assert cache_key(plain, settings) != cache_key(cells[0], settings)


def test_smearing_method_is_a_physics_setting():
    from multiscale.dft.calculator import DFTSettings, cache_key, occupations, smearing_label

    fd, mv = DFTSettings(), DFTSettings(smearing=0.5, smearing_method="marzari-vanderbilt")
    assert "smearing_method" not in fd.physics()  # keys of calculations made before the setting are kept
    assert mv.physics()["smearing_method"] == "marzari-vanderbilt"
    assert occupations(mv) == {"name": "marzari-vanderbilt", "width": 0.5}
    assert smearing_label(fd.physics()) == "FD 0.1 eV" and smearing_label(mv.physics()) == "MV 0.5 eV"
    atoms = bulk("Al", "fcc", a=4.05)
    assert cache_key(atoms, DFTSettings(smearing=0.5)) != cache_key(atoms, mv)
    with pytest.raises(ConfigError, match="dft.smearing_method = 'gaussian'.*Fix"):
        DFTSettings(smearing_method="gaussian")


def test_cold_smearing_runs_and_keeps_the_energy_near_zero_width(tiny_dft):
    """GPAW with Marzari-Vanderbilt occupations: at 0.3 eV its free energy stays closer to the 0.02 eV
    Fermi-Dirac energy than Fermi-Dirac at the same width does (the point of cold smearing)."""
    from dataclasses import replace

    atoms = bulk("Al", "fcc", a=4.05)
    dense = replace(tiny_dft, kpt_density=4.0)
    e = {name: run_single_point(atoms, replace(dense, smearing=w, smearing_method=m))["energy"]
         for name, w, m in (("fd_narrow", 0.02, "fermi-dirac"), ("fd", 0.3, "fermi-dirac"),
                            ("mv", 0.3, "marzari-vanderbilt"))}
    assert abs(e["mv"] - e["fd_narrow"]) < abs(e["fd"] - e["fd_narrow"])


def test_generators_are_labelled_reproducible_and_not_al_specific():
    conf = ConfigurationSettings()
    for mat in (Material(), Material("Cu", "fcc", 3.6), Material("W", "bcc", 3.17)):
        a = generate("rattle", mat, conf, a0=mat.a_guess)
        b = generate("rattle", mat, conf, a0=mat.a_guess)
        assert [x.info["name"] for x in a] == configuration_names(conf)["rattle"]
        np.testing.assert_array_equal(a[0].positions, b[0].positions)
        assert set(a[0].get_chemical_symbols()) == {mat.element}
    eos = generate("eos", Material(), conf)
    vols = [x.get_volume() for x in eos]
    assert vols == sorted(vols) and len(vols) == conf.eos.points


def test_single_point_physics(tiny_dft):
    atoms = bulk("Al", "fcc", a=4.04, cubic=True)
    atoms.rattle(0.05, seed=3)
    r = run_single_point(atoms, tiny_dft)
    assert np.abs(r["forces"].sum(axis=0)).max() < 1e-3  # Newton's third law (translation invariance)
    assert np.abs(r["forces"]).max() > 0.05  # rattled: real forces
    assert r["energy"] / len(atoms) == pytest.approx(-3.7, abs=0.1)
    # extensivity: a doubled cell at the same k-density has twice the energy
    r2 = run_single_point(atoms.repeat((2, 1, 1)), tiny_dft)
    assert r2["energy"] == pytest.approx(2 * r["energy"], abs=2e-3 * len(atoms))
    np.testing.assert_allclose(r2["stress"], r["stress"], atol=0.1)


def test_cache_is_shared_and_keyed_by_physics(tiny_dft, tmp_path, monkeypatch):
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.info.update(name="bulk", group="eos", metadata="{}")
    assert compute_cached(atoms, tiny_dft, tmp_path / "a.h5") is True
    calls = []
    monkeypatch.setattr(calculator, "run_single_point", lambda *a, **k: calls.append(1))
    atoms.info["name"] = "same-structure-other-study"
    assert compute_cached(atoms, tiny_dft, tmp_path / "b.h5") is False
    assert calls == []
    a, b = read_artifact(tmp_path / "a.h5", "dft_calc"), read_artifact(tmp_path / "b.h5", "dft_calc")
    assert a["energy"][0] == b["energy"][0] and b.attrs["name"] == "same-structure-other-study"
    # a physics setting changes the key; the failure policy does not
    tiny_dft.on_failure = "drop"
    assert calculator.cache_key(atoms, tiny_dft) == a.attrs["cache_key"]
    tiny_dft.ecut = 260.0
    assert calculator.cache_key(atoms, tiny_dft) != a.attrs["cache_key"]


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
def test_a_damaged_cache_entry_is_quarantined_and_recomputed(tiny_dft, tmp_path, damage):
    """A cache entry whose content changed after writing, or that was cut short, is not used: it moves to
    <cache>/quarantine/ with a warning naming it, and GPAW computes the configuration again."""
    import h5py

    atoms = bulk("Al", "fcc", a=4.05)
    atoms.info.update(name="bulk", group="eos", metadata="{}")
    assert compute_cached(atoms, tiny_dft, tmp_path / "a.h5") is True
    entry = next(p for p in Path(tiny_dft.cache_dir).rglob("*.h5") if "quarantine" not in p.parts)
    energy = read_artifact(entry, "dft_calc")["energy"][0]
    if damage == "tampered":
        with h5py.File(entry, "a") as f:
            f["energy"][0] = energy + 0.1
    else:
        entry.write_bytes(entry.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=rf"DFT cache entry {entry} failed its check .*moved to .*quarantine"):
        assert compute_cached(atoms, tiny_dft, tmp_path / "b.h5") is True  # GPAW ran again
    assert read_artifact(tmp_path / "b.h5", "dft_calc")["energy"][0] == pytest.approx(energy, abs=1e-6)
    assert read_artifact(entry, "dft_calc").digest_checked
    assert len(list((Path(tiny_dft.cache_dir) / "quarantine").glob("*.h5"))) == 1


def test_scf_failure_retry_then_clean_failure_then_drop(tiny_dft, tmp_path):
    mat = {"element": "Al", "lattice": "fcc", "a_guess": 4.04}
    dft = {**tiny_dft.__dict__, "scf": {"energy": 1e-9, "density": 1e-9, "maxiter": 2},
           "configurations": {"seed": 1, "eos": {"points": 5, "max_strain": 0.02}, "elastic": {"amplitudes": [0.01]},
                              "rattle": {"amplitudes": [0.1], "per_amplitude": 1, "supercell": [1, 1, 1],
                                         "strain": 0.0}}}
    write_structures("eos", mat, dft, str(tmp_path / "eos.h5"))
    out = tmp_path / "calc.h5"
    with pytest.raises(SCFConvergenceError, match=r"eos_000.*retry with safer mixing.*\(4\)"):
        run_configuration(str(tmp_path / "eos.h5"), "eos_000", dft, str(out))
    assert not out.exists() and not any((tmp_path / "cache").rglob("*.h5"))
    run_configuration(str(tmp_path / "eos.h5"), "eos_000", {**dft, "on_failure": "drop"}, str(out))
    art = read_artifact(out, "dft_calc")
    assert len(art["n_atoms"]) == 0
    assert "did not converge" in art.json_attr("retries")[-1]["dropped"]
    # counted in the dataset, with the row it would have had (the split of the others does not move: test_mlip)
    from multiscale.dft.stage import gather

    gather([str(out)], {**dft, "on_failure": "drop"}, str(tmp_path / "dataset.h5"))
    dropped = read_artifact(tmp_path / "dataset.h5", "dft_dataset").json_attr("dropped")
    assert [(d["name"], d["group"], d["position"]) for d in dropped] == [("eos_000", "eos", 0)]


def test_thermal_vacancy_and_surface_generators():
    conf = ConfigurationSettings.from_dict({
        "thermal": {"temperatures": [100, 900], "per_temperature": 1, "supercell": [2, 1, 1], "steps": 100},
        "vacancy": {"supercells": [[2, 1, 1]]}, "surface": {"facets": ["100", "111"], "layers": 4, "vacuum": 5.0}})
    mat = Material()
    cold, hot = generate("thermal", mat, conf, a0=4.04)
    ref = mat.cubic_cell(4.04).repeat((2, 1, 1)).positions
    msd = [np.mean(np.sum((a.positions - ref) ** 2, axis=1)) for a in (cold, hot)]
    assert 0 < msd[0] < msd[1]  # hotter snapshots are further from the lattice
    assert [a.info["name"] for a in generate("thermal", mat, conf, a0=4.04)] == ["thermal_000", "thermal_001"]
    (vac,) = generate("vacancy", mat, conf, a0=4.04)
    assert len(vac) == 7
    s100, s111 = generate("surface", mat, conf, a0=4.04)
    assert len(s100) == len(s111) == 4
    assert json.loads(s111.info["metadata"])["area"] == pytest.approx(4.04**2 * np.sqrt(3) / 4, rel=1e-6)
    (w100, w110, w111) = generate("surface", Material("W", "bcc", 3.17), ConfigurationSettings.from_dict(
        {"surface": {"facets": ["100", "110", "111"], "layers": 4, "vacuum": 5.0}}), a0=3.17)
    assert set(w110.get_chemical_symbols()) == {"W"} and len(w100) == 4
    with pytest.raises(ConfigError, match="EMT has no parameters for W"):
        generate("thermal", Material("W", "bcc", 3.17), conf, a0=3.17)


def test_surface_and_vacancy_energies(tiny_dft, tmp_path):
    """Real GPAW at tiny settings: (100) surface energy, the relaxed vacancy formation energy of Al, and its
    competing phases (hcp and bcc above fcc, hcp less so: PBE gives about +30 and +90 meV/atom)."""
    from multiscale.dft.stage import fit_equation_of_state, gather, reference_properties

    mat = {"element": "Al", "lattice": "fcc", "a_guess": 4.04}
    dft = {**tiny_dft.__dict__, "configurations": {
        "seed": 1, "eos": {"points": 5, "max_strain": 0.02}, "elastic": {"amplitudes": [0.01]},
        "rattle": {"amplitudes": [], "per_amplitude": 0, "supercell": [1, 1, 1], "strain": 0.0},
        "vacancy": {"supercells": [[2, 1, 1]], "relax_fmax": 0.05, "relax_steps": 15},
        "surface": {"facets": ["100"], "layers": 4, "vacuum": 5.0}, "phases": {"lattices": ["hcp", "bcc"]}}}
    calcs = {}
    for group in ("eos", "elastic", "vacancy", "surface", "phases"):
        eos = str(tmp_path / "eos.h5") if group != "eos" else None
        write_structures(group, mat, dft, str(tmp_path / f"{group}.h5"), eos)
        names = configuration_names(ConfigurationSettings.from_dict(dft["configurations"]))[group]
        for name in names:
            calcs[name] = str(tmp_path / f"{name}.h5")
            run_configuration(str(tmp_path / f"{group}.h5"), name, dft, calcs[name])
        if group == "eos":
            fit_equation_of_state([calcs[n] for n in names], mat, str(tmp_path / "eos.h5"))
    gather(list(calcs.values()), dft, str(tmp_path / "dataset.h5"))
    reference_properties(str(tmp_path / "dataset.h5"), str(tmp_path / "eos.h5"), str(tmp_path / "ref.h5"))
    ref = read_artifact(tmp_path / "ref.h5", "properties")
    props = dict(zip(ref["names"], ref["values"], strict=True))
    assert 0.5 < props["surface_energy_100"] < 1.5  # J/m^2 (PBE literature ~0.9-1.0 for Al(100))
    assert 0.2 < props["vacancy_formation_energy"] < 1.5  # eV, 7-atom cell
    assert 0 < props["phase_hcp_minus_fcc"] < props["phase_bcc_minus_fcc"]  # meV/atom
    # the vacancy was relaxed by DFT forces: lower energy than unrelaxed, labels of the relaxed positions
    ds = read_artifact(tmp_path / "dataset.h5", "dft_dataset")
    vac = [i for i, g in enumerate(ds["groups"]) if str(g) == "vacancy"]
    relax = json.loads(ds["metadata"][vac[0]])["relaxation"]
    assert relax["steps"] >= 1 and relax["max_displacement"] > 0.01
    e_unrelaxed = relax["energy_unrelaxed"] - ds["energy"][vac[0]] + props["vacancy_formation_energy"]
    assert props["vacancy_formation_energy"] < e_unrelaxed
    start = int(np.sum(ds["n_atoms"][:vac[0]]))
    fmax = np.linalg.norm(ds["forces"][start:start + int(ds["n_atoms"][vac[0]])], axis=1).max()
    assert fmax == pytest.approx(relax["fmax"]) and (relax["converged"] == (fmax <= 0.05))
    note = dict(zip(ref["names"], ref["notes"], strict=True))["vacancy_formation_energy"]
    assert "relaxed at fixed cell" in note
    # the relaxation is part of the calculation's identity: same structure unrelaxed is another cache entry
    (vac_atoms,) = generate("vacancy", Material(), ConfigurationSettings.from_dict(
        {"vacancy": {"supercells": [[2, 1, 1]]}}), a0=4.04)
    (relaxed,) = generate("vacancy", Material(), ConfigurationSettings.from_dict({"vacancy": {
        "supercells": [[2, 1, 1]], "relax_fmax": 0.05, "relax_steps": 15}}), a0=4.04)
    assert calculator.cache_key(vac_atoms, tiny_dft) != calculator.cache_key(relaxed, tiny_dft)


def _conv_row(series, structure, n, energy, forces=None, stress=None, strain=None, **settings):
    stress = np.zeros(6) if stress is None else stress
    strain = np.zeros(6) if strain is None else strain
    base = {"ecut": 350.0, "kpt_density": 5.0, "smearing": 0.1}
    base.update(settings)
    return {"series": series, "structure": structure, **base, "kpts": np.array([8, 8, 8]),
            "strain_voigt": np.asarray(strain, float), "energy": energy, "stress": np.asarray(stress, float),
            "wall_time": 1.0, "n_atoms": n, "forces": np.zeros((n, 3)) if forces is None else forces, "volume": 66.0}


def test_convergence_errors_are_measured_against_the_tightest_setting():
    """The table logic on synthetic numbers: errors vs the tightest value, tolerances, the configured row."""
    from multiscale.dft.convergence import cells_table, elastic_strains, elastic_table, remaining_error
    from multiscale.elastic import cubic_stiffness

    rows = []
    offsets = {300.0: 0.004, 350.0: 0.0005, 450.0: 0.0}  # eV/atom of the rattled-minus-bulk energy
    for param, values in (("ecut", offsets), ("kpt_density", {4.0: 0.002, 5.0: 0.0005, 6.0: 0.0})):
        for v, off in values.items():
            rows.append(_conv_row(param, "bulk", 4, -16.0 - 0.01 * v, **{param: v}))
            f = np.full((4, 3), 0.1 + (0.05 if v in (300.0, 4.0) else 0.0))
            rows.append(_conv_row(param, "rattled", 4, -15.6 + 4 * off - 0.01 * v, forces=f,
                                  stress=np.full(6, 0.1 * off / 0.0005), **{param: v}))
    table = cells_table(rows, {"ecut": 350.0, "kpt_density": 5.0}, {"energy": 1.0, "force": 0.02, "stress": 0.2})
    by = {(r["parameter"], r["value"]): r for r in table}
    assert by[("ecut", 300.0)]["energy_error"] == pytest.approx(4.0)
    assert by[("ecut", 300.0)]["force_error"] == pytest.approx(0.05) and not by[("ecut", 300.0)]["passes"]
    assert by[("ecut", 350.0)]["energy_error"] == pytest.approx(0.5) and by[("ecut", 350.0)]["passes"]
    assert by[("ecut", 350.0)]["configured"] and by[("kpt_density", 5.0)]["configured"]
    assert by[("kpt_density", 6.0)]["energy_error"] == 0.0

    # elastic: exact linear stresses, so each fit returns the constants put in
    consts = {("kpt_density", 8.0): (110, 60, 30), ("kpt_density", 10.0): (100, 60, 30),
              ("kpt_density", 12.0): (101, 60, 30), ("smearing", 0.025): (100, 60, 33),
              ("smearing", 0.05): (100, 60, 30), ("ecut", 450.0): (100, 60, 30), ("ecut", 550.0): (100, 61.2, 30)}
    ref = {"kpt_density": 10.0, "smearing": 0.05, "ecut": 450.0}
    el_rows = []
    for (param, v), c in consts.items():
        stiff = cubic_stiffness(*c)
        for mode, e in elastic_strains(0.01):
            el_rows.append(_conv_row(param, mode, 1, 0.0, stress=stiff @ e, strain=e, **{**ref, param: v}))
    etab = elastic_table(el_rows, ref)
    rem = remaining_error(etab)
    assert rem["C11"]["kpt_density"] == pytest.approx(0.01)  # 100 -> 101 at the next k-density
    assert rem["C44"]["smearing"] == pytest.approx(0.1)  # 30 -> 33 at the smaller smearing
    assert rem["C12"]["ecut"] == pytest.approx(0.02)
    row8 = next(r for r in etab if r["parameter"] == "kpt_density" and r["value"] == 8.0)
    assert row8["C"] == pytest.approx([110, 60, 30]) and row8["change"][0] == pytest.approx(10 / 110)

    # the cutoff scanned on a coarser mesh (scan_at): its change is measured there; the rows are not the reference
    coarse = {**ref, "kpt_density": 6.0}
    at_rows = [r for r in el_rows if r["series"] != "ecut"]
    for v, c in ((450.0, (90, 55, 28)), (550.0, (90, 55, 28.28))):
        for mode, e in elastic_strains(0.01):
            at_rows.append(_conv_row("ecut", mode, 1, 0.0, stress=cubic_stiffness(*c) @ e, strain=e,
                                     **{**coarse, "ecut": v}))
    etab = elastic_table(at_rows, ref, {"ecut": {"kpt_density": 6.0}})  # the scan moved to k-density 6
    assert remaining_error(etab)["C44"]["ecut"] == pytest.approx(0.01)
    centre = next(r for r in etab if r["parameter"] == "ecut" and r["at_reference_value"])
    assert not centre["reference"] and centre["at"] == {"kpt_density": 6.0}
    assert [r["parameter"] for r in etab if r["reference"]] == ["kpt_density", "smearing"]


def test_only_the_cells_part_of_the_convergence_study_needs_the_training_eos(tmp_path):
    """The elastic part fits its own EOS (so a training-settings change never reruns it); cells are built at
    the training a0 and say what is missing without it, before any GPAW run."""
    from multiscale.dft.convergence import run_part

    mat = {"element": "Al", "lattice": "fcc", "a_guess": 4.04}
    with pytest.raises(ConfigError, match=r"'cells' needs the training EOS. Fix: pass --eos"):
        run_part("cells", mat, {"cache_dir": str(tmp_path)}, {}, None, str(tmp_path / "cells.h5"))
    assert not (tmp_path / "cells.h5").exists()


def test_converged_labels_join_the_dataset_as_their_own_fidelity(tmp_path):
    """The convergence study's primitive cells enter the dataset once each, as the fidelity 'converged' with
    stress and force labels only (energy NaN: their k-meshes share no energy reference); the extxyz export carries
    fidelity, config_type and the virial (= -stress x volume) and reads back with ASE."""
    from ase.build import bulk
    from ase.io import read

    from multiscale.artifacts import write_artifact
    from multiscale.atomsio import structure_arrays
    from multiscale.dft.convergence import elastic_strains
    from multiscale.dft.stage import gather
    from multiscale.elastic import cubic_stiffness, deform_cell

    ref = {"ecut": 350.0, "kpt_density": 15.0, "smearing": 0.5}
    rows = []
    for a in (4.0, 4.04, 4.08):
        rows.append(("eos", f"a={a:.5f}", bulk("Al", "fcc", a=a), np.zeros(6), ref))
    for param, values in (("kpt_density", (12.0, 15.0)), ("smearing", (0.4, 0.5)), ("ecut", (350.0, 450.0))):
        for v in values:
            for mode, e in elastic_strains(0.01):
                atoms = bulk("Al", "fcc", a=4.04)
                atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
                rows.append((param, mode, atoms, e, {**ref, param: v}))
    stiff = cubic_stiffness(113.0, 60.0, 34.0)
    data = structure_arrays([r[2] for r in rows])
    data.update(energy=[-3.7 - 0.01 * i for i in range(len(rows))], forces=np.zeros((len(rows), 3)),
                stress=[stiff @ r[3] for r in rows], series=[r[0] for r in rows], structure=[r[1] for r in rows],
                ecut=[r[4]["ecut"] for r in rows], kpt_density=[r[4]["kpt_density"] for r in rows],
                smearing=[r[4]["smearing"] for r in rows], kpts=[[41, 41, 41]] * len(rows),
                strain_voigt=[r[3] for r in rows], scf_iterations=[10] * len(rows), wall_time=[1.0] * len(rows))
    runs = write_artifact(tmp_path / "elastic.h5", "dft_convergence_runs", data, {
        "part": "elastic", "settings": {}, "reference": {**ref, "xc": "PBE"},
        "material": {"element": "Al", "lattice": "fcc", "a_guess": 4.04}, "convergence": {}})
    gather([], {"cache_dir": str(tmp_path)}, str(tmp_path / "dataset.h5"), str(tmp_path / "dataset.extxyz"),
           converged=str(runs))
    ds = read_artifact(tmp_path / "dataset.h5", "dft_dataset")
    # 3 EOS volumes + 4 strains x (k 15, 0.4 eV smearing, 450 eV) distinct settings; the reference once; the looser
    # k-mesh 12 measures a convergence error and is no converged label
    assert len(ds["names"]) == 3 + 4 * 3 == len(set(ds["names"]))
    assert not any("_k12_" in n for n in ds["names"])
    assert set(ds["fidelity"]) == {"converged"} and np.isnan(ds["energy"]).all()
    assert sorted(set(ds["groups"])) == ["converged_elastic", "converged_eos"]
    assert json.loads(ds.attrs["fidelities"])["converged"]["labels"] == ["forces", "stress"]
    meta = [json.loads(m) for m in ds["metadata"]]
    assert sorted(round(m["linear_strain"], 4) for m in meta if "linear_strain" in m) == [-0.0099, 0.0, 0.0099]
    frames = read(tmp_path / "dataset.extxyz", ":")
    shear = next(f for f, m in zip(frames, meta, strict=True) if m.get("strain_voigt", [0] * 6)[3] > 0)
    assert shear.info["fidelity"] == "converged" and shear.info["config_type"] == "converged_elastic"
    virial = np.array(shear.info["virial"]).reshape(3, 3)
    assert virial[1, 2] == pytest.approx(-34.0 * 0.01 / 160.21766208 * shear.get_volume())
    assert "energy" not in shear.calc.results  # no energy label is written as none, not as NaN


def test_fidelity_weights_need_the_converged_labels(tmp_path, root):
    from multiscale.study import load_study

    bad = tmp_path / "bad.yaml"
    bad.write_text("dft: {converged_labels: false}\nmlip: {fidelity_weights: {converged: {stress: 10.0}}}\n")
    with pytest.raises(ConfigError, match=r"dft.converged_labels.*Fix"):
        load_study(root / "config/config.yaml", bad)
    bad.write_text("mlip: {fidelity_weights: {convergd: {stress: 10.0}}}\n")
    with pytest.raises(ConfigError, match=r"mlip.fidelity_weights.*convergd"):
        load_study(root / "config/config.yaml", bad)


def test_a_scan_moved_elsewhere_must_not_set_its_own_parameter():
    """``convergence.elastic.scan_at`` may move a scan to other settings, never fix the value it scans."""
    from multiscale.dft.calculator import DFTSettings
    from multiscale.dft.convergence import ConvergenceSettings

    conv = ConvergenceSettings.from_dict({"elastic": {"scan_at": {"ecut": {"ecut": 400.0}}}})
    with pytest.raises(ConfigError, match=r"scan_at.ecut: \['ecut'\] cannot be set there.*Fix: set only"):
        conv.check(DFTSettings())
    conv = ConvergenceSettings.from_dict({"elastic": {"scan_at": {"xc": {"ecut": 400.0}}}})
    with pytest.raises(ConfigError, match=r"scan_at.xc: not a scanned parameter"):
        conv.check(DFTSettings())
    every = {"kpt_density": {"ecut": 500.0}, "smearing": {"kpt_density": 12.0}, "ecut": {"kpt_density": 6.0}}
    with pytest.raises(ConfigError, match="moves every scan away from the reference"):
        ConvergenceSettings.from_dict({"elastic": {"scan_at": every}}).check(DFTSettings())
    with pytest.raises(ConfigError, match=r"scan_at.smearing.kpt_density = 8 is below the reference's 10"):
        ConvergenceSettings.from_dict({"elastic": {"scan_at": {"smearing": {"kpt_density": 8.0}}}}).check(
            DFTSettings())
    # null clears an inherited entry; an entry that repeats the reference's value moves nothing
    ConvergenceSettings.from_dict({"elastic": {"scan_at": {"smearing": None}}}).check(DFTSettings())
    ConvergenceSettings.from_dict({"elastic": {"scan_at": {**every, "ecut": {"kpt_density": 10.0}}}}).check(
        DFTSettings())


def test_a_ferromagnet_is_computed_spin_polarised_and_its_moments_reach_the_dataset(tmp_path):
    """Ni (dft.magmom auto: 0.606 muB, the measured moment) runs spin-polarised: a moment near the measured one,
    an energy below the spin-paired state's; the moments are stored in the calculation and reach the dataset and
    its extxyz export; spin-paired elements keep their cache keys."""
    from ase.io import read

    from multiscale.dft.calculator import DFTSettings, cache_key, calc_data, initial_moments
    from multiscale.dft.stage import gather

    ni = bulk("Ni", "fcc", a=3.52)
    auto = DFTSettings(ecut=300.0, kpt_density=3.0, smearing=0.1, cache_dir=str(tmp_path / "cache"))
    paired = DFTSettings(**{**auto.__dict__, "magmom": 0.0})
    assert initial_moments(ni, auto) == pytest.approx([0.606]) and not initial_moments(ni, paired).any()
    assert cache_key(ni, auto) != cache_key(ni, paired)
    al = bulk("Al", "fcc", a=4.04)
    assert cache_key(al, auto) == cache_key(al, paired)  # nothing magnetic: the key it always had
    spin, none = run_single_point(ni, auto), run_single_point(ni, paired)
    assert 0.45 < spin["magmom"] < 0.8 and "magmom" not in none
    assert spin["energy"] < none["energy"] - 0.01  # eV/atom: the ferromagnetic state is the lower one
    with pytest.raises(ConfigError, match="dft.magmom = 'up'"):
        DFTSettings(magmom="up")

    ni.info.update(name="ni", group="eos", metadata="{}")
    calc = write_artifact(tmp_path / "ni.h5", "dft_calc", calc_data(ni, spin), {
        "name": "ni", "group": "eos", "metadata": "{}", "settings": auto.physics(), "cache_key": "k", "retries": []})
    gather([str(calc)], {"cache_dir": str(tmp_path)}, str(tmp_path / "ds.h5"), str(tmp_path / "ds.extxyz"))
    ds = read_artifact(tmp_path / "ds.h5", "dft_dataset")
    assert ds["initial_magmoms"] == pytest.approx([0.606]) and ds["magmoms"] == pytest.approx(spin["magmoms"])
    frame = read(tmp_path / "ds.extxyz")
    assert frame.get_initial_magnetic_moments() == pytest.approx([0.606])


def test_a_spin_comparison_of_a_non_magnetic_element_is_refused_before_any_calculation(tmp_path):
    from multiscale.dft.stage import spin_comparison

    with pytest.raises(ConfigError, match="Al: dft.magmom gives no initial moment"):
        spin_comparison({"element": "Al", "lattice": "fcc", "a_guess": 4.04}, {"cache_dir": str(tmp_path)})
    assert not any(tmp_path.iterdir())
