# Molecular dynamics / statics in LAMMPS with the fitted potential.


rule md_properties:
    input:
        primary_potential("md"),
    output:
        f"{RESULTS}/md{{pt}}/properties.h5",
    params:
        material=section("md", "material"),
        md=section("md", "md"),
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
        "--material {params.material:q} --md {params.md:q} --out {output} > {log} 2>&1"


rule md_specimen:
    input:
        potential=primary_potential("md"),
        properties=f"{RESULTS}/md{{pt}}/properties.h5",
    output:
        f"{RESULTS}/md{{pt}}/specimen.h5",
    params:
        material=section("md", "material"),
        md=section("md", "md"),
        specimen=section("md", "specimen"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/md{{pt}}/specimen.log",
    benchmark:
        f"{BENCH}/md{{pt}}/specimen.tsv"
    threads: 2
    resources:
        tasks=2,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale md specimen --potential {input.potential} "
        "--properties {input.properties} --material {params.material:q} --md {params.md:q} "
        "--specimen {params.specimen:q} --out {output} > {log} 2>&1"


rule md_speed:
    input:
        potential=primary_potential("md"),
        properties=f"{RESULTS}/md{{pt}}/properties.h5",
    output:
        f"{BENCH}/md{{pt}}/speed{{bt}}.json",
    params:
        material=section("md", "material"),
        baseline=lambda w: json.dumps(baseline_point("md")(w)["mlip"]["baseline"]),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/md{{pt}}/speed{{bt}}.log",
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale md speed --potential {input.potential} "
        "--properties {input.properties} --material {params.material:q} --baseline {params.baseline:q} "
        "--out {output} > {log} 2>&1"


rule md_thermal:
    input:
        potential=primary_potential("md"),
        properties=f"{RESULTS}/md{{pt}}/properties.h5",
    output:
        f"{RESULTS}/md{{pt}}/thermal.h5",
    params:
        material=section("md", "material"),
        md=section("md", "md"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/md{{pt}}/thermal.log",
    benchmark:
        f"{BENCH}/md{{pt}}/thermal.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale md thermal --potential {input.potential} "
        "--properties {input.properties} --material {params.material:q} --md {params.md:q} --out {output} "
        "> {log} 2>&1"
