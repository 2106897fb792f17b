# ML interatomic potential: SNAP descriptors (once per model), Bayesian fits, validation against held-out DFT.


wildcard_constraints:
    model="linear|quadratic",


rule mlip_descriptors:
    input:
        stage_path("dft", "mlip", "dataset.h5"),
    output:
        f"{RESULTS}/mlip{{pt}}/{{model}}/descriptors.h5",
    params:
        mlip=fit_settings,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/mlip{{pt}}/{{model}}/descriptors.log",
    benchmark:
        f"{BENCH}/mlip{{pt}}/{{model}}/descriptors.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale mlip descriptors --dataset {input} "
        "--mlip {params.mlip:q} --model {wildcards.model} --out {output} > {log} 2>&1"


rule mlip_fit:
    input:
        dataset=stage_path("dft", "mlip", "dataset.h5"),
        descriptors=f"{RESULTS}/mlip{{pt}}/{{model}}/descriptors.h5",
    output:
        potential=f"{RESULTS}/mlip{{pt}}/{{model}}/potential.h5",
        snapcoeff=f"{RESULTS}/mlip{{pt}}/{{model}}/snap.snapcoeff",
        snapparam=f"{RESULTS}/mlip{{pt}}/{{model}}/snap.snapparam",
        include=f"{RESULTS}/mlip{{pt}}/{{model}}/snap.mod",
    params:
        mlip=fit_settings,
        directory=lambda wildcards, output: os.path.dirname(output.potential),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/mlip{{pt}}/{{model}}/fit.log",
    benchmark:
        f"{BENCH}/mlip{{pt}}/{{model}}/fit.tsv"
    shell:
        "multiscale mlip fit --dataset {input.dataset} --descriptors {input.descriptors} --mlip {params.mlip:q} "
        "--potential-dir {params.directory} --out {output.potential} > {log} 2>&1"


rule mlip_validate:
    input:
        dataset=stage_path("dft", "mlip", "dataset.h5"),
        descriptors=lambda w: [f"{RESULTS}/mlip{w.pt}/{m}/descriptors.h5" for m in cfg("mlip", w.pt)["mlip"]["models"]],
        potentials=lambda w: [f"{RESULTS}/mlip{w.pt}/{m}/potential.h5" for m in cfg("mlip", w.pt)["mlip"]["models"]],
    output:
        validation=f"{RESULTS}/mlip{{pt}}/validation{{bt}}.h5",
        parity=f"{RESULTS}/mlip{{pt}}/figures{{bt}}/parity.png",
        histogram=f"{RESULTS}/mlip{{pt}}/figures{{bt}}/force_error_histogram.png",
        calibration=f"{RESULTS}/mlip{{pt}}/figures{{bt}}/calibration.png",
    params:
        mlip=lambda w: json.dumps(baseline_point("mlip")(w)["mlip"], sort_keys=True),
        figures=lambda wildcards, output: os.path.dirname(output.parity),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/mlip{{pt}}/validate{{bt}}.log",
    benchmark:
        f"{BENCH}/mlip{{pt}}/validate{{bt}}.tsv"
    shell:
        "multiscale mlip validate --dataset {input.dataset} --descriptors {input.descriptors} "
        "--potentials {input.potentials} "
        "--mlip {params.mlip:q} --figures {params.figures} --out {output.validation} > {log} 2>&1"
