"""Progress of long jobs (issue 21, part 5): one flushed line per finished calculation, n of N, elapsed time and
an estimate of the time left, in the job's log (its stdout)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from multiscale.progress import Progress, duration


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_finished_calculation_with_elapsed_and_remaining_time(capsys):
    """Four calculations of 10, 30, 20 s and a cache hit: each line is written when its calculation ends, and the
    estimate is the mean time of the calculations that ran times the number left."""
    clock = FakeClock()
    progress = Progress(4, "DFT single points", clock=clock)
    assert capsys.readouterr().out == "[progress] 4 DFT single points to run\n"
    expected = []
    for seconds, label, cached in ((10, "ecut 250, bulk", False), (30, "ecut 250, rattled", False),
                                   (0, "ecut 300, bulk", True), (20, "ecut 300, rattled", False)):
        clock.now += seconds
        line = progress.done(label, cached=cached)
        out = capsys.readouterr().out
        assert out == line + "\n"  # written at once, one line per calculation
        expected.append(line)
    assert expected[0] == ("[progress] 1 of 4 DFT single points, elapsed 10 s, estimated remaining 30 s: "
                           "ecut 250, bulk")
    assert expected[1] == ("[progress] 2 of 4 DFT single points, elapsed 40 s, estimated remaining 40 s: "
                           "ecut 250, rattled")
    # a cache hit counts as done but does not lower the mean: (10 + 30) / 2 s for the one left
    assert expected[2] == ("[progress] 3 of 4 DFT single points, elapsed 40 s, estimated remaining 20 s: "
                           "ecut 300, bulk (cached)")
    assert expected[3].startswith("[progress] 4 of 4 DFT single points, elapsed 1 min 00 s, estimated remaining 0 s")


def test_only_cache_hits_give_no_estimate_and_a_silent_rank_writes_nothing(capsys):
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress(3, clock=clock, stream=stream)
    progress.done("a", cached=True)
    assert "estimated remaining unknown (only cache hits so far)" in stream.getvalue().splitlines()[-1]
    quiet = Progress(2, enabled=False)
    quiet.done("x")
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="total"):
        Progress(-1)


def test_durations_read_as_minutes_and_hours():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3725)] == ["0 s", "59 s", "1 min 01 s", "59 min 59 s",
                                                                "1 h 02 min"]


@pytest.fixture
def emt_instead_of_gpaw(monkeypatch):
    """ASE's EMT in place of GPAW's single point behind the DFT cache: the convergence tests below are about our
    bookkeeping (what is counted and logged), not the physics (GPAW's single point is tested in test_dft.py)."""
    from ase.calculators.emt import EMT

    import multiscale.dft.calculator as calculator
    from multiscale.units import EV_PER_A3_TO_GPA

    def emt_single_point(atoms, settings, txt=None, comm=None):
        work = atoms.copy()
        work.calc = EMT()
        return {"energy": work.get_potential_energy(), "forces": work.get_forces(),
                "stress": work.get_stress(voigt=True) * EV_PER_A3_TO_GPA, "scf_iterations": 1, "wall_time": 0.0,
                "retries": []}

    monkeypatch.setattr(calculator, "run_single_point", emt_single_point)


def test_the_convergence_job_logs_every_calculation_it_runs(tmp_path, capsys, emt_instead_of_gpaw):
    """run_part (the ~30 min elastic scan of the default study) writes one progress line per single point, N
    known from the start; a second run finds every calculation in the cache."""
    from multiscale.artifacts import read_artifact
    from multiscale.dft.calculator import DFTSettings
    from multiscale.dft.convergence import ConvergenceSettings, planned_calculations, run_part

    material = {"element": "Al", "lattice": "fcc", "a_guess": 4.05}
    dft = {"ecut": 250.0, "kpt_density": 3.0, "smearing": 0.1, "cache_dir": str(tmp_path / "cache")}
    convergence = {"ecut": [250.0, 300.0], "kpt_density": [3.0, 4.0],
                   "elastic": {"reference": {"kpt_density": 4.0, "smearing": 0.1, "ecut": 250.0},
                               "kpt_density": [4.0, 5.0], "smearing": [0.05, 0.1], "ecut": [250.0, 300.0],
                               "eos_points": 5}}
    n = planned_calculations("elastic", ConvergenceSettings.from_dict(convergence), DFTSettings.from_dict(dft))
    assert n == 5 + (2 + 2 + 2) * 4  # EOS points, then each scanned value times 4 strained cells
    run_part("elastic", material, dft, convergence, None, str(tmp_path / "elastic.h5"))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[progress]")]
    rows = len(read_artifact(tmp_path / "elastic.h5", "dft_convergence_runs")["energy"])
    assert rows == n and len(lines) == n + 1  # the start line, then one per calculation
    assert lines[0] == f"[progress] {n} DFT single points (elastic convergence part) to run"
    done = [int(re.match(r"\[progress\] (\d+) of (\d+)", ln).group(1)) for ln in lines[1:]]
    assert done == list(range(1, n + 1))
    assert lines[1].endswith(f"eos, a={4.05 * 0.98:.5f}") and "smearing 0.05, xx -0.01" in "\n".join(lines)
    assert ", estimated remaining 0 s: ecut 300, yz +0.01" in lines[-1]
    # rerun: every single point is a cache hit, so no estimate until the end
    run_part("elastic", material, dft, convergence, None, str(tmp_path / "again.h5"))
    again = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[progress]")][1:]
    assert len(again) == n and all(ln.endswith("(cached)") for ln in again)
    assert "unknown (only cache hits so far)" in again[0]
    np.testing.assert_array_equal(read_artifact(tmp_path / "again.h5", "dft_convergence_runs")["energy"],
                                  read_artifact(tmp_path / "elastic.h5", "dft_convergence_runs")["energy"])


def test_the_cells_convergence_part_counts_its_calculations_too(tmp_path, capsys, emt_instead_of_gpaw):
    """The cells part (bulk and rattled cell per scanned value) announces and logs exactly what it runs."""
    from multiscale.artifacts import read_artifact, write_artifact
    from multiscale.dft.calculator import DFTSettings
    from multiscale.dft.convergence import ConvergenceSettings, planned_calculations, run_part

    eos = tmp_path / "eos.h5"
    write_artifact(eos, "eos", {"volume": [16.5], "energy": [-3.4]},
                   {"a0": 4.04, "a0_std": 0.0, "B": 78.0, "B_std": 0.0, "Bp": 4.5, "E0": -3.4, "V0": 16.5})
    dft = {"ecut": 250.0, "kpt_density": 3.0, "smearing": 0.1, "cache_dir": str(tmp_path / "cache")}
    convergence = {"ecut": [250.0, 300.0, 350.0], "kpt_density": [3.0, 4.0]}
    n = planned_calculations("cells", ConvergenceSettings.from_dict(convergence), DFTSettings.from_dict(dft))
    assert n == (3 + 2) * 2
    run_part("cells", {"element": "Al", "lattice": "fcc", "a_guess": 4.05}, dft, convergence, str(eos),
             str(tmp_path / "cells.h5"))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[progress]")][1:]
    assert len(lines) == n == len(read_artifact(tmp_path / "cells.h5", "dft_convergence_runs")["energy"])
    assert lines[0].endswith("ecut 250, bulk") and lines[-1].endswith("kpt_density 4, rattled")


def test_md_properties_log_the_mean_and_every_posterior_draw(tmp_path, capsys):
    """posterior_properties (the md properties job) writes one line per potential: the posterior mean, then each
    draw, with the same count as the draws it returns (a 2J=4 SNAP fitted to Mendelev-EAM-labelled Al cells)."""
    from ase.build import bulk

    from multiscale.lammps import Potential, single_point
    from multiscale.material import Material
    from multiscale.md.properties import MDSettings, posterior_properties
    from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors

    eam = Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al")
    settings = SNAPSettings.from_dict({"twojmax": 4})
    rows = []
    for i in range(10):
        atoms = bulk("Al", "fcc", a=4.05 * (1 + 0.01 * (i % 5 - 2)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.06, seed=i)
        p = single_point(atoms, eam)
        rows.append((descriptors(atoms, settings.descriptor), p.energy, p.forces, p.stress, len(atoms)))
    model = BayesianSNAP(settings).fit(*[list(x) for x in zip(*rows, strict=True)])
    (tmp_path / "snap.snapparam").write_text(settings.descriptor.snapparam())
    md = MDSettings.from_dict({"supercell": 2, "posterior_samples": 2, "vacancy_supercell": 2,
                               "surface": {"facets": []}})
    capsys.readouterr()
    mean, _, samples = posterior_properties(model, "Al", tmp_path / "snap.snapparam", Material(), md, tmp_path)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[progress]")]
    assert lines[0] == "[progress] 3 MD property sets (posterior mean, then draws) to run"
    assert [re.match(r"\[progress\] (\d+) of 3 MD property sets", ln).group(1) for ln in lines[1:]] == ["1", "2", "3"]
    assert lines[1].endswith("posterior mean") and lines[3].endswith("posterior draw 2")
    assert len(samples) == 2 and mean["a0"] == pytest.approx(4.045, abs=0.02)  # the EAM's a0, learned
