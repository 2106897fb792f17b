"""Every stage that claims MPI support gives the serial result under mpiexec -n 2 (through the real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import structure_arrays
from multiscale.grading import EXTRAPOLATION_THRESHOLD
from multiscale.lammps import Potential, single_point

pytestmark = pytest.mark.mpi
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
MATERIAL = {"element": "Al", "lattice": "fcc", "a_guess": 4.04}


def run(*cmd: str, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_gpaw_single_point_two_ranks_match_serial(tmp_path):
    dft = {"ecut": 250.0, "kpt_density": 2.0, "configurations": {"seed": 3, "rattle": {
        "amplitudes": [0.1], "per_amplitude": 1, "supercell": [1, 1, 1], "strain": 0.01}}}
    eos = tmp_path / "eos.h5"
    write_artifact(eos, "eos", {"volume": [16.5] * 5, "energy": [-3.7] * 5},
                   {"a0": 4.04, "a0_std": 0, "B": 78.0, "B_std": 0, "Bp": 4.0, "E0": -3.7, "V0": 16.5})
    run(str(BIN / "multiscale"), "dft", "structures", "--group", "rattle", "--material", json.dumps(MATERIAL),
        "--dft", json.dumps(dft), "--eos", str(eos), "--out", "s.h5", cwd=tmp_path)
    for label, launcher in (("serial", []), ("mpi", [str(BIN / "mpiexec"), "-n", "2"])):
        d = {**dft, "cache_dir": str(tmp_path / f"cache-{label}")}  # separate caches: both really run GPAW
        run(*launcher, str(BIN / "gpaw"), "python", "-m", "multiscale", "dft", "run", "--structures", "s.h5",
            "--name", "rattle_000", "--dft", json.dumps(d), "--out", f"{label}.h5", cwd=tmp_path)
    ser, par = (read_artifact(tmp_path / f"{x}.h5", "dft_calc") for x in ("serial", "mpi"))
    assert abs(ser["energy"][0] - par["energy"][0]) < 1e-5
    np.testing.assert_allclose(par["forces"], ser["forces"], atol=1e-4)
    np.testing.assert_allclose(par["stress"], ser["stress"], atol=1e-3)
    assert np.abs(ser["forces"]).max() > 0.05


@pytest.fixture(scope="module")
def eam_dataset(tmp_path_factory):
    """A small dataset labelled by an EAM in LAMMPS (a stand-in for DFT labels: this test is about MPI)."""
    pot = Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al", "EAM")
    images, labels = [], []
    for i in range(6):
        atoms = bulk("Al", "fcc", a=4.05 * (1 + 0.01 * (i - 3)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=i)
        images.append(atoms)
        labels.append(single_point(atoms, pot))
    data = structure_arrays(images)
    data.update(energy=[p.energy for p in labels], forces=np.concatenate([p.forces for p in labels]),
                stress=[p.stress for p in labels], names=[f"c{i}" for i in range(6)], groups=["rattle"] * 6,
                metadata=["{}"] * 6, scf_iterations=[0] * 6, wall_time=[0.0] * 6,
                fidelity=["training"] * 6)
    path = tmp_path_factory.mktemp("eam") / "dataset.h5"
    write_artifact(path, "dft_dataset", data, {"settings": {"labels": "EAM"}, "dropped": [],
                   "fidelities": {"training": {"labels": ["energy", "forces", "stress"]}}})
    return path


def test_mlip_fit_and_md_properties_two_ranks_match_serial(eam_dataset, tmp_path):
    mlip = {"twojmax": 4, "test_fraction": 0.2}
    md = {"supercell": 2, "posterior_samples": 2, "vacancy_supercell": 2, "surface": {"facets": []}}
    for label, launcher in (("serial", []), ("mpi", [str(BIN / "mpiexec"), "-n", "2"])):
        run(*launcher, str(BIN / "multiscale"), "mlip", "descriptors", "--dataset", str(eam_dataset), "--mlip",
            json.dumps(mlip), "--model", "linear", "--out", f"{label}/descriptors.h5", cwd=tmp_path)
        run(str(BIN / "multiscale"), "mlip", "fit", "--dataset", str(eam_dataset), "--descriptors",
            f"{label}/descriptors.h5", "--mlip", json.dumps(mlip), "--potential-dir", label, "--out",
            f"{label}/potential.h5", cwd=tmp_path)
        run(*launcher, str(BIN / "multiscale"), "md", "properties", "--potential", f"{label}/potential.h5",
            "--material", json.dumps(MATERIAL), "--md", json.dumps(md), "--out", f"{label}/properties.h5",
            cwd=tmp_path)
    ser, par = (read_artifact(tmp_path / f"{x}/descriptors.h5", "descriptors") for x in ("serial", "mpi"))
    np.testing.assert_allclose(par["forces"], ser["forces"], rtol=1e-12, atol=1e-12)
    ser, par = (read_artifact(tmp_path / f"{x}/potential.h5", "potential") for x in ("serial", "mpi"))
    np.testing.assert_allclose(par["coefficients"], ser["coefficients"], rtol=1e-8, atol=1e-10)
    ser, par = (read_artifact(tmp_path / f"{x}/properties.h5", "properties") for x in ("serial", "mpi"))
    assert list(ser["names"]) == list(par["names"])
    np.testing.assert_allclose(par["values"], ser["values"], rtol=1e-6, atol=1e-8)
    assert not list(tmp_path.glob("*/.*.work"))  # scratch folders removed


def test_specimen_and_continuum_stages_two_ranks_match_serial(eam_dataset, tmp_path):
    """The MD specimen (EAM-labelled SNAP, LAMMPS domain-decomposed) and the continuum stage (dolfinx
    partitioned) through the CLI: 2 ranks give the serial fields."""
    names = ["a0", "E0", "C11", "C12", "C44"]  # E0: the EAM's cohesive energy (Mendelev 2008), collapse reference
    values = [4.05, -3.36, 108.0, 62.0, 32.0]
    samples = np.array([[4.05, -3.36, 107.0, 61.5, 31.0], [4.05, -3.36, 109.5, 62.5, 33.0],
                        [4.05, -3.36, 108.2, 61.0, 32.4]])
    write_artifact(tmp_path / "md.h5", "properties", {"names": names, "values": values, "std": [0.5] * 5,
                                                      "units": ["A", "eV/atom"] + ["GPa"] * 3, "notes": ["test"] * 5,
                                                      "samples": samples}, {"scale": "md", "settings": {}})
    specimen = {"size": 3.2, "hole_radius": 0.5, "frame": 0.5, "strain": 0.005}
    mlip = {"twojmax": 4, "test_fraction": 0.2}
    run(str(BIN / "multiscale"), "mlip", "descriptors", "--dataset", str(eam_dataset), "--mlip", json.dumps(mlip),
        "--model", "linear", "--out", "descriptors.h5", cwd=tmp_path)
    run(str(BIN / "multiscale"), "mlip", "fit", "--dataset", str(eam_dataset), "--descriptors", "descriptors.h5",
        "--mlip", json.dumps(mlip), "--potential-dir", "pot", "--out", "potential.h5", cwd=tmp_path)
    pot = tmp_path / "potential.h5"
    for label, launcher in (("serial", []), ("mpi", [str(BIN / "mpiexec"), "-n", "2"])):
        run(*launcher, str(BIN / "multiscale"), "md", "specimen", "--potential", str(pot), "--properties", "md.h5",
            "--material", json.dumps(MATERIAL), "--md", "{}", "--specimen", json.dumps(specimen),
            "--out", f"{label}-specimen.h5", cwd=tmp_path)
        run(*launcher, str(BIN / "multiscale"), "continuum", "solve", "--md", "md.h5", "--specimen",
            "serial-specimen.h5", "--continuum", json.dumps({"cells": 3, "mesh": {"n_theta": 8, "n_r": 6}}),
            "--xdmf", f"{label}-fields.xdmf", "--out", f"{label}.h5", cwd=tmp_path)
    ser, par = (read_artifact(tmp_path / f"{x}-specimen.h5", "md_specimen") for x in ("serial", "mpi"))
    np.testing.assert_allclose(par["displacement"], ser["displacement"], atol=1e-6)  # nm
    np.testing.assert_allclose(par["stress"], ser["stress"], atol=2e-3)  # GPa: minimiser paths differ in round-off
    np.testing.assert_array_equal(par["cna"], ser["cna"])
    # a potential fitted without any surface: the monitor flags the run, and the flagged atoms of the interior
    # are the ones at the hole surface (the frame's outer edges are free surfaces too)
    assert ser.attrs["flagged"]
    ref, frame = ser["reference"], ser["frame"]
    r = np.hypot(ref[:, 0], ref[:, 1]) - 0.5
    flagged = ser["grade"] > EXTRAPOLATION_THRESHOLD
    surface, inside = (r < 0.1) & ~frame, (r > 0.5) & ~frame
    assert flagged[surface].all()  # every atom on the hole surface is flagged
    print("grade at the hole surface / away from it:", np.median(ser["grade"][surface]),
          np.median(ser["grade"][inside]), "flagged fraction away:", flagged[inside].mean())
    assert np.median(ser["grade"][surface]) > 5 * np.median(ser["grade"][inside])
    ser, par = (read_artifact(tmp_path / f"{x}.h5", "continuum") for x in ("serial", "mpi"))
    for key in ("stress_fem", "stress", "displacement", "mean_stress", "std_stress", "fields_3d_stress"):
        np.testing.assert_allclose(par[key], ser[key], rtol=1e-7, atol=1e-10)
    assert (tmp_path / "mpi-fields.h5").exists() and (tmp_path / "mpi-fields.xdmf").exists()
