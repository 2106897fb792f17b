"""Any LAMMPS potential as the baseline (issue 21, part 2): LAMMPS lines, files found and checked, one table of
published defaults per element, the same definition in the MLIP validation and the MD speed benchmark.

The tiny Ta dataset is labelled by LAMMPS with the published Ta06A (SNAP with its ZBL core via hybrid/overlay,
as LAMMPS' examples/snap/in.snap.Ta06A defines it), so the baseline must reproduce it exactly; without its ZBL
core the same SNAP does not.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from ase.build import bulk
from ase.data import atomic_numbers, reference_states

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import structure_arrays
from multiscale.errors import CalculationError, ConfigError
from multiscale.lammps import (
    DEFAULT_BASELINES,
    Potential,
    PotentialLines,
    baseline_lines,
    baseline_potential,
    potentials_folder,
    single_point,
    snapcoeff_elements,
)
from multiscale.material import Material
from multiscale.md.properties import MDSettings, relax_lattice
from multiscale.mlip.snap import ValidationSettings
from multiscale.mlip.validation import baseline_predictions

TA06A = {"pair_style": "hybrid/overlay zbl 4.0 4.8 snap",
         "pair_coeff": ["* * zbl 73 73", "* * snap Ta06A.snapcoeff Ta06A.snapparam Ta"],
         "files": ["Ta06A.snapcoeff", "Ta06A.snapparam"]}


def _ta_cells(n: int = 6) -> list:
    """``n`` rattled, slightly strained 4-atom bcc Ta cells."""
    cells = []
    for i in range(n):
        atoms = bulk("Ta", "bcc", a=3.31 * (1 + 0.01 * (i - n // 2)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.08, seed=i)
        cells.append(atoms)
    return cells


@pytest.fixture(scope="module")
def ta_dataset(tmp_path_factory):
    """A dft_dataset artifact of rattled bcc Ta labelled by LAMMPS with the published Ta06A (a stand-in for DFT
    labels: these tests are about the baseline)."""
    pot = baseline_potential(TA06A, "Ta")
    images = _ta_cells()
    labels = [single_point(a, pot) for a in images]
    n = len(images)
    data = structure_arrays(images)
    data.update(energy=[p.energy for p in labels], forces=np.concatenate([p.forces for p in labels]),
                stress=[p.stress for p in labels], names=[f"c{i}" for i in range(n)], groups=["rattle"] * n,
                metadata=["{}"] * n, scf_iterations=[0] * n, wall_time=[0.0] * n,
                fidelity=["training"] * n)
    path = tmp_path_factory.mktemp("ta") / "dataset.h5"
    write_artifact(path, "dft_dataset", data, {"settings": {"labels": "Ta06A"}, "dropped": [],
                   "fidelities": {"training": {"labels": ["energy", "forces", "stress"]}}})
    return path


def test_ta06a_files_are_shipped_and_name_ta():
    folder = potentials_folder()
    assert (folder / "Ta06A.snapcoeff").is_file() and (folder / "Ta06A.snapparam").is_file()
    assert snapcoeff_elements(folder / "Ta06A.snapcoeff") == ["Ta"]


def test_published_ta06a_with_its_zbl_core_is_the_ta_default_and_gives_its_lattice_constant():
    """auto in a Ta study is Ta06A as published (SNAP + ZBL 4.0-4.8 A, Z = 73): the same LAMMPS lines as the
    explicit form; bcc a0 = 3.316 A (Thompson et al. 2015). The SNAP without its ZBL core collapses."""
    pot = baseline_potential("auto", "Ta")
    assert pot.commands() == baseline_potential(TA06A, "Ta").commands()
    assert pot.pair_style == "hybrid/overlay zbl 4.0 4.8 snap"
    assert pot.coeff_lines()[0] == "* * zbl 73 73"
    assert pot.coeff_lines()[1].startswith("* * snap /") and pot.coeff_lines()[1].endswith("Ta06A.snapparam Ta")
    a0, e0 = relax_lattice(pot, Material("Ta", "bcc", 3.31), MDSettings(supercell=2))
    assert a0 == pytest.approx(3.316, abs=0.005)
    assert e0 == pytest.approx(-11.85, abs=0.02)  # Ta06A's cohesive-energy scale (eV/atom, its own zero)
    folder = potentials_folder()
    bare = Potential("snap", f"* * {folder}/Ta06A.snapcoeff {folder}/Ta06A.snapparam Ta", "Ta06A without ZBL")
    with pytest.raises(CalculationError):  # the lattice collapses: LAMMPS' neighbour lists overflow
        relax_lattice(bare, Material("Ta", "bcc", 3.31), MDSettings(supercell=2))


def test_ta06a_baseline_scores_a_ta_dataset(ta_dataset):
    """Through baseline_predictions: the published Ta06A reproduces its own labels (energies to the zero offset,
    forces, stresses); SNAP alone, without the ZBL core, does not (its forces are off by eV/A)."""
    ds = read_artifact(ta_dataset, "dft_dataset")
    split = np.array(["train", "train", "train", "test", "test", "calibration"], dtype=object)
    p = baseline_predictions(ds, ValidationSettings(baseline=TA06A).baseline_potential("Ta"), split)
    assert p["energy_pred"].shape == (6,) and p["forces_pred"].shape == (24, 3) and p["stress_pred"].shape == (6, 6)
    np.testing.assert_allclose(p["energy_pred"], p["energy_dft"], atol=1e-9)
    np.testing.assert_allclose(p["forces_pred"], p["forces_dft"], atol=1e-8)
    np.testing.assert_allclose(p["stress_pred"], p["stress_dft"], atol=1e-7)
    assert np.abs(p["forces_dft"]).max() > 0.5  # the rattle gives real forces to reproduce
    folder = potentials_folder()
    bare = Potential("snap", f"* * {folder}/Ta06A.snapcoeff {folder}/Ta06A.snapparam Ta", "Ta06A without ZBL")
    q = baseline_predictions(ds, bare, split)
    assert np.sqrt(np.mean((q["forces_pred"] - q["forces_dft"]) ** 2)) > 0.1


def test_ta_study_validates_and_runs_with_the_ta06a_baseline(ta_dataset, tmp_path):
    """A study whose baseline is Ta06A: the MLIP validation scores it on the same split as the fitted SNAP (a
    perfect score: it labelled the data), and the MD speed benchmark times the same potential."""
    from multiscale.artifacts import read_properties
    from multiscale.md.stage import run_speed
    from multiscale.mlip.stage import compute_descriptors, fit
    from multiscale.mlip.validation import validate

    mlip = {"twojmax": 2, "test_fraction": 0.34, "calibration_fraction": 0.17, "models": ["linear"],
            "baseline": TA06A}
    compute_descriptors(str(ta_dataset), mlip, "linear", str(tmp_path / "descriptors.h5"))
    fit(str(ta_dataset), str(tmp_path / "descriptors.h5"), mlip, str(tmp_path / "potential.h5"), str(tmp_path))
    validate(str(ta_dataset), {"linear": str(tmp_path / "descriptors.h5")}, {"linear": str(tmp_path / "potential.h5")},
             mlip, str(tmp_path / "validation.h5"), str(tmp_path / "figures"))
    report = read_artifact(tmp_path / "validation.h5", "mlip_validation").json_attr("report")
    base = report["baseline"]
    assert base["potential"]["pair_coeff"] == TA06A["pair_coeff"]  # as configured: file names, not paths
    assert base["metrics"]["test"]["force_rmse_eV_A"] < 1e-6
    assert base["metrics"]["test"]["energy_rmse_meV_atom"] < 1e-6
    assert report["models"]["linear"]["metrics"]["test"]["force_rmse_eV_A"] > 1e-3  # the 2J=2 SNAP is not exact

    write_artifact(tmp_path / "properties.h5", "properties", {
        "names": ["a0"], "values": [3.316], "std": [0.0], "units": ["Angstrom"], "notes": ["test"]},
        {"scale": "md", "settings": "{}"})
    assert read_properties(tmp_path / "properties.h5")["a0"][0] == 3.316
    material = {"element": "Ta", "lattice": "bcc", "a_guess": 3.31}
    run_speed(str(tmp_path / "potential.h5"), str(tmp_path / "properties.h5"), material, "auto",
              str(tmp_path / "speed.json"), steps=20, repeat=2)
    speed = json.loads((tmp_path / "speed.json").read_text())
    assert list(speed["potentials"]) == ["SNAP", DEFAULT_BASELINES["Ta"]["name"]]
    assert all(v["atom_steps_per_s"] > 0 for v in speed["potentials"].values())
    run_speed(str(tmp_path / "potential.h5"), str(tmp_path / "properties.h5"), material, None,
              str(tmp_path / "none.json"), steps=20, repeat=2)
    assert list(json.loads((tmp_path / "none.json").read_text())["potentials"]) == ["SNAP"]
    with pytest.raises(ConfigError, match="mlip.baseline"):
        run_speed(str(tmp_path / "potential.h5"), str(tmp_path / "properties.h5"), material,
                  {"pair_style": "eam/fs", "file": "Al_mm.eam.fs"}, str(tmp_path / "al.json"), steps=20, repeat=2)


def test_every_default_baseline_is_for_its_element_and_holds_its_crystal():
    """The one table: every entry's files are shipped and name the element, and it gives the element's reference
    crystal within 1% of its lattice constant (ase.data.reference_states)."""
    for element, entry in DEFAULT_BASELINES.items():
        pot = baseline_potential("auto", element)
        assert pot is not None and pot.name == entry["name"]
        state = reference_states[atomic_numbers[element]]
        a0, _ = relax_lattice(pot, Material(element, state["symmetry"], state["a"]), MDSettings(supercell=2))
        assert a0 == pytest.approx(state["a"], rel=0.01), element
    assert baseline_lines("auto", "Zr") is None  # no entry: no baseline, not another element's
    assert baseline_lines(None, "Al") is None


def test_single_file_form_still_works_and_equals_its_lines():
    old = baseline_potential({"pair_style": "eam/fs", "file": "Al_mm.eam.fs"}, "Al")
    new = baseline_potential({"pair_style": "eam/fs", "pair_coeff": ["* * Al_mm.eam.fs Al"],
                              "files": ["Al_mm.eam.fs"]}, "Al")
    assert old.commands() == new.commands()
    assert old.coeff_lines() == (f"* * {potentials_folder() / 'Al_mm.eam.fs'} Al",)
    funcfl = baseline_potential({"pair_style": "eam", "file": "Ni_u3.eam"}, "Ni")
    assert funcfl.coeff_lines() == (f"* * {potentials_folder() / 'Ni_u3.eam'}",)  # no element for funcfl


def test_a_users_own_potential_file_is_found_relative_to_the_workflow(tmp_path, monkeypatch):
    mine = tmp_path / "data" / "potentials"
    mine.mkdir(parents=True)
    shutil.copy(potentials_folder() / "Al_mm.eam.fs", mine / "my_al.eam.fs")
    monkeypatch.chdir(tmp_path)
    pot = baseline_potential({"pair_style": "eam/fs", "pair_coeff": ["* * data/potentials/my_al.eam.fs Al"],
                              "files": ["data/potentials/my_al.eam.fs"], "name": "mine"}, "Al")
    assert pot.coeff_lines() == (f"* * {mine / 'my_al.eam.fs'} Al",)
    shipped = baseline_potential("auto", "Al")
    atoms = bulk("Al", "fcc", a=4.0, cubic=True)
    assert single_point(atoms, pot).energy == pytest.approx(single_point(atoms, shipped).energy, rel=1e-12)


@pytest.mark.parametrize(("lines", "words"), [
    # files: missing, not used by a line, not listed
    ({**TA06A, "files": ["Ta06A.snapcoeff", "Ta07.snapparam"]}, ["mlip.baseline.files", "Ta07.snapparam",
                                                                 "no such potential file"]),
    ({**TA06A, "files": [*TA06A["files"], "Al_mm.eam.fs"]}, ["Al_mm.eam.fs", "used by no pair_coeff line"]),
    ({**TA06A, "files": ["Ta06A.snapcoeff"]}, ["snap takes a .snapcoeff file, a .snapparam file"]),
    # the element: ZBL's atomic numbers, the closing element name, a sub-style not in pair_style, two types
    ({**TA06A, "pair_coeff": ["* * zbl 13 13", TA06A["pair_coeff"][1]]}, ["zbl", "73 73", "* * zbl 73 73"]),
    ({**TA06A, "pair_coeff": [TA06A["pair_coeff"][0], "* * eam/fs Ta06A.snapcoeff Ta06A.snapparam Ta"]},
     ["eam/fs", "not a sub-style"]),
    ({**TA06A, "pair_coeff": ["1 2 zbl 73 73", TA06A["pair_coeff"][1]]}, ["one atom type", "'* *'"]),
    ({"pair_style": "snap", "pair_coeff": "* * Ta06A.snapcoeff Ta06A.snapparam Al", "files": TA06A["files"]},
     ["maps the atom type to Al", "not to the study's element Ta"]),
    ({"pair_style": "snap", "pair_coeff": "* * Mo_Chen_PRM2017.snapcoeff Mo_Chen_PRM2017.snapparam Ta",
      "files": ["Mo_Chen_PRM2017.snapcoeff", "Mo_Chen_PRM2017.snapparam"]},
     ["Mo_Chen_PRM2017.snapcoeff", "a potential for Mo", "Ta06A"]),
    ({"pair_style": "eam/alloy", "pair_coeff": ["* * Al_zhou.eam.alloy Ta"], "files": ["Al_zhou.eam.alloy"]},
     ["a potential for Al", "CuTa.eam.alloy"]),
    ({"pair_style": "eam/fs", "file": "Al_mm.eam.fs", "files": ["x"]}, ["either {pair_style, file}"]),
])
def test_baseline_lines_not_for_a_ta_study_are_refused(lines, words):
    with pytest.raises(ConfigError) as err:
        baseline_potential(lines, "Ta", "mlip.baseline")
    msg = str(err.value)
    assert "mlip.baseline" in msg and "Fix:" in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg}"


def test_potential_lines_from_config_keep_the_files_key():
    assert PotentialLines.from_config({"pair_style": "eam", "file": "Ni_u3.eam"}, "Ni").files_key == "file"
    assert PotentialLines.from_config(TA06A, "Ta").to_dict()["files"] == TA06A["files"]


@pytest.mark.parametrize("value", ['"auto"', "null", '{"pair_style": "eam/fs", "file": "Al_mm.eam.fs"}'])
def test_the_cli_takes_every_form_of_the_baseline(value):
    """The workflow passes mlip.baseline as JSON: `auto`, null and LAMMPS lines all reach the speed benchmark."""
    import json

    from multiscale.cli import build_parser

    args = build_parser().parse_args(["md", "speed", "--potential", "p.h5", "--properties", "m.h5", "--material",
                                      '{"element": "Al"}', "--baseline", value, "--out", "s.json"])
    assert args.baseline == json.loads(value)
