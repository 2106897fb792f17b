# Active learning: iterations k = 0..K-1 of explore -> select -> DFT -> refit, as an iteration wildcard
# (results/<study>/al/iter<k>/). P_0 is the MLIP stage's first model; MD and everything below use P_K.


wildcard_constraints:
    k=r"\d+",


rule al_explore:
    input:
        potential=al_potential,
        eos=stage_path("dft", "al", "eos.h5"),
    output:
        f"{RESULTS}/al{{pt}}/iter{{k}}/candidates.h5",
    params:
        material=section("al", "material"),
        specimen=section("al", "specimen"),
        al=section("al", "active_learning"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/iter{{k}}/explore.log",
    benchmark:
        f"{BENCH}/al{{pt}}/iter{{k}}/explore.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale al explore --potential {input.potential} --eos {input.eos} "
        "--material {params.material:q} --specimen {params.specimen:q} --al {params.al:q} "
        "--iteration {wildcards.k} --out {output} > {log} 2>&1"


rule al_testset_structures:
    input:
        f"{RESULTS}/al{{pt}}/iter0/candidates.h5",
    output:
        f"{RESULTS}/al{{pt}}/test_structures.h5",
    params:
        al=section("al", "active_learning"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/test_structures.log",
    shell:
        "multiscale al testset --candidates {input} --al {params.al:q} --out {output} > {log} 2>&1"


rule al_select:
    input:
        candidates=f"{RESULTS}/al{{pt}}/iter{{k}}/candidates.h5",
        potential=al_potential,
        dataset=al_dataset,
        eos=stage_path("dft", "al", "eos.h5"),
    output:
        f"{RESULTS}/al{{pt}}/iter{{k}}/selected.h5",
    params:
        material=section("al", "material"),
        al=section("al", "active_learning"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/iter{{k}}/select.log",
    benchmark:
        f"{BENCH}/al{{pt}}/iter{{k}}/select.tsv"
    shell:
        "multiscale al select --candidates {input.candidates} --potential {input.potential} "
        "--dataset {input.dataset} --material {params.material:q} --eos {input.eos} --al {params.al:q} "
        "--iteration {wildcards.k} --out {output} > {log} 2>&1"


rule al_label:
    input:
        f"{RESULTS}/al{{pt}}/{{what}}.h5",
    output:
        f"{RESULTS}/al{{pt}}/{{what}}_labels.h5",
    wildcard_constraints:
        what=r"iter\d+/selected|test_structures",
    params:
        dft=lambda w: json.dumps(cfg("al", w.pt)["dft"], sort_keys=True),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/{{what}}_labels.log",
    benchmark:
        f"{BENCH}/al{{pt}}/{{what}}_labels.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} gpaw python -m multiscale al label --structures {input} "
        "--dft {params.dft:q} --out {output} > {log} 2>&1"


rule al_extend:
    input:
        dataset=lambda w: al_dataset(w, int(w.k) - 1),
        labels=lambda w: f"{RESULTS}/al{w.pt}/iter{int(w.k) - 1}/selected_labels.h5",
    output:
        f"{RESULTS}/al{{pt}}/iter{{k}}/dataset.h5",
    wildcard_constraints:
        k=r"[1-9]\d*",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/iter{{k}}/dataset.log",
    shell:
        "multiscale al extend --dataset {input.dataset} --labels {input.labels} --out {output} > {log} 2>&1"


rule al_descriptors:
    input:
        f"{RESULTS}/al{{pt}}/iter{{k}}/dataset.h5",
    output:
        f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/descriptors.h5",
    params:
        mlip=al_fit_settings,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/iter{{k}}/{{model}}/descriptors.log",
    benchmark:
        f"{BENCH}/al{{pt}}/iter{{k}}/{{model}}/descriptors.tsv"
    shell:
        "multiscale mlip descriptors --dataset {input} --mlip {params.mlip:q} --model {wildcards.model} "
        "--out {output} > {log} 2>&1"


rule al_fit:
    input:
        dataset=f"{RESULTS}/al{{pt}}/iter{{k}}/dataset.h5",
        descriptors=f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/descriptors.h5",
    output:
        potential=f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/potential.h5",
        snapcoeff=f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/snap.snapcoeff",
        snapparam=f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/snap.snapparam",
        include=f"{RESULTS}/al{{pt}}/iter{{k}}/{{model}}/snap.mod",
    params:
        mlip=al_fit_settings,
        directory=lambda wildcards, output: os.path.dirname(output.potential),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/iter{{k}}/{{model}}/fit.log",
    benchmark:
        f"{BENCH}/al{{pt}}/iter{{k}}/{{model}}/fit.tsv"
    shell:
        "multiscale mlip fit --dataset {input.dataset} --descriptors {input.descriptors} --mlip {params.mlip:q} "
        "--potential-dir {params.directory} --out {output.potential} > {log} 2>&1"


rule al_record:
    input:
        potentials=lambda w: [al_potential(w, k) for k in range(al_iterations(w.pt) + 1)],
        candidates=lambda w: [f"{RESULTS}/al{w.pt}/iter{k}/candidates.h5" for k in range(al_iterations(w.pt) + 1)],
        batches=lambda w: [f"{RESULTS}/al{w.pt}/iter{k}/selected.h5" for k in range(al_iterations(w.pt))],
        labels=lambda w: [f"{RESULTS}/al{w.pt}/iter{k}/selected_labels.h5" for k in range(al_iterations(w.pt))],
        testset=f"{RESULTS}/al{{pt}}/test_structures_labels.h5",
        eos=stage_path("dft", "al", "eos.h5"),
    output:
        record=f"{RESULTS}/al{{pt}}/record.h5",
        figure=f"{RESULTS}/al{{pt}}/learning_curve.png",
    params:
        material=section("al", "material"),
        al=section("al", "active_learning"),
        mlip=lambda w: json.dumps(cfg("al", w.pt)["mlip"], sort_keys=True),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al{{pt}}/record.log",
    benchmark:
        f"{BENCH}/al{{pt}}/record.tsv"
    shell:
        "multiscale al record --potentials {input.potentials} --candidates {input.candidates} "
        "--batches {input.batches} --labels {input.labels} --testset {input.testset} "
        "--material {params.material:q} --eos {input.eos} --al {params.al:q} --mlip {params.mlip:q} "
        "--out {output.record} --figure {output.figure} > {log} 2>&1"


rule al_compare:
    input:
        [f"{RESULTS}/al{p.tags['al']}/record.h5" for p in POINTS if p.config["active_learning"]["iterations"]],
    output:
        table=f"{RESULTS}/al_comparison.md",
        figure=f"{RESULTS}/al_learning_curves.png",
    params:
        records=" ".join(f"--record {p.label}={RESULTS}/al{p.tags['al']}/record.h5" for p in POINTS
                         if p.config["active_learning"]["iterations"]),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/al_compare.log",
    shell:
        "multiscale al compare {params.records} --out {output.table} --figure {output.figure} > {log} 2>&1"
