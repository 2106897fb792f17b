# Config validation, sweep points, names and input functions: the only logic in the workflow's .smk files.
import json
import os
import shutil

from multiscale.study import validate_study
from multiscale.dft.structures import GROUPS, NEEDS_A0, ConfigurationSettings, configuration_names
from multiscale.divergence.atlas import AtlasSettings
from multiscale.errors import ConfigError
from multiscale.sweep import TAG_PATTERN, expand, point_for

# One BLAS thread per process: parallelism comes from jobs and MPI ranks (see multiscale.cli).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Every job calls the `multiscale` command: without it on PATH (the venv not activated) each job would fail with
# exit 127, so stop here, once. Jobs in a software deployment (--sdm conda/apptainer/env-modules) bring their own.
if not getattr(workflow.deployment_settings, "deployment_method", None) and shutil.which("multiscale") is None:
    raise WorkflowError(
        "the `multiscale` command is not on PATH, and every job runs it. Fix: activate the venv "
        "(`source .venv/bin/activate`, set up by `make setup`) and rerun, or run `make run`, which does both"
    )

# Validate before any job runs; fills every default so rules see the complete config.
_sources = [str(f) for f in workflow.configfiles] or ["<command line>"]
try:
    _validated = validate_study(config, sources=_sources)
    POINTS = expand(config, _sources)  # as read: each point resolves its own per-element defaults
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
EXPERIMENT = f"data/experiment/{config['material']['element']}.yaml"
# Per-rule software definition (for --sdm conda); the reference environment is the venv of envs/setup.sh.
CONDA_ENV = "../../envs/multiscale.yaml"


wildcard_constraints:
    pt=TAG_PATTERN,
    bt=TAG_PATTERN,
    group="|".join(GROUPS),
    name=r"[A-Za-z0-9_]+",
    variant=r"(cal|held)[0-9]+",


def cfg(stage, pt):
    """The config of the sweep point(s) whose `stage` directory carries the tag `pt`."""
    return point_for(POINTS, stage, pt).config


def section(stage, *keys):
    """Input-function for params: config sections as JSON (a rule reruns exactly when they change)."""

    def get(wildcards):
        c = cfg(stage, wildcards.pt)
        return json.dumps({k: c[k] for k in keys} if len(keys) > 1 else c[keys[0]], sort_keys=True)

    return get


def fit_settings(wildcards):
    """Params of the SNAP descriptors and fit: the mlip section without the baseline, which they never use (so a
    changed or swept baseline reruns its validation and speed benchmark, not the fit and all below it)."""
    return json.dumps({k: v for k, v in cfg("mlip", wildcards.pt)["mlip"].items() if k != "baseline"}, sort_keys=True)


def baseline_point(stage):
    """The sweep point of a job in `stage` directory {pt} whose baseline-tagged product is {bt}."""
    return lambda w: point_for(POINTS, stage, w.pt, baseline=w.bt).config


def compared(stage, rel, under=None):
    """Input-function of the record: `under`/`stage`{tag}/`rel` with the point's baseline tag before the suffix
    (the products that compare against the baseline: validation, speed benchmark)."""

    def get(wildcards):
        p = point_for(POINTS, "divergence", wildcards.pt)
        stem, ext = os.path.splitext(rel)
        return f"{under or RESULTS}/{stage}{p.tags[stage]}/{stem}{p.tags['baseline']}{ext}"

    return get


def configurations(pt):
    return configuration_names(ConfigurationSettings.from_dict(cfg("dft", pt)["dft"]["configurations"]))


def calcs(pt, groups=None):
    return [
        f"{RESULTS}/dft{pt}/calc/{g}/{n}.h5"
        for g, names in configurations(pt).items()
        if groups is None or g in groups
        for n in names
    ]


def converged_labels(pt):
    """The convergence study's elastic runs when dft.converged_labels adds them to the dataset, else nothing."""
    return [f"{RESULTS}/dft{pt}/convergence/elastic.h5"] if cfg("dft", pt)["dft"]["converged_labels"] else []


def external_files(pt):
    """The files of dft.external: inputs of the dataset, so a changed file reruns it and all that depends on it."""
    return [e["file"] for e in cfg("dft", pt)["dft"]["external"]]


def structures_inputs(wildcards):
    """Groups built on the DFT lattice constant wait for the EOS fit."""
    return {"eos": f"{RESULTS}/dft{wildcards.pt}/eos.h5"} if wildcards.group in NEEDS_A0 else {}


def tag_of(stage, from_stage):
    """Input-function factory: the `stage` tag of the point(s) whose `from_stage` tag is the job's pt."""

    def tag(wildcards):
        return point_for(POINTS, from_stage, wildcards.pt).tags[stage]

    return tag


def stage_path(stage, from_stage, rel):
    """Input-function: `rel` inside the directory of `stage` that feeds a job of `from_stage`."""

    def get(wildcards):
        return f"{RESULTS}/{stage}{tag_of(stage, from_stage)(wildcards)}/{rel}"

    return get


def primary_potential(from_stage):
    """Input-function: the potential of the first listed SNAP model, which feeds MD and the summary: the MLIP
    stage's, or with an active-learning loop (active_learning.iterations > 0) the loop's last one."""

    def get(wildcards):
        tag = tag_of("al", from_stage)(wildcards)
        return al_potential(wildcards, al_iterations(tag), pt=tag)

    return get


def al_iterations(pt):
    """Iterations of the active-learning loop of the point(s) whose al directory is `pt` (0: no loop)."""
    return int(cfg("al", pt)["active_learning"]["iterations"])


def al_potential(wildcards, k=None, pt=None):
    """Input-function: P_k, the potential active-learning iteration k starts from (k: the job's {k} by default;
    P_0 = the MLIP stage's first model)."""
    pt = wildcards.pt if pt is None else pt
    k = int(wildcards.k) if k is None else k
    model = cfg("al", pt)["mlip"]["models"][0]
    if k == 0:
        return f"{RESULTS}/mlip{point_for(POINTS, 'al', pt).tags['mlip']}/{model}/potential.h5"
    return f"{RESULTS}/al{pt}/iter{k}/{model}/potential.h5"


def al_dataset(wildcards, k=None):
    """Input-function: D_k, the dataset of active-learning iteration k (D_0 = the DFT stage's)."""
    k = int(wildcards.k) if k is None else k
    if k == 0:
        return f"{RESULTS}/dft{point_for(POINTS, 'al', wildcards.pt).tags['dft']}/dataset.h5"
    return f"{RESULTS}/al{wildcards.pt}/iter{k}/dataset.h5"


def al_fit_settings(wildcards):
    """Params of the loop's SNAP descriptors and fits: the mlip section without the baseline (as fit_settings)."""
    return json.dumps({k: v for k, v in cfg("al", wildcards.pt)["mlip"].items() if k != "baseline"}, sort_keys=True)


def primary_dataset(from_stage):
    """Input-function: the DFT dataset the primary potential was fitted on (D_K of the loop, or the DFT stage's)."""

    def get(wildcards):
        tag = tag_of("al", from_stage)(wildcards)
        k = al_iterations(tag)
        if k == 0:
            return stage_path("dft", from_stage, "dataset.h5")(wildcards)
        return f"{RESULTS}/al{tag}/iter{k}/dataset.h5"

    return get


def al_pools(from_stage):
    """Input-function: the loop's candidate pools (iterations 0..K-1) and its fixed test set; none without a loop."""

    def get(wildcards):
        tag = tag_of("al", from_stage)(wildcards)
        k = al_iterations(tag)
        if k == 0:
            return []
        return [f"{RESULTS}/al{tag}/iter{i}/candidates.h5" for i in range(k)] + [f"{RESULTS}/al{tag}/test_structures.h5"]

    return get


def validity_variants(pt):
    """Name -> (role, specimen section) of the conformal validity stage's specimens of the point(s) whose atlas
    directory is `pt` (none without divergence.validity)."""
    c = cfg("atlas", pt)
    return AtlasSettings.from_dict(c["divergence"]).validity.variants(c["specimen"])


def validity_record(from_stage):
    """Input-function: the validity artifact when the point has validity specimens, else nothing."""

    def get(wildcards):
        tag = tag_of("atlas", from_stage)(wildcards)
        return [f"{RESULTS}/divergence/validity{tag}.h5"] if validity_variants(tag) else []

    return get


def al_record(from_stage):
    """Input-function: the loop's learning record when the point runs a loop, else nothing."""

    def get(wildcards):
        tag = tag_of("al", from_stage)(wildcards)
        return [f"{RESULTS}/al{tag}/record.h5"] if al_iterations(tag) else []

    return get


def final_targets():
    out = []
    for p in POINTS:
        t = p.tags
        out += [f"{RESULTS}/summary{t['divergence']}.md", f"{RESULTS}/divergence{t['divergence']}.h5",
                f"{RESULTS}/dft{t['dft']}/dataset.extxyz"]
        out += [f"{RESULTS}/mlip{t['mlip']}/{m}/potential.h5" for m in p.config["mlip"]["models"]]
        if p.config["active_learning"]["iterations"]:
            out += [f"{RESULTS}/al{t['al']}/record.h5", f"{RESULTS}/al{t['al']}/learning_curve.png"]
        # every calculation is a product of the study: a deleted one is recomputed, with all that depends on it
        out += calcs(t["dft"])
    if len(POINTS) > 1:
        out.append(f"{RESULTS}/sweep.md")
        if sum(bool(p.config["active_learning"]["iterations"]) for p in POINTS) > 1:
            out.append(f"{RESULTS}/al_comparison.md")
    if config["transfer"]["target"]:
        out += [f"{RESULTS}/transfer/transfer.md", f"{RESULTS}/transfer/transfer.h5"]
    out.append(f"{RESULTS}/benchmarks.md")
    return sorted(set(out))


def transfer_pools(wildcards):
    """The transfer experiment's pools, one per element (sources and target)."""
    t = config["transfer"]
    return {e: f"{RESULTS}/transfer/pool_{e}.h5" for e in t["sources"] + [t["target"]]}


def transfer_target():
    """The transfer experiment's outputs; a clear error when asked for without a target."""
    if not config["transfer"]["target"]:
        raise WorkflowError(
            "the target 'transfer' needs transfer.target (the held-out element) and transfer.sources in the study "
            "config. Fix: e.g. --configfile config/studies/transfer-ag.yaml"
        )
    return [f"{RESULTS}/transfer/transfer.md", f"{RESULTS}/transfer/transfer.h5"]


def experiment_arg():
    return f"--experiment {EXPERIMENT}" if os.path.exists(EXPERIMENT) else ""
