# ML interatomic potential: Bayesian linear SNAP fitted on the DFT dataset, validated on held-out data.


rule mlip_fit:
    input:
        stage_path("dft", "mlip", "dataset.h5"),
    output:
        potential=f"{RESULTS}/mlip{{pt}}/potential.h5",
        snapcoeff=f"{RESULTS}/mlip{{pt}}/snap.snapcoeff",
        snapparam=f"{RESULTS}/mlip{{pt}}/snap.snapparam",
    params:
        mlip=section("mlip", "mlip"),
        directory=lambda wildcards, output: os.path.dirname(output.potential),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/mlip{{pt}}/fit.log",
    benchmark:
        f"{BENCH}/mlip{{pt}}/fit.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale mlip fit --dataset {input} --mlip {params.mlip:q} --potential-dir {params.directory} "
        "--out {output.potential} > {log} 2>&1"
