# Molecular dynamics / statics in LAMMPS with the fitted potential.


rule md_properties:
    input:
        primary_potential("md"),
    output:
        f"{RESULTS}/md{{pt}}/properties.h5",
    params:
        material=section("md", "material"),
        md=section("md", "md"),
        specimen=section("md", "specimen"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/md{{pt}}/properties.log",
    benchmark:
        f"{BENCH}/md{{pt}}/properties.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale md properties --potential {input} "
        "--material {params.material:q} --md {params.md:q} --specimen {params.specimen:q} --out {output} > {log} 2>&1"
