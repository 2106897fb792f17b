# multiscale: DFT -> ML potential -> MD -> continuum, with the divergence between scales measured.
# Wiring only: the logic lives in workflow/rules/common.smk and the physics in src/multiscale/.
#   snakemake --cores 2                                      the default study (config/config.yaml)
#   snakemake --cores 2 --configfile config/studies/X.yaml   another study (overrides the default keys)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/dft.smk"
include: "workflow/rules/mlip.smk"
include: "workflow/rules/active.smk"
include: "workflow/rules/md.smk"
include: "workflow/rules/continuum.smk"
include: "workflow/rules/divergence.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/transfer.smk"


rule all:
    input:
        final_targets(),
    default_target: True
