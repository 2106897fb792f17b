"""LAMMPS statics: known EAM constants, and stress-strain consistency."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.lammps import Potential
from multiscale.material import Material
from multiscale.md.properties import MDSettings, properties, relax_lattice, stress_at_strain
from multiscale.units import ANGSTROM_PER_NM as NM


@pytest.fixture
def mendelev():
    return Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al", "EAM Mendelev 2008")


def test_eam_properties_match_published_values(mendelev):
    # Mendelev et al., Phil. Mag. 88, 1723 (2008) potential: a0 4.045 A; C11/C12/C44 about 110/61/33 GPa
    p = properties(mendelev, Material(), MDSettings(supercell=2, vacancy_supercell=4))
    assert p["a0"] == pytest.approx(4.045, abs=0.002)
    assert p["C11"] == pytest.approx(110.4, rel=0.02)
    assert p["C12"] == pytest.approx(61.4, rel=0.02)
    assert p["C44"] == pytest.approx(32.6, rel=0.02)
    # relaxed vacancy (255 atoms): Mendelev et al. report 0.68 eV
    assert p["vacancy_formation_energy"] == pytest.approx(0.68, abs=0.05)
    # relaxed surfaces, (111) lowest; this EAM (fitted with liquid data) gives 0.43/0.50 J/m^2, far below
    # experiment (~1.1): measured here also with 3x3 slabs (same to 1e-5 J/m^2), so not a cell-size artefact
    assert p["surface_energy_111"] == pytest.approx(0.428, abs=0.01)
    assert p["surface_energy_100"] == pytest.approx(0.497, abs=0.01)


def test_stress_is_frame_independent_for_shear(mendelev):
    """A shear strain in any Voigt slot gives C44 * gamma there (LAMMPS' rotated frame is undone)."""
    s = MDSettings(supercell=2)
    a0, _ = relax_lattice(mendelev, Material(), s)
    for k in (3, 4, 5):
        e = np.zeros(6)
        e[k] = 0.002
        sig = stress_at_strain(mendelev, Material(), a0, e, s)
        assert sig[k] == pytest.approx(32.6 * 0.002, rel=0.03)
        assert np.abs(np.delete(sig, k)).max() < 2e-3  # GPa: no spurious normal stress


def test_npt_runs_are_checked_and_a_collapsed_crystal_gives_no_number(mendelev):
    """Thermal expansion with the Mendelev EAM: fcc Al keeps its crystal at 600 K (a few tenths of a percent larger,
    every atom 12-coordinated, energy above the 0 K crystal's) and gives a positive alpha of the published order
    (Mendelev 2008 EAM vs experiment 2.3e-5/K at 300 K); bcc Al, mechanically unstable, collapses: the run says
    why and alpha is NaN, never a number (the bcc tiny study's '4.4e-4 /K' of #20)."""
    from multiscale.md.properties import check_crystal, thermal_expansion

    md = MDSettings.from_dict({"thermal": {"temperatures": [300.0, 600.0], "supercell": 3, "equilibration": 300,
                                           "steps": 500}})
    fcc = thermal_expansion(mendelev, Material(), 4.045, md)
    assert [c.collapsed for c in fcc["checks"]] == [[], []]
    for c in fcc["checks"]:
        assert 0 < c.lattice_change < 0.02 and c.crystal_fraction > 0.95 and c.energy_above_crystal > 0.01
    assert 1e-5 < fcc["alpha"] < 6e-5

    bcc = thermal_expansion(mendelev, Material("Al", "bcc", 3.24), 3.24, md)
    assert np.isnan(bcc["alpha"]) and any(c.collapsed for c in bcc["checks"])
    assert "COLLAPSED" in next(c for c in bcc["checks"] if c.collapsed).describe()
    # the limits themselves: a 27% smaller cell (the bcc study's 2.39 vs 3.29 A), energy below the crystal's
    bad = check_crystal(200.0, 2.39, 3.29, 0.3, -0.05, max_grade=9.0, threshold=1.5)
    assert len(bad.collapsed) == 3 and bad.untrusted
    assert check_crystal(200.0, 3.30, 3.29, 1.0, 0.03, max_grade=1.0, threshold=1.5).collapsed == []


# ------------------------------------------------------------------------------------------ specimen
from multiscale.md.specimen import (  # noqa: E402
    CoarseGrainer,
    SpecimenRun,
    build_plate,
    bulk_stress,
    interior_bulk_mask,
    relax_unloaded_and_loaded,
)
from multiscale.specimen import Specimen  # noqa: E402


def test_plate_geometry_is_the_described_specimen():
    spec = Specimen(size=5.0, hole_radius=1.0, frame=0.6, orientation=[[1, -1, 0], [1, 1, -2], [1, 1, 1]])
    atoms = build_plate(spec, Material(), 4.05)
    r = np.hypot(atoms.positions[:, 0], atoms.positions[:, 1]) / NM
    assert r.min() >= 1.0 and np.abs(atoms.positions[:, :2]).max() / NM <= 2.5
    # periodic along the hole axis [111]: thickness = 2 periods of sqrt(3) a0
    assert atoms.cell[2, 2] == pytest.approx(2 * np.sqrt(3) * 4.05)
    # density of the plate = fcc density
    area = (5.0**2 - np.pi * 1.0**2) * NM**2
    assert len(atoms) / (area * atoms.cell[2, 2]) == pytest.approx(4 / 4.05**3, rel=0.03)


@pytest.mark.parametrize("orientation, removed", [([[1, 0, 0], [0, 1, 0], [0, 0, 1]], 0),
                                                  ([[1, -1, 0], [1, 1, -2], [1, 1, 1]], 4)])
def test_hole_cut_leaves_no_atom_below_the_minimum_coordination(orientation, removed):
    from scipy.spatial import cKDTree

    spec = Specimen(size=5.0, hole_radius=0.73, frame=0.6, thickness=1, orientation=orientation)
    raw = build_plate(Specimen(**{**spec.__dict__, "min_coordination": 0}), Material(), 4.05)
    clean = build_plate(spec, Material(), 4.05)
    assert len(raw) - len(clean) == clean.info["removed_at_hole"] == removed  # [111]: 4 corner atoms go
    pos, lz = clean.positions, clean.cell[2, 2]
    images = np.concatenate([pos + [0.0, 0.0, k * lz] for k in (-1, 0, 1)])
    coord = cKDTree(images).query_ball_point(pos, 0.5 * (1 + np.sqrt(2)) * 4.05 / np.sqrt(2) * 1.0,
                                             return_length=True) - 1
    hole = np.hypot(pos[:, 0], pos[:, 1]) < 1.5 * NM
    assert coord[hole].min() >= 7  # the fcc rule (spec.min_coordination None: the lattice's)
    assert set(map(tuple, np.round(clean.positions, 6))) <= set(map(tuple, np.round(raw.positions, 6)))


@pytest.mark.parametrize("element, a0", [("Ta", 3.31), ("W", 3.17), ("Al", 4.04), ("Cu", 3.63)])
@pytest.mark.parametrize("orientation", [[[1, 1, 0], [0, 0, 1], [1, -1, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                         [[1, -1, 0], [1, 1, -2], [1, 1, 1]]])
def test_the_hole_keeps_its_configured_radius_on_every_lattice(element, a0, orientation):
    """The clean-up rule comes from the lattice: in every 30-degree sector around the hole the innermost atom sits
    within one nearest-neighbour distance of the configured radius (with the fcc threshold, 7, a bcc hole loses
    its whole surface ring: 122 atoms for Ta, radius 0.8 -> 1.5 nm)."""
    from ase.data import atomic_numbers, reference_states

    from multiscale.material import nearest_neighbour_distance

    material = Material(element, reference_states[atomic_numbers[element]]["symmetry"], a0)
    spec = Specimen(size=6.0, hole_radius=0.8, frame=0.6, thickness=1, orientation=orientation)
    plate = build_plate(spec, material, a0)
    r = np.hypot(plate.positions[:, 0], plate.positions[:, 1])
    sector = ((np.arctan2(plate.positions[:, 1], plate.positions[:, 0]) + np.pi) / (2 * np.pi) * 12).astype(int) % 12
    innermost = np.array([r[sector == k].min() for k in range(12)])
    assert innermost.min() >= 0.8 * NM
    assert innermost.max() <= 0.8 * NM + nearest_neighbour_distance(material, a0)
    assert plate.info["removed_at_hole"] <= 8


def test_the_hole_clean_up_rule_is_the_fewest_neighbours_on_a_low_index_surface():
    """LATTICE_TABLE's threshold = the smallest first-shell coordination of an atom on a {100}, {110}, {111} slab."""
    from ase import build
    from ase.neighborlist import neighbor_list

    from multiscale.material import LATTICE_TABLE, SLABS, coordination_cutoff

    for lattice, a0 in (("fcc", 4.04), ("bcc", 3.3)):
        cut = coordination_cutoff(Material("Cu" if lattice == "fcc" else "Ta", lattice, a0), a0)
        fewest = min(np.bincount(neighbor_list("i", getattr(build, name)("Cu", size=(3, 3, 8), a=a0, vacuum=8.0),
                                               cut)).min() for name in SLABS[lattice].values())
        assert LATTICE_TABLE[lattice]["hole_min_coordination"] == fewest


def test_a_collapsed_defect_relaxation_is_not_a_defect_energy():
    from multiscale.md.properties import kept_lattice

    al = Material()
    assert kept_lattice(al, 4.05, 0.6, 0.1)  # a relaxed vacancy: neighbours move ~0.1 A
    assert not kept_lattice(al, 4.05, -31.0, 0.1)  # below the crystal's energy
    assert not kept_lattice(al, 4.05, 0.4, 1.2)  # an atom moved > a quarter of the neighbour distance


def test_specimen_far_field_matches_the_periodic_bulk_stress(mendelev):
    """EAM plate with a hole under displacement control: far-field cells carry the homogeneous-strain stress
    of a periodic bulk cell (load-induced, i.e. minus the zero-load surface relaxation) within 3%. (At 10 nm
    the hole's compliance lowers the whole interior's stress by ~5%, measured; FEM reproduces it.)"""
    spec = Specimen(size=16.0, hole_radius=0.8, strain=0.005, thickness=1)  # the default specimen
    a0, e0 = relax_lattice(mendelev, Material(), MDSettings(supercell=3))
    bulk = bulk_stress(mendelev, Material(), a0, spec, spec.strain)
    run = SpecimenRun(spec, Material(), a0, mendelev, "", None, None, e_crystal=e0)
    try:
        zero, loaded = relax_unloaded_and_loaded(run, spec.strain)
        ref = run.reference / NM
        cg = CoarseGrainer(spec, ref, ~run.frame_mask())
        far = cg.far_field()
        load = cg.field(loaded["stress"] - zero["stress"])
        assert all(s["converged"] for s in run.stops)
        # frame atoms did not move from the affine displacement
        np.testing.assert_allclose(loaded["displacement"][run.frame_mask(), 0],
                                   spec.strain * ref[run.frame_mask(), 0], atol=1e-6)
        for k in (0, 1):
            assert np.nanmean(load[far, k]) == pytest.approx(bulk[k], rel=0.03)
        # at the hole (top/bottom), sigma_xx is concentrated well above the far field
        # sigma_xx is concentrated at the hole: per atom well above the far field, and still visible after the
        # 0.4 nm kernel average on the grid (which smooths the peak of a 0.8 nm hole)
        per_atom = loaded["stress"][:, 0] - zero["stress"][:, 0]
        near = (np.abs(ref[:, 0]) < 0.3) & (np.hypot(ref[:, 0], ref[:, 1]) < 1.2) & ~run.frame_mask()
        # (uniaxial strain means biaxial stress, sigma_yy ~ 0.6 sigma_xx: the continuum concentration at the top of
        # the hole is 3 - 0.6 = 2.4; the surface atoms' own stress is lower, measured 1.55 x bulk)
        assert np.median(per_atom[near]) > 1.4 * bulk[0]
        assert np.nanmax(load[:, 0]) > 1.2 * bulk[0]
        # no plasticity at 0.5%: every atom away from the surfaces stays fcc
        assert not np.any(run.non_lattice(loaded["cna"]) & interior_bulk_mask(spec, ref))
        # the collapse checks pass: energy above the crystal's (surfaces, then strain energy), interior crystalline
        assert [s["collapsed"] for s in run.stops] == [[], []]
        assert 0 < run.stops[0]["energy_above_crystal"] < run.stops[1]["energy_above_crystal"]
        assert [s["interior_crystal_fraction"] for s in run.stops] == [1.0, 1.0]
    finally:
        run.close()


def test_a_specimen_below_its_crystal_energy_is_reported_collapsed(mendelev):
    """The energy check wired into every specimen relaxation: a small fcc plate whose reference crystal energy is
    set 0.3 eV/atom above the real one (as for a potential whose fcc is not its ground state: the relaxed plate
    ends below 'the crystal') is recorded as collapsed, with the reason; with the true crystal energy it is not.
    (No shipped potential collapses a plate statically: bcc Al under the Mendelev EAM is metastable at 0 K even
    at 20% strain, measured; the NPT check's real collapse is in the thermal test.)"""
    spec = Specimen(size=4.0, hole_radius=0.5, frame=0.6, strain=0.005, thickness=1, max_iterations=3000)
    a0, e0 = relax_lattice(mendelev, Material(), MDSettings(supercell=3))
    for shift, collapsed in ((0.0, False), (0.3, True)):
        run = SpecimenRun(spec, Material(), a0, mendelev, "", None, None, e_crystal=e0 + shift)
        try:
            run.load(0.0)
        finally:
            run.close()
        stop = run.stops[0]
        assert bool(stop["collapsed"]) is collapsed, stop
        assert stop["interior_crystal_fraction"] == 1.0
    assert "meV/atom below the crystal's" in stop["collapsed"][0]


def test_phase_stability_and_stacking_faults_of_the_mendelev_eam(mendelev):
    """The shipped Mendelev EAM, a potential fitted with stacking-fault data: fcc below hcp and bcc, a positive
    intrinsic stacking-fault energy below the unstable one. Measured here: hcp +28.6 meV/atom, bcc +103 meV/atom,
    ISF 127.6, USF 222 mJ/m^2 (an independent check in the project's issue tracker gave +29 meV/atom and
    +130 mJ/m^2); the ISF is a fault energy, so it is extensive in nothing: the same with twice the layers."""
    from multiscale.md.properties import StackingFaultSettings, phase_energies, stacking_fault_energies

    s = MDSettings(supercell=2)
    a0, e0 = relax_lattice(mendelev, Material(), s)
    phases = phase_energies(mendelev, Material(), a0, e0)
    assert phases["phase_hcp_minus_fcc"] == pytest.approx(28.6, abs=1.0)
    assert phases["phase_bcc_minus_fcc"] > phases["phase_hcp_minus_fcc"] > 0
    sf = stacking_fault_energies(mendelev, Material(), a0, s)
    assert sf["isf_111"] == pytest.approx(127.6, abs=3.0) and sf["usf_111"] > 1.5 * sf["isf_111"]
    thick = stacking_fault_energies(mendelev, Material(), a0,
                                    MDSettings(stacking_fault=StackingFaultSettings(periods=8, points=3)))
    assert thick["isf_111"] == pytest.approx(sf["isf_111"], rel=0.02)
