"""The Snakemake workflow: lint, dry runs of every shipped study, config rejection, a full tiny run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
STUDIES = sorted((ROOT / "config/studies").glob("*.yaml"))


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1800,
              env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, env={**_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run."""
    table = output.split("Job stats:")[-1]
    rows = re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)
    return {m.group(1): int(m.group(2)) for m in rows if m.group(1) != "total"}


def copy_workflow(wd: Path) -> Path:
    """A copy of the workflow (the package itself is installed in editable mode)."""
    shutil.copy(ROOT / "Snakefile", wd)
    for d in ("workflow", "config", "data", "envs"):
        shutil.copytree(ROOT / d, wd / d)
    return wd


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


def test_lint(workdir):
    proc = snakemake(workdir, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("study", [None, *STUDIES], ids=lambda s: "default" if s is None else s.stem)
def test_dry_run_of_every_shipped_study(workdir, study):
    args = ["-n"] + (["--configfile", str(study)] if study else [])
    out = snakemake(workdir, *args).stdout
    counts = job_counts(out)
    assert counts["dft_single_point"] >= 5 and counts["divergence_summary"] >= 1


def test_bad_config_is_rejected_before_any_job(workdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: bad\ndft:\n  ecut: -100\n  kpoints: 3\n")
    proc = snakemake(workdir, "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "dft.ecut" in text and "dft.kpoints" in text and str(bad) in text
    assert not (workdir / "results/bad").exists()


TINY_VALIDITY = """# conformal validity regions: intervals calibrated on one more specimen, tested on two held out
divergence:
  validity:
    calibration: [{hole_radius: 0.6}]
    held_out: [{hole_radius: 0.4, size: 4.5}, {strain: 0.008}]
"""


@pytest.mark.slow
def test_tiny_study_end_to_end_and_targeted_rerun(workdir):
    (workdir / "validity.yaml").write_text(TINY_VALIDITY)
    tiny = str(workdir / "config/studies/tiny.yaml")
    files = ["--configfile", tiny, str(workdir / "validity.yaml")]
    snakemake(workdir, *files)
    res = workdir / "results/tiny"
    summary = (res / "summary.md").read_text()
    for text in ("energy RMSE, held-out", "force RMSE, held-out", "| dft->mlip | a0 |", "| dft->mlip | C44 |",
                 "md->continuum", "experiment->dft"):
        assert text in summary
    from multiscale.artifacts import read_artifact

    div = read_artifact(res / "divergence.h5", "divergence")
    rows = dict(zip(div["quantity"], div["relative"], strict=False))
    assert abs(rows["a0"]) < 0.005  # MLIP reproduces the DFT lattice constant it was trained on
    # FEM vs MD, same homogeneous strain: the tiny potential's C's are fits at +/-0.002, the bulk stress is at
    # 0.005 (nonlinearity), so a few percent
    assert abs(rows["homogeneous stress_xx at the specimen strain"]) < 0.05
    # the atlas: validity regions, explanations with CV R2, plasticity sweep, monitor, figures
    validity = div.attr("validity")
    assert np.isfinite(validity.dft_mlip.g_star) and isinstance(validity.atomistic_continuum.d_star_nm, float)
    expl = div.attr("explanations")
    cont = expl["atomistic->continuum (per-cell |FEM - MD| / |MD stress|)"]
    assert np.isfinite(cont.cv.r2_mean) and len(cont.ranking) == len(div["continuum_feature_names"])
    assert div["cell_shap"].shape == div["cell_features"].shape
    assert np.all(np.isfinite(div["cell_local_relative"][div["cell_valid"]]))
    assert "atomistic->continuum (per-cell |FEM - MD| / |bulk stress|, as in d*)" in expl
    plast = div.attr("plasticity")
    assert [r.strain for r in plast.sweep] == [0.02]
    # the rare-event comparison: the continuum's first slip from the potential's USF, in the atlas
    slip = plast.rare_event.continuum
    assert slip.slip_systems.startswith("{111}<112>") and slip.onset_strain > 0.005 and slip.max_rss_GPa > 0
    assert "**Rare event preserved?**" in summary
    for fig in ("stress_maps", "divergence_vs_distance", "shap_continuum", "properties_parity", "parity_forces",
                "plasticity", "trust_monitor"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000
    for text in ("### Validity regions", "### Explanations", "### Trust monitor", "### Rare events",
                 "## Thermal expansion", "## MD speed"):
        assert text in summary
    # conformal validity: intervals fitted on the study's specimen, calibrated on one more, tested on two held out
    val = read_artifact(res / "divergence/validity.h5", "validity")
    assert list(val["role"]) == ["training", "calibration", "held-out", "held-out"]
    assert 0.0 <= val.attrs["held_out_coverage"] <= 1.0 and np.all(val["cells"] > 10)
    assert "### Validity regions with coverage" in summary and "Pooled coverage on the held-out specimens" in summary
    # the atomic environments: every dataset and free specimen atom clustered, the clusters named by structure;
    # the hole-surface atoms (fewer neighbours than the bulk) are not in the bulk-like cluster
    env = read_artifact(res / "divergence/environments.h5", "environments")
    clusters = env.attr("clusters")
    assert "### Atomic environments" in summary and (res / "divergence/environments.png").stat().st_size > 10_000
    assert sum(sum(c.atoms.values()) for c in clusters) == len(env["cluster"])
    bulk_like = [c for c in clusters if c.label.startswith("bulk-like fcc")]
    surface = [c for c in clusters if "hole surface" in c.label]
    assert bulk_like and surface and max(c.coordination_median for c in surface) < 12
    assert min(c.grade_median for c in surface) > max(c.grade_median for c in bulk_like)
    # snakemake --report: one HTML file holding the atlas figures
    snakemake(workdir, *files, "--report", str(res / "report.html"))
    html = (res / "report.html").read_text(errors="replace")
    assert "stress_maps.png" in html and "shap_continuum.png" in html
    spec = read_artifact(res / "md/specimen.h5", "md_specimen")
    assert spec.attr("specimen").geometry.hole_radius_nm == 0.5
    assert read_artifact(res / "continuum/summary.h5", "continuum").attr("specimen") == \
        spec.attr("specimen")  # the continuum solved the MD stage's specimen
    assert read_artifact(res / "dft/eos.h5", "eos").attrs["a0"] == pytest.approx(4.04, rel=0.01)
    # the convergence study: table, figure, converged properties, and the summary reports them
    conv = read_artifact(res / "dft/convergence.h5", "dft_convergence")
    assert conv["cell_configured"].sum() == 2  # the configured setting appears in both scans
    assert set(conv.json_attr("remaining")["C44"]) == {"kpt_density", "smearing", "ecut"}
    converged = dict(zip(read_artifact(res / "dft/converged.h5", "properties")["names"],
                         read_artifact(res / "dft/converged.h5", "properties")["values"], strict=True))
    # one physics check across two methods at the same settings: B from the EOS = (C11 + 2 C12)/3 from stresses
    assert converged["B"] == pytest.approx((converged["C11"] + 2 * converged["C12"]) / 3, rel=0.1)
    assert (res / "dft/convergence.png").stat().st_size > 10_000
    assert "Configured settings within the tolerances" in (res / "dft/convergence.md").read_text()
    assert "## DFT convergence" in summary and "dft converged->dft training settings" in summary
    bench = (res / "benchmarks.md").read_text()
    assert all(re.search(rf"^\| {stage} \| \d+ \|", bench, re.M) for stage in ("dft", "mlip", "md", "continuum"))
    assert "workflow overhead (wall time minus critical path)" in bench

    # delete one configuration: exactly that calculation and what depends on it rerun
    victim = res / "dft/calc/rattle/rattle_001.h5"
    others = {p: p.stat().st_mtime_ns for p in (res / "dft/calc").rglob("*.h5") if p != victim}
    victim.unlink()
    plan = job_counts(snakemake(workdir, *files, "-n").stdout)
    assert plan == {"dft_single_point": 1, "dft_gather": 1, "dft_reference": 1, "mlip_descriptors": 2,
                    "dft_convergence": 1, "mlip_fit": 2, "mlip_validate": 1, "md_properties": 1, "md_specimen": 1,
                    "md_thermal": 1, "md_speed": 1, "continuum_solve": 1,
                    "divergence_environments": 1, "validity_specimen": 3, "validity_continuum": 3,
                    "divergence_validity": 1, "divergence_summary": 1, "benchmarks_report": 1, "all": 1}
    snakemake(workdir, *files)
    assert victim.exists()
    assert {p: p.stat().st_mtime_ns for p in others} == others
    assert job_counts(snakemake(workdir, *files, "-n").stdout) == {}


@pytest.mark.slow
def test_sweep_over_an_mlip_setting_reuses_dft(workdir):
    """After the tiny study, a 2-point sweep of the SNAP cutoff on the same DFT settings runs zero new GPAW
    calculations."""
    cache = workdir / "results/cache/dft"
    assert any(cache.rglob("*.h5")), "runs after test_tiny_study_end_to_end_and_targeted_rerun"
    before = sorted(cache.rglob("*.h5"))
    files = ["--configfile", str(workdir / "config/studies/tiny.yaml"), str(workdir / "config/studies/tiny-sweep.yaml")]
    plan = job_counts(snakemake(workdir, *files, "-n").stdout)
    assert plan["mlip_fit"] == 4 and plan["md_properties"] == 2 and plan["sweep_summary"] == 1
    assert plan["dft_gather"] == 1  # one DFT stage for all points
    snakemake(workdir, *files)
    assert sorted(cache.rglob("*.h5")) == before  # zero new GPAW runs
    table = (workdir / "results/tiny-sweep/sweep.md").read_text()
    assert all(f"| rcutfac-{r} |" in table for r in ("4.6", "4.8"))
    assert (workdir / "results/tiny-sweep/mlip@rcutfac-4.6/linear/snap.snapcoeff").exists()
    assert not (workdir / "results/tiny-sweep/dft@rcutfac-4.6").exists()


@pytest.mark.slow
def test_external_data_study_runs_end_to_end_without_dft_for_its_files(workdir):
    """config/studies/external-al.yaml after the tiny study: its rattled cells, slabs and MD snapshots come from the
    two shipped files (extxyz export, ASE trajectory); its EOS, elastic and convergence cells are the tiny study's,
    so the whole chain down to the record runs with zero new GPAW calculations (measured: ~40 s)."""
    from multiscale.artifacts import read_artifact

    cache = workdir / "results/cache/dft"
    before = sorted(cache.rglob("*.h5"))
    assert before, "runs after test_tiny_study_end_to_end_and_targeted_rerun"
    snakemake(workdir, "--configfile", "config/studies/external-al.yaml")
    assert sorted(cache.rglob("*.h5")) == before
    out = workdir / "results/external-al"
    ds = read_artifact(out / "dft/dataset.h5", "dft_dataset")
    assert {"md-emt", "rattle", "surface"} <= set(ds["groups"]) and "emt-demo" in set(ds["fidelity"])
    assert not (out / "dft/calc/rattle").exists() and not (out / "dft/calc/surface").exists()
    props = {str(n): float(v) for n, v in zip(*(read_artifact(out / "md/properties.h5", "properties")[k]
                                                 for k in ("names", "values")), strict=True)}
    assert 3.9 < props["a0"] < 4.2  # a real fcc Al lattice learned partly from the files (measured 4.04)
    summary = (out / "summary.md").read_text()
    assert "fidelity `emt-demo`: 14 configurations" in summary and "test/md-emt" in summary


@pytest.mark.slow
def test_active_learning_loop_on_the_tiny_study(workdir):
    """config/studies/tiny-al.yaml after the tiny study (same DFT cache): two iterations of explore -> select 3 ->
    GPAW -> refit; the fixed test set (one configuration per explorer family) is labelled once and never trained
    on; the loop's labels are all trained on; MD and below use the last potential; the record and the summary
    give per iteration the DFT calls, the test RMSE, the monitor's coverage and the explorer specimen's figures;
    a rerun does nothing and `multiscale verify` finds the study clean."""
    from multiscale.artifacts import read_artifact
    from multiscale.integrity import verify_tree

    files = ["--configfile", "config/studies/tiny.yaml", "config/studies/tiny-al.yaml"]
    snakemake(workdir, *files)
    res = workdir / "results/tiny-al"
    rec = read_artifact(res / "al/record.h5", "al_record")
    assert list(rec["iteration"]) == [0, 1, 2] and list(rec["dft_calls"]) == [0, 3, 6]
    assert np.isfinite(rec["force_rmse"]).all() and (rec["force_rmse"] > 0).all()
    assert 0.0 <= rec["coverage"][0] <= 1.0 and 0.0 <= rec["coverage"][1] <= 1.0 and np.isnan(rec["coverage"][2])
    assert (rec["specimen_flagged"] >= 0).all() and np.isfinite(rec["c44"]).all()
    # it learns (measured: test force RMSE 0.324 -> 0.192 -> 0.132 eV/A, energy 96 -> 26 -> 16 meV/atom; the
    # explorer specimen's free atoms beyond the threshold 52 -> 18 -> 0, max grade 133 -> 3.9 -> 0.71)
    assert rec["force_rmse"][2] < 0.7 * rec["force_rmse"][0] and rec["energy_rmse"][2] < rec["energy_rmse"][0] < 500
    assert rec["specimen_flagged"][2] < rec["specimen_flagged"][0]
    base = read_artifact(res / "dft/dataset.h5", "dft_dataset")
    last = read_artifact(res / "al/iter2/dataset.h5", "dft_dataset")
    added = [str(n) for n, g in zip(last["names"], last["groups"], strict=True) if str(g).startswith("al_")]
    assert len(last["names"]) == len(base["names"]) + 6 and len(added) == 6
    test = set(rec.json_attr("test_set")["names"])
    assert len(test) == 4 and not test & set(added)  # one per family, never trained on
    pot = read_artifact(res / "al/iter2/linear/potential.h5", "potential")
    labelled = np.array([str(g).startswith("al_") for g in last["groups"]])
    assert (pot["split"][labelled] == "train").all()
    md = read_artifact(res / "md/properties.h5", "properties")
    assert any("al/iter2/linear/potential.h5" in p for p in md.provenance["inputs"])
    summary = (res / "summary.md").read_text()
    assert "## Active learning" in summary and (res / "al/learning_curve.png").exists()
    assert "Nothing to be done" in snakemake(workdir, *files, "-n").stdout
    assert not [f for f in verify_tree([res], root=workdir) if f.status not in ("ok", "leftover")]


@pytest.mark.slow
def test_sweep_over_the_baseline_reruns_only_what_compares_against_it(workdir, tmp_path):
    """After the tiny study, sweeping mlip.baseline (the published EAM vs none) reruns the MLIP validation, the
    speed benchmark and the record per point, and shares the fit, the MD and the continuum already made."""
    sweep = tmp_path / "baseline-sweep.yaml"
    sweep.write_text("sweep:\n  mlip.baseline: [auto, null]\n")
    files = ["--configfile", str(workdir / "config/studies/tiny.yaml"), str(sweep)]
    plan = job_counts(snakemake(workdir, *files, "-n").stdout)
    assert plan.pop("all") == 1 and plan.pop("benchmarks_report") == 1 and plan.pop("sweep_summary") == 1
    assert plan == {"mlip_validate": 2, "md_speed": 2, "divergence_summary": 2}
    potential = workdir / "results/tiny/mlip/linear/potential.h5"
    before = potential.stat().st_mtime_ns
    snakemake(workdir, *files)
    assert potential.stat().st_mtime_ns == before
    from multiscale.artifacts import read_artifact

    auto, none = (read_artifact(workdir / f"results/tiny/mlip/validation@baseline-{b}.h5", "mlip_validation")
                  .json_attr("report") for b in ("auto", "None"))
    assert "baseline" in auto and "baseline" not in none
    assert auto["models"] == none["models"]  # the same fitted potentials scored on the same split


@pytest.mark.slow
@pytest.mark.slurm
def test_tiny_study_through_slurm_matches_local(workdir, tmp_path_factory):
    """The slurm profile, run for real against a single-node Slurm cluster on loopback: MPI stages go through
    `srun --mpi=pmi2` with 2 tasks, and the results equal the local (serial) run's."""
    from tests.slurm_cluster import LoopbackSlurm, missing_commands

    if missing_commands():
        pytest.skip(f"Slurm is not installed ({missing_commands()}); `make test` installs it as root on Debian")
    local = workdir / "results/tiny/divergence.h5"
    assert local.exists(), "runs after test_tiny_study_end_to_end_and_targeted_rerun"
    wd = copy_workflow(tmp_path_factory.mktemp("slurm-workflow"))  # own DFT cache: GPAW really runs in Slurm
    cluster = LoopbackSlurm()
    cluster.start()
    try:
        snakemake(wd, "--workflow-profile", "workflow/profiles/slurm", "--configfile", "config/studies/tiny.yaml",
                  "--default-resources", "slurm_partition=debug", "slurm_account=none", "runtime=30",
                  "mem_mb_per_cpu=1000", "tasks=1", "--slurm-status-command", "squeue",
                  "--slurm-init-seconds-before-status-checks", "2", env={"SLURM_CONF": cluster.env["SLURM_CONF"]},
                  timeout=2400)
    finally:
        cluster.stop()
    from multiscale.artifacts import read_artifact

    ref, got = read_artifact(local, "divergence"), read_artifact(wd / "results/tiny/divergence.h5", "divergence")
    assert list(ref["quantity"]) == list(got["quantity"])
    np.testing.assert_allclose(got["fine"], ref["fine"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(got["coarse"], ref["coarse"], rtol=1e-3, atol=1e-4)
    calc = read_artifact(wd / "results/tiny/dft/calc/rattle/rattle_000.h5", "dft_calc")
    assert calc.provenance["inputs"]  # produced by a Slurm job: a real artifact with provenance
    logs = (wd / "results/tiny/logs/dft/calc/rattle/rattle_000.log.gpaw").read_text()
    assert re.search(r"^cores:\s+2$", logs, re.M)  # GPAW ran on 2 MPI ranks launched by srun --mpi=pmi2


def _stop_orphans(workdir: Path) -> None:
    """SIGKILL every process still running in ``workdir`` (MPI ranks outside the killed process group)."""
    import signal
    import time

    for _ in range(100):
        alive = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and str(Path(proc / "cwd").resolve()).startswith(str(workdir)):
                    alive.append(int(proc.name))
            except OSError:
                continue
        if not alive:
            return
        for pid in alive:
            with __import__("contextlib").suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    raise AssertionError(f"processes still running in {workdir}: {alive}")


def _running_stages(workdir: Path) -> set[str]:
    """Stages of the jobs running now: Snakemake marks a running job's outputs incomplete in
    .snakemake/incomplete/ (file names: the output path, urlsafe-base64, split into '@'-prefixed folders when
    longer than a file name may be)."""
    import base64

    out = set()
    folder = workdir / ".snakemake/incomplete"
    for marker in folder.rglob("*") if folder.exists() else []:
        if marker.is_file():
            try:
                path = base64.urlsafe_b64decode("".join(p.removeprefix("@") for p in
                                                        marker.relative_to(folder).parts)).decode()
            except (ValueError, UnicodeDecodeError):
                continue
            parts = Path(path).parts
            if len(parts) > 2 and parts[0] == "results":
                out.add(parts[2].split("@")[0].removesuffix(".h5").removesuffix(".md"))
    return out


def _newer(folder: Path, pattern: str, since: float) -> list[Path]:
    return [p for p in folder.rglob(pattern) if p.stat().st_mtime >= since] if folder.exists() else []


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> dict:
    """The tiny study run from scratch (own DFT cache) under a seeded random schedule of SIGKILLs: each segment
    runs until 1 or 2 more jobs have finished (their Snakemake benchmark file appears) and the next job has
    started (its log appears; at most 5 s), or until a job of a stage no kill has hit yet has started, waits 0-1.5 s
    more and kills the whole process group; the workflow is unlocked and rerun, until it completes on its own. So
    the kills spread over every stage, in proportion to its jobs, and hit each stage at least once.
    After every kill: every artifact and cache entry passes `multiscale verify`'s checks (no damaged file) and no
    cache entry written before was written again (no finished GPAW calculation recomputed)."""
    import signal
    import time

    from multiscale.integrity import verify_tree

    wd = copy_workflow(tmp_path_factory.mktemp("kill-anywhere"))
    args = ["--configfile", "config/studies/tiny.yaml", "--rerun-incomplete"]
    rng = np.random.default_rng(2026)
    results, cache = wd / "results/tiny", wd / "results/cache/dft"
    written: dict[Path, int] = {}
    kills, damaged = [], []

    def stage_of(log: Path) -> str:
        return log.relative_to(results / "logs").parts[0].removesuffix(".log").split("@")[0]

    while len(kills) < 60:
        launched = time.time()
        wanted, delay = int(rng.integers(1, 3)), float(rng.uniform(0.0, 1.5))
        proc = subprocess.Popen([*SNAKEMAKE, "--cores", "2", *args], cwd=wd, env=_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def unhit(since: float = launched) -> bool:  # a job of a stage no kill has hit yet started in this segment
            return any(stage_of(p) not in {k[0] for k in kills} for p in _newer(results / "logs", "*.log", since))

        try:
            while (proc.poll() is None and len(_newer(results / "benchmarks", "*.tsv", launched)) < wanted
                   and not unhit()):
                time.sleep(0.02)
            started = time.time()  # then the next job to start is the one hit (or one already running)
            while proc.poll() is None and not _newer(results / "logs", "*.log", started) and time.time() - started < 5:
                if unhit():
                    break
                time.sleep(0.02)
            time.sleep(delay)
            if proc.poll() is not None:
                break  # the workflow finished within this segment
            running = _running_stages(wd) or {stage_of(p) for p in _newer(results / "logs", "*.log", launched)}
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        _stop_orphans(wd)
        kills.extend((stage, round(time.time() - launched, 2)) for stage in sorted(running or {"start"}))
        damaged += [f for f in verify_tree([results], root=wd) if f.status == "damaged"]
        for entry in cache.rglob("*.h5"):
            written.setdefault(entry, entry.stat().st_mtime_ns)
        snakemake(wd, "--unlock", *args)
    snakemake(wd, *args)  # nothing, or the rest after the last kill
    return {"workdir": wd, "kills": kills, "damaged": damaged, "written": written,
            "final": verify_tree([results], root=wd)}


@pytest.mark.slow
def test_kill_anywhere_loses_nothing_and_recomputes_no_gpaw_calculation(killed_run, capsys):
    """>= 20 SIGKILLs spread over every stage; after each, no damaged artifact or cache entry; at the end the study
    is complete and verifies all clean, and no cache entry was rewritten (0 finished GPAW calculations redone)."""
    kills = killed_run["kills"]
    stages = {stage.split("@")[0] for stage, _ in kills}
    assert len({t for _, t in kills}) >= 20, kills  # kill points (a kill hitting two running stages counts once)
    assert {"dft", "mlip", "md", "continuum", "divergence"} <= stages, kills
    assert killed_run["damaged"] == []
    written = killed_run["written"]
    assert written and {p: p.stat().st_mtime_ns for p in written} == written  # no GPAW run recomputed
    wd = killed_run["workdir"]
    assert not (wd / "results/cache/dft/quarantine").exists()
    statuses = {f.status for f in killed_run["final"]}
    assert statuses <= {"ok", "leftover"}, [f for f in killed_run["final"] if f.status not in ("ok", "leftover")]
    assert (wd / "results/tiny/summary.md").exists()
    with capsys.disabled():  # the figures, in the test run's own output
        print(f"\nkill-anywhere: {len({t for _, t in kills})} kill points hitting {len(kills)} running stages "
              f"({', '.join(f'{s} {sum(k[0] == s for k in kills)}' for s in sorted(stages))}); damaged artifacts "
              f"0; of {len(written)} cache entries written before a kill, 0 rewritten (0 finished GPAW "
              f"calculations recomputed); final verify: {len(killed_run['final'])} files clean")


@pytest.mark.slow
def test_two_runs_of_the_tiny_study_are_identical(workdir, killed_run):
    """Determinism: the uninterrupted tiny run (own cache) and the killed-and-resumed one (own cache, GPAW run
    again from scratch) give bitwise identical datasets and fitted coefficients, and the same records."""
    from multiscale.artifacts import read_artifact

    a, b = workdir / "results/tiny", killed_run["workdir"] / "results/tiny"
    assert (a / "summary.md").exists(), "runs after test_tiny_study_end_to_end_and_targeted_rerun"
    for rel, kind in (("dft/dataset.h5", "dft_dataset"), ("mlip/linear/potential.h5", "potential"),
                      ("mlip/quadratic/potential.h5", "potential")):
        x, y = read_artifact(a / rel, kind), read_artifact(b / rel, kind)
        assert x.data.keys() == y.data.keys()
        for key in x.data:
            if key not in ("wall_time", "scf_iterations"):
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{rel}: {key}")
    x, y = (read_artifact(d / "divergence.h5", "divergence") for d in (a, b))
    assert list(x["quantity"]) == list(y["quantity"])
    np.testing.assert_array_equal(x["fine"], y["fine"])
    np.testing.assert_allclose(x["coarse"], y["coarse"], rtol=1e-9, atol=1e-12)
