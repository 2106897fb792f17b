# Molecular dynamics / statics in LAMMPS with the fitted potential.


rule md_properties:
    input:
        f"{RESULTS}/mlip/potential.h5",
    output:
        f"{RESULTS}/md/properties.h5",
    params:
        material=section("material"),
        md=section("md"),
        specimen=section("specimen"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/md_properties.log",
    benchmark:
        f"{BENCH}/md_properties.tsv"
    shell:
        "multiscale md properties --potential {input} --material {params.material:q} --md {params.md:q} "
        "--specimen {params.specimen:q} --out {output} > {log} 2>&1"
