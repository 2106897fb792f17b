"""SNAP descriptors against LAMMPS' own pair_style snap, and the Bayesian fit on a known target."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from multiscale.md.properties import Potential, _setup, _stress
from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors, write_potential_files
from multiscale.mlip.stage import split_by_group


def _cell():
    atoms = bulk("Al", "fcc", a=4.04, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=2)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + [[0.01, 0.003, 0.002], [0.003, -0.005, 0.0], [0.002, 0, 0.004]]),
                   scale_atoms=True)
    return atoms


def _lammps_eval(atoms, pot):
    lmp, rot = _setup(atoms, pot)
    try:
        lmp.command("run 0")
        e = lmp.get_thermo("pe")
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        f = np.array(lmp.numpy.extract_atom("f"))[: len(atoms)][np.argsort(ids)] @ rot.T
        return e, f, _stress(lmp, rot)
    finally:
        lmp.close()


def test_descriptors_reproduce_pair_snap_in_a_skewed_cell(tmp_path):
    """E, F and stress from our design rows equal LAMMPS' pair_style snap for arbitrary coefficients."""
    settings = SNAPSettings(twojmax=6)
    atoms = _cell()
    d = descriptors(atoms, settings)
    model = BayesianSNAP(settings)
    model.coef_ = np.random.default_rng(0).normal(0, 0.1, d["energy"].size)
    coeff, param = write_potential_files(model, "Al", tmp_path)
    e, f, s = _lammps_eval(atoms, Potential.snap(coeff, param, "Al"))
    assert d["energy"] @ model.coef_ == pytest.approx(e, rel=1e-10)
    np.testing.assert_allclose((d["forces"] @ model.coef_).reshape(-1, 3), f, atol=1e-8)
    np.testing.assert_allclose(d["stress"] @ model.coef_, s, atol=1e-6)


def test_bayesian_fit_learns_eam_and_knows_its_uncertainty(root):
    """Fit SNAP to EAM-labelled cells: small held-out errors, and a larger predicted std far from the data."""
    import glob

    eam = glob.glob(str(root / ".venv/lib/python3.*/site-packages/lammps/share/lammps/potentials/Al_mm.eam.fs"))[0]
    pot = Potential("eam/fs", f"* * {eam} Al", "EAM")
    settings = SNAPSettings(twojmax=4)
    rng = np.random.default_rng(5)
    data = []
    for i in range(12):
        atoms = bulk("Al", "fcc", a=4.05 * (1 + rng.uniform(-0.02, 0.02)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.08, seed=i)
        e, f, s = _lammps_eval(atoms, pot)
        data.append((descriptors(atoms, settings), e, f, s, len(atoms)))
    train, test = data[:9], data[9:]
    model = BayesianSNAP(settings).fit(*[list(x) for x in zip(*train, strict=True)])
    errs = [np.sqrt(np.mean((model.predict(d, n)["forces"] - f) ** 2)) for d, e, f, s, n in test]
    assert max(errs) < 0.05  # eV/A: a 2J=4 SNAP reproduces an EAM closely
    for d, e, _f, _s, n in test:
        assert model.predict(d, n)["energy"] == pytest.approx(e / n, abs=3e-3)
    far = bulk("Al", "fcc", a=4.05 * 1.15, cubic=True).repeat((2, 1, 1))  # 15% stretched: extrapolation
    near_std = np.mean([model.predict(d, n)["forces_std_epistemic"].mean() for d, *_, n in test])
    far_atoms = far.copy()
    far_atoms.rattle(0.08, seed=99)
    assert model.predict(descriptors(far_atoms, settings), 8)["forces_std_epistemic"].mean() > 3 * near_std


def test_split_keeps_every_group_in_training():
    groups = np.array(["eos"] * 7 + ["elastic"] * 8 + ["rattle"] * 2)
    split = split_by_group(groups, 0.25, seed=1)
    for g in ("eos", "elastic", "rattle"):
        assert (split[groups == g] == "train").any()
    assert (split[groups == "eos"] == "test").sum() == 2
    assert (split[groups == "rattle"] == "test").sum() == 0
