"""SNAP descriptors against LAMMPS' own pair_style snap, and the Bayesian fit on a known target."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from multiscale.lammps import Potential, single_point
from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors, write_potential_files
from multiscale.mlip.stage import split_by_group


def _mendelev() -> Potential:
    return Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al", "EAM Mendelev 2008")


def _cell():
    atoms = bulk("Al", "fcc", a=4.04, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=2)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + [[0.01, 0.003, 0.002], [0.003, -0.005, 0.0], [0.002, 0, 0.004]]),
                   scale_atoms=True)
    return atoms


def _labels(atoms, pot):
    p = single_point(atoms, pot)
    return p.energy, p.forces, p.stress


def _rattled_bulk(n: int, strain: float, rattle: float, seed: int) -> list:
    """``n`` 8-atom Al cells, each isotropically strained by up to ``strain`` and rattled by ``rattle`` (A)."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(n):
        atoms = bulk("Al", "fcc", a=4.05 * (1 + rng.uniform(-strain, strain)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(rattle, seed=i)
        cells.append(atoms)
    return cells


@pytest.mark.parametrize("model_name", ["linear", "quadratic"])
def test_descriptors_reproduce_pair_snap_in_a_skewed_cell(tmp_path, model_name):
    """E, F and stress from our design rows equal LAMMPS' pair_style snap for arbitrary coefficients, for linear
    and quadratic SNAP (with a non-default element radius and weight, so both reach descriptors and files)."""
    twojmax = 6 if model_name == "linear" else 2
    settings = SNAPSettings.from_dict({"twojmax": twojmax, "rcutfac": 4.0, "element_radius": 0.6,
                                       "element_weight": 0.8}).for_model(model_name)
    atoms = _cell()
    d = descriptors(atoms, settings.descriptor)
    n_lin = {6: 31, 2: 6}[twojmax]  # bispectrum components + the constant
    assert d["energy"].size == (n_lin if model_name == "linear" else n_lin + (n_lin - 1) * n_lin // 2)
    model = BayesianSNAP(settings)
    model.coef_ = np.random.default_rng(0).normal(0, 0.05, d["energy"].size)
    coeff, param, _ = write_potential_files(model, "Al", tmp_path)
    assert f"quadraticflag {int(model_name == 'quadratic')}" in param.read_text()
    e, f, s = _labels(atoms, Potential.snap(coeff, param, "Al"))
    assert d["energy"] @ model.coef_ == pytest.approx(e, rel=1e-10)
    np.testing.assert_allclose((d["forces"] @ model.coef_).reshape(-1, 3), f, atol=1e-8)
    np.testing.assert_allclose(d["stress"] @ model.coef_, s, atol=1e-6)


def test_bayesian_fit_learns_eam_and_knows_its_uncertainty():
    """Fit SNAP to EAM-labelled cells: small held-out errors, and a larger predicted std far from the data."""
    pot = _mendelev()
    settings = SNAPSettings.from_dict({"twojmax": 4})
    data = []
    for atoms in _rattled_bulk(12, 0.02, 0.08, seed=5):
        e, f, s = _labels(atoms, pot)
        data.append((descriptors(atoms, settings.descriptor), e, f, s, len(atoms)))
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
    assert model.predict(descriptors(far_atoms, settings.descriptor), 8)["forces_std_epistemic"].mean() > 3 * near_std


def test_group_weights_pull_the_fit_to_a_group_and_reject_unknown_groups():
    """A stress weight factor on one group fits that group's stresses closer (what the default study uses to keep
    C44); a group name that no configuration carries is a clear error, not a silent no-op."""
    from multiscale.errors import ConfigError

    pot = _mendelev()
    settings = SNAPSettings.from_dict({"twojmax": 2})
    rng = np.random.default_rng(3)
    rows, groups = [], []
    for i in range(10):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True)
        if i < 4:  # small shears: what C44 is learned from
            eps = np.zeros((3, 3))
            eps[1, 2] = eps[2, 1] = rng.uniform(-0.01, 0.01)
            atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
            groups.append("elastic")
        else:  # large rattles and volume changes dominate the rows
            atoms.set_cell(atoms.cell[:] * (1 + rng.uniform(-0.04, 0.04)), scale_atoms=True)
            atoms.rattle(0.15, seed=i)
            groups.append("rattle")
        e, f, s = _labels(atoms, pot)
        rows.append((descriptors(atoms, settings.descriptor), e, f, s, len(atoms)))
    cols = [list(x) for x in zip(*rows, strict=True)]

    def shear_stress_error(weights):
        model = BayesianSNAP(SNAPSettings.from_dict({"twojmax": 2, "group_weights": weights})).fit(*cols,
                                                                                                    groups=groups)
        return np.sqrt(np.mean([(model.predict(d, n)["stress"][3] - s[3]) ** 2
                                for (d, _e, _f, s, n), g in zip(rows, groups, strict=True) if g == "elastic"]))

    assert shear_stress_error({"elastic": {"stress": 30.0}}) < 0.5 * shear_stress_error({})
    with pytest.raises(ConfigError, match=r"mlip.group_weights.*'elastc'.*Fix"):
        SNAPSettings.from_dict({"twojmax": 2, "group_weights": {"elastc": {"stress": 2.0}}}).fit.check_groups(groups)


def test_split_keeps_every_group_in_training():
    groups = np.array(["eos"] * 7 + ["elastic"] * 8 + ["rattle"] * 2)
    split = split_by_group(groups, 0.25, seed=1)
    for g in ("eos", "elastic", "rattle"):
        assert (split[groups == g] == "train").any()
    assert (split[groups == "eos"] == "test").sum() == 2
    assert (split[groups == "rattle"] == "test").sum() == 0


def test_a_dropped_configuration_never_changes_the_split_of_the_others(tmp_path):
    """dft.on_failure: drop removes a configuration from the dataset and records it (with its row position) in
    the dataset's 'dropped' attribute; the split of every other configuration is the one it has without the drop."""
    from multiscale.artifacts import KINDS, read_artifact, write_artifact
    from multiscale.mlip.stage import dataset_split

    names = [f"eos_{i:03d}" for i in range(7)] + [f"rattle_{i:03d}" for i in range(12)]
    groups = [n.split("_")[0] for n in names]
    settings = SNAPSettings.from_dict({"twojmax": 2, "test_fraction": 0.25, "calibration_fraction": 0.25})

    def dataset(keep, dropped):
        n = len(keep)
        data = {"n_atoms": [1] * n, "numbers": [13] * n, "positions": np.zeros((n, 3)),
                "cell": np.tile(4.0 * np.eye(3), (n, 1, 1)), "pbc": np.ones((n, 3), bool),
                "names": [names[i] for i in keep], "groups": [groups[i] for i in keep], "metadata": ["{}"] * n,
                "energy": np.zeros(n), "forces": np.zeros((n, 3)), "stress": np.zeros((n, 6)),
                "scf_iterations": np.zeros(n, int), "wall_time": np.zeros(n), "fidelity": ["training"] * n}
        data = {k: v for k, v in data.items() if k in KINDS["dft_dataset"].datasets}
        path = write_artifact(tmp_path / f"ds{len(dropped)}.h5", "dft_dataset", data,
                              {"settings": {}, "dropped": dropped, "fidelities": {}})
        return read_artifact(path, "dft_dataset")

    full = dataset(list(range(len(names))), [])
    reference = dict(zip(names, dataset_split(full, settings), strict=True))
    for lost in (2, 9, 18):
        keep = [i for i in range(len(names)) if i != lost]
        ds = dataset(keep, [{"name": names[lost], "group": groups[lost], "metadata": "{}", "position": lost,
                             "why": "SCF did not converge"}])
        split = dict(zip(ds["names"], dataset_split(ds, settings), strict=True))
        assert split == {n: s for n, s in reference.items() if n != names[lost]}
    assert {"train", "test", "calibration"} <= set(reference.values())


def test_split_conformal_intervals_reach_nominal_coverage():
    from multiscale.mlip.validation import conformal_quantile, coverage_of

    rng = np.random.default_rng(3)
    sigma = rng.uniform(0.5, 2.0, 4000)  # heteroscedastic, and the model's sigma is 30% too small
    err = rng.normal(0, 1.3 * sigma)
    q = conformal_quantile(np.abs(err[:2000]) / sigma[:2000], 0.9)
    assert q == pytest.approx(1.3 * 1.645, rel=0.08)
    assert coverage_of(err[2000:], sigma[2000:], q) == pytest.approx(0.9, abs=0.02)
    assert conformal_quantile(np.ones(5), 0.9) == float("inf")  # too few points to promise 90%


def test_extrapolation_grade_flags_unseen_environments():
    from multiscale.grading import EXTRAPOLATION_THRESHOLD, Grader

    settings = SNAPSettings.from_dict({"twojmax": 4})
    train = []
    for i in range(6):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=i)
        train.append(descriptors(atoms, settings.descriptor)["atom"])
    grader = Grader().fit(np.concatenate(train))
    near = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
    near.rattle(0.03, seed=42)
    far = bulk("Al", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))  # 9% compressed: never seen
    far.rattle(0.05, seed=43)
    assert grader.grade(np.concatenate(train)).max() == pytest.approx(1.0)
    assert grader.grade(descriptors(near, settings.descriptor)["atom"]).max() < EXTRAPOLATION_THRESHOLD
    assert grader.grade(descriptors(far, settings.descriptor)["atom"]).min() > 10


def test_fitted_files_run_in_a_plain_lmp_script(tmp_path):
    """The .snapcoeff/.snapparam work outside this project: LAMMPS' own executable reads them."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from ase.io import write

    settings = SNAPSettings.from_dict({"twojmax": 4})
    model = BayesianSNAP(settings)
    atoms = _cell()
    d = descriptors(atoms, settings.descriptor)
    model.coef_ = np.random.default_rng(2).normal(0, 0.05, d["energy"].size)
    model.coef_[0] = -3.5
    write_potential_files(model, "Al", tmp_path)
    write(tmp_path / "cell.data", atoms, format="lammps-data", specorder=["Al"])
    (tmp_path / "in.snap").write_text(
        "units metal\natom_style atomic\nboundary p p p\nread_data cell.data\nmass 1 26.9815\n"
        "pair_style snap\npair_coeff * * snap.snapcoeff snap.snapparam Al\n"
        "thermo_style custom step pe\nthermo_modify format float %20.12f\nrun 0\n")
    lmp = shutil.which("lmp", path=str(Path(sys.executable).parent))
    out = subprocess.run([lmp, "-in", "in.snap", "-log", "none"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    pe = float(out.split("Step")[1].splitlines()[1].split()[1])
    assert pe == pytest.approx(d["energy"] @ model.coef_, rel=1e-9)


@pytest.mark.parametrize("model_name", ["linear", "quadratic"])
def test_include_file_runs_in_a_plain_lmp_script(tmp_path, model_name):
    """snap.mod, beside the coefficient files, is a complete potential definition for `include snap.mod` in a
    plain lmp script: run in that folder, and from another folder with LAMMPS_POTENTIALS naming it (as its
    comment says), LAMMPS' own executable gives the energy of our design rows."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from ase.io import write

    settings = SNAPSettings.from_dict({"twojmax": 2 if model_name == "quadratic" else 4}).for_model(model_name)
    model = BayesianSNAP(settings)
    atoms = _cell()
    d = descriptors(atoms, settings.descriptor)
    model.coef_ = np.random.default_rng(3).normal(0, 0.05, d["energy"].size)
    model.coef_[0] = -3.5
    pot_dir = tmp_path / "potential"
    pot_dir.mkdir()
    *_, mod = write_potential_files(model, "Al", pot_dir)
    text = mod.read_text()
    assert mod.name == "snap.mod" and "pair_style snap\npair_coeff * * snap.snapcoeff snap.snapparam Al" in text
    lmp = shutil.which("lmp", path=str(Path(sys.executable).parent))
    script = ("units metal\natom_style atomic\nboundary p p p\nread_data {data}\nmass 1 26.9815\n"
              "include {mod}\nthermo_style custom step pe\nthermo_modify format float %20.12f\nrun 0\n")
    runs = {pot_dir: (script.format(data="cell.data", mod="snap.mod"), {}),
            tmp_path / "elsewhere": (script.format(data="cell.data", mod=mod), {"LAMMPS_POTENTIALS": str(pot_dir)})}
    for cwd, (text_in, env) in runs.items():
        cwd.mkdir(exist_ok=True)
        write(cwd / "cell.data", atoms, format="lammps-data", specorder=["Al"])
        (cwd / "in.snap").write_text(text_in)
        out = subprocess.run([lmp, "-in", "in.snap", "-log", "none"], cwd=cwd, capture_output=True, text=True,
                             timeout=120, check=True, env={**os.environ, **env}).stdout
        pe = float(out.split("Step")[1].splitlines()[1].split()[1])
        assert pe == pytest.approx(d["energy"] @ model.coef_, rel=1e-9), cwd


def test_per_atom_uncertainty_is_larger_at_a_surface():
    """Trained on bulk only, the posterior is more uncertain for atoms at a free surface than inside."""
    from ase.build import fcc100

    settings = SNAPSettings.from_dict({"twojmax": 4})
    rng = np.random.default_rng(0)
    data = []
    for atoms in _rattled_bulk(6, 0.01, 0.05, seed=1):
        d = descriptors(atoms, settings.descriptor)
        data.append((d, -3.4 * len(atoms) + rng.normal(0, 0.01), rng.normal(0, 0.1, (8, 3)), rng.normal(0, 0.1, 6), 8))
    model = BayesianSNAP(settings).fit(*[list(x) for x in zip(*data, strict=True)])
    slab = fcc100("Al", size=(2, 2, 6), a=4.05, vacuum=6.0)
    std = model.atom_energy_std(descriptors(slab, settings.descriptor)["atom"])
    z = slab.positions[:, 2]
    surface = (z < z.min() + 0.1) | (z > z.max() - 0.1)
    assert std[surface].min() > 3 * std[~surface].mean()
