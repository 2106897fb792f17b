"""Few-shot transfer across elements (multiscale.transfer), on pools labelled by ASE's EMT (Cu, Ag, Au, Pd, Ni share
one functional form with element parameters: a family where a prior learned on some members should help another)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multiscale.artifacts import read_artifact
from multiscale.errors import ConfigError
from multiscale.transfer.settings import TransferSettings, material_of

SETTINGS = {"target": "Ag", "sources": ["Cu", "Au", "Pd", "Ni"], "twojmax": 4, "bootstrap": 50,
            "pool": {"candidates": 12, "test": 6}}


def _emt_pool(element, settings, path):
    from ase.calculators.emt import EMT

    from multiscale.transfer.pool import pool_structures, write_pool
    from multiscale.units import EV_PER_A3_TO_GPA

    images = pool_structures(material_of(element), settings.pool)
    labels = []
    for atoms in images:
        atoms.calc = EMT()
        labels.append({"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                       "stress": atoms.get_stress() * EV_PER_A3_TO_GPA, "scf_iterations": 0, "wall_time": 0.0})
    write_pool(images, labels, {"calculator": "EMT"}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def emt_transfer(tmp_path_factory):
    from multiscale.transfer.curve import run

    tmp = tmp_path_factory.mktemp("transfer")
    settings = TransferSettings.from_dict(SETTINGS)
    pools = {e: _emt_pool(e, settings, tmp / f"pool_{e}.h5") for e in settings.elements}
    run(pools, SETTINGS, str(tmp / "transfer.h5"), str(tmp / "transfer.md"), str(tmp / "transfer.png"))
    return tmp, read_artifact(tmp / "transfer.h5", "transfer_curve")


def test_the_pools_are_reproducible_and_displace_every_element_alike():
    from multiscale.dft.calculator import DFTSettings, kpoints_for
    from multiscale.material import nearest_neighbour_distance
    from multiscale.transfer.pool import pool_structures

    settings = TransferSettings.from_dict(SETTINGS)
    cu, cu2 = (pool_structures(material_of("Cu"), settings.pool) for _ in range(2))
    assert [a.positions.tolist() for a in cu] == [a.positions.tolist() for a in cu2]
    assert [a.info["group"] for a in cu].count("candidate") == 12
    dft = DFTSettings(kpt_density=2.0)
    for element in ("Cu", "Au", "Ag"):
        mat = material_of(element)
        images = pool_structures(mat, settings.pool)
        std = np.array([json.loads(a.info["metadata"])["rattle_std"] for a in images if a.info["group"] != "eos"])
        reduced = std / (nearest_neighbour_distance(mat, mat.a_guess) / 2.5)
        assert reduced.min() >= 0.03 - 1e-12 and reduced.max() <= 0.12 + 1e-12
        # one k-mesh for the whole pool (Ag's +3% EOS cell would fall to 3x3x3 on its own cell)
        assert {kpoints_for(a, dft) for a in images} == {(4, 4, 4)}


def test_the_reduced_crystal_takes_each_elements_own_scales(emt_transfer):
    """The scales come from each element's own EOS: EMT's lattice constants and bulk moduli (Cu 3.59 A, 134 GPa;
    Ag 4.06 A, ~100 GPa), so Ag's length scale is smaller than Cu's."""
    _, art = emt_transfer
    scales = json.loads(art.attrs["scales"])
    assert scales["Cu"]["a0"] == pytest.approx(3.59, abs=0.03) and scales["Cu"]["B"] == pytest.approx(134, rel=0.1)
    assert scales["Ag"]["length_scale"] < scales["Cu"]["length_scale"]
    assert all(s["energy_scale_eV"] > 0 for s in scales.values())


def test_a_prior_learned_on_the_family_needs_fewer_calls(emt_transfer):
    """Within one functional form the learned prior starts lower (zero-shot below the default prior's EOS-only
    error) and reaches the target error with fewer DFT calls; both curves end on the same pool."""
    tmp, art = emt_transfer
    prior = np.array([str(p) for p in art["prior"]])
    rmse, calls = art["rmse"], art["calls"]
    default, learned = rmse[prior == "default"], rmse[prior == "learned"]
    assert calls[prior == "default"][0] == 5 and calls[prior == "default"][-1] == 5 + 12
    assert learned[0] < default[0] and art.attrs["zero_shot_force_rmse"] < default[0]
    reached = json.loads(art.attrs["calls_to_target"])
    assert reached["learned"] is not None and reached["learned"] < reached["default"]
    assert (art["rmse_lo"] <= rmse).all() and (rmse <= art["rmse_hi"]).all()
    assert "learned prior" in (tmp / "transfer.md").read_text() and (tmp / "transfer.png").stat().st_size > 0


def test_a_transfer_without_two_sources_or_with_its_target_among_them_is_refused():
    with pytest.raises(ConfigError, match="at least two source elements"):
        TransferSettings.from_dict({"target": "Ag", "sources": ["Cu"]}).check()
    with pytest.raises(ConfigError, match="contains the target Ag"):
        TransferSettings.from_dict({"target": "Ag", "sources": ["Cu", "Ag"]}).check()
    with pytest.raises(ConfigError, match=r"transfer.sources\[1\].*Xx"):
        TransferSettings.from_dict({"target": "Ag", "sources": ["Cu", "Xx"]}).check()
