"""The plate-with-hole specimen in LAMMPS: displacement-controlled loading, per-atom fields, trust monitor.

The plate is cut from the oriented crystal at the MD lattice constant, periodic along the hole axis and free
(shrink-wrapped) in-plane. Every relaxation runs in segments; after each segment (a *frame*) the per-atom
bispectrum gives each atom's epistemic energy std and extrapolation grade, and the frame's maximum, mean and
count above the threshold are recorded. A run with any atom above the threshold in any frame is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.grading import EXTRAPOLATION_THRESHOLD, Grader
from multiscale.lammps import Potential, Session, create_system, instance, per_atom, run
from multiscale.material import (
    CNA,
    Material,
    coordination_cutoff,
    hole_min_coordination,
    neighbour_shells,
    oriented_crystal,
)
from multiscale.specimen import Kernel, Specimen, cell_statistics
from multiscale.units import ANGSTROM_PER_NM as NM
from multiscale.units import BAR_TO_GPA

# Collapse checks of every specimen relaxation (as of every NPT run, multiscale.md.properties): the energy per atom
# may not fall below the perfect crystal's, and the interior (away from hole and frame) must stay crystalline.
ENERGY_SLACK = 1e-3  # eV/atom
MIN_INTERIOR_CRYSTAL = 0.75


def build_plate(spec: Specimen, material: Material, a0: float) -> Atoms:
    """Atoms of the plate (Angstrom), hole centred at the origin; cell z = the periodic thickness."""
    unit = oriented_crystal(material, a0, spec.orientation, (1, 1, 1))
    lengths = np.diag(unit.cell[:])
    n = [int(np.ceil(spec.size * NM / lengths[k])) + 1 for k in range(2)] + [int(spec.thickness)]
    atoms = oriented_crystal(material, a0, spec.orientation, tuple(n))
    cell = np.diag(atoms.cell[:])
    atoms.positions[:, :2] -= cell[:2] / 2
    # shift so that no atom sits exactly on a cut (a quarter of the smallest in-plane spacing)
    atoms.positions[:, :2] += 1e-3
    x, y = atoms.positions[:, 0], atoms.positions[:, 1]
    half = spec.size * NM / 2
    keep = (np.abs(x) <= half) & (np.abs(y) <= half) & (np.hypot(x, y) >= spec.hole_radius * NM)
    plate = atoms[keep]
    plate.set_pbc((False, False, True))
    plate.set_cell([2 * half + 20.0, 2 * half + 20.0, cell[2]])
    return _clean_hole(plate, spec, material, a0)


def _clean_hole(plate: Atoms, spec: Specimen, material: Material, a0: float) -> Atoms:
    """Remove, repeatedly, atoms at the hole with fewer than ``spec.min_coordination`` neighbours (default: the
    lattice's rule, :func:`multiscale.material.hole_min_coordination`).

    A circular cut through a crystal leaves a few corner atoms with fewer neighbours than on any low-index
    surface (fcc: 7 on (110), 8 on (100), 9 on (111); bcc: 4 on (100) and (111)); such atoms would not survive at
    a real surface, and no potential is trained on them. The removed count is part of the specimen description."""
    from scipy.spatial import cKDTree

    minimum = hole_min_coordination(material.lattice, spec.min_coordination)
    first, second = neighbour_shells(material, a0)
    near = np.hypot(plate.positions[:, 0], plate.positions[:, 1]) < spec.hole_radius * NM + 2 * second
    lz = plate.cell[2, 2]
    removed = 0
    while True:
        pos = plate.positions
        images = np.concatenate([pos + [0.0, 0.0, k * lz] for k in (-1, 0, 1)])  # periodic along the hole axis
        counts = cKDTree(images).query_ball_point(pos[near], (first + second) / 2, return_length=True) - 1
        coord = np.full(len(plate), 99)
        coord[near] = counts
        drop = near & (coord < minimum)
        if not drop.any():
            break
        removed += int(drop.sum())
        plate, near = plate[~drop], near[~drop]
    plate.info["removed_at_hole"] = removed
    return plate


@dataclass
class Monitor:
    """Per-frame trust record of one relaxation or MD run."""

    threshold: float
    frames: list[dict[str, float]] = field(default_factory=list)

    def record(self, step: int, std: np.ndarray, grade: np.ndarray, strain: float) -> None:
        self.frames.append({"step": step, "strain": strain, "max_std": float(std.max()),
                            "mean_std": float(std.mean()), "max_grade": float(grade.max()),
                            "n_above": int(np.sum(grade > self.threshold))})

    @property
    def flagged(self) -> bool:
        return any(f["n_above"] > 0 for f in self.frames)


@dataclass
class SpecimenRun:
    """A LAMMPS instance holding the specimen with the fitted potential and per-atom computes."""

    spec: Specimen
    material: Material
    a0: float
    pot: Potential
    sna_args: str          # compute sna/atom arguments of the fitted potential
    model: Any             # BayesianSNAP (per-atom epistemic std), None for a classical potential
    grader: Grader | None  # extrapolation grade
    comm: Any = None
    ftol: float = 1e-4     # eV/Angstrom, max force at which a relaxation has converged
    segment: int = 100     # minimiser iterations per monitored frame
    max_iterations: int = 20000
    grader_threshold: float = EXTRAPOLATION_THRESHOLD  # grade above which an atom is untrusted
    e_crystal: float | None = None  # eV/atom of the perfect crystal at a0 (the MD properties' E0): collapse check

    def __post_init__(self) -> None:
        self.max_iterations = int(getattr(self.spec, "max_iterations", self.max_iterations))

        self.atoms = build_plate(self.spec, self.material, self.a0)
        self.reference = self.atoms.positions.copy()
        self.lmp = instance(self.comm)
        half = self.spec.size * NM / 2 + 10.0
        lz = float(self.atoms.cell[2, 2])
        pos = self.atoms.positions.copy()
        pos[:, 2] %= lz
        create_system(self.lmp, f"region box block {-half!r} {half!r} {-half!r} {half!r} 0 {lz!r} units box",
                      "s s p", float(self.atoms.get_masses()[0]), pos)
        cna_id, cna_cut = CNA.get(self.material.lattice, (None, None))
        cmds = [self.pot.commands(),
                f"group frame id {' '.join(str(i + 1) for i in np.flatnonzero(self.frame_mask()))}",
                "group inner subtract all frame",
                "fix hold frame setforce 0.0 0.0 0.0",
                "compute peratom all stress/atom NULL",
                f"compute coord all coord/atom cutoff {coordination_cutoff(self.material, self.a0)!r}",
                *([f"compute sna all sna/atom {self.sna_args}"] if self.model is not None else []),
                "thermo_style custom step pe fmax fnorm", "thermo_modify norm no",
                "min_style cg"]
        if cna_id is not None:
            cmds.append(f"compute cna all cna/atom {cna_cut * self.a0!r}")
        self.cna_id = cna_id
        self._commands("\n".join(cmds))
        self.strain = 0.0
        self.monitor = Monitor(self.grader_threshold)
        self.stops: list[dict[str, Any]] = []  # how each relaxation ended
        self._commands("run 0")

    def _commands(self, text: str) -> None:
        run(self.lmp, text, self.pot)

    def frame_mask(self) -> np.ndarray:
        h = self.spec.half_interior * NM
        p = self.reference
        return (np.abs(p[:, 0]) > h) | (np.abs(p[:, 1]) > h)

    def close(self) -> None:
        self.lmp.close()

    # ------------------------------------------------------------------------------------------- per atom
    def _per_atom(self, name: str) -> np.ndarray:
        v = per_atom(self.lmp, name, vector=name in ("coord", "cna"))[: len(self.atoms)]
        return self._by_id(v)

    def _by_id(self, v: np.ndarray) -> np.ndarray:
        """Gather a per-atom array (local atoms of every rank) into id order on every rank."""
        n = len(self.atoms)
        ids = np.array(self.lmp.numpy.extract_atom("id"))[: self.lmp.extract_setting("nlocal")]
        v = v[: len(ids)]
        out = np.zeros((n,) + v.shape[1:])
        out[ids - 1] = v
        if self.comm is not None and self.comm.size > 1:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
        return out

    def positions(self) -> np.ndarray:
        nlocal = self.lmp.extract_setting("nlocal")
        x = np.array(self.lmp.numpy.extract_atom("x"))[:nlocal]
        return self._by_id(x)

    def displacement(self) -> np.ndarray:
        """Displacement from the reference lattice (Angstrom), minimum image along the periodic z."""
        d = self.positions() - self.reference
        lz = float(self.atoms.cell[2, 2])
        d[:, 2] -= lz * np.round(d[:, 2] / lz)
        return d

    def stress(self) -> np.ndarray:
        """Per-atom stress (GPa, Voigt xx yy zz yz xz xy, positive tensile): virial over the atomic volume."""
        s = self._per_atom("peratom")  # LAMMPS order xx yy zz xy xz yz, units bar*A^3, = -P_i V_i
        omega = self.a0**3 / self.material.atoms_per_cubic_cell
        return s[:, [0, 1, 2, 5, 4, 3]] / omega * BAR_TO_GPA

    def uncertainty(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-atom epistemic energy std (eV) and extrapolation grade (zeros without a fitted model: a classical
        potential has no posterior)."""
        if self.model is None:
            return np.zeros(len(self.atoms)), np.zeros(len(self.atoms))
        b = self._per_atom("sna")
        rows = np.column_stack([np.ones(len(b)), b])
        return self.model.atom_energy_std(rows), self.grader.grade(rows)

    def structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Coordination and CNA structure id per atom (CNA 0 = 'other' when the lattice has no CNA id)."""
        coord = self._per_atom("coord")
        cna = self._per_atom("cna") if self.cna_id is not None else np.zeros(len(self.atoms))
        return coord, cna

    def check(self) -> dict[str, Any]:
        """Checks of the current relaxed state: potential energy per atom above the crystal's (``e_crystal``),
        the interior atoms' crystal fraction (CNA), and the reasons it collapsed: energy more than
        :data:`ENERGY_SLACK` below the crystal's (the potential's crystal is not its ground state), or fewer
        than :data:`MIN_INTERIOR_CRYSTAL` of the interior atoms in the crystal structure (plasticity makes a few
        percent non-lattice; a collapse, most)."""
        energy = self.energy() / len(self.atoms)
        above = None if self.e_crystal is None else float(energy - self.e_crystal)
        fraction = None
        if self.cna_id is not None:
            _, cna = self.structure()
            interior = interior_bulk_mask(self.spec, self.reference / NM)
            fraction = float(np.mean(cna[interior] == self.cna_id)) if interior.any() else None
        why = []
        if above is not None and above < -ENERGY_SLACK:
            why.append(f"energy {1000 * above:.1f} meV/atom below the crystal's")
        if fraction is not None and fraction < MIN_INTERIOR_CRYSTAL:
            why.append(f"only {100 * fraction:.0f}% of interior atoms in the crystal structure")
        return {"energy_above_crystal": above, "interior_crystal_fraction": fraction, "collapsed": why}

    def non_lattice(self, cna: np.ndarray) -> np.ndarray:
        return cna != self.cna_id

    def energy(self) -> float:
        return float(self.lmp.get_thermo("pe"))

    # ------------------------------------------------------------------------------------------ loading
    def load(self, strain: float) -> int:
        """Move every atom by the strain increment (the frame is then held there) and relax the interior.

        Returns the number of minimiser iterations; frames are recorded every ``segment`` iterations."""
        d = strain - self.strain
        self._commands(f"variable ux atom {d!r}*x\ndisplace_atoms all move v_ux 0.0 0.0 units box\n"
                       f"variable ux delete")
        self.strain = strain
        self._commands("run 0")
        self._frame(0)
        done = 0
        while done < self.max_iterations:
            step0 = int(self.lmp.get_thermo("step"))
            self._commands(f"minimize 0.0 {self.ftol!r} {self.segment} {10 * self.segment}\nrun 0")
            its = int(self.lmp.get_thermo("step")) - step0
            done += its
            self._frame(done)
            fmax = float(self.lmp.get_thermo("fmax"))  # collective: every rank asks
            if self.comm is None or self.comm.rank == 0:  # progress in the job's log
                print(f"specimen strain {strain:.4g}: {done} iterations, fmax {fmax:.3g} eV/A, max grade "
                      f"{self.monitor.frames[-1]['max_grade']:.3g}", flush=True)
            if its < self.segment:  # the minimiser stopped by itself: force tolerance or a failed line search
                break
        fmax = float(self.lmp.get_thermo("fmax"))
        self.stops.append({"strain": strain, "iterations": done, "fmax": fmax, "converged": fmax <= self.ftol,
                           **self.check()})
        # a relaxation cut at max_iterations is kept, marked not converged, and reported as such in the summary
        return done

    def _frame(self, step: int) -> None:
        """Monitor the atoms that move: the frame is a held boundary condition (its outer edges and corners are
        artificial surfaces no potential is trained on, and they never relax)."""
        std, grade = self.uncertainty()
        free = ~self.frame_mask()
        self.monitor.record(step, std[free], grade[free], self.strain)


def surface_distance(spec: Specimen, reference: np.ndarray) -> np.ndarray:
    """Distance (nm) of each reference site from the hole surface."""
    return np.hypot(reference[:, 0], reference[:, 1]) / NM - spec.hole_radius


def relax_unloaded_and_loaded(run: SpecimenRun, strain: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Relax the specimen at zero load (surface relaxation), then at ``strain``; the :func:`fields` of both."""
    run.load(0.0)
    residual = fields(run)
    run.load(strain)
    return residual, fields(run)


def fields(run: SpecimenRun) -> dict[str, np.ndarray]:
    """Per-atom fields of the current state: displacement (nm), stress (GPa), coordination, CNA id, epistemic
    energy std (eV) and extrapolation grade."""
    coord, cna = run.structure()
    std, grade = run.uncertainty()
    return {"displacement": run.displacement() / NM, "stress": run.stress(), "coordination": coord,
            "cna": cna, "atom_std": std, "grade": grade}


def bulk_stress(pot: Potential, material: Material, a0: float, spec: Specimen, strain: float, comm=None) -> np.ndarray:
    """Stress (GPa, Voigt, specimen frame) of the specimen's homogeneous strain (eps_xx = strain, all other
    components zero) in a periodic bulk cell of the same orientation, internal coordinates relaxed."""
    from multiscale.elastic import deform_cell

    unit = oriented_crystal(material, a0, spec.orientation, (1, 1, 1))
    reps = tuple(max(1, int(np.ceil(10.0 / L))) for L in np.diag(unit.cell[:]))
    atoms = oriented_crystal(material, a0, spec.orientation, reps)
    atoms.set_cell(deform_cell(atoms.cell[:], np.array([strain, 0, 0, 0, 0, 0])), scale_atoms=True)
    with Session(atoms, pot, comm) as s:
        s.run("minimize 0.0 1e-8 10000 100000\nrun 0")
        return s.stress()


@dataclass
class CoarseGrainer:
    """The shared grid, its kernel over the interior atoms, and per-cell statistics."""

    spec: Specimen
    reference_nm: np.ndarray
    interior: np.ndarray

    def __post_init__(self) -> None:
        self.centres, _ = self.spec.grid_centres()
        self.kernel = Kernel.build(self.centres, self.reference_nm[self.interior], self.spec.kernel,
                                   self.spec.hole_radius)
        self.cells = self.spec.cell_of(self.reference_nm[:, :2])
        self.cells[~self.interior] = -1

    def field(self, values: np.ndarray) -> np.ndarray:
        return self.kernel.apply(values[self.interior])

    def stat(self, values: np.ndarray, how: str) -> np.ndarray:
        return cell_statistics(self.cells, len(self.centres), values, how)

    def far_field(self) -> np.ndarray:
        """Cells in the four corner zones: farther from the hole centre than the interior half-width."""
        return np.hypot(self.centres[:, 0], self.centres[:, 1]) >= self.spec.half_interior


def interior_bulk_mask(spec: Specimen, reference_nm: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """Atoms more than ``margin`` nm from the hole surface and from the frame: where a non-lattice atom means
    plasticity (or damage) rather than a surface."""
    r = np.hypot(reference_nm[:, 0], reference_nm[:, 1]) - spec.hole_radius
    edge = spec.half_interior - np.max(np.abs(reference_nm[:, :2]), axis=1)
    return (r > margin) & (edge > margin)
