# Config validation, names and input functions: the only logic in the workflow's .smk files.
import json
import os

from multiscale.config import SCHEMA_PATH, validate_config
from multiscale.dft.structures import ConfigurationSettings, NEEDS_A0, configuration_names
from multiscale.errors import ConfigError

# One BLAS thread per process: parallelism comes from jobs and MPI ranks (see multiscale.cli).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Validate before any job runs; fills every default so rules see the complete config.
try:
    _validated = validate_config(config, sources=[str(f) for f in workflow.configfiles] or ["<command line>"])
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
CONFIGURATIONS = configuration_names(ConfigurationSettings.from_dict(config["dft"]["configurations"]))
EXPERIMENT = f"data/experiment/{config['material']['element']}.yaml"
# Per-rule software definition (for --sdm conda); the reference environment is the venv of envs/setup.sh.
CONDA_ENV = "../../envs/multiscale.yaml"


wildcard_constraints:
    group="|".join(CONFIGURATIONS),
    name=r"[A-Za-z0-9_]+",


def section(*keys):
    """A config section as JSON for a rule's params (a rule reruns exactly when its own section changes)."""
    return json.dumps({k: config[k] for k in keys} if len(keys) > 1 else config[keys[0]], sort_keys=True)


def structures_inputs(wildcards):
    """Groups built on the DFT lattice constant wait for the EOS fit."""
    return {"eos": f"{RESULTS}/dft/eos.h5"} if wildcards.group in NEEDS_A0 else {}


def calcs(groups=None):
    return [
        f"{RESULTS}/dft/calc/{g}/{n}.h5"
        for g, names in CONFIGURATIONS.items()
        if groups is None or g in groups
        for n in names
    ]


def experiment_arg():
    return f"--experiment {EXPERIMENT}" if os.path.exists(EXPERIMENT) else ""
