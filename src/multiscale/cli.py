"""The ``multiscale`` command: ``multiscale <stage> <action> [options]``.

Each action calls one package function; imports are lazy so ``multiscale --help`` is instant. Settings
arrive as JSON (the workflow passes each stage's validated config section), so a rule reruns exactly when
its own settings change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

# Parallelism comes from MPI ranks and Snakemake jobs; threaded BLAS under them oversubscribes the cores
# (measured: a GPAW single point 6x slower with 2 BLAS threads per process on 2 cores).
# Under mpiexec each rank gets one thread, whatever the caller set (Snakemake exports OMP_NUM_THREADS = the
# rule's threads, which for an MPI rule count the ranks' cores).
_ranks = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    if _ranks > 1:
        os.environ[_var] = "1"
    else:
        os.environ.setdefault(_var, "1")


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _json_value(text: str):
    """Any JSON value (an object, a string such as "auto", or null)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc


def _comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _gpaw_comm():
    """GPAW's world communicator when running under ``gpaw python`` with MPI, else None (serial)."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.size == 1:
        return None
    from gpaw.mpi import world

    return world


# --------------------------------------------------------------------------------------------- actions
def config_validate(a):
    from multiscale.config import read_config
    from multiscale.study import load_study
    from multiscale.sweep import expand

    cfg = load_study(*a.files)
    points = expand(read_config(*a.files), a.files)  # every sweep point validated, each with its own directories
    sweep = f", {len(points)} sweep points" if len(points) > 1 else ""
    print(json.dumps(cfg, indent=2) if a.show else f"ok: {', '.join(a.files)} (study '{cfg['study']}'{sweep})")


def verify(a):
    from multiscale.integrity import BAD, report, verify_tree

    findings = verify_tree(a.paths, root=a.root)
    print(report(findings))
    if any(f.status in BAD for f in findings):
        raise SystemExit(1)


def dft_structures(a):
    from multiscale.dft.stage import write_structures

    write_structures(a.group, a.material, a.dft, a.out, a.eos)


def dft_run(a):
    from multiscale.dft.stage import run_configuration

    run_configuration(a.structures, a.name, a.dft, a.out, txt=a.txt, comm=_gpaw_comm())


def dft_eos(a):
    from multiscale.dft.stage import fit_equation_of_state

    fit_equation_of_state(a.calcs, a.material, a.out)


def dft_gather(a):
    from multiscale.dft.stage import gather

    gather(a.calcs, a.dft, a.out, a.extxyz, converged=a.converged)


def dft_reference(a):
    from multiscale.dft.stage import reference_properties

    reference_properties(a.dataset, a.eos, a.out)


def dft_export(a):
    from multiscale.dft.stage import export_extxyz

    export_extxyz(a.dataset, a.out)


def dft_magnetism(a):
    from multiscale.dft.stage import spin_comparison

    r = spin_comparison(a.material, a.dft, comm=_gpaw_comm())
    print(f"{r['element']} primitive cell at a = {r['a']:g} A, {json.dumps(r['settings'])}")
    print("| state | energy (eV/atom) | pressure (GPa) | moment (muB/atom) |\n|---|---|---|---|")
    for state in ("polarised", "paired"):
        x = r[state]
        print(f"| spin-{state} | {x['energy']:.5f} | {x['pressure']:.3f} | {x['moment']:.3f} |")
    print(f"spin-polarised minus spin-paired: {r['energy_difference_meV']:+.1f} meV/atom, "
          f"{r['pressure_difference_GPa']:+.2f} GPa")


def dft_convergence_run(a):
    from multiscale.dft.convergence import run_part

    run_part(a.part, a.material, a.dft, a.convergence, a.eos, a.out, txt=a.txt, comm=_gpaw_comm())


def dft_convergence(a):
    from multiscale.dft.stage import assemble_convergence

    assemble_convergence(a.cells, a.elastic, a.out, a.table, a.figure, a.properties, a.training)


def mlip_descriptors(a):
    from multiscale.mlip.stage import compute_descriptors

    compute_descriptors(a.dataset, a.mlip, a.model, a.out, comm=_comm())


def mlip_fit(a):
    from multiscale.mlip.stage import fit

    fit(a.dataset, a.descriptors, a.mlip, a.out, a.potential_dir)


def mlip_validate(a):
    from multiscale.artifacts import read_artifact
    from multiscale.mlip.validation import validate

    desc = {str(read_artifact(p, "descriptors").attrs["model"]): p for p in a.descriptors}
    pots = {str(read_artifact(p, "potential").attrs["model"]): p for p in a.potentials}
    validate(a.dataset, desc, pots, a.mlip, a.out, a.figures)


def md_properties(a):
    from multiscale.md.stage import run_properties

    run_properties(a.potential, a.material, a.md, a.out, comm=_comm())


def md_specimen(a):
    from multiscale.md.stage import run_specimen

    run_specimen(a.potential, a.properties, a.material, a.md, a.specimen, a.out, comm=_comm())


def md_thermal(a):
    from multiscale.md.stage import run_thermal

    run_thermal(a.potential, a.properties, a.material, a.md, a.out, comm=_comm())


def md_speed(a):
    from multiscale.md.stage import run_speed

    run_speed(a.potential, a.properties, a.material, a.baseline, a.out, comm=_comm())


def continuum_solve(a):
    from multiscale.continuum.stage import solve

    solve(a.md, a.specimen, a.continuum, a.out, a.xdmf, comm=_comm(), grid_xdmf=a.grid_xdmf)


def divergence_summary(a):
    from multiscale.divergence.summary import write_summary
    from multiscale.divergence.transitions import SummaryInputs

    inputs = SummaryInputs(dft=a.dft, potential=a.potential, md=a.md, continuum=a.continuum, experiment=a.experiment,
                           validation=a.validation, specimen=a.specimen, thermal=a.thermal, speed=a.speed,
                           dataset=a.dataset, converged=a.converged, convergence=a.convergence,
                           al_record=a.al_record, environments=a.environments, validity=a.validity)
    write_summary(a.study, inputs, a.atlas, a.out, a.summary, a.figures)


def divergence_environments(a):
    from multiscale.divergence.summary import write_environments
    from multiscale.divergence.transitions import EnvironmentInputs

    write_environments(EnvironmentInputs(dataset=a.dataset, potential=a.potential, specimen=a.specimen,
                                         continuum=a.continuum, candidates=a.candidates or []),
                       a.atlas, a.out, a.figure)


def divergence_validity(a):
    from multiscale.divergence.summary import write_validity

    specimens = {"study": ("training", a.specimen, a.continuum)}
    for item in a.variant:
        name, role, sp, cont = item.split("=", 1)[0], *item.split("=", 1)[1].split(",")
        specimens[name] = (role, sp, cont)
    write_validity(specimens, a.atlas, a.out)


def divergence_sweep(a):
    from multiscale.divergence.summary import write_sweep_table

    points = {}
    for item in a.point:
        label, _, path = item.partition("=")
        points[label] = path
    write_sweep_table(a.study, points, a.out)


def al_explore(a):
    from multiscale.active.stage import explore

    explore(a.potential, a.eos, a.material, a.specimen, a.al, a.iteration, a.out, comm=_comm())


def al_select(a):
    from multiscale.active.stage import select

    select(a.candidates, a.potential, a.dataset, a.material, a.eos, a.al, a.iteration, a.out)


def al_test_structures(a):
    from multiscale.active.stage import test_structures

    test_structures(a.candidates, a.al, a.out)


def al_label(a):
    from multiscale.active.stage import label

    label(a.structures, a.dft, a.out, comm=_gpaw_comm())


def al_extend(a):
    from multiscale.active.stage import extend

    extend(a.dataset, a.labels, a.out)


def al_record(a):
    from multiscale.active.stage import LoopArtifacts, record

    record(LoopArtifacts(a.potentials, a.candidates, a.batches, a.labels, a.testset, a.eos), a.material, a.al,
           a.mlip, a.out, a.figure)


def transfer_pool(a):
    from multiscale.transfer.pool import label_pool

    label_pool(a.element, a.transfer, a.dft, a.out, comm=_gpaw_comm())


def transfer_curve(a):
    from multiscale.transfer.curve import run

    run(dict(item.partition("=")[::2] for item in a.pool), a.transfer, a.out, a.report, a.figure)


def al_compare(a):
    from multiscale.active.stage import compare_rules

    compare_rules(dict(item.partition("=")[::2] for item in a.record), a.out, a.figure)


def report_benchmarks(a):
    from multiscale.benchmarks import write_report

    write_report(a.study_dir, a.metadata, a.config, a.out)


COMMANDS: dict[tuple[str, str | None], tuple[Callable, str, list[tuple[str, dict]]]] = {
    ("verify", None): (verify, "re-check every artifact of a study: schema, content digest, provenance chain "
                               "(exit 1 if anything is damaged or stale)", [
        ("paths", {"nargs": "+", "help": "results/<study> (its DFT cache results/cache is checked too) or files"}),
        ("--root", {"default": ".", "help": "folder the workflow ran in (recorded input paths are relative to it)"})]),
    ("config", "validate"): (config_validate, "validate study config files (later override earlier)", [
        ("files", {"nargs": "+"}), ("--show", {"action": "store_true", "help": "print the config with defaults"})]),
    ("dft", "structures"): (dft_structures, "generate one group of configurations", [
        ("--group", {"required": True}), ("--material", {"type": _json, "required": True}),
        ("--dft", {"type": _json, "required": True}), ("--eos", {}), ("--out", {"required": True})]),
    ("dft", "run"): (dft_run, "GPAW single point of one configuration (cached)", [
        ("--structures", {"required": True}), ("--name", {"required": True}),
        ("--dft", {"type": _json, "required": True}), ("--txt", {"help": "GPAW text log"}),
        ("--out", {"required": True})]),
    ("dft", "eos"): (dft_eos, "Birch-Murnaghan fit of the EOS configurations", [
        ("--calcs", {"nargs": "+", "required": True}), ("--material", {"type": _json, "required": True}),
        ("--out", {"required": True})]),
    ("dft", "gather"): (dft_gather, "collect calculations (and the dft.external files) into the dataset artifact", [
        ("--calcs", {"nargs": "+", "required": True}), ("--dft", {"type": _json, "required": True}),
        ("--converged", {"help": "convergence/elastic.h5: its cells join as the fidelity 'converged'"}),
        ("--extxyz", {}), ("--out", {"required": True})]),
    ("dft", "reference"): (dft_reference, "DFT reference properties (a0, B, C11, C12, C44)", [
        ("--dataset", {"required": True}), ("--eos", {"required": True}), ("--out", {"required": True})]),
    ("dft", "export"): (dft_export, "export a dataset artifact to extxyz", [
        ("--dataset", {"required": True}), ("--out", {"required": True})]),
    ("dft", "magnetism"): (dft_magnetism, "spin-polarised vs spin-paired primitive cell (moment, energy, pressure)", [
        ("--material", {"type": _json, "required": True}), ("--dft", {"type": _json, "required": True})]),
    ("dft", "convergence-run"): (dft_convergence_run, "one part of the DFT convergence study (cached GPAW runs)", [
        ("--part", {"choices": ["cells", "elastic"], "required": True}),
        ("--material", {"type": _json, "required": True}), ("--dft", {"type": _json, "required": True}),
        ("--convergence", {"type": _json, "required": True}), ("--eos", {"help": "training eos.h5 (cells part only)"}),
        ("--txt", {"help": "GPAW text log"}), ("--out", {"required": True})]),
    ("dft", "convergence"): (dft_convergence, "convergence table, figure and converged properties", [
        ("--cells", {"required": True}), ("--elastic", {"required": True}), ("--training",
                                                                               {"help": "training reference.h5"}),
        ("--out", {"required": True}), ("--table", {"required": True}), ("--figure", {"required": True}),
        ("--properties", {"required": True})]),
    ("mlip", "descriptors"): (mlip_descriptors, "SNAP design rows of a dataset (LAMMPS compute snap)", [
        ("--dataset", {"required": True}), ("--mlip", {"type": _json, "required": True}),
        ("--model", {"choices": ["linear", "quadratic"], "required": True}), ("--out", {"required": True})]),
    ("mlip", "fit"): (mlip_fit, "fit a Bayesian SNAP model on the training split", [
        ("--dataset", {"required": True}), ("--descriptors", {"required": True}),
        ("--mlip", {"type": _json, "required": True}), ("--potential-dir", {"required": True}),
        ("--out", {"required": True})]),
    ("mlip", "validate"): (mlip_validate, "per-group, leave-one-group-out and conformal validation", [
        ("--dataset", {"required": True}), ("--descriptors", {"nargs": "+", "required": True}),
        ("--potentials", {"nargs": "+", "required": True}),
        ("--mlip", {"type": _json, "required": True}), ("--figures", {"required": True}),
        ("--out", {"required": True})]),
    ("md", "properties"): (md_properties, "0 K properties with the fitted potential (posterior spread)", [
        ("--potential", {"required": True}), ("--material", {"type": _json, "required": True}),
        ("--md", {"type": _json, "required": True}), ("--out", {"required": True})]),
    ("md", "specimen"): (md_specimen, "plate with a hole: relaxation under load, fields, monitor, sweep", [
        ("--potential", {"required": True}), ("--properties", {"required": True}),
        ("--material", {"type": _json, "required": True}), ("--md", {"type": _json, "required": True}),
        ("--specimen", {"type": _json, "required": True}), ("--out", {"required": True})]),
    ("md", "thermal"): (md_thermal, "lattice constant vs temperature (NPT) and thermal expansion", [
        ("--potential", {"required": True}), ("--properties", {"required": True}),
        ("--material", {"type": _json, "required": True}), ("--md", {"type": _json, "required": True}),
        ("--out", {"required": True})]),
    ("md", "speed"): (md_speed, "atom-steps per second of the fitted potential and the classical baseline", [
        ("--potential", {"required": True}), ("--properties", {"required": True}),
        ("--material", {"type": _json, "required": True}), ("--baseline", {"type": _json_value, "required": True}),
        ("--out", {"required": True})]),
    ("continuum", "solve"): (continuum_solve, "FEM of the MD specimen with the MD stiffness", [
        ("--md", {"required": True}), ("--specimen", {"required": True}),
        ("--continuum", {"type": _json, "required": True}), ("--xdmf", {"required": True}),
        ("--grid-xdmf", {"default": None}), ("--out", {"required": True})]),
    ("divergence", "summary"): (divergence_summary, "divergence records and summary.md", [
        ("--study", {"required": True}), ("--dft", {"required": True}), ("--potential", {"required": True}),
        ("--md", {"required": True}), ("--continuum", {"required": True}), ("--experiment", {}),
        ("--validation", {}), ("--specimen", {"required": True}), ("--thermal", {"required": True}),
        ("--speed", {"required": True}), ("--dataset", {"required": True}),
        ("--converged", {"help": "properties at converged DFT settings"}),
        ("--convergence", {"help": "the DFT convergence artifact"}),
        ("--al-record", {"help": "the active-learning record (al/record.h5)"}),
        ("--environments", {"help": "the atomic-environment clusters (divergence/environments.h5)"}),
        ("--validity", {"help": "the conformal validity regions (divergence/validity.h5)"}),
        ("--atlas", {"type": _json, "default": {}, "help": "divergence settings (tolerances, GBT)"}),
        ("--figures", {"required": True}), ("--out", {"required": True}), ("--summary", {"required": True})]),
    ("divergence", "validity"): (divergence_validity, "conformal validity regions tested on held-out specimens", [
        ("--specimen", {"required": True, "help": "the study's specimen (fits the point model)"}),
        ("--continuum", {"required": True, "help": "its continuum solution"}),
        ("--variant", {"action": "append", "default": [],
                       "help": "NAME=ROLE,SPECIMEN,CONTINUUM (role calibration or held-out), once per specimen"}),
        ("--atlas", {"type": _json, "default": {}, "help": "divergence settings (validity subsection)"}),
        ("--out", {"required": True})]),
    ("divergence", "environments"): (divergence_environments, "atomic environments clustered and labelled", [
        ("--dataset", {"required": True, "help": "the DFT dataset the potential was fitted on"}),
        ("--potential", {"required": True}), ("--specimen", {"required": True}), ("--continuum", {"required": True}),
        ("--candidates", {"nargs": "*", "help": "active-learning candidate pools and test set"}),
        ("--atlas", {"type": _json, "default": {}, "help": "divergence settings (environments subsection)"}),
        ("--out", {"required": True}), ("--figure", {"required": True})]),
    ("al", "explore"): (al_explore, "active learning: the candidate pool of one iteration, graded", [
        ("--potential", {"required": True}), ("--eos", {"required": True}),
        ("--material", {"type": _json, "required": True}), ("--specimen", {"type": _json, "required": True}),
        ("--al", {"type": _json, "required": True}), ("--iteration", {"type": int, "required": True}),
        ("--out", {"required": True})]),
    ("al", "select"): (al_select, "active learning: the batch (and at iteration 0 the fixed test set)", [
        ("--candidates", {"required": True}), ("--potential", {"required": True}), ("--dataset", {"required": True}),
        ("--material", {"type": _json, "required": True}), ("--eos", {"required": True}),
        ("--al", {"type": _json, "required": True}), ("--iteration", {"type": int, "required": True}),
        ("--out", {"required": True})]),
    ("al", "testset"): (al_test_structures, "active learning: the fixed test set from iteration 0's pool", [
        ("--candidates", {"required": True}), ("--al", {"type": _json, "required": True}),
        ("--out", {"required": True})]),
    ("al", "label"): (al_label, "active learning: GPAW labels of a batch (through the DFT cache)", [
        ("--structures", {"required": True}), ("--dft", {"type": _json, "required": True}),
        ("--out", {"required": True})]),
    ("al", "extend"): (al_extend, "active learning: the dataset plus the loop's labels", [
        ("--dataset", {"required": True}), ("--labels", {"nargs": "+", "required": True}),
        ("--out", {"required": True})]),
    ("al", "record"): (al_record, "active learning: learning record and curve", [
        ("--potentials", {"nargs": "+", "required": True}), ("--candidates", {"nargs": "+", "required": True}),
        ("--batches", {"nargs": "+", "required": True}), ("--labels", {"nargs": "+", "required": True}),
        ("--testset", {"required": True}), ("--material", {"type": _json, "required": True}),
        ("--eos", {"required": True}), ("--al", {"type": _json, "required": True}),
        ("--mlip", {"type": _json, "required": True}), ("--out", {"required": True}),
        ("--figure", {"required": True})]),
    ("al", "compare"): (al_compare, "active learning: the selection rules of a sweep compared (DFT economy)", [
        ("--record", {"action": "append", "required": True, "help": "LABEL=al/record.h5, once per point"}),
        ("--out", {"required": True}), ("--figure", {"required": True})]),
    ("transfer", "pool"): (transfer_pool, "few-shot transfer: one element's labelled pool (through the DFT cache)", [
        ("--element", {"required": True}), ("--transfer", {"type": _json, "required": True}),
        ("--dft", {"type": _json, "required": True}), ("--out", {"required": True})]),
    ("transfer", "curve"): (transfer_curve, "few-shot transfer: learning curve, learned vs default prior", [
        ("--pool", {"action": "append", "required": True, "help": "ELEMENT=pool.h5, once per element"}),
        ("--transfer", {"type": _json, "required": True}), ("--out", {"required": True}),
        ("--report", {"required": True}), ("--figure", {"required": True})]),
    ("report", "benchmarks"): (report_benchmarks, "aggregate benchmark files and workflow overhead", [
        ("--study-dir", {"required": True}), ("--metadata", {"default": ".snakemake/metadata"}),
        ("--config", {"type": _json, "required": True}), ("--out", {"required": True})]),
    ("divergence", "sweep"): (divergence_sweep, "compare the points of a sweep", [
        ("--study", {"required": True}), ("--point", {"action": "append", "required": True,
                                                      "help": "LABEL=divergence.h5, once per point"}),
        ("--out", {"required": True})]),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multiscale", description=__doc__.splitlines()[0])
    stages = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    subs: dict[str, argparse._SubParsersAction] = {}
    for (stage, action), (func, help_, args) in COMMANDS.items():
        if action is None:  # a command of one word: multiscale verify ...
            p = stages.add_parser(stage, help=help_, description=help_)
            for name, kw in args:
                p.add_argument(name, **kw)
            p.set_defaults(func=func, action="")
            continue
        if stage not in subs:
            subs[stage] = stages.add_parser(stage, help=f"{stage} stage").add_subparsers(
                dest="action", required=True, metavar="<action>")
        p = subs[stage].add_parser(action, help=help_, description=help_)
        for name, kw in args:
            p.add_argument(name, **kw)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    from multiscale.errors import MultiscaleError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MultiscaleError as exc:
        print(f"multiscale {' '.join(filter(None, (args.stage, args.action)))}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
