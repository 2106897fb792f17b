# ML interatomic potential: Bayesian linear SNAP fitted on the DFT dataset, validated on held-out data.


rule mlip_fit:
    input:
        f"{RESULTS}/dft/dataset.h5",
    output:
        potential=f"{RESULTS}/mlip/potential.h5",
        snapcoeff=f"{RESULTS}/mlip/snap.snapcoeff",
        snapparam=f"{RESULTS}/mlip/snap.snapparam",
    params:
        mlip=section("mlip"),
        directory=lambda wildcards, output: os.path.dirname(output.potential),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/mlip_fit.log",
    benchmark:
        f"{BENCH}/mlip_fit.tsv"
    shell:
        "multiscale mlip fit --dataset {input} --mlip {params.mlip:q} --potential-dir {params.directory} "
        "--out {output.potential} > {log} 2>&1"
