from __future__ import annotations

import pytest

from multiscale.benchmarks import Job, critical_path, latest_invocation, stage_of


def _job(rule, start, end, inputs, outputs):
    return Job(rule, start, end, inputs, outputs)


def test_critical_path_follows_the_longest_dependency_chain():
    a = _job("dft_single_point", 0, 10, [], ["a"])
    b = _job("dft_single_point", 0, 3, [], ["b"])
    g = _job("dft_gather", 10, 11, ["a", "b"], ["g"])
    m = _job("mlip_fit", 11, 15, ["g"], ["m"])
    t, chain = critical_path([a, b, g, m])
    assert t == pytest.approx(15.0)
    assert [j.outputs[0] for j in chain] == ["a", "g", "m"]


def test_latest_invocation_starts_after_an_idle_gap():
    early = _job("dft_single_point", 0, 5, [], ["a"])
    late1 = _job("mlip_fit", 500, 510, ["a"], ["m"])
    late2 = _job("md_properties", 510, 520, ["m"], ["p"])
    assert latest_invocation([late2, early, late1]) == [late1, late2]


def test_stage_of_rule_names():
    assert stage_of("dft_single_point") == "dft" and stage_of("continuum_solve") == "continuum"


def test_busy_cores_come_from_the_benchmark_files(tmp_path):
    """An MPI job's CPU time is its ranks' sum: it keeps that many cores busy, which the queueing bound counts."""
    from multiscale.benchmarks import benchmark_of

    header = "s\th:m:s\tmax_rss\tcpu_time\n"
    for name, wall, cpu, cores in (("mpi", 300.0, 590.0, 2), ("serial", 10.0, 9.1, 1), ("idle", 10.0, 0.2, 1)):
        (tmp_path / "benchmarks").mkdir(exist_ok=True)
        (tmp_path / "benchmarks" / f"{name}.tsv").write_text(header + f"{wall}\t0\t100\t{cpu}\n")
        assert benchmark_of(str(tmp_path / "logs" / f"{name}.log")) == (wall, cores)
    assert benchmark_of(str(tmp_path / "logs" / "missing.log")) is None
