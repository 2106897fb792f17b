"""Atomic file writes: a killed job never leaves a half-written output behind.

Every text or binary output that is not an HDF5 artifact (Markdown reports, JSON benchmarks, LAMMPS potential
files, PNG figures) is written to a temporary file beside its target and renamed over it, which POSIX makes
atomic on one file system. HDF5 artifacts do the same in :func:`multiscale.artifacts.write_artifact`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    ``suffix`` keeps the extension a writer may infer the format from (e.g. ``.png`` for matplotlib)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; an output is as readable as any file written plainly
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (parent folders created); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
