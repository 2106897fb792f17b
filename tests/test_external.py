"""Bring your own data (dft.external): files ASE reads join the dataset as their own fidelity and group, the product's
own export reads back identically, bad files are refused before any job, and a study fits on them without DFT
for those configurations. Labels by ASE's EMT (seconds); the fit by LAMMPS' compute snap on a few tiny cells."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from multiscale.artifacts import read_artifact, sha256_file, write_artifact
from multiscale.dft.external import energy_labels
from multiscale.dft.stage import export_extxyz, gather, reference_properties
from multiscale.dft.structures import ConfigurationSettings, configuration_names, generate
from multiscale.errors import ArtifactError, ConfigError
from multiscale.study import load_study
from multiscale.units import EV_PER_A3_TO_GPA
from tests.external_data import (
    A0,
    AL,
    EXPORT,
    SETTINGS,
    TINY,
    TRAJ,
    emt_dataset,
    emt_labels,
    frames_summary,
    tiny_images,
    write_files,
)


def entry(path, **kw) -> dict:
    """A dft.external entry for ``path`` with the EMT declaration (keys of ``kw`` override)."""
    return {"file": str(path), "fidelity": "external-emt", "settings": dict(SETTINGS), **kw}


def labelled(atoms, **results):
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def test_shipped_files_are_what_the_generator_writes(tmp_path, root):
    """data/external holds what tests/external_data.py writes (the product's export, an ASE trajectory)."""
    fresh = write_files(tmp_path)
    for name, path in zip((EXPORT, TRAJ), fresh, strict=True):
        assert frames_summary(root / "data/external" / name) == frames_summary(path), name


def test_the_products_export_reads_back_identically(tmp_path):
    """export_extxyz -> dft.external -> gather: the same positions, energies (NaN where the export has none),
    forces, stresses (GPa) and groups, the declared fidelity, the frame's own metadata kept (with its source), the
    declared settings and the source file (with its sha256) in the fidelities attribute; and the energy rule."""
    original = emt_dataset(tmp_path / "original.h5", tiny_images(), fidelity="training", no_energy=(1, 8))
    export_extxyz(str(original), str(tmp_path / "export.extxyz"))
    dft = {"cache_dir": str(tmp_path), "external": [entry(tmp_path / "export.extxyz")]}
    gather([], dft, str(tmp_path / "back.h5"), str(tmp_path / "back.extxyz"))
    a, b = read_artifact(original, "dft_dataset"), read_artifact(tmp_path / "back.h5", "dft_dataset")

    np.testing.assert_array_equal(a["n_atoms"], b["n_atoms"])
    np.testing.assert_array_equal(a["numbers"], b["numbers"])
    np.testing.assert_allclose(b["positions"], a["positions"], rtol=0, atol=1e-8)  # extxyz writes %16.8f
    np.testing.assert_allclose(b["cell"], a["cell"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(b["energy"]), np.isnan(a["energy"]))
    assert np.isnan(b["energy"]).sum() == 2
    np.testing.assert_allclose(b["energy"], a["energy"], rtol=1e-14)  # NaN == NaN here
    np.testing.assert_allclose(b["forces"], a["forces"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(b["stress"], a["stress"], rtol=1e-12, atol=1e-12)
    assert list(b["groups"]) == list(a["groups"]) == ["rattle"] * 8 + ["surface"] * 2
    assert set(b["fidelity"]) == {"external-emt"}
    meta_a, meta_b = ([json.loads(m) for m in art["metadata"]] for art in (a, b))
    for ma, mb, name in zip(meta_a, meta_b, a["names"], strict=True):
        source = mb.pop("source")
        assert mb == ma and source["name"] == name and source["fidelity"] == "training"
    assert [m.get("facet") for m in meta_b[-2:]] == ["100", "100"]  # the split's strata survive
    fid = json.loads(b.attrs["fidelities"])["external-emt"]
    assert fid["settings"] == SETTINGS and fid["labels"] == ["forces", "stress"]
    export = tmp_path / "export.extxyz"
    assert fid["sources"] == [{"file": str(export), "sha256": sha256_file(export), "format": "extxyz", "index": ":",
                               "frames": 10}]
    assert str(tmp_path / "export.extxyz") in b.provenance["inputs"]
    # energy_reference own (the default): stored as labels of the fidelity, not fitted or scored
    assert np.isnan(energy_labels(b)).all()
    # the round-tripped dataset exports again: the same frames
    assert frames_summary(tmp_path / "back.extxyz") == frames_summary(tmp_path / "export.extxyz")

    # energy_reference training: allowed with the training settings declared; then its energies are labels
    gpaw = {"code": "GPAW", "xc": "PBE", "ecut": 350.0, "kpt_density": 5.0, "smearing": 0.1}
    dft["external"] = [entry(tmp_path / "export.extxyz", settings=gpaw, energy_reference="training")]
    gather([], dft, str(tmp_path / "training.h5"))
    c = read_artifact(tmp_path / "training.h5", "dft_dataset")
    np.testing.assert_allclose(energy_labels(c), a["energy"], rtol=1e-14)
    # energy_reference none: not stored
    dft["external"] = [entry(tmp_path / "export.extxyz", energy_reference="none", config_type=False, group="mine")]
    gather([], dft, str(tmp_path / "none.h5"))
    d = read_artifact(tmp_path / "none.h5", "dft_dataset")
    assert np.isnan(d["energy"]).all() and set(d["groups"]) == {"mine"}


def test_units_signs_and_virial(tmp_path):
    """Stress in the dataset: GPa, positive tensile (a compressed cell is negative), from ASE's eV/A^3; an extxyz
    stress declared in GPa or kbar, or given only as QUIP's virial (-stress x volume), gives the same label; the
    free energy is taken when the file has one; ASE's own conversion of a trajectory is used as is."""
    compressed = bulk("Al", "fcc", a=3.9, cubic=True)
    compressed.rattle(0.05, seed=3)
    energy, forces, stress = emt_labels(compressed)
    assert stress[:3].max() < 0  # ASE: compressive is negative
    volume = compressed.get_volume()
    tensor = np.array([[stress[0], stress[5], stress[4]], [stress[5], stress[1], stress[3]],
                       [stress[4], stress[3], stress[2]]])
    variants = {
        "ev.extxyz": ({}, {"stress": stress}),
        "gpa.extxyz": ({"stress_units": "GPa"}, {"stress": stress * EV_PER_A3_TO_GPA}),
        "kbar.extxyz": ({"stress_units": "kbar"}, {"stress": stress * EV_PER_A3_TO_GPA * 10}),
        "virial.extxyz": ({}, {}),
        "free.traj": ({}, {"stress": stress, "free_energy": energy - 0.25}),
    }
    for name, (keys, results) in variants.items():
        atoms = labelled(compressed.copy(), energy=energy, forces=forces, **results)
        if name == "virial.extxyz":
            atoms.info["virial"] = -tensor * volume
        write(tmp_path / name, atoms)
        dft = {"cache_dir": str(tmp_path), "external": [entry(tmp_path / name, **keys)]}
        gather([], dft, str(tmp_path / f"{name}.h5"))
        ds = read_artifact(tmp_path / f"{name}.h5", "dft_dataset")
        np.testing.assert_allclose(ds["stress"][0], stress * EV_PER_A3_TO_GPA, rtol=1e-9, err_msg=name)
        assert ds["stress"][0][:3].max() < 0
        assert ds["energy"][0] == pytest.approx(energy - (0.25 if name == "free.traj" else 0.0), abs=1e-12)

    # a stress in GPa read as eV/A^3 disagrees with the virial: refused, naming the units that fit
    atoms = labelled(compressed.copy(), energy=energy, forces=forces, stress=stress * EV_PER_A3_TO_GPA)
    atoms.info["virial"] = -tensor * volume
    write(tmp_path / "wrong.extxyz", atoms)
    with pytest.raises(ConfigError, match=r"dft.external\[0\].file: .*wrong.extxyz frame 0: its stress \(read as "
                                          r"eV/A\^3\) is 160.2 x -virial/volume.*Fix: .*stress_units"):
        gather([], {"external": [entry(tmp_path / "wrong.extxyz")]}, str(tmp_path / "wrong.h5"))


def _bad_files(tmp_path) -> dict[str, str]:
    """Files the checks refuse, by what is wrong with them."""
    cell = bulk("Al", "fcc", a=4.04, cubic=True)
    energy, forces, stress = emt_labels(cell)
    files = {}
    for name, atoms in {
        "no_forces": labelled(cell.copy(), energy=energy, stress=stress),
        "no_stress": labelled(cell.copy(), energy=energy, forces=forces),
        "nothing": labelled(cell.copy(), forces=forces),
        "no_energy": labelled(cell.copy(), forces=forces, stress=stress),
        "copper": labelled(bulk("Cu", "fcc", a=3.6, cubic=True), energy=energy, forces=forces, stress=stress),
        "good": labelled(cell.copy(), energy=energy, forces=forces, stress=stress),
    }.items():
        files[name] = str(tmp_path / f"{name}.extxyz")
        write(files[name], atoms)
    files["garbage"] = str(tmp_path / "garbage.extxyz")
    (tmp_path / "garbage.extxyz").write_text("this is not\nan extxyz file\n")
    files["empty"] = str(tmp_path / "empty.extxyz")
    (tmp_path / "empty.extxyz").write_text("")
    files["traj"] = str(tmp_path / "good.traj")
    write(files["traj"], read(files["good"]))
    return files


@pytest.mark.parametrize(("change", "message"), [
    ({"file": "missing.extxyz"}, r"dft.external\[0\].file: missing.extxyz does not exist.*Fix: correct the path"),
    ({"file": "garbage"}, r"dft.external\[0\].file: ASE cannot read .*garbage.extxyz.*Fix: .*dft.external\[0\].format"),
    ({"file": "empty"}, r"dft.external\[0\].file: ASE cannot read .*empty.extxyz \(UnknownFileTypeError: Empty file"),
    ({"file": "no_forces"}, r"dft.external\[0\].file: .*no_forces.extxyz frame 0 has no forces. Fix"),
    ({"file": "no_stress"}, r"frame 0 has no stress \(and no virial\). Fix: .*ISIF"),
    ({"file": "nothing"}, r"frame 0 has neither an energy nor a stress. Fix"),
    ({"file": "no_energy"}, r"dft.external\[0\].file: no selected frame .* has an energy. Fix: set "
                            r"dft.external\[0\].energy_reference: none"),
    ({"file": "copper"}, r"frame 0 holds Cu4, but the study's element \(material.element\) is Al. Fix"),
    ({"index": "5:"}, r"dft.external\[0\].index = '5:' selects no frame .*Fix"),
    ({"settings": {"code": "VASP", "xc": "PBE", "kpts": [8, 8, 8], "smearing": 0.1}},
     r"dft.external\[0\].settings.ecut is not declared. Fix: declare the plane-wave cutoff"),
    ({"settings": {"code": "VASP", "xc": "PBE", "ecut": 400.0, "smearing": 0.1}},
     r"dft.external\[0\].settings.kpt_density/kpts: declare exactly one.*Fix"),
    ({"energy_reference": "training"}, r"dft.external\[0\].energy_reference is 'training', but the declared settings "
                                       r"are not the training settings \(settings.code = .*Fix: energy_reference: own"),
    ({"fidelity": "training"}, r"dft.external\[0\].fidelity = 'training' is the study's own fidelity. Fix"),
    ({"file": "traj", "stress_units": "GPa"}, r"dft.external\[0\].stress_units = 'GPa' but .* is read as 'traj'.*Fix"),
])
def test_bad_external_data_is_refused_before_any_job(tmp_path, root, change, message):
    files = _bad_files(tmp_path)
    ent = entry(files["good"], **change)
    ent["file"] = files.get(ent["file"], ent["file"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"dft": {"external": [ent]}}))
    with pytest.raises(ConfigError, match=message) as err:
        load_study(root / "config/config.yaml", bad)
    assert str(bad) in str(err.value)


def test_fidelities_of_external_data_are_checked_across_entries(tmp_path, root):
    """Entries sharing a fidelity declare the same settings; mlip.fidelity_weights may name an external fidelity,
    and only a fidelity the dataset will have."""
    good = _bad_files(tmp_path)["good"]
    bad = tmp_path / "bad.yaml"
    other = {**SETTINGS, "code": "VASP"}
    bad.write_text(yaml.safe_dump({"dft": {"external": [entry(good), entry(good, settings=other)]}}))
    with pytest.raises(ConfigError, match=r"dft.external\[0\] and dft.external\[1\] share the fidelity "
                                          r"'external-emt' but declare different settings.*Fix"):
        load_study(root / "config/config.yaml", bad)
    ok = {"dft": {"external": [entry(good), entry(good, group="again")]},
          "mlip": {"fidelity_weights": {"external-emt": {"stress": 2.0}}}}
    bad.write_text(yaml.safe_dump(ok))
    assert load_study(root / "config/config.yaml", bad)["dft"]["external"][1]["energy_reference"] == "own"
    ok["mlip"]["fidelity_weights"] = {"external-emd": {"stress": 2.0}}
    bad.write_text(yaml.safe_dump(ok))
    with pytest.raises(ConfigError, match=r"mlip.fidelity_weights names the fidelity 'external-emd', which the "
                                          r"dataset will not have \(it will have: training, converged, external-emt\)"):
        load_study(root / "config/config.yaml", bad)


def test_reference_properties_use_the_studys_own_configurations_only(tmp_path):
    """An external file's 'elastic' frames (other settings: here their stresses doubled) never enter the DFT elastic
    constants: those come from the study's own (training) elastic cells, even beside external ones."""
    from multiscale.dft.calculator import calc_data
    from multiscale.elastic import fit_cubic_elastic

    settings = ConfigurationSettings.from_dict({"elastic": {"amplitudes": [0.01]}})
    elastic = generate("elastic", AL, settings, A0)
    calcs = []
    for atoms in elastic:  # the study's own calculations, labelled by EMT (stress in GPa)
        energy, forces, stress = emt_labels(atoms)
        path = tmp_path / f"{atoms.info['name']}.h5"
        write_artifact(path, "dft_calc", calc_data(atoms, {
            "energy": energy, "forces": forces, "stress": stress * EV_PER_A3_TO_GPA, "scf_iterations": 1,
            "wall_time": 0.0}), {"name": atoms.info["name"], "group": "elastic", "metadata": atoms.info["metadata"],
                                 "settings": {}, "cache_key": "", "retries": []})
        calcs.append(str(path))
    doubled = []
    for atoms in elastic:
        energy, forces, stress = emt_labels(atoms)
        doubled.append(labelled(atoms.copy(), energy=energy, forces=forces, stress=2 * stress))
        doubled[-1].info.update(config_type="elastic", metadata=atoms.info["metadata"])
    write(tmp_path / "elastic.extxyz", doubled)
    eos = write_artifact(tmp_path / "eos.h5", "eos", {"volume": [16.5], "energy": [-3.7]},
                         {"a0": A0, "a0_std": 0.0, "B": 78.0, "B_std": 0.0, "Bp": 4.5, "E0": -3.7, "V0": 16.5})

    gather(calcs, {"external": [entry(tmp_path / "elastic.extxyz")]}, str(tmp_path / "dataset.h5"))
    ds = read_artifact(tmp_path / "dataset.h5", "dft_dataset")
    assert list(ds["groups"]) == ["elastic"] * 8 and list(ds["fidelity"]) == ["training"] * 4 + ["external-emt"] * 4
    reference_properties(str(tmp_path / "dataset.h5"), str(eos), str(tmp_path / "reference.h5"))
    props = {n: v for n, v in zip(*(read_artifact(tmp_path / "reference.h5", "properties")[k]
                                    for k in ("names", "values")), strict=True)}
    strains = [json.loads(a.info["metadata"])["strain_voigt"] for a in elastic]
    own = fit_cubic_elastic(np.array(strains), ds["stress"][:4])
    assert props["C11"] == pytest.approx(own["C11"][0]) and props["C44"] == pytest.approx(own["C44"][0])
    assert own["C44"][0] > 10.0  # EMT's Al: a real shear stiffness, not zero

    # external 'elastic' frames alone are no DFT elastic constants
    gather([], {"external": [entry(tmp_path / "elastic.extxyz")]}, str(tmp_path / "external.h5"))
    with pytest.raises(ArtifactError, match="no 'elastic' configurations"):
        reference_properties(str(tmp_path / "external.h5"), str(eos), str(tmp_path / "reference.h5"))


def test_a_study_of_external_data_fits_without_dft_for_those_configurations(tmp_path, root):
    """The shipped study computes only its EOS and elastic cells (the DFT reference properties); its other data
    come from the two shipped files (the product's extxyz export and an ASE trajectory), which gather reads and
    the SNAP fit learns: forces and stresses fitted, the EMT energies (own reference) not."""
    from multiscale.mlip.stage import compute_descriptors, fit

    study = load_study(root / "config/config.yaml", root / "config/studies/external-al.yaml")
    names = configuration_names(ConfigurationSettings.from_dict(study["dft"]["configurations"]))
    assert sorted(names) == ["elastic", "eos"]  # no GPAW job for the rattled cells and slabs
    assert [e["file"] for e in study["dft"]["external"]] == ["data/external/" + EXPORT, "data/external/" + TRAJ]

    external = [{**e, "file": str(root / e["file"])} for e in study["dft"]["external"]]
    gather([], {"cache_dir": str(tmp_path), "external": external}, str(tmp_path / "dataset.h5"))
    ds = read_artifact(tmp_path / "dataset.h5", "dft_dataset")
    assert sorted(set(ds["groups"])) == ["md-emt", "rattle", "surface"]
    assert set(ds["fidelity"]) == {"emt-demo"} and len(ds["names"]) == 10 + 4
    assert [s["file"] for s in json.loads(ds.attrs["fidelities"])["emt-demo"]["sources"]] == \
        [e["file"] for e in external]

    # the study's own eos and elastic cells (GPAW) are not here: no weights for their group and fidelity
    mlip = {**study["mlip"], "models": ["linear"], "fidelity_weights": {}, "group_weights": {}}
    compute_descriptors(str(tmp_path / "dataset.h5"), mlip, "linear", str(tmp_path / "descriptors.h5"))
    fit(str(tmp_path / "dataset.h5"), str(tmp_path / "descriptors.h5"), mlip, str(tmp_path / "potential.h5"),
        str(tmp_path))
    pot = read_artifact(tmp_path / "potential.h5", "potential")
    train = pot["split"] == "train"
    # no energy rows: 3N force rows and 6 stress rows per training configuration
    assert pot.json_attr("hyperparameters")["n_rows"] == int(sum(3 * n + 6 for n in ds["n_atoms"][train]))
    assert np.isnan(pot["energy_dft"]).all()
    metrics = pot.json_attr("metrics")
    force_scale = float(np.sqrt(np.mean(ds["forces"] ** 2)))
    assert metrics["train"]["force_rmse_eV_A"] < 0.15 * force_scale  # EMT forces learned (measured: 0.09)
    assert metrics["test"]["n_configs"] >= 2 and metrics["test"]["force_rmse_eV_A"] < 0.25 * force_scale  # 0.11
    assert metrics["test"]["stress_rmse_GPa"] < 0.5 * float(np.sqrt(np.mean(ds["stress"] ** 2)))  # measured: 0.21
    assert (tmp_path / "snap.snapcoeff").exists()


def test_emt_cells_of_the_tiny_generators_are_the_shipped_export():
    """The export holds the tiny study's rattled cells and slabs (same generator, seed and settings)."""
    frames = read(str(__import__("pathlib").Path(__file__).resolve().parents[1] / "data/external" / EXPORT), ":")
    mine = generate("rattle", AL, TINY, A0) + generate("surface", AL, TINY, A0)
    assert [a.info["name"] for a in frames] == [a.info["name"] for a in mine]
    for f, m in zip(frames, mine, strict=True):
        np.testing.assert_allclose(f.positions, m.positions, atol=1e-8)
    cell = frames[0].copy()
    cell.calc = EMT()
    np.testing.assert_allclose(frames[0].get_forces(), cell.get_forces(), atol=1e-7)


def test_the_external_study_dag_has_no_dft_job_for_its_external_configurations(tmp_path):
    """`snakemake -n` of config/studies/external-al.yaml: GPAW single points only for the EOS and elastic cells, the
    two files as inputs of the dataset (a changed file reruns it), and the whole chain down to the atlas."""
    from tests.test_workflow import copy_workflow, job_counts, snakemake

    wd = copy_workflow(tmp_path)
    out = snakemake(wd, "-n", "--configfile", "config/studies/external-al.yaml").stdout
    counts = job_counts(out)
    assert counts["dft_single_point"] == 5 + 4 and counts["dft_structures"] == 2
    assert counts["mlip_fit"] == 2 and counts["divergence_summary"] == 1
    calcs = set(re.findall(r"results/external-al/dft/calc/(\w+)/", out))
    assert calcs == {"eos", "elastic"}
    gather = out.split("rule dft_gather:")[1].split("\n\n")[0]
    assert f"data/external/{EXPORT}" in gather and f"data/external/{TRAJ}" in gather
