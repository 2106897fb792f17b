# The divergence record: where each coarser model departs from the finer one.


rule divergence_summary:
    input:
        dft=stage_path("dft", "divergence", "reference.h5"),
        converged=stage_path("dft", "divergence", "converged.h5"),
        convergence=stage_path("dft", "divergence", "convergence.h5"),
        dataset=stage_path("dft", "divergence", "dataset.h5"),
        potential=primary_potential("divergence"),
        validation=compared("mlip", "validation.h5"),
        md=stage_path("md", "divergence", "properties.h5"),
        continuum=stage_path("continuum", "divergence", "summary.h5"),
        specimen=stage_path("md", "divergence", "specimen.h5"),
        thermal=stage_path("md", "divergence", "thermal.h5"),
        speed=compared("md", "speed.json", under=BENCH),
        al=al_record("divergence"),
        environments=lambda w: f"{RESULTS}/divergence/environments{tag_of('environments', 'divergence')(w)}.h5",
    output:
        h5=f"{RESULTS}/divergence{{pt}}.h5",
        summary=f"{RESULTS}/summary{{pt}}.md",
        figures=report(
            directory(f"{RESULTS}/figures{{pt}}"),
            patterns=["{fig}.png"],
            caption="../report/atlas.rst",
            category="Divergence atlas",
        ),
    params:
        study=lambda w: STUDY + w.pt,
        experiment=experiment_arg(),
        atlas=section("divergence", "divergence"),
        al=lambda w, input: f"--al-record {input.al}" if input.al else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/divergence{{pt}}.log",
    benchmark:
        f"{BENCH}/divergence{{pt}}.tsv"
    shell:
        "multiscale divergence summary --study {params.study} --dft {input.dft} --potential {input.potential} "
        "--md {input.md} --continuum {input.continuum} --validation {input.validation} {params.experiment} "
        "--dataset {input.dataset} --converged {input.converged} --convergence {input.convergence} --atlas {params.atlas:q} --specimen {input.specimen} --thermal {input.thermal} --speed {input.speed} {params.al} --environments {input.environments} --figures {output.figures} "
        "--out {output.h5} "
        "--summary {output.summary} > {log} 2>&1"


rule divergence_environments:
    input:
        dataset=primary_dataset("environments"),
        potential=primary_potential("environments"),
        specimen=stage_path("md", "environments", "specimen.h5"),
        continuum=stage_path("continuum", "environments", "summary.h5"),
        candidates=al_pools("environments"),
    output:
        h5=f"{RESULTS}/divergence/environments{{pt}}.h5",
        figure=report(f"{RESULTS}/divergence/environments{{pt}}.png", category="Divergence atlas"),
    params:
        atlas=section("environments", "divergence"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/divergence_environments{{pt}}.log",
    benchmark:
        f"{BENCH}/divergence_environments{{pt}}.tsv"
    shell:
        "multiscale divergence environments --dataset {input.dataset} --potential {input.potential} "
        "--specimen {input.specimen} --continuum {input.continuum} --candidates {input.candidates} "
        "--atlas {params.atlas:q} --out {output.h5} --figure {output.figure} > {log} 2>&1"


rule sweep_summary:
    input:
        [f"{RESULTS}/divergence{p.tags['divergence']}.h5" for p in POINTS],
    output:
        f"{RESULTS}/sweep.md",
    params:
        study=STUDY,
        points=" ".join(f"--point {p.label}={RESULTS}/divergence{p.tags['divergence']}.h5" for p in POINTS),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/sweep_summary.log",
    benchmark:
        f"{BENCH}/sweep_summary.tsv"
    shell:
        "multiscale divergence sweep --study {params.study} {params.points} --out {output} > {log} 2>&1"
