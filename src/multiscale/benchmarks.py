"""Aggregate a study's cost: per-stage wall time, CPU time and peak memory from the rules' Snakemake
``benchmark:`` files, and the workflow overhead of the latest invocation (its wall span minus the job times on
its critical path), from Snakemake's own job metadata (rule, inputs, start and end of every job)."""

from __future__ import annotations

import base64
import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from multiscale.artifacts import digest, software_versions
from multiscale.fileio import write_text_atomic

STAGES = ("dft", "mlip", "al", "md", "continuum", "divergence", "validity", "transfer", "sweep", "benchmarks")
GAP_S = 30.0  # a pause longer than this between jobs separates two invocations of snakemake


def stage_of(rule: str) -> str:
    return next((s for s in STAGES if rule.startswith(s)), "other")


@dataclass
class Job:
    rule: str
    start: float  # Snakemake's record: from scheduling to completion
    end: float
    inputs: list[str]
    outputs: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    runtime: float | None = None  # the job's own wall time, from its benchmark file
    cores: int = 1  # cores the job kept busy: its CPU time over its wall time, rounded (MPI jobs: their ranks)

    @property
    def duration(self) -> float:
        return self.runtime if self.runtime is not None else self.end - self.start


def benchmark_of(log: str) -> tuple[float, int] | None:
    """Wall seconds and busy cores of a job. The rules keep benchmark files beside their logs:
    <study>/logs/X.log <-> <study>/benchmarks/X.tsv."""
    tsv = Path(log.replace("/logs/", "/benchmarks/", 1)).with_suffix(".tsv")
    try:
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        wall = float(rows[-1]["s"])
    except (OSError, KeyError, IndexError, ValueError):
        return None
    cpu = _num(rows[-1], "cpu_time")
    return wall, max(1, round(cpu / wall)) if wall > 0 else 1


def read_jobs(metadata_dir: Path, prefix: str) -> list[Job]:
    """Jobs that wrote files under ``prefix``, from .snakemake/metadata (one record per output file)."""
    jobs: dict[int, Job] = {}
    root = Path(metadata_dir)
    for rec in root.rglob("*"):
        if not rec.is_file():
            continue
        # Snakemake names a record by urlsafe-base64 of the output path, split into "@"-prefixed folders if long
        b64 = "".join(part.removeprefix("@") for part in rec.relative_to(root).parts)
        try:
            path = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if not path.startswith(prefix):
            continue
        meta = json.loads(rec.read_text())
        if meta.get("incomplete") or meta.get("starttime") is None or meta.get("endtime") is None:
            continue
        job = jobs.setdefault(meta["job_hash"], Job(meta["rule"], meta["starttime"], meta["endtime"],
                                                    list(meta.get("input", [])), logs=list(meta.get("log", []))))
        job.outputs.append(path)
    for job in jobs.values():
        bench = benchmark_of(job.logs[0]) if job.logs else None
        if bench is not None:
            job.runtime, job.cores = bench
    return list(jobs.values())


def latest_invocation(jobs: list[Job]) -> list[Job]:
    """The jobs of the last snakemake invocation: after the last idle gap longer than GAP_S."""
    jobs = sorted(jobs, key=lambda j: j.start)
    start = 0
    running_end = -float("inf")
    for i, j in enumerate(jobs):
        if j.start - running_end > GAP_S and i > 0:
            start = i
        running_end = max(running_end, j.end)
    return jobs[start:]


def critical_path(jobs: list[Job]) -> tuple[float, list[Job]]:
    """Longest chain of job durations through the dependencies (inputs produced by other jobs of the set)."""
    producer = {out: j for j in jobs for out in j.outputs}
    best: dict[int, tuple[float, list[Job]]] = {}

    def longest(j: Job) -> tuple[float, list[Job]]:
        if id(j) not in best:
            ups = [longest(producer[i]) for i in j.inputs if i in producer and producer[i] is not j]
            t, chain = max(ups, key=lambda x: x[0]) if ups else (0.0, [])
            best[id(j)] = (t + j.duration, [*chain, j])
        return best[id(j)]

    return max((longest(j) for j in jobs), key=lambda x: x[0], default=(0.0, []))


def _num(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key) or 0.0)
    except ValueError:  # "NA" when a job was too short to sample
        return 0.0


def read_benchmarks(bench_dir: Path) -> dict[str, dict[str, float]]:
    """Per stage: number of jobs, summed wall s, summed CPU s, max peak RSS (MB)."""
    out: dict[str, dict[str, float]] = {}
    for tsv in sorted(Path(bench_dir).rglob("*.tsv")):
        rel = tsv.relative_to(bench_dir).parts[0]
        stage = stage_of(rel.split("@")[0].removesuffix(".tsv"))
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows:
            continue
        row = rows[-1]
        agg = out.setdefault(stage, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_MB": 0.0})

        agg["jobs"] += 1
        agg["wall_s"] += _num(row, "s")
        agg["cpu_s"] += _num(row, "cpu_time")
        agg["max_rss_MB"] = max(agg["max_rss_MB"], _num(row, "max_rss"))
    return out


def write_report(study_dir: str, metadata_dir: str, config: dict, out: str, cores: int | None = None) -> None:
    study = Path(study_dir)
    stages = read_benchmarks(study / "benchmarks")
    jobs = latest_invocation(read_jobs(Path(metadata_dir), f"{study}/"))
    lines = [f"# Benchmarks: study `{study.name}`", "",
             "Per stage, from every job's Snakemake `benchmark:` file (the latest run of each job):", "",
             "| stage | jobs | wall time, sum (s) | CPU time, sum (s) | peak RSS, max (MB) |", "|---|---|---|---|---|"]
    for s in STAGES:
        if s in stages:
            a = stages[s]
            lines.append(f"| {s} | {a['jobs']:.0f} | {a['wall_s']:.1f} | {a['cpu_s']:.1f} | {a['max_rss_MB']:.0f} |")
    if jobs:
        span = max(j.end for j in jobs) - min(j.start for j in jobs)
        cp, chain = critical_path(jobs)
        cores = cores or os.cpu_count() or 1
        core_seconds = sum(j.duration * min(j.cores, cores) for j in jobs)
        bound = max(cp, core_seconds / cores)
        lines += ["", f"## Latest invocation ({len(jobs)} jobs)", "",
                  f"- wall time from first job start to last job end: {span:.1f} s",
                  f"- critical path (longest dependency chain of the jobs' own run times): {cp:.1f} s "
                  f"({' -> '.join(j.rule for j in chain)})",
                  f"- sum of all job times: {sum(j.duration for j in jobs):.1f} s",
                  f"- workflow overhead (wall time minus critical path): {span - cp:.1f} s "
                  f"({100 * (span - cp) / span if span else 0:.0f} % of the wall time): scheduling, job start-up, "
                  f"and jobs waiting for a free core",
                  f"- of which queueing for cores is unavoidable: with {cores} cores the jobs need at least "
                  f"max(critical path, core-seconds / cores) = {bound:.1f} s (core-seconds: each job's time x the "
                  f"cores it kept busy, {core_seconds:.1f} s), so {span - bound:.1f} s is scheduling and start-up "
                  f"above that bound"]
    lines += ["", "## Reproducing", "", f"- config digest (sha256 of the validated study config): `{digest(config)}`",
              f"- software: `{json.dumps(software_versions(), sort_keys=True)}`", ""]
    write_text_atomic(out, "\n".join(lines))
