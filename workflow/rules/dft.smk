# DFT ground truth: configurations -> GPAW single points (one job each, cached) -> dataset, EOS, reference.
# {pt} is "" or a sweep tag such as "@ecut-400": only sweeps of DFT settings make several DFT directories.


rule dft_structures:
    input:
        unpack(structures_inputs),
    output:
        f"{RESULTS}/dft{{pt}}/structures/{{group}}.h5",
    params:
        material=section("dft", "material"),
        dft=section("dft", "dft"),
        eos=lambda w, input: f"--eos {input.eos}" if "eos" in input.keys() else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/structures/{{group}}.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/structures/{{group}}.tsv"
    shell:
        "multiscale dft structures --group {wildcards.group} --material {params.material:q} "
        "--dft {params.dft:q} {params.eos} --out {output} > {log} 2>&1"


rule dft_single_point:
    input:
        f"{RESULTS}/dft{{pt}}/structures/{{group}}.h5",
    output:
        f"{RESULTS}/dft{{pt}}/calc/{{group}}/{{name}}.h5",
    params:
        dft=section("dft", "dft"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/calc/{{group}}/{{name}}.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/calc/{{group}}/{{name}}.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} gpaw python -m multiscale dft run --structures {input} "
        "--name {wildcards.name} --dft {params.dft:q} --txt {log}.gpaw --out {output} > {log} 2>&1"


rule dft_eos:
    input:
        lambda w: calcs(w.pt, ["eos"]),
    output:
        f"{RESULTS}/dft{{pt}}/eos.h5",
    params:
        material=section("dft", "material"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/eos.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/eos.tsv"
    shell:
        "multiscale dft eos --calcs {input} --material {params.material:q} --out {output} > {log} 2>&1"


rule dft_gather:
    input:
        lambda w: calcs(w.pt),
    output:
        dataset=f"{RESULTS}/dft{{pt}}/dataset.h5",
        extxyz=f"{RESULTS}/dft{{pt}}/dataset.extxyz",
    params:
        dft=section("dft", "dft"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/gather.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/gather.tsv"
    shell:
        "multiscale dft gather --calcs {input} --dft {params.dft:q} --out {output.dataset} "
        "--extxyz {output.extxyz} > {log} 2>&1"


rule dft_reference:
    input:
        dataset=f"{RESULTS}/dft{{pt}}/dataset.h5",
        eos=f"{RESULTS}/dft{{pt}}/eos.h5",
    output:
        f"{RESULTS}/dft{{pt}}/reference.h5",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/reference.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/reference.tsv"
    shell:
        "multiscale dft reference --dataset {input.dataset} --eos {input.eos} --out {output} > {log} 2>&1"
