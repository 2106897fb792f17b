"""The mesoscale specimen shared by the MD and continuum stages, and the coarse-graining both use.

A square plate (edge ``size``) in the x-y plane with a cylindrical hole of radius ``hole_radius`` through it,
centred at the origin. The hole axis z is periodic (plane strain). A frame of width ``frame`` along the outer
edges carries the load: its atoms are displaced by the homogeneous uniaxial strain u = (eps x, 0, 0) and held.
The interior region (|x|, |y| <= size/2 - frame) minus the hole is what the continuum model solves and what
the shared grid covers.

The MD stage writes :meth:`Specimen.description` into its artifact; the continuum stage rebuilds the same
specimen from it (not from the config), so both scales see one geometry. Lengths in nm here; the atomistic code
converts to Angstrom.

Coarse-graining: a field known at atom sites (per-atom stress, displacement) is averaged onto each grid cell
centre with a normalised Gaussian kernel of width ``kernel`` in the plate plane (atoms at every z count: the
fields are plane-strain fields). The continuum stage evaluates its fields at the same atom sites and applies the
same operator, so the two scales are compared through one filter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from multiscale.config import settings_from_dict
from multiscale.errors import ConfigError
from multiscale.records import (
    SpecimenCrystal,
    SpecimenDescription,
    SpecimenGeometry,
    SpecimenGrid,
    SpecimenLoading,
)


@dataclass
class Specimen:
    size: float = 10.0                    # nm, plate edge (x and y), frame included
    hole_radius: float = 0.8              # nm
    frame: float = 0.6                    # nm, width of the displacement-controlled boundary frame
    thickness: int = 2                    # periods of the lattice along the hole axis (periodic)
    orientation: list[list[int]] = field(default_factory=lambda: [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    strain: float = 0.005                 # applied uniaxial strain along x
    grid: float = 0.5                     # nm, cell edge of the shared grid
    kernel: float = 0.4                   # nm, Gaussian width of the coarse-graining
    plasticity_strains: list[float] = field(default_factory=list)  # strain sweep for the onset of plasticity
    max_iterations: int = 5000            # minimiser iterations per relaxation; beyond: kept, marked unconverged
    # hole atoms with fewer neighbours are removed (repeatedly) when cut; None: the lattice's rule
    # (multiscale.material.LATTICE_TABLE: fcc 7, bcc 4)
    min_coordination: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> Specimen:
        """The checked specimen of a config section; ``source`` (a file or artifact, or "") heads error messages.

        Raises :class:`ConfigError` on an unknown key or an inconsistent geometry (:meth:`check`)."""
        s = settings_from_dict(cls, d, f"{source}: specimen" if source else "specimen")
        s.check(source)
        return s

    def check(self, source: str = "config") -> None:
        """The hole lies inside the interior with one grid cell to spare, and the orientation rows are mutually
        orthogonal and right-handed. Raises :class:`ConfigError` naming ``source`` (if any), the key and the fix."""
        at = f"{source}: " if source else ""
        half = self.size / 2 - self.frame
        if self.hole_radius <= 0 or self.hole_radius >= half - self.grid:
            raise ConfigError(f"{at}specimen.hole_radius = {self.hole_radius} nm must lie between 0 and the "
                              f"interior half-width minus one grid cell, specimen.size/2 - specimen.frame - "
                              f"specimen.grid = {half - self.grid:.3g} nm. Fix: make specimen.size larger or "
                              f"specimen.hole_radius smaller")
        r = np.asarray(self.orientation, float)
        if r.shape != (3, 3) or abs(np.linalg.det(r)) < 1e-9 or not np.allclose(r @ r.T, np.diag(np.diag(r @ r.T))):
            raise ConfigError(f"{at}specimen.orientation = {self.orientation} must be three mutually "
                              f"orthogonal crystal directions (x, y, z = hole axis). Fix: use rows such as "
                              f"[[1,0,0],[0,1,0],[0,0,1]] or [[1,1,0],[0,0,1],[1,-1,0]]")
        if np.linalg.det(r) < 0:
            raise ConfigError(f"{at}specimen.orientation = {self.orientation} is left-handed. Fix: flip the "
                              f"sign of one direction")

    def check_frame(self, cutoff: float, source: str = "config") -> None:
        """The frame is at least the potential's ``cutoff`` (nm) wide, so that it holds every neighbour of the
        interior atoms next to it. Raises :class:`ConfigError` naming ``source`` (if any), the key and the fix."""
        at = f"{source}: " if source else ""
        if self.frame < cutoff - 1e-9:  # nm; equal is enough
            raise ConfigError(f"{at}specimen.frame = {self.frame} nm is narrower than the potential's cutoff, "
                              f"{cutoff:.4g} nm (mlip.rcutfac * 2 * mlip.element_radius): interior atoms next to "
                              f"the frame would miss neighbours. Fix: set specimen.frame to at least {cutoff:.4g} or "
                              f"lower mlip.rcutfac")

    # ------------------------------------------------------------------------------------------ geometry
    @property
    def half_interior(self) -> float:
        return self.size / 2 - self.frame

    def rotation(self) -> np.ndarray:
        """R with v_specimen = R v_crystal (rows: the specimen axes in crystal coordinates, normalised)."""
        r = np.asarray(self.orientation, float)
        return r / np.linalg.norm(r, axis=1)[:, None]

    def applied_displacement(self, xy: np.ndarray, strain: float | None = None) -> np.ndarray:
        """u = (eps x, 0) (nm) at in-plane points ``xy`` (nm)."""
        eps = self.strain if strain is None else strain
        u = np.zeros_like(np.asarray(xy, float))
        u[:, 0] = eps * xy[:, 0]
        return u

    def grid_centres(self) -> tuple[np.ndarray, int]:
        """Cell centres (n_cells, 2) in nm of the shared grid over the interior square, and cells per edge."""
        n = max(2, int(round(2 * self.half_interior / self.grid)))
        edges = np.linspace(-self.half_interior, self.half_interior, n + 1)
        c = 0.5 * (edges[1:] + edges[:-1])
        xx, yy = np.meshgrid(c, c, indexing="xy")
        return np.column_stack([xx.ravel(), yy.ravel()]), n

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """Index of the grid cell holding each in-plane point; -1 outside the interior square."""
        _, n = self.grid_centres()
        h = 2 * self.half_interior / n
        ij = np.floor((np.asarray(xy) + self.half_interior) / h).astype(int)
        inside = np.all((ij >= 0) & (ij < n), axis=1)
        return np.where(inside, ij[:, 1] * n + ij[:, 0], -1)

    def description(self, lattice_constant: float, element: str, lattice: str,
                    atoms_removed_at_hole: int = 0, min_coordination: int | None = None) -> SpecimenDescription:
        """Machine-readable description: everything the continuum stage needs to rebuild the specimen.

        ``min_coordination``: the hole clean-up threshold the plate was cut with (default ``self.min_coordination``;
        the MD stage passes the lattice's rule when that is None)."""
        min_coordination = self.min_coordination if min_coordination is None else min_coordination
        return SpecimenDescription(
            geometry=SpecimenGeometry(
                shape="square plate with a cylindrical through-hole", size_nm=self.size,
                hole_radius_nm=self.hole_radius, hole_centre_nm=[0.0, 0.0],
                interior_half_width_nm=self.half_interior, thickness_periods=self.thickness,
                atoms_removed_at_hole=atoms_removed_at_hole),
            crystal=SpecimenCrystal(element=element, lattice=lattice, lattice_constant_A=lattice_constant,
                                    orientation={"x": self.orientation[0], "y": self.orientation[1],
                                                 "z": self.orientation[2]}),
            boundary_conditions=SpecimenLoading(
                hole_axis_z="periodic (plane strain, eps_zz = 0)",
                frame=f"atoms with |x| or |y| > {self.half_interior} nm displaced by u and held",
                hole=f"traction free; atoms with fewer than {min_coordination} neighbours removed at the cut",
                applied_displacement="u = (eps * x, 0, 0)", strain=self.strain),
            grid=SpecimenGrid(cell_nm=self.grid, kernel_nm=self.kernel, cells_per_edge=self.grid_centres()[1]),
            settings=asdict(self))

    @classmethod
    def from_description(cls, description: SpecimenDescription, source: str) -> Specimen:
        """The specimen a description was made from. Raises :class:`ConfigError` naming ``source``."""
        try:
            return cls.from_dict(description.settings, source)
        except TypeError as exc:
            raise ConfigError(f"{source}: not a specimen description ({exc}); rerun the md specimen stage") from None


# ------------------------------------------------------------------------------------------ coarse-graining
@dataclass
class Kernel:
    """Normalised Gaussian weights from atom sites to grid cell centres, truncated at 3 widths."""

    weights: np.ndarray    # (n_cells, n_atoms) dense is fine at specimen sizes (thousands x thousands)
    total: np.ndarray      # (n_cells,) sum of raw weights: ~ local atom density seen by the kernel

    @classmethod
    def build(cls, centres: np.ndarray, sites: np.ndarray, width: float, hole_radius: float = 0.0) -> Kernel:
        """Cells whose centre lies inside the hole get no value (NaN), whatever atoms their kernel reaches."""
        d2 = ((centres[:, None, :] - sites[None, :, :2]) ** 2).sum(-1)
        w = np.exp(-0.5 * d2 / width**2)
        w[d2 > (3 * width) ** 2] = 0.0
        w[np.hypot(centres[:, 0], centres[:, 1]) < hole_radius] = 0.0
        total = w.sum(axis=1)
        norm = np.where(total > 0, total, 1.0)
        return cls(w / norm[:, None], total)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Kernel average of per-atom ``values`` (n_atoms, ...) at every cell centre; NaN where no atom."""
        out = np.tensordot(self.weights, values, axes=(1, 0))
        out[self.total == 0] = np.nan
        return out


def cell_statistics(cells: np.ndarray, n_cells: int, values: np.ndarray, how: str) -> np.ndarray:
    """Per grid cell ``how`` in {count, mean, max} of per-atom ``values`` binned by ``cells`` (-1 ignored)."""
    out = np.full(n_cells, np.nan)
    ok = cells >= 0
    idx, vals = cells[ok], np.asarray(values, float)[ok]
    count = np.bincount(idx, minlength=n_cells).astype(float)
    if how == "count":
        return count
    if how == "mean":
        s = np.bincount(idx, weights=vals, minlength=n_cells)
        return np.where(count > 0, s / np.where(count > 0, count, 1), np.nan)
    if how == "max":
        np.fmax.at(out, idx, vals)
        return out
    raise ConfigError(f"cell_statistics: how = '{how}'; use count, mean or max")
