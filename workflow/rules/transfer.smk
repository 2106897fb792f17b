# Few-shot transfer across elements (multiscale.transfer): `snakemake --cores 2 transfer --configfile X`.


rule transfer_pool:
    output:
        f"{RESULTS}/transfer/pool_{{element}}.h5",
    wildcard_constraints:
        element=r"[A-Z][a-z]?",
    params:
        # only what a pool depends on: its structures and its DFT settings (the curve's settings rerun the curve)
        transfer=json.dumps({"pool": config["transfer"]["pool"], "dft": config["transfer"]["dft"]}, sort_keys=True),
        dft=json.dumps(config["dft"], sort_keys=True),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/transfer/pool_{{element}}.log",
    benchmark:
        f"{BENCH}/transfer/pool_{{element}}.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} gpaw python -m multiscale transfer pool --element {wildcards.element} "
        "--transfer {params.transfer:q} --dft {params.dft:q} --out {output} > {log} 2>&1"


rule transfer_curve:
    input:
        unpack(transfer_pools),
    output:
        h5=f"{RESULTS}/transfer/transfer.h5",
        md=f"{RESULTS}/transfer/transfer.md",
        png=f"{RESULTS}/transfer/transfer.png",
    params:
        transfer=json.dumps(config["transfer"], sort_keys=True),
        pools=lambda w, input: " ".join(f"--pool {k}={v}" for k, v in input.items()),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/transfer/curve.log",
    benchmark:
        f"{BENCH}/transfer/curve.tsv"
    shell:
        "multiscale transfer curve {params.pools} --transfer {params.transfer:q} --out {output.h5} "
        "--report {output.md} --figure {output.png} > {log} 2>&1"


rule transfer:
    input:
        lambda w: transfer_target(),
