# Continuum FEM (dolfinx) of the MD stage's specimen, with the MD stage's stiffness.


rule continuum_solve:
    input:
        md=stage_path("md", "continuum", "properties.h5"),
        specimen=stage_path("md", "continuum", "specimen.h5"),
    output:
        summary=f"{RESULTS}/continuum{{pt}}/summary.h5",
        xdmf=f"{RESULTS}/continuum{{pt}}/fields.xdmf",
        fields=f"{RESULTS}/continuum{{pt}}/fields.h5",
        grid=f"{RESULTS}/continuum{{pt}}/grid.xdmf",
        grid_fields=f"{RESULTS}/continuum{{pt}}/grid.h5",
    params:
        continuum=section("continuum", "continuum"),
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
        "{resources.mpi} -n {resources.tasks} multiscale continuum solve --md {input.md} "
        "--specimen {input.specimen} --continuum {params.continuum:q} --xdmf {output.xdmf} "
        "--grid-xdmf {output.grid} --out {output.summary} > {log} 2>&1"
