# DFT ground truth: configurations -> GPAW single points (one job each, cached) -> dataset, EOS, reference.


rule dft_structures:
    input:
        unpack(structures_inputs),
    output:
        f"{RESULTS}/dft/structures/{{group}}.h5",
    params:
        material=section("material"),
        dft=section("dft"),
        eos=lambda w, input: f"--eos {input.eos}" if "eos" in input.keys() else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft_structures/{{group}}.log",
    benchmark:
        f"{BENCH}/dft_structures/{{group}}.tsv"
    shell:
        "multiscale dft structures --group {wildcards.group} --material {params.material:q} "
        "--dft {params.dft:q} {params.eos} --out {output} > {log} 2>&1"


rule dft_single_point:
    input:
        f"{RESULTS}/dft/structures/{{group}}.h5",
    output:
        f"{RESULTS}/dft/calc/{{group}}/{{name}}.h5",
    params:
        dft=section("dft"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft/{{group}}/{{name}}.log",
    benchmark:
        f"{BENCH}/dft/{{group}}/{{name}}.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} gpaw python -m multiscale dft run --structures {input} "
        "--name {wildcards.name} --dft {params.dft:q} --txt {log}.gpaw --out {output} > {log} 2>&1"


rule dft_eos:
    input:
        calcs(["eos"]),
    output:
        f"{RESULTS}/dft/eos.h5",
    params:
        material=section("material"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft_eos.log",
    benchmark:
        f"{BENCH}/dft_eos.tsv"
    shell:
        "multiscale dft eos --calcs {input} --material {params.material:q} --out {output} > {log} 2>&1"


rule dft_gather:
    input:
        calcs(),
    output:
        dataset=f"{RESULTS}/dft/dataset.h5",
        extxyz=f"{RESULTS}/dft/dataset.extxyz",
    params:
        dft=section("dft"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft_gather.log",
    benchmark:
        f"{BENCH}/dft_gather.tsv"
    shell:
        "multiscale dft gather --calcs {input} --dft {params.dft:q} --out {output.dataset} "
        "--extxyz {output.extxyz} > {log} 2>&1"


rule dft_reference:
    input:
        dataset=f"{RESULTS}/dft/dataset.h5",
        eos=f"{RESULTS}/dft/eos.h5",
    output:
        f"{RESULTS}/dft/reference.h5",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft_reference.log",
    benchmark:
        f"{BENCH}/dft_reference.tsv"
    shell:
        "multiscale dft reference --dataset {input.dataset} --eos {input.eos} --out {output} > {log} 2>&1"
