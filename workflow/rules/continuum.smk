# Continuum FEM (dolfinx) with the stiffness from the MD stage.


rule continuum_solve:
    input:
        stage_path("md", "continuum", "properties.h5"),
    output:
        summary=f"{RESULTS}/continuum{{pt}}/summary.h5",
        xdmf=f"{RESULTS}/continuum{{pt}}/fields.xdmf",
        fields=f"{RESULTS}/continuum{{pt}}/fields.h5",
    params:
        continuum=section("continuum", "continuum"),
        specimen=section("continuum", "specimen"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/continuum{{pt}}/solve.log",
    benchmark:
        f"{BENCH}/continuum{{pt}}/solve.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale continuum solve --md {input} "
        "--continuum {params.continuum:q} --specimen {params.specimen:q} --xdmf {output.xdmf} "
        "--out {output.summary} > {log} 2>&1"
