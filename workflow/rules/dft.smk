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
        calcs=lambda w: calcs(w.pt),
        # dft.converged_labels: the convergence study's primitive cells join the dataset (fidelity 'converged')
        converged=lambda w: converged_labels(w.pt),
        # dft.external: the user's own labelled files join the dataset, each as its declared fidelity and group
        external=lambda w: external_files(w.pt),
    output:
        dataset=f"{RESULTS}/dft{{pt}}/dataset.h5",
        extxyz=f"{RESULTS}/dft{{pt}}/dataset.extxyz",
    params:
        dft=section("dft", "dft"),
        converged=lambda w, input: f"--converged {input.converged}" if input.converged else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/gather.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/gather.tsv"
    shell:
        "multiscale dft gather --calcs {input.calcs} --dft {params.dft:q} {params.converged} "
        "--out {output.dataset} --extxyz {output.extxyz} > {log} 2>&1"


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


# Convergence study (`snakemake convergence`; part of every study): the training settings' errors and the
# elastic constants at converged settings. Two GPAW jobs through the shared cache, then one table.
rule dft_convergence_run:
    input:
        # the cells part builds its cells at the training a0; the elastic part fits its own EOS
        eos=lambda w: [f"{RESULTS}/dft{w.pt}/eos.h5"] if w.part == "cells" else [],
    output:
        f"{RESULTS}/dft{{pt}}/convergence/{{part}}.h5",
    wildcard_constraints:
        part="cells|elastic",
    params:
        material=section("dft", "material"),
        dft=section("dft", "dft"),
        convergence=section("dft", "convergence"),
        eos=lambda w, input: f"--eos {input.eos}" if input.eos else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/convergence/{{part}}.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/convergence/{{part}}.tsv"
    resources:
        tasks=2,
        mpi="mpiexec",
    threads: 2
    shell:
        # threads count the ranks' cores: one BLAS thread per rank (GPAW imports numpy before our code runs)
        "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 {resources.mpi} -n {resources.tasks} gpaw python -m multiscale "
        "dft convergence-run --part {wildcards.part} "
        "--material {params.material:q} --dft {params.dft:q} --convergence {params.convergence:q} "
        "{params.eos} --txt {log}.gpaw --out {output} > {log} 2>&1"


rule dft_convergence:
    input:
        cells=f"{RESULTS}/dft{{pt}}/convergence/cells.h5",
        elastic=f"{RESULTS}/dft{{pt}}/convergence/elastic.h5",
        training=f"{RESULTS}/dft{{pt}}/reference.h5",
    output:
        h5=f"{RESULTS}/dft{{pt}}/convergence.h5",
        table=f"{RESULTS}/dft{{pt}}/convergence.md",
        figure=report(f"{RESULTS}/dft{{pt}}/convergence.png", caption="../report/convergence.rst",
                      category="DFT convergence"),
        properties=f"{RESULTS}/dft{{pt}}/converged.h5",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/dft{{pt}}/convergence.log",
    benchmark:
        f"{BENCH}/dft{{pt}}/convergence.tsv"
    shell:
        "multiscale dft convergence --cells {input.cells} --elastic {input.elastic} --training {input.training} "
        "--out {output.h5} --table {output.table} --figure {output.figure} --properties {output.properties} "
        "> {log} 2>&1"


rule convergence:
    input:
        [f"{RESULTS}/dft{p.tags['dft']}/convergence.md" for p in POINTS],
