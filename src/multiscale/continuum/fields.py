"""The continuum and MD fields as files that standard viewers read as written (ParaView, meshio).

Both files are XDMF (light XML) with their arrays in an HDF5 file of the same stem beside them, written with
meshio's XDMF writer: one uniform grid carrying every field, vectors with three components (``Vector``: plane
strain has u_z = 0) and each symmetric stress as the XDMF symmetric tensor ``Tensor6`` in the order of the XDMF
library's own reader (VTK's vtkXdmfReader expands Tensor6 as xx, xy, xz, yy, yz, zz), converted from the
package's Voigt order (xx, yy, zz, yz, xz, xy; :data:`TENSOR6_FROM_VOIGT`). ParaView's newer Xdmf3 reader keeps
the six components as they are and names none of them, so every tensor also goes out as six named scalars
(``stress_xx_GPa`` ... ``stress_xy_GPa``), which no reader can misorder.

- :func:`write_mesh_fields`: FEM functions at the nodes of the (quadratic-geometry) mesh, the nodes' values of
  the functions interpolated into Lagrange elements of the geometry's degree (``fields.xdmf``);
- :func:`write_grid_fields`: cell values on the shared coarse-graining grid, MD and FEM side by side
  (``grid.xdmf``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.errors import CalculationError

# Voigt (xx, yy, zz, yz, xz, xy) -> XDMF Tensor6 (xx, xy, xz, yy, yz, zz)
TENSOR6_FROM_VOIGT = [0, 5, 4, 1, 3, 2]
VOIGT_COMPONENTS = ("xx", "yy", "zz", "yz", "xz", "xy")

# (dolfinx cell name, nodes per cell) -> meshio cell type of the same (VTK) node order
_MESHIO_CELLS = {("quadrilateral", 4): "quad", ("quadrilateral", 9): "quad9", ("triangle", 3): "triangle",
                 ("triangle", 6): "triangle6"}


def voigt_to_tensor6(values: np.ndarray) -> np.ndarray:
    """Symmetric tensors (n, 6) from Voigt order (xx, yy, zz, yz, xz, xy) to XDMF Tensor6 order (xx, xy, xz,
    yy, yz, zz)."""
    return np.asarray(values)[:, TENSOR6_FROM_VOIGT]


def tensor_fields(name: str, voigt: np.ndarray) -> dict[str, np.ndarray]:
    """``name`` (e.g. ``stress_GPa``) as Tensor6 (n, 6; xx xy xz yy yz zz) from Voigt values (n, 6), and its
    six components as scalars (n,) named with the component before the unit: ``stress_xx_GPa``, ..."""
    values = np.asarray(voigt, float)
    stem, _, unit = name.rpartition("_") if name.count("_") else (name, "", "")
    out = {name: voigt_to_tensor6(values)}
    for k, comp in enumerate(VOIGT_COMPONENTS):
        out[f"{stem}_{comp}_{unit}" if stem else f"{name}_{comp}"] = values[:, k]
    return out


def _as_vector3(values: np.ndarray) -> np.ndarray:
    """(n, 2) in-plane vectors padded with a zero z component; (n, 3) unchanged."""
    v = np.asarray(values, float)
    return np.column_stack([v, np.zeros(len(v))]) if v.shape[1] == 2 else v


def _write_xdmf(path: str | Path, points: np.ndarray, cells: list[tuple[str, np.ndarray]],
                point_data: Mapping[str, np.ndarray] | None = None,
                cell_data: Mapping[str, np.ndarray] | None = None) -> None:
    """``path`` (.xdmf) and its HDF5 file (same stem, .h5) with meshio, both replaced atomically: written into a
    scratch folder beside them, then moved (the .h5 first, as the .xdmf names it)."""
    import meshio

    path = Path(path)
    mesh = meshio.Mesh(points, cells, point_data=dict(point_data or {}),
                       cell_data={k: [v] for k, v in (cell_data or {}).items()})
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        meshio.write(scratch / path.name, mesh, file_format="xdmf")
        umask = os.umask(0)
        os.umask(umask)
        for name in (path.with_suffix(".h5").name, path.name):
            os.chmod(scratch / name, 0o666 & ~umask)
            os.replace(scratch / name, path.parent / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def nodal_values(msh, functions: Mapping[str, Any], comm) -> tuple[np.ndarray, np.ndarray, str, dict]:
    """The mesh's nodes and cells and each function's values at the nodes, gathered on rank 0.

    ``functions`` maps names to dolfinx functions (any element) on ``msh``; each is interpolated into Lagrange
    elements of the geometry's degree, whose nodes are the geometry's nodes. Returns points (n, 3) in the mesh's
    units, cells (n_cells, nodes per cell) in VTK node order, the meshio cell type and {name: (n, value size)};
    on other ranks empty arrays. A node shared by two ranks appears once per rank (same position and values).
    Raises :class:`CalculationError` for a cell type without a meshio equivalent here."""
    from dolfinx import fem, plot

    degree = msh.geometry.cmaps[0].degree
    scalar = fem.functionspace(msh, ("Lagrange", degree))
    topology, _, x = plot.vtk_mesh(scalar)
    n_nodes = int(topology[0])
    cells = topology.reshape(-1, n_nodes + 1)[:, 1:]
    kind = _MESHIO_CELLS.get((msh.topology.cell_name(), n_nodes))
    if kind is None:
        raise CalculationError(f"no XDMF output for {msh.topology.cell_name()} cells with {n_nodes} nodes. Fix: "
                               f"a 2D mesh of triangles or quadrilaterals of degree 1 or 2")
    values = {}
    for name, f in functions.items():
        shape = f.function_space.value_shape
        size = int(np.prod(shape)) if len(shape) else 1
        space = fem.functionspace(msh, ("Lagrange", degree, (size,)) if len(shape) else ("Lagrange", degree))
        if not np.array_equal(space.dofmap.list, scalar.dofmap.list):
            raise CalculationError(f"the nodes of '{name}' are numbered unlike the mesh's: cannot write it")
        g = fem.Function(space)
        g.interpolate(f)
        g.x.scatter_forward()
        values[name] = g.x.array.reshape(-1, size)[: len(x)]
    parts = comm.gather((x, cells, values), root=0)
    if comm.rank != 0:
        return np.zeros((0, 3)), np.zeros((0, n_nodes), int), kind, {}
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    points = np.concatenate([p[0] for p in parts])
    all_cells = np.concatenate([p[1] + o for p, o in zip(parts, offsets, strict=True)])
    gathered = {name: np.concatenate([p[2][name] for p in parts]) for name in functions}
    return points, all_cells, kind, gathered


def write_mesh_fields(path: str | Path, msh, displacement, stress, comm) -> None:
    """The FEM displacement (``displacement_nm``: Vector, 3 components) and stress (``stress_GPa``: Tensor6,
    xx xy xz yy yz zz, and its components ``stress_xx_GPa`` ...) at the nodes of ``msh`` (nm) as ``path``
    (.xdmf) and its .h5, one grid; written by rank 0.

    ``stress`` holds the Voigt components (6,) of the package's order; a discontinuous stress takes one adjacent
    cell's value at a node shared by cells (its value inside a cell is exact). Raises :class:`CalculationError`
    as :func:`nodal_values`."""
    points, cells, kind, values = nodal_values(msh, {"u": displacement, "s": stress}, comm)
    if comm.rank == 0:
        _write_xdmf(path, points, [(kind, cells)], point_data={
            "displacement_nm": _as_vector3(values["u"]), **tensor_fields("stress_GPa", values["s"])})


def grid_cells(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corner points (n_points, 3) and quadrilaterals (n_cells, 4) of the square shared grid whose cell centres
    (n_cells, 2; nm; x varying fastest, as :meth:`multiscale.specimen.Specimen.grid_centres`) are ``centres``;
    cell k of the result is the cell of ``centres[k]``. Raises ValueError when the centres are not such a grid."""
    centres = np.asarray(centres, float)
    n = int(round(np.sqrt(len(centres))))
    xs = np.unique(np.round(centres[:, 0], 9))
    if n * n != len(centres) or len(xs) != n:
        raise ValueError(f"{len(centres)} grid centres do not form a square grid")
    h = float(np.mean(np.diff(xs))) if n > 1 else 1.0
    edges = np.concatenate([xs - h / 2, [xs[-1] + h / 2]])
    xx, yy = np.meshgrid(edges, edges, indexing="xy")
    points = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
    j, i = np.divmod(np.arange(n * n), n)
    corner = j * (n + 1) + i
    cells = np.column_stack([corner, corner + 1, corner + n + 2, corner + n + 1])
    return points, cells


def write_grid_fields(path: str | Path, centres: np.ndarray, vectors: Mapping[str, np.ndarray],
                      tensors: Mapping[str, np.ndarray]) -> None:
    """Cell fields on the shared grid (``centres``, see :func:`grid_cells`) as ``path`` (.xdmf) and its .h5:
    ``vectors`` (n_cells, 2 or 3; Vector) and ``tensors`` (n_cells, 6; Voigt, written by :func:`tensor_fields`),
    by name. Cells without a value (inside the hole) hold NaN. Raises ValueError when ``centres`` is not a
    square grid."""
    points, cells = grid_cells(centres)
    data = {name: _as_vector3(v) for name, v in vectors.items()}
    for name, t in tensors.items():
        data.update(tensor_fields(name, t))
    _write_xdmf(path, points, [("quad", cells)], cell_data=data)
