"""multiscale: DFT -> ML potential -> MD -> continuum, with the divergence between scales measured.

Imports are kept light here so that ``multiscale --help`` is instant; the heavy codes (GPAW, LAMMPS,
dolfinx) are imported inside the stage modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
