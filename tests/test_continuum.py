"""dolfinx: the anisotropic operator, exactness for affine fields, and MPI = serial."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous
from multiscale.elastic import cubic_stiffness

C = cubic_stiffness(108.0, 62.0, 32.0)
STRAIN = np.array([0.001, -0.0002, 0.0, 0.0004, 0.0, 0.0006])
# header of the scripts run under mpiexec: each prints one JSON array on rank 0
MPI_HEADER = ("import json, numpy as np\nfrom mpi4py import MPI\nfrom multiscale.elastic import cubic_stiffness\n"
              "def report(x):\n    if MPI.COMM_WORLD.rank == 0: print(json.dumps(np.asarray(x).tolist()))\n")


def _mpi_run(tmp_path, root, body: str, ranks: int) -> np.ndarray:
    """Run ``body`` (after :data:`MPI_HEADER`) on ``ranks`` MPI ranks; the array it reported."""
    script = tmp_path / "run.py"
    script.write_text(MPI_HEADER + body)
    out = subprocess.run([str(root / ".venv/bin/mpiexec"), "-n", str(ranks), sys.executable, str(script)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return np.array(json.loads(out.strip().splitlines()[-1]))


def test_homogeneous_strain_gives_hookes_law_with_anisotropy(tmp_path):
    r = solve_homogeneous(C, STRAIN, ContinuumSettings(cells=3, length=5.0), MPI.COMM_SELF, tmp_path / "f.xdmf")
    np.testing.assert_allclose(r["stress"], C @ STRAIN, rtol=1e-8, atol=1e-10)
    assert (tmp_path / "f.xdmf").exists() and (tmp_path / "f.h5").exists()
    # not isotropic: a pure shear's stress differs from what (C11 - C12)/2 would give
    assert r["stress"][5] == pytest.approx(32.0 * 0.0006) and (108 - 62) / 2 != 32.0


@pytest.mark.mpi
def test_two_ranks_match_serial(tmp_path, root):
    par = _mpi_run(tmp_path, root, (
        "from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous\n"
        f"r = solve_homogeneous(cubic_stiffness(108.0, 62.0, 32.0), np.array({STRAIN.tolist()}), "
        "ContinuumSettings(cells=4, length=5.0), MPI.COMM_WORLD)\nreport(r['stress'])\n"), ranks=2)
    ser = solve_homogeneous(C, STRAIN, ContinuumSettings(cells=4, length=5.0), MPI.COMM_SELF)["stress"]
    np.testing.assert_allclose(par, ser, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------ plate with a hole
from multiscale.continuum.elasticity import rotate_stiffness  # noqa: E402
from multiscale.continuum.plate import MeshSettings, PlateProblem, evaluate, kirsch_check, plate_mesh  # noqa: E402


def test_kirsch_stress_concentration_at_the_default_mesh():
    """Isotropic plate, exact Kirsch displacement on the outer boundary: SCF within 1% of 3."""
    r = kirsch_check(MPI.COMM_SELF, MeshSettings())
    assert r["scf"] == pytest.approx(3.0, rel=0.01)
    assert r["l2_relative"] < 1e-4


@pytest.mark.parametrize("degree, expected", [(1, 2.0), (2, 3.0)])
def test_kirsch_mesh_convergence_order(degree, expected):
    """L2 displacement error under uniform refinement (n_theta, n_r doubled, grading square-rooted so the
    radial spacing halves): order p + 1."""
    errors = []
    for level in range(3):
        n = 8 * 2**level
        s = MeshSettings(n_theta=n, n_r=n, grading=1.3 ** (1 / 2**level), degree=degree)
        errors.append(kirsch_check(MPI.COMM_SELF, s)["l2_relative"])
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"Kirsch L2 convergence, Q{degree}: errors {errors}, observed orders {orders}")
    assert orders[-1] == pytest.approx(expected, abs=0.25)


def _manufactured_error(n: int, c: np.ndarray, degree: int = 1) -> float:
    """-div sigma(u) = f on [-1, 1]^2 (plane strain) with u = u_exact on the boundary; relative L2 error."""
    import dolfinx
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import LinearProblem

    msh = mesh.create_rectangle(MPI.COMM_SELF, [np.array([-1.0, -1.0]), np.array([1.0, 1.0])], [n, n],
                                cell_type=mesh.CellType.quadrilateral)
    prob = PlateProblem(msh, degree, c)
    x = ufl.SpatialCoordinate(msh)
    u_ex = ufl.as_vector([ufl.sin(np.pi * x[0]) * ufl.cos(0.5 * np.pi * x[1]) * 0.01,
                          ufl.sin(0.5 * np.pi * (x[0] + x[1])) * 0.01])
    C = prob.C
    sig = ufl.dot(C, prob.strain(u_ex))
    s_t = ufl.as_tensor([[sig[0], sig[2]], [sig[2], sig[1]]])
    f = -ufl.div(s_t)
    v = ufl.TestFunction(prob.V)
    u_bc = fem.Function(prob.V)
    u_bc.interpolate(fem.Expression(u_ex, prob.V.element.interpolation_points))
    msh.topology.create_connectivity(1, 2)
    dofs = fem.locate_dofs_topological(prob.V, 1, mesh.exterior_facet_indices(msh.topology))
    problem = LinearProblem(prob.a, ufl.inner(f, v) * ufl.dx, bcs=[fem.dirichletbc(u_bc, dofs)],
                            petsc_options_prefix=f"mms{n}_", petsc_options={"ksp_type": "preonly", "pc_type": "lu"})
    uh = problem.solve()
    err = fem.assemble_scalar(fem.form(ufl.inner(uh - u_ex, uh - u_ex) * ufl.dx(degree=6)))
    ref = fem.assemble_scalar(fem.form(ufl.inner(u_ex, u_ex) * ufl.dx(degree=6)))
    assert dolfinx.default_scalar_type  # the solve above used the package's scalar type
    return float(np.sqrt(err / ref))


def test_manufactured_solution_for_the_rotated_cubic_operator():
    """A strongly anisotropic cubic stiffness rotated 30 degrees about z (couples every in-plane component):
    Q1 converges at order 2 to the manufactured field."""
    t = np.radians(30)
    rot = np.array([[np.cos(t), np.sin(t), 0], [-np.sin(t), np.cos(t), 0], [0, 0, 1]])
    c = rotate_stiffness(cubic_stiffness(108.0, 62.0, 80.0), rot)
    assert abs(c[0, 5]) > 1.0  # the rotation couples normal and shear: the operator is not orthotropic here
    errors = [_manufactured_error(n, c) for n in (8, 16, 32)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"MMS rotated cubic, Q1: errors {errors}, orders {orders}")
    assert orders[-1] == pytest.approx(2.0, abs=0.15)


def test_plate_3d_equals_plane_strain_2d():
    """The 3D model (u_z = 0 on the z faces) reproduces the 2D plane-strain fields."""
    s = MeshSettings(n_theta=8, n_r=6, degree=2, layers=1)
    c = cubic_stiffness(108.0, 62.0, 32.0)

    def bc2(x):
        return np.vstack([0.01 * x[0], np.zeros_like(x[0])])

    def bc3(x):
        return np.vstack([0.01 * x[0], np.zeros_like(x[0]), np.zeros_like(x[0])])

    p2 = PlateProblem(plate_mesh(MPI.COMM_SELF, 3.0, 1.0, s), 2, c)
    p3 = PlateProblem(plate_mesh(MPI.COMM_SELF, 3.0, 1.0, s, thickness=0.5), 2, c)
    u2, u3 = p2.solve(bc2, 3.0), p3.solve(bc3, 3.0)
    pts = np.array([[0.0, 1.2], [1.5, 0.3], [2.0, 2.0], [-1.1, -0.4]])
    s2 = evaluate(p2.stress_function(u2), pts, MPI.COMM_SELF)
    s3 = evaluate(p3.stress_function(u3), np.column_stack([pts, np.full(len(pts), 0.25)]), MPI.COMM_SELF)
    np.testing.assert_allclose(s3, s2, rtol=1e-6, atol=1e-9)
    # sigma_zz = C12 (eps_xx + eps_yy) in plane strain: non-zero although eps_zz = 0
    assert np.all(np.abs(s2[:, 2]) > 0.1)


@pytest.mark.mpi
def test_plate_two_ranks_match_serial(tmp_path, root):
    body = (
        "from multiscale.continuum.plate import MeshSettings, PlateProblem, evaluate, plate_mesh\n"
        "from multiscale.continuum.elasticity import rotate_stiffness\n"
        "t = np.radians(20); rot = np.array([[np.cos(t), np.sin(t), 0], [-np.sin(t), np.cos(t), 0], [0, 0, 1]])\n"
        "c = rotate_stiffness(cubic_stiffness(108.0, 62.0, 32.0), rot)\n"
        "p = PlateProblem(plate_mesh(MPI.COMM_WORLD, 3.0, 0.8, MeshSettings(n_theta=8, n_r=6)), 2, c)\n"
        "u = p.solve(lambda x: np.vstack([0.005 * x[0], np.zeros_like(x[0])]), 3.0)\n"
        "pts = np.array([[0.0, 0.81], [1.5, 0.3], [2.9, 2.9], [-1.1, -0.4], [0.5, -2.0]])\n"
        "report(np.hstack([evaluate(u, pts, MPI.COMM_WORLD), evaluate(p.stress_function(u), pts, MPI.COMM_WORLD)]))\n")
    res = {n: _mpi_run(tmp_path, root, body, ranks=n) for n in (1, 2)}
    assert np.isfinite(res[1]).all()
    np.testing.assert_allclose(res[2], res[1], rtol=1e-8, atol=1e-11)


def test_unstable_md_stiffness_is_a_clear_error_and_unstable_draws_are_left_out(tmp_path):
    from multiscale.artifacts import write_artifact
    from multiscale.continuum.stage import stiffness_draws
    from multiscale.errors import CalculationError

    def props(values, samples):
        path = tmp_path / f"md{len(samples)}{values[0]}.h5"
        write_artifact(path, "properties", {"names": ["C11", "C12", "C44"], "values": values, "std": [1.0] * 3,
                                            "units": ["GPa"] * 3, "notes": ["test"] * 3, "samples": samples},
                       {"scale": "md", "settings": {}})
        return str(path)

    with pytest.raises(CalculationError, match="mechanically unstable"):
        stiffness_draws(props([28.5, 94.6, 24.9], np.array([[28.5, 94.6, 24.9]])), np.eye(3))
    mean, draws, left_out = stiffness_draws(props([108.0, 62.0, 32.0], np.array([[108, 62, 32], [60, 70, 30]])),
                                            np.eye(3))
    assert len(draws) == 1 and left_out == 1
    np.testing.assert_allclose(mean, cubic_stiffness(108.0, 62.0, 32.0))


# ------------------------------------------------------------------ fields in standard viewers (issue 21, part 3)
def _xdmf_text_is_one_grid_with_tensor6(path) -> None:
    text = path.read_text()
    assert text.count("<Grid") == 1 and 'GridType="Collection"' not in text  # what meshio.read requires
    assert 'AttributeType="Tensor6"' in text and 'AttributeType="Vector"' in text


def test_fem_fields_open_in_meshio_as_written_with_the_solution_at_the_nodes(tmp_path):
    """fields.xdmf: one grid (quadratic quadrilaterals, the mesh's own nodes) carrying the displacement (n, 3;
    u_z = 0 in plane strain) and the stress (n, 6; Tensor6 xx xy xz yy yz zz, plus named components) equal to the
    FEM solution at the nodes; the displacement imposed on the outer square is there exactly."""
    import meshio

    from multiscale.continuum.fields import write_mesh_fields
    from multiscale.continuum.plate import MeshSettings, PlateProblem, evaluate, plate_mesh

    strain = 0.01
    problem = PlateProblem(plate_mesh(MPI.COMM_SELF, 3.0, 1.0, MeshSettings(n_theta=8, n_r=6, degree=2)), 2, C)
    uh = problem.solve(lambda x: np.vstack([strain * x[0], np.zeros_like(x[0])]), 3.0)
    sig = problem.stress_function(uh)
    write_mesh_fields(tmp_path / "fields.xdmf", problem.msh, uh, sig, MPI.COMM_SELF)
    assert (tmp_path / "fields.h5").exists() and not list(tmp_path.glob(".fields.*"))  # scratch folder removed
    _xdmf_text_is_one_grid_with_tensor6(tmp_path / "fields.xdmf")

    mesh = meshio.read(tmp_path / "fields.xdmf")
    cells = mesh.cells_dict["quad9"]
    n = len(mesh.points)
    assert cells.shape == (8 * 6 * 4, 9) and cells.max() == n - 1
    u, s = mesh.point_data["displacement_nm"], mesh.point_data["stress_GPa"]
    assert u.shape == (n, 3) and s.shape == (n, 6)
    assert np.all(u[:, 2] == 0.0)
    # displacement: continuous, so exact at every node (corners, edge midpoints, centres)
    nodes = np.unique(cells[::7].ravel())
    np.testing.assert_allclose(u[nodes, :2], evaluate(uh, mesh.points[nodes, :2], MPI.COMM_SELF), atol=1e-12)
    # stress: discontinuous between cells, so compared at the cells' centre nodes (VTK order: the 9th)
    centres = cells[::5, 8]
    voigt = evaluate(sig, mesh.points[centres, :2], MPI.COMM_SELF)
    np.testing.assert_allclose(s[centres], voigt[:, [0, 5, 4, 1, 3, 2]], atol=1e-10)
    for k, comp in enumerate(("xx", "yy", "zz", "yz", "xz", "xy")):
        np.testing.assert_allclose(mesh.point_data[f"stress_{comp}_GPa"][centres], voigt[:, k], atol=1e-10)
    # physics: the imposed u_x = strain x on the outer square, and a tensile far field along x
    outer = np.max(np.abs(mesh.points[:, :2]), axis=1) > 3.0 - 1e-9
    np.testing.assert_allclose(u[outer, 0], strain * mesh.points[outer, 0], atol=1e-12)
    assert np.all(mesh.point_data["stress_xx_GPa"][outer] > 0)


def test_grid_cells_are_the_shared_grid():
    from multiscale.continuum.fields import grid_cells
    from multiscale.specimen import Specimen

    centres, n = Specimen(size=4.0, hole_radius=0.5, frame=0.5, grid=0.5).grid_centres()
    points, cells = grid_cells(centres)
    assert points.shape == ((n + 1) ** 2, 3) and cells.shape == (n * n, 4)
    np.testing.assert_allclose(points[cells].mean(axis=1)[:, :2], centres, atol=1e-12)  # cell k holds centre k
    area = np.abs(np.cross(points[cells[:, 1]] - points[cells[:, 0]], points[cells[:, 3]] - points[cells[:, 0]]))
    np.testing.assert_allclose(area[:, 2], (3.0 / n) ** 2)  # counter-clockwise squares of the grid's cell size
    with pytest.raises(ValueError, match="square grid"):
        grid_cells(centres[:-1])


def test_continuum_stage_writes_fem_and_md_fields_that_meshio_reads(tmp_path):
    """The continuum stage on a tiny specimen (EAM-labelled SNAP, LAMMPS; dolfinx): fields.xdmf holds the FEM
    fields at the mesh nodes, grid.xdmf the MD and FEM fields side by side on the shared grid, both as written,
    with the values of the stages' artifacts."""
    import meshio
    from ase.build import bulk

    from multiscale.artifacts import read_artifact, write_artifact
    from multiscale.atomsio import structure_arrays
    from multiscale.continuum.stage import solve
    from multiscale.lammps import Potential, single_point
    from multiscale.md.stage import run_specimen
    from multiscale.mlip.stage import compute_descriptors, fit

    eam = Potential.shipped("eam/fs", "Al_mm.eam.fs", "Al", "EAM")
    images = []
    for i in range(6):
        atoms = bulk("Al", "fcc", a=4.05 * (1 + 0.01 * (i - 3)), cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=i)
        images.append(atoms)
    labels = [single_point(a, eam) for a in images]
    data = structure_arrays(images)
    data.update(energy=[p.energy for p in labels], forces=np.concatenate([p.forces for p in labels]),
                stress=[p.stress for p in labels], names=[f"c{i}" for i in range(6)], groups=["rattle"] * 6,
                metadata=["{}"] * 6, scf_iterations=[0] * 6, wall_time=[0.0] * 6,
                fidelity=["training"] * 6)
    d = str(tmp_path) + "/"
    write_artifact(d + "dataset.h5", "dft_dataset", data, {"settings": {"labels": "EAM"}, "dropped": [],
                   "fidelities": {"training": {"labels": ["energy", "forces", "stress"]}}})
    mlip = {"twojmax": 4, "test_fraction": 0.2}
    compute_descriptors(d + "dataset.h5", mlip, "linear", d + "descriptors.h5")
    fit(d + "dataset.h5", d + "descriptors.h5", mlip, d + "potential.h5", d)
    write_artifact(d + "md.h5", "properties", {
        # E0: the EAM's cohesive energy (Mendelev et al. 2008: 3.36 eV/atom), the specimen's collapse reference
        "names": ["a0", "E0", "C11", "C12", "C44"], "values": [4.05, -3.36, 108.0, 62.0, 32.0], "std": [0.5] * 5,
        "units": ["A", "eV/atom"] + ["GPa"] * 3, "notes": ["test"] * 5,
        "samples": np.array([[4.05, -3.36, 107.0, 61.5, 31.0], [4.05, -3.36, 109.5, 62.5, 33.0]])},
        {"scale": "md", "settings": {}})
    run_specimen(d + "potential.h5", d + "md.h5", {"element": "Al", "lattice": "fcc", "a_guess": 4.05}, {},
                 {"size": 3.2, "hole_radius": 0.5, "frame": 0.5, "strain": 0.005}, d + "specimen.h5")
    solve(d + "md.h5", d + "specimen.h5", {"cells": 3, "mesh": {"n_theta": 8, "n_r": 6}}, d + "summary.h5",
          d + "fields.xdmf", MPI.COMM_SELF, grid_xdmf=d + "grid.xdmf")

    for name in ("fields.xdmf", "grid.xdmf"):
        _xdmf_text_is_one_grid_with_tensor6(tmp_path / name)
    fields = meshio.read(tmp_path / "fields.xdmf")
    n = len(fields.points)
    assert fields.point_data["displacement_nm"].shape == (n, 3) and fields.point_data["stress_GPa"].shape == (n, 6)
    outer = np.max(np.abs(fields.points[:, :2]), axis=1) > fields.points[:, 0].max() - 1e-9
    np.testing.assert_allclose(fields.point_data["displacement_nm"][outer, 0], 0.005 * fields.points[outer, 0],
                               atol=1e-12)
    grid = meshio.read(tmp_path / "grid.xdmf")
    cont = read_artifact(tmp_path / "summary.h5", "continuum")
    sp = read_artifact(tmp_path / "specimen.h5", "md_specimen")
    cells = grid.cells_dict["quad"]
    np.testing.assert_allclose(grid.points[cells].mean(axis=1)[:, :2], cont["centres"], atol=1e-12)
    np.testing.assert_allclose(grid.cell_data["fem_stress_GPa"][0], cont["stress"][:, [0, 5, 4, 1, 3, 2]])
    np.testing.assert_allclose(grid.cell_data["md_stress_xx_GPa"][0], sp["load_stress"][:, 0])
    np.testing.assert_allclose(grid.cell_data["md_displacement_nm"][0], sp["load_displacement"])
    np.testing.assert_allclose(grid.cell_data["fem_displacement_nm"][0], cont["displacement"])
