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
        environments=lambda w: f"{RESULTS}/divergence/environments{tag_of('atlas', 'divergence')(w)}.h5",
        validity=validity_record("divergence"),
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
        validity=lambda w, input: f"--validity {input.validity}" if input.validity else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/divergence{{pt}}.log",
    benchmark:
        f"{BENCH}/divergence{{pt}}.tsv"
    shell:
        "multiscale divergence summary --study {params.study} --dft {input.dft} --potential {input.potential} "
        "--md {input.md} --continuum {input.continuum} --validation {input.validation} {params.experiment} "
        "--dataset {input.dataset} --converged {input.converged} --convergence {input.convergence} --atlas {params.atlas:q} --specimen {input.specimen} --thermal {input.thermal} --speed {input.speed} {params.al} {params.validity} --environments {input.environments} --figures {output.figures} "
        "--out {output.h5} "
        "--summary {output.summary} > {log} 2>&1"


rule divergence_environments:
    input:
        dataset=primary_dataset("atlas"),
        potential=primary_potential("atlas"),
        specimen=stage_path("md", "atlas", "specimen.h5"),
        continuum=stage_path("continuum", "atlas", "summary.h5"),
        candidates=al_pools("atlas"),
    output:
        h5=f"{RESULTS}/divergence/environments{{pt}}.h5",
        figure=report(f"{RESULTS}/divergence/environments{{pt}}.png", category="Divergence atlas"),
    params:
        atlas=lambda w: json.dumps({"environments": cfg("atlas", w.pt)["divergence"]["environments"]}, sort_keys=True),
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


rule validity_specimen:
    input:
        potential=primary_potential("atlas"),
        properties=stage_path("md", "atlas", "properties.h5"),
    output:
        f"{RESULTS}/validity{{pt}}/{{variant}}/specimen.h5",
    params:
        material=section("atlas", "material"),
        md=section("atlas", "md"),
        specimen=lambda w: json.dumps(validity_variants(w.pt)[w.variant][1], sort_keys=True),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/validity{{pt}}/{{variant}}/specimen.log",
    benchmark:
        f"{BENCH}/validity{{pt}}/{{variant}}/specimen.tsv"
    threads: 2
    resources:
        tasks=2,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale md specimen --potential {input.potential} "
        "--properties {input.properties} --material {params.material:q} --md {params.md:q} "
        "--specimen {params.specimen:q} --out {output} > {log} 2>&1"


rule validity_continuum:
    input:
        md=stage_path("md", "atlas", "properties.h5"),
        specimen=f"{RESULTS}/validity{{pt}}/{{variant}}/specimen.h5",
    output:
        summary=f"{RESULTS}/validity{{pt}}/{{variant}}/continuum.h5",
        xdmf=f"{RESULTS}/validity{{pt}}/{{variant}}/fields.xdmf",
        fields=f"{RESULTS}/validity{{pt}}/{{variant}}/fields.h5",
        grid=f"{RESULTS}/validity{{pt}}/{{variant}}/grid.xdmf",
        grid_fields=f"{RESULTS}/validity{{pt}}/{{variant}}/grid.h5",
    params:
        continuum=section("atlas", "continuum"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/validity{{pt}}/{{variant}}/continuum.log",
    benchmark:
        f"{BENCH}/validity{{pt}}/{{variant}}/continuum.tsv"
    resources:
        tasks=1,
        mpi="mpiexec",
    shell:
        "{resources.mpi} -n {resources.tasks} multiscale continuum solve --md {input.md} "
        "--specimen {input.specimen} --continuum {params.continuum:q} --xdmf {output.xdmf} "
        "--grid-xdmf {output.grid} --out {output.summary} > {log} 2>&1"


rule divergence_validity:
    input:
        specimen=stage_path("md", "atlas", "specimen.h5"),
        continuum=stage_path("continuum", "atlas", "summary.h5"),
        variants=lambda w: [f"{RESULTS}/validity{w.pt}/{n}/{f}.h5" for n in validity_variants(w.pt)
                            for f in ("specimen", "continuum")],
    output:
        f"{RESULTS}/divergence/validity{{pt}}.h5",
    params:
        atlas=section("atlas", "divergence"),
        variants=lambda w: " ".join(f"--variant {n}={role},{RESULTS}/validity{w.pt}/{n}/specimen.h5,"
                                    f"{RESULTS}/validity{w.pt}/{n}/continuum.h5"
                                    for n, (role, _) in validity_variants(w.pt).items()),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/divergence_validity{{pt}}.log",
    benchmark:
        f"{BENCH}/divergence_validity{{pt}}.tsv"
    shell:
        "multiscale divergence validity --specimen {input.specimen} --continuum {input.continuum} {params.variants} "
        "--atlas {params.atlas:q} --out {output} > {log} 2>&1"


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
