# Study-level reports: cost of every stage and the workflow's own overhead.


rule benchmarks_report:
    input:
        [f"{RESULTS}/summary{p.tags['divergence']}.md" for p in POINTS],
    output:
        f"{RESULTS}/benchmarks.md",
    params:
        study_dir=lambda wildcards, output: os.path.dirname(output[0]),
        config=json.dumps(config, sort_keys=True),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/benchmarks_report.log",
    shell:
        "multiscale report benchmarks --study-dir {params.study_dir} --config {params.config:q} "
        "--out {output} > {log} 2>&1"
