"""Is a study's output intact and current? Every artifact against its schema, its own content digest and the
inputs it was computed from.

``multiscale verify results/<study>`` walks the study folder (and the shared DFT cache beside it,
``results/cache``), reads every HDF5 artifact back with :func:`multiscale.artifacts.read_artifact` (kind, schema
version, declared datasets, content digest) and compares the sha256 of each input recorded in its provenance with
the file now on disk. Snakemake knows whether a job must rerun from modification times and parameters; it does
not look inside files, so a value changed by a bad disk or a hand edit, or an input replaced behind its back, is
only found here. Verdicts:

- ``ok``: readable, schema and digest check, every recorded input unchanged;
- ``damaged``: unreadable (truncated, not HDF5), wrong schema, or content changed after writing;
- ``stale``: intact, but a recorded input differs from the file on disk now (rerun its stage);
- ``input missing``: a recorded input no longer exists;
- ``unchecked``: written before content digests existed (readable and well-formed, content not verifiable);
- ``leftover``: a temporary file of a writer that was killed (harmless; the next write of the target removes it);
- ``quarantined``: a damaged DFT cache entry moved aside when it was found (its calculation was recomputed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py

from multiscale.artifacts import DIGEST_ATTR, read_artifact, sha256_file
from multiscale.errors import ArtifactError

BAD = ("damaged", "stale", "input missing")


@dataclass(frozen=True)
class Finding:
    """The verdict on one file: ``status`` (see the module docstring) and what it rests on."""

    path: Path
    status: str
    detail: str = ""


def _kind(path: Path) -> str | None:
    with h5py.File(path, "r") as f:
        kind = f.attrs.get("kind")
        return None if kind is None else (kind.decode() if isinstance(kind, bytes) else str(kind))


def verify_file(path: str | os.PathLike, root: str | os.PathLike = ".") -> Finding:
    """The verdict on one HDF5 artifact. Input paths recorded relative (as the workflow records them) are
    resolved against ``root``, the folder the workflow ran in."""
    path = Path(path)
    try:
        kind = _kind(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file fails inside h5py in many ways
        return Finding(path, "damaged", f"not a readable HDF5 file ({type(exc).__name__}: {exc}); delete it and "
                                        f"rerun its stage")
    if kind is None:
        return Finding(path, "damaged", "an HDF5 file without an artifact kind (not written by multiscale, or its "
                                        "attributes were removed); delete it and rerun its stage")
    try:
        art = read_artifact(path, kind)
    except ArtifactError as exc:
        return Finding(path, "damaged", str(exc).removeprefix(f"{path}: "))
    for name, recorded in sorted(art.provenance.get("inputs", {}).items()):
        source = Path(name) if Path(name).is_absolute() else Path(root) / name
        if not source.exists():
            return Finding(path, "input missing", f"its input {name} no longer exists")
        if sha256_file(source) != recorded:
            return Finding(path, "stale", f"its input {name} changed after it was written; rerun its stage "
                                          f"(snakemake reruns it when the input is newer; a copied-in file may not be)")
    if not art.digest_checked:
        return Finding(path, "unchecked", f"written before content digests ({DIGEST_ATTR}); rerun its stage to "
                                          "make it verifiable")
    return Finding(path, "ok", kind)


def _files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.suffix == ".h5" or ".h5." in path.name and path.name.endswith(".tmp")):
            yield path


def verify_tree(paths: Sequence[str | os.PathLike], root: str | os.PathLike = ".") -> list[Finding]:
    """Findings for every artifact under the folders (or files) in ``paths``. A study folder brings the shared
    DFT cache beside it (``<results>/cache``) when it exists. The heavy-data files of XDMF field files (an
    ``.h5`` next to an ``.xdmf`` of the same stem) belong to the viewer files and are not artifacts.

    Raises :class:`ArtifactError` naming the path when one of ``paths`` does not exist."""
    folders: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise ArtifactError(f"{p}: no such file or folder to verify. Fix: give a study's results folder, "
                                f"e.g. results/<study>")
        folders.append(p)
        cache = p.parent / "cache"
        if p.is_dir() and cache.is_dir() and cache not in folders and p != cache:
            folders.append(cache)
    out = []
    for folder in folders:
        for path in ([folder] if folder.is_file() else _files(folder)):
            folder = folder if folder.is_dir() else folder.parent
            if "quarantine" in path.relative_to(folder).parts:
                out.append(Finding(path, "quarantined", "damaged cache entry moved aside (recomputed when found)"))
            elif path.name.endswith(".tmp"):
                out.append(Finding(path, "leftover", "temporary file of a writer that was killed"))
            elif path.with_suffix(".xdmf").exists():
                continue
            else:
                out.append(verify_file(path, root))
    return out


def report(findings: Sequence[Finding]) -> str:
    """Plain-text report: one line per file that is not ``ok``, then the counts per verdict."""
    lines = [f"{f.status:>13}  {f.path}: {f.detail}" for f in findings if f.status != "ok"]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no artifacts found"
    verdict = "all clean" if not any(f.status in BAD for f in findings) and findings else "NOT clean"
    return "\n".join([*lines, f"{len(findings)} files: {summary} -> {verdict}"])
