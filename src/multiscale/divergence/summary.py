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
                   {"clusters": env.clusters, "criterion": criterion, "settings": json.dumps(settings.get(
                       "environments", {}), sort_keys=True)},
                   inputs=[paths.dataset, paths.potential, paths.specimen, paths.continuum, *paths.candidates],
                   config={"divergence": settings})
    environments_map(env, Path(figure))


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
