# Continuum FEM (dolfinx) with the stiffness from the MD stage.


rule continuum_solve:
    input:
        f"{RESULTS}/md/properties.h5",
    output:
        summary=f"{RESULTS}/continuum/summary.h5",
        xdmf=f"{RESULTS}/continuum/fields.xdmf",
        fields=f"{RESULTS}/continuum/fields.h5",
    params:
        continuum=section("continuum"),
        specimen=section("specimen"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/continuum_solve.log",
    benchmark:
        f"{BENCH}/continuum_solve.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale continuum solve --md {input} "
        "--continuum {params.continuum:q} --specimen {params.specimen:q} --xdmf {output.xdmf} "
        "--out {output.summary} > {log} 2>&1"
