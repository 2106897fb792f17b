"""Matplotlib set-up and atomic figure saving, shared by every stage that draws (validation, convergence, atlas)."""

from __future__ import annotations

from pathlib import Path

from multiscale.fileio import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed, also on cluster nodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it atomically to ``path`` (format from the suffix) and close it."""
    plt = pyplot()
    path = Path(path)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return path
