# The divergence record: where each coarser model departs from the finer one.


rule divergence_summary:
    input:
        dft=f"{RESULTS}/dft/reference.h5",
        potential=f"{RESULTS}/mlip/potential.h5",
        md=f"{RESULTS}/md/properties.h5",
        continuum=f"{RESULTS}/continuum/summary.h5",
    output:
        h5=f"{RESULTS}/divergence.h5",
        summary=f"{RESULTS}/summary.md",
    params:
        study=STUDY,
        experiment=experiment_arg(),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/divergence_summary.log",
    benchmark:
        f"{BENCH}/divergence_summary.tsv"
    shell:
        "multiscale divergence summary --study {params.study} --dft {input.dft} --potential {input.potential} "
        "--md {input.md} --continuum {input.continuum} {params.experiment} --out {output.h5} "
        "--summary {output.summary} > {log} 2>&1"
