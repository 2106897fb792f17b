"""Divergence stage entry points: the divergence artifact, the atlas figures and ``summary.md``, and the sweep table.

Computing (:mod:`.transitions`, :mod:`.atlas`) is kept apart from rendering (:mod:`.report`, :mod:`.figures`):
this module only wires them and writes the outputs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.divergence.atlas import AtlasSettings, compute_atlas
from multiscale.divergence.figures import plot_atlas
from multiscale.divergence.report import render_summary
from multiscale.divergence.transitions import EnvironmentInputs, SummaryInputs, build_records, columns
from multiscale.fileio import write_text_atomic
from multiscale.formatting import fmt

NAN = float("nan")


def write_summary(study: str, inputs: SummaryInputs, settings: dict[str, Any], out_h5: str, out_md: str,
                  figures: str | None = None) -> None:
    """The ``divergence`` artifact (records and atlas), the atlas figures in ``figures`` and ``summary.md``.

    ``settings``: the ``divergence`` config section (tolerances, discrepancy-model settings)."""
    if figures:
        Path(figures).mkdir(parents=True, exist_ok=True)
    records = build_records(inputs)
    atlas = (compute_atlas(inputs.dataset, inputs.potential, inputs.validation, inputs.specimen, inputs.continuum,
                           settings, inputs.md) if inputs.has_atlas else None)
    write_artifact(out_h5, "divergence", {**columns(records), **(atlas.data if atlas else {})},
                   {"study": study, **(atlas.attrs(settings) if atlas else {})}, inputs=inputs.paths(),
                   config={"study": study, "divergence": settings})
    if atlas is not None and figures:
        plot_atlas(atlas, records, Path(figures))
    write_text_atomic(out_md, render_summary(study, inputs, records, atlas))


def write_environments(paths: EnvironmentInputs, settings: dict[str, Any], out_h5: str, figure: str) -> None:
    """The ``environments`` artifact and its embedding figure (``settings``: the ``divergence`` config section;
    its ``environments`` subsection drives the clustering)."""
    import json

    from multiscale.divergence.environments import compute_environments
    from multiscale.divergence.figures import environments_map

    s = AtlasSettings.from_dict(settings).environments
    env = compute_environments(paths.dataset, paths.potential, paths.specimen, paths.continuum, paths.candidates, s)
    c = env.clustering
    scores = ", ".join(f"{k}: {v:.3f}" for k, v in zip(c.tried, c.silhouette, strict=True))
    criterion = (f"KMeans (scikit-learn, seed {s.seed}) on {s.components} principal components of the bispectrum "
                 f"standardised by the training atoms; k = {c.k} of {s.clusters[0]}-{s.clusters[1]} by the largest "
                 f"mean silhouette (k: silhouette {scores})")
    write_artifact(out_h5, "environments", env.data,
                   {"clusters": env.clusters, "criterion": criterion, "confidence": env.confidence,
                    "mondrian_test_coverage": env.test_coverage, "settings": json.dumps(settings.get(
                       "environments", {}), sort_keys=True)},
                   inputs=[paths.dataset, paths.potential, paths.specimen, paths.continuum, *paths.candidates],
                   config={"divergence": settings})
    environments_map(env, Path(figure))


def write_validity(specimens: dict[str, tuple[str, str, str]], settings: dict[str, Any], out_h5: str) -> None:
    """The ``validity`` artifact: ``specimens`` maps a name to (role, md_specimen path, continuum path); the role
    ``training`` (the study's specimen) fits the point model, ``calibration`` calibrates the conformal intervals,
    ``held-out`` tests them. ``settings``: the ``divergence`` config section."""
    from multiscale.divergence.conformal import FEATURES, cell_table, conformal_validity
    from multiscale.records import ValidityVariant

    s = AtlasSettings.from_dict(settings)
    tables = {name: (role, cell_table(sp, cont)) for name, (role, sp, cont) in specimens.items()}
    training = [t for role, t in tables.values() if role == "training"]
    if len(training) != 1:
        raise ValueError("the validity stage needs exactly one training specimen (the study's)")
    rows = conformal_validity(training[0], [t for role, t in tables.values() if role == "calibration"], tables,
                              s.stress_tolerance, s.validity.confidence, s.seed)
    held = [(r.coverage, r.cells) for r in rows if r.role == "held-out"]
    pooled = sum(c * n for c, n in held) / sum(n for _, n in held) if held else NAN
    overrides = s.validity.variants({})
    variants = [ValidityVariant(name=n, role=role, override={k: v for k, v in overrides.get(n, ("", {}))[1].items()
                                                              if k != "plasticity_strains"})
                for n, (role, _, _) in specimens.items()]
    nan = lambda v: NAN if v is None else v  # noqa: E731
    write_artifact(out_h5, "validity", {
        "specimen": [r.label for r in rows], "role": [r.role for r in rows], "cells": [r.cells for r in rows],
        "coverage": [r.coverage for r in rows], "certified_fraction": [r.certified_fraction for r in rows],
        "certified_correct": [nan(r.certified_correct) for r in rows], "d_star": [nan(r.d_star_nm) for r in rows],
        "empirical_d_star": [nan(r.empirical_d_star_nm) for r in rows],
    }, {"confidence": s.validity.confidence, "tolerance": s.stress_tolerance, "held_out_coverage": pooled,
        "variants": variants,
        "method": (f"normalised split-conformal intervals (crepes ConformalRegressor, k-NN DifficultyEstimator) "
                   f"around gradient-boosted trees fitted on the study's specimen; features (continuum side only): "
                   f"{', '.join(FEATURES)}; calibrated on {sum(r.cells for r in rows if r.role == 'calibration')} "
                   f"cells of {sum(r.role == 'calibration' for r in rows)} calibration specimen(s)")},
        inputs=[p for _, sp, cont in specimens.values() for p in (sp, cont)], config={"divergence": settings})


def write_sweep_table(study: str, points: dict[str, str], out: str) -> None:
    """Compare the sweep points: every coarse-scale value of every divergence record, one row per point."""
    arts = {label: read_artifact(path, "divergence") for label, path in points.items()}
    columns: list[tuple[str, str]] = []
    for art in arts.values():
        for t, q in zip(art["transition"], art["quantity"], strict=True):
            if not str(t).startswith("experiment") and (t, q) not in columns:
                columns.append((str(t), str(q)))
    lines = [f"# Sweep comparison: study `{study}`", "",
             "Each cell: the coarser scale's value (relative difference from the finer scale).", "",
             "| point | " + " | ".join(f"{t}: {q}" for t, q in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for label, art in arts.items():
        rec = {(str(t), str(q)): (c, r) for t, q, c, r in zip(art["transition"], art["quantity"], art["coarse"],
                                                              art["relative"], strict=True)}
        cells = []
        for key in columns:
            c, r = rec.get(key, (NAN, NAN))
            cells.append(f"{fmt(c)} ({fmt(100 * r, 3)} %)" if math.isfinite(r) else fmt(c))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    write_text_atomic(out, "\n".join(lines) + "\n")
