"""Active learning: explorers, the three selection rules and the closed-form downstream criterion, at tiny size
with LAMMPS (a SNAP fitted to the Mendelev EAM stands in for the current potential; no GPAW here: the loop with
GPAW runs in tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from multiscale.active import explore as ex
from multiscale.active import select as sel
from multiscale.active.settings import ActiveLearningSettings
from multiscale.errors import ConfigError
from multiscale.grading import Grader
from multiscale.lammps import Potential, single_point
from multiscale.material import Material
from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors


@pytest.fixture(scope="module")
def eam():
    return Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al", "EAM Mendelev 2008")


@pytest.fixture(scope="module")
def fitted(eam):
    """A 2J=4 Bayesian SNAP fitted to EAM labels of rattled, strained cubic cells, and its grader."""
    settings = SNAPSettings.from_dict({"twojmax": 4})
    rng = np.random.default_rng(3)
    rows, atoms_rows = [], []
    for i in range(14):
        atoms = bulk("Al", "fcc", a=4.045 * (1 + rng.uniform(-0.015, 0.015)), cubic=True).repeat((2, 1, 1))
        cell = atoms.cell[:] @ (np.eye(3) + 0.01 * rng.uniform(-1, 1, (3, 3)))
        atoms.set_cell(cell, scale_atoms=True)
        atoms.rattle(0.06, seed=i)
        p = single_point(atoms, eam)
        d = descriptors(atoms, settings.descriptor)
        rows.append((d, p.energy, p.forces, p.stress, len(atoms)))
        atoms_rows.append(d["atom"])
    model = BayesianSNAP(settings).fit(*[list(x) for x in zip(*rows, strict=True)])
    return model, Grader().fit(np.vstack(atoms_rows))


def test_cut_out_keeps_the_periodic_axis_and_the_size_limit():
    """A cylinder around one atom of a periodic-along-z block: pbc (F, F, T), the block's z length, vacuum on
    each side in x and y, at most max_atoms, shrunk when the radius holds more; the centre's neighbourhood
    within the kept radius is the block's."""
    block = bulk("Al", "fcc", a=4.05, cubic=True).repeat((5, 5, 1))
    centre = int(np.argmin(np.linalg.norm(block.positions - block.cell.sum(axis=0) / 2, axis=1)))
    cut = ex.cut_cylinder(block.positions, 4.05, centre, 6.0, 30, 5.0, 13)
    assert cut is not None and len(cut) <= 30 and list(cut.pbc) == [False, False, True]
    assert cut.cell[2, 2] == pytest.approx(4.05)
    span = cut.positions[:, :2].max(axis=0) - cut.positions[:, :2].min(axis=0)
    np.testing.assert_allclose(np.diag(cut.cell)[:2], span + 10.0)
    d = np.hypot(*(block.positions[:, :2] - block.positions[centre, :2]).T)
    kept_radius = np.sort(d)[len(cut) - 1]
    assert len(cut) == int(np.sum(d <= kept_radius + 1e-9)) and kept_radius < 6.0  # shrunk from 6 A
    assert ex.cut_cylinder(block.positions, 4.05, centre, 6.0, 2, 5.0, 13) is None  # impossible within half


def test_specimen_cutouts_take_the_worst_atoms_once_each():
    block = bulk("Al", "fcc", a=4.05, cubic=True).repeat((8, 8, 1))
    grade = np.zeros(len(block))
    grade[[10, 11, 200]] = [5.0, 4.0, 3.0]  # atoms 10 and 11 are neighbours: one cut holds both
    s = ActiveLearningSettings.from_dict({"explorers": {"specimen": {"radius": 5.0, "max_atoms": 40}}})
    cuts = ex.specimen_cutouts(block.positions, 4.05, grade, np.ones(len(block), bool), 1.5, s.explorers.specimen,
                               13, 0.0)
    assert [c.info["name"] for c in cuts] == ["cut_0_10", "cut_0_200"]
    assert all(c.info["group"] == "al_specimen" for c in cuts)


def test_explorer_families_are_dft_sized_and_graded(eam, fitted):
    model, grader = fitted
    s = ActiveLearningSettings.from_dict({"explorers": {"hot_md": {"temperatures": [800.0], "snapshots": 2,
                                                                   "steps": 100}}})
    rng = np.random.default_rng(1)
    pool = (ex.strained_bulk(Material(), 4.045, s.explorers.strained_bulk, rng)
            + ex.stacking_fault_path(Material(), 4.045, s.explorers.stacking_fault, rng)
            + ex.hot_md(eam, Material(), 4.045, s.explorers.hot_md))
    assert {a.info["group"] for a in pool} == {"al_strained_bulk", "al_stacking_fault", "al_hot_md"}
    assert max(len(a) for a in pool) <= 48
    hot = [a for a in pool if a.info["group"] == "al_hot_md"]
    assert np.abs(hot[0].positions - hot[1].positions).max() > 0.05  # two different snapshots
    graded = ex.grade(pool, model, grader, model.settings.descriptor)
    top = {a.info["group"]: g.grade.max() for a, g in zip(pool, graded, strict=True)}
    # trained on near-equilibrium cells: the 8% strains and the 800 K snapshots extrapolate more than the 2% ones
    small, large = graded[:3], graded[9:12]
    assert max(g.grade.max() for g in large) > 2 * max(g.grade.max() for g in small)
    assert top["al_hot_md"] > 2 * max(g.grade.max() for g in small)


def test_the_closed_form_variance_reduction_is_the_refitted_posterior():
    """Bayesian linear regression: posterior covariance (lambda I + alpha X^T W^2 X)^-1; adding rows with weights
    w reduces var(g . beta) by exactly what variance_reduction returns, and the greedy batch updates agree."""
    rng = np.random.default_rng(0)
    x, lam, alpha = rng.normal(size=(40, 6)), 0.7, 30.0
    cov = np.linalg.inv(lam * np.eye(6) + alpha * x.T @ x)
    g = rng.normal(size=6)
    new, w = rng.normal(size=(5, 6)), rng.uniform(0.5, 2.0, 5)
    refit = np.linalg.inv(lam * np.eye(6) + alpha * (x.T @ x + new.T @ np.diag(w**2) @ new))
    assert sel.variance_reduction(cov, alpha, g, new, w) == pytest.approx(g @ cov @ g - g @ refit @ g, rel=1e-9)


def test_downstream_rule_picks_what_informs_the_quantity(fitted):
    """For C44, a sheared cell informs the shear response more than an isotropically compressed one; the
    uncertainty rule skips a near-duplicate; the fixed test set has one configuration per family; random draws
    within the pool, excluding the test set."""
    model, grader = fitted
    g = sel.qoi_gradient("C44", Material(), 4.045, model.settings.descriptor)
    assert 20 < g @ model.coef_ < 45  # the EAM's C44 is 32.6 GPa (Mendelev 2008): learned from 14 cells
    sheared = bulk("Al", "fcc", a=4.045, cubic=True)
    sheared.set_cell(sheared.cell[:] @ (np.eye(3) + [[0, 0, 0], [0, 0, 0.03], [0, 0.03, 0]]), scale_atoms=True)
    squeezed = bulk("Al", "fcc", a=4.045 * 0.97, cubic=True)
    pool = [squeezed, sheared]
    for a in pool:
        a.info["group"] = "al_strained_bulk"
    graded = ex.grade(pool, model, grader, model.settings.descriptor)
    picked, gains = sel.by_downstream(graded, pool, 1, model, g)
    assert picked == [1] and gains[0] > 0
    twice = graded + [graded[1]]
    assert sorted(sel.by_uncertainty(twice, 3, grader, diversity=0.1)) in ([0, 1], [0, 2])
    test = sel.fixed_test_set(["a", "a", "b", "c", "c"], 1, np.random.default_rng(5))
    assert len(test) == 3 and {["a", "a", "b", "c", "c"][i] for i in test} == {"a", "b", "c"}
    drawn = sel.by_random(5, 10, np.random.default_rng(1), exclude=test)
    assert sorted(drawn) == sorted(set(range(5)) - set(test))


def test_settings_are_checked():
    with pytest.raises(ConfigError, match=r"active_learning.rule = 'greedy'.*Fix"):
        ActiveLearningSettings.from_dict({"rule": "greedy"})
    with pytest.raises(ConfigError, match=r"active_learning.explorers.families.*Fix"):
        ActiveLearningSettings.from_dict({"explorers": {"families": ["vicinal"]}})
    with pytest.raises(ConfigError, match="material.lattice is bcc"):
        ex.check_lattice(Material("W", "bcc", 3.17), ["stacking_fault"])


def test_dft_economy_and_the_comparison_of_rules(tmp_path):
    """The DFT economy: the labels a rule needs to reach the random rule's final test RMSE, as a fraction of
    random's; the comparison refuses loops scored on different test sets."""
    from multiscale.active.stage import compare_rules, dft_economy
    from multiscale.artifacts import write_artifact
    from multiscale.errors import ArtifactError

    calls = np.array([0, 4, 8, 12, 16])
    curves = {"random": (calls, np.array([0.30, 0.26, 0.22, 0.19, 0.17])),
              "uncertainty": (calls, np.array([0.30, 0.18, 0.12, 0.10, 0.09])),
              "downstream": (calls, np.array([0.30, 0.29, 0.28, 0.27, 0.26]))}
    economy = dft_economy(curves)  # random ends at 0.17 with 16 labels; uncertainty is below it after 8
    assert (economy["random"], economy["uncertainty"]) == (1.0, 0.5) and np.isnan(economy["downstream"])
    with pytest.raises(ArtifactError, match="random"):
        dft_economy({"uncertainty": curves["uncertainty"]})

    def record(rule, rmse, names):
        n = len(calls)
        data = {k: np.zeros(n) for k in ("energy_rmse", "stress_rmse", "coverage", "c44", "c44_std", "usf_111",
                                         "usf_111_std", "isf_111", "isf_111_std", "specimen_max_grade")}
        data.update(iteration=np.arange(n), dft_calls=calls, force_rmse=rmse, specimen_flagged=np.zeros(n, int))
        return write_artifact(tmp_path / f"{rule}.h5", "al_record", data, {
            "rule": rule, "qoi": "C44", "settings": {}, "test_set": {"names": names, "groups": names},
            "specimen_by_strain": []})

    paths = {r: str(record(r, c[1], ["a", "b"])) for r, c in curves.items()}
    compare_rules(paths, str(tmp_path / "cmp.md"), str(tmp_path / "cmp.png"))
    table = (tmp_path / "cmp.md").read_text()
    assert "| uncertainty | 0, 4, 8, 12, 16 |" in table and "| 0.50 |" in table and "not reached" in table
    assert (tmp_path / "cmp.png").exists()
    paths["random"] = str(record("random", curves["random"][1], ["a", "c"]))
    with pytest.raises(ArtifactError, match="different test sets"):
        compare_rules(paths, str(tmp_path / "cmp2.md"), str(tmp_path / "cmp2.png"))


def test_a_weight_for_a_loop_group_may_precede_its_labels():
    """mlip.group_weights may weight the loop's groups (e.g. no stress from labels at the training k-mesh) before
    the loop has labelled any; any other absent group is still a typo."""
    from multiscale.errors import ConfigError
    from multiscale.mlip.snap import SNAPSettings

    fit = SNAPSettings.from_dict({"group_weights": {"al_hot_md": {"stress": 0.0}}}).fit
    fit.check_groups(["eos", "rattle"])
    assert fit.row_weights("al_hot_md", "training")["stress"] == 0.0
    with pytest.raises(ConfigError, match="hotmd"):
        SNAPSettings.from_dict({"group_weights": {"hotmd": {"stress": 0.0}}}).fit.check_groups(["eos"])
