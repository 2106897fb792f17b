"""GPAW single points: settings, k-point density, SCF retry, and a content-addressed cache.

A calculation is keyed by the sha256 of (structure, physics settings, GPAW version). The cache stores one
``dft_calc`` artifact per key; every study and sweep point that asks for the same calculation reuses it.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.artifacts import digest, read_artifact, write_artifact
from multiscale.config import settings_from_dict
from multiscale.errors import ArtifactError, ConfigError, SCFConvergenceError
from multiscale.material import initial_magnetic_moment
from multiscale.units import EV_PER_A3_TO_GPA

# Settings that change the physics (the cache key); the rest (cache location, failure policy) do not.
PHYSICS_KEYS = ("xc", "ecut", "kpt_density", "smearing", "scf")
# Occupation smearing: GPAW name -> short label. Cold (Marzari-Vanderbilt) smearing keeps the free energy close
# to the zero-width energy at a larger width, so metals' k-point sums converge at coarser meshes.
SMEARING_METHODS = {"fermi-dirac": "FD", "marzari-vanderbilt": "MV", "methfessel-paxton": "MP1"}
DEFAULT_SMEARING_METHOD = "fermi-dirac"


@dataclass
class DFTSettings:
    xc: str = "PBE"
    ecut: float = 350.0  # eV
    kpt_density: float = 5.0  # k-points per reciprocal Angstrom (2 pi included)
    smearing: float = 0.1  # eV, width of the occupation smearing
    smearing_method: str = DEFAULT_SMEARING_METHOD
    scf: dict[str, Any] = field(default_factory=lambda: {"energy": 1.0e-5, "density": 1.0e-5, "maxiter": 200})
    on_failure: str = "fail"
    cache_dir: str = "results/cache/dft"
    configurations: dict[str, Any] = field(default_factory=dict)
    converged_labels: bool = False  # the convergence study's primitive cells join the dataset (fidelity 'converged')
    # initial magnetic moment per atom (Bohr magnetons): "auto" = the element's measured moment for the
    # ferromagnets of multiscale.material.MAGNETIC_MOMENTS (spin-polarised), 0 (spin-paired) for every other element;
    # a number sets it for every atom (0: spin-paired)
    magmom: float | str = "auto"
    external: list[dict[str, Any]] = field(default_factory=list)  # the user's own labelled files (dft.external)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DFTSettings:
        return settings_from_dict(cls, d, "dft")

    def __post_init__(self) -> None:
        if self.magmom != "auto" and (isinstance(self.magmom, bool) or not isinstance(self.magmom, int | float)
                                      or self.magmom < 0):
            raise ConfigError(f"dft.magmom = {self.magmom!r}. Fix: use auto (the element's moment if it is a "
                              f"ferromagnet, else spin-paired), 0 (spin-paired) or a moment in Bohr magnetons >= 0")
        if self.smearing_method not in SMEARING_METHODS:
            raise ConfigError(f"dft.smearing_method = '{self.smearing_method}'. Fix: use one of "
                              f"{sorted(SMEARING_METHODS)}")

    def physics(self) -> dict[str, Any]:
        """The settings that make the cache key. The smearing method enters only when it is not the default,
        so calculations made before the method became a setting keep their keys."""
        d = asdict(self)
        out = {k: d[k] for k in PHYSICS_KEYS}
        if self.smearing_method != DEFAULT_SMEARING_METHOD:
            out["smearing_method"] = self.smearing_method
        return out


def smearing_label(physics: dict[str, Any]) -> str:
    """'FD 0.1 eV', 'MV 0.2 eV': the smearing of a settings dict (``DFTSettings.physics()``)."""
    method = physics.get("smearing_method", DEFAULT_SMEARING_METHOD)
    return f"{SMEARING_METHODS[method]} {physics['smearing']:g} eV"


def occupations(settings: DFTSettings) -> dict[str, Any]:
    occ: dict[str, Any] = {"name": settings.smearing_method, "width": settings.smearing}
    if settings.smearing_method == "methfessel-paxton":
        occ["order"] = 1
    return occ


def kpoint_mesh(cell: np.ndarray, density: float, pbc=(True, True, True)) -> tuple[int, int, int]:
    """Monkhorst-Pack sizes n_i = ceil(density * |b_i|), b_i reciprocal vectors including 2 pi."""
    recip = 2 * np.pi * np.linalg.inv(np.asarray(cell, float)).T
    sizes = [max(1, int(np.ceil(density * np.linalg.norm(b) - 1e-9))) if p else 1
             for b, p in zip(recip, pbc, strict=True)]
    return tuple(sizes)  # type: ignore[return-value]


def _metadata(atoms: Atoms) -> dict[str, Any]:
    return json.loads(atoms.info.get("metadata", "{}") or "{}")


def vacuum_axis(atoms: Atoms) -> int | None:
    """The cell axis across a vacuum gap (slabs: from their metadata), sampled by one k-point."""
    axis = _metadata(atoms).get("vacuum_axis")
    return None if axis is None else int(axis)


def kpoint_cell(atoms: Atoms) -> np.ndarray | None:
    """The cell a strain series sizes its k-mesh from (metadata ``kpoint_cell``: the unstrained cell), so every
    volume of an equation of state is sampled by the same mesh; None: the structure's own cell."""
    cell = _metadata(atoms).get("kpoint_cell")
    return None if cell is None else np.asarray(cell, float)


def relax_spec(atoms: Atoms) -> dict[str, Any] | None:
    """Metadata ``relax`` ({fmax, steps}): relax the positions (fixed cell) with DFT forces before labelling."""
    spec = _metadata(atoms).get("relax")
    return None if not spec else {"fmax": float(spec["fmax"]), "steps": int(spec["steps"])}


def kpoints_for(atoms: Atoms, settings: DFTSettings) -> tuple[int, int, int]:
    pbc = list(atoms.pbc)
    axis = vacuum_axis(atoms)
    if axis is not None:
        pbc[axis] = False
    ref = kpoint_cell(atoms)
    return kpoint_mesh(atoms.cell[:] if ref is None else ref, settings.kpt_density, pbc)


def initial_moments(atoms: Atoms, settings: DFTSettings) -> np.ndarray:
    """Initial magnetic moment of each atom (Bohr magnetons, shape (n_atoms,)) from ``dft.magmom``
    (:func:`multiscale.material.initial_magnetic_moment`): all zero means a spin-paired calculation."""
    return np.array([initial_magnetic_moment(sym, settings.magmom) for sym in atoms.get_chemical_symbols()],
                    float)


def cache_key(atoms: Atoms, settings: DFTSettings) -> str:
    from importlib.metadata import version

    structure = {
        "numbers": atoms.numbers.tolist(),
        "positions": np.round(atoms.positions, 8).tolist(),
        "cell": np.round(atoms.cell[:], 8).tolist(),
        "pbc": atoms.pbc.tolist(),
    }
    if vacuum_axis(atoms) is not None:
        structure["vacuum_axis"] = vacuum_axis(atoms)
    if kpoint_cell(atoms) is not None:
        structure["kpoint_cell"] = np.round(kpoint_cell(atoms), 8).tolist()
    if relax_spec(atoms) is not None:  # the labels are those of the relaxed structure
        structure["relax"] = relax_spec(atoms)
    moments = initial_moments(atoms, settings)
    if moments.any():  # a spin-polarised calculation (spin-paired ones keep the keys they always had)
        structure["initial_magmoms"] = np.round(moments, 6).tolist()
    return digest({"structure": structure, "settings": settings.physics(), "gpaw": version("gpaw")})


def _gpaw(settings: DFTSettings, atoms: Atoms, txt: str | None, safer: bool, comm=None):
    from gpaw import GPAW, PW, Mixer

    scf = settings.scf
    kwargs: dict[str, Any] = dict(
        mode=PW(settings.ecut),
        xc=settings.xc,
        kpts={"size": kpoints_for(atoms, settings), "gamma": True},
        occupations=occupations(settings),
        convergence={"energy": scf["energy"], "density": scf["density"]},
        maxiter=int(scf["maxiter"]) * (2 if safer else 1),
        txt=txt,
    )
    if safer:
        kwargs["mixer"] = Mixer(beta=0.02, nmaxold=8, weight=100.0)
    if comm is not None:
        kwargs["communicator"] = comm
    return GPAW(**kwargs)


def run_single_point(atoms: Atoms, settings: DFTSettings, txt: str | None = None, comm=None) -> dict[str, Any]:
    """Energy, forces and stress of one structure, retrying a failed SCF once with safer mixing.

    A structure whose metadata asks for it (``relax``: fmax, steps) is first relaxed at fixed cell with BFGS on
    the DFT forces; the labels are then those of the relaxed positions, and ``relaxation`` records the start
    energy, steps, largest displacement and whether fmax was reached (a relaxation cut at ``steps`` is kept,
    flagged). Returns a dict with the labels, SCF iterations, wall time and the list of retries made.
    Raises :class:`SCFConvergenceError` naming the configuration and settings if the retry fails too.
    """
    from gpaw import KohnShamConvergenceError

    retries: list[dict[str, Any]] = []
    name = atoms.info.get("name", atoms.get_chemical_formula())
    relax = relax_spec(atoms)
    for attempt, safer in enumerate((False, True)):
        work = atoms.copy()
        moments = initial_moments(atoms, settings)
        work.set_initial_magnetic_moments(moments)  # nonzero: GPAW runs spin-polarised
        work.calc = _gpaw(settings, work, txt, safer, comm)
        t0 = time.perf_counter()
        try:
            relaxation = _relax(work, relax) if relax else None
            energy = work.get_potential_energy(force_consistent=True)
            forces = work.get_forces()
            stress = work.get_stress(voigt=True) * EV_PER_A3_TO_GPA
        except KohnShamConvergenceError as exc:
            retries.append({"attempt": attempt, "mixer": "beta=0.02,nmaxold=8,weight=100" if safer else "default",
                            "maxiter": int(settings.scf["maxiter"]) * (2 if safer else 1), "error": str(exc)})
            continue
        niter = int(work.calc.get_number_of_iterations())
        out = {"energy": float(energy), "forces": np.asarray(forces), "stress": np.asarray(stress),
               "scf_iterations": niter, "wall_time": time.perf_counter() - t0, "retries": retries}
        if moments.any():
            out.update(initial_magmoms=moments, magmoms=np.asarray(work.get_magnetic_moments(), float),
                       magmom=float(work.get_magnetic_moment()))
        if relaxation is not None:
            out.update(positions=work.get_positions(), relaxation=relaxation)
        return out
    raise SCFConvergenceError(
        f"SCF did not converge for configuration '{name}' with settings {json.dumps(settings.physics())}, "
        f"also after a retry with safer mixing and twice the iterations ({retries[-1]['maxiter']}). "
        f"Fix: raise dft.scf.maxiter, loosen dft.scf.energy/density, or set dft.on_failure: drop")


def _relax(work: Atoms, spec: dict[str, Any]) -> dict[str, Any]:
    """Relax positions at fixed cell with BFGS on the DFT forces (same calculator: wavefunctions are reused)."""
    from ase.optimize import BFGS

    start_energy = float(work.get_potential_energy(force_consistent=True))
    start = work.get_positions()
    opt = BFGS(work, logfile=None)
    opt.run(fmax=spec["fmax"], steps=spec["steps"])
    fmax = float(np.linalg.norm(work.get_forces(), axis=1).max())
    return {"fmax_target": spec["fmax"], "fmax": fmax, "converged": fmax <= spec["fmax"],
            "steps": int(opt.get_number_of_steps()), "energy_unrelaxed": start_energy,
            "max_displacement": float(np.linalg.norm(work.get_positions() - start, axis=1).max())}


def calc_data(atoms: Atoms, result: dict[str, Any]) -> dict[str, Any]:
    """Datasets of a ``dft_calc`` artifact (positions: the relaxed ones when the calculation relaxed them; the
    initial and final magnetic moments when it was spin-polarised)."""
    return {
        "n_atoms": [len(atoms)], "numbers": atoms.numbers, "positions": result.get("positions", atoms.positions),
        "cell": [atoms.cell[:]], "pbc": [atoms.pbc], "energy": [result["energy"]], "forces": result["forces"],
        "stress": [result["stress"]], "scf_iterations": [result["scf_iterations"]],
        "wall_time": [result["wall_time"]],
        **({"initial_magmoms": result["initial_magmoms"], "magmoms": result["magmoms"],
            "magmom": [result["magmom"]]} if "magmoms" in result else {}),
    }


def _with_relaxation(atoms: Atoms, relaxation: dict[str, Any] | None) -> str:
    """The configuration's metadata JSON, with the record of its relaxation when it was relaxed."""
    if relaxation is None:
        return atoms.info.get("metadata", "{}")
    return json.dumps({**_metadata(atoms), "relaxation": relaxation})


def usable_cache_entry(cached: Path) -> bool:
    """Whether the cache entry ``cached`` exists and passes every check of
    :func:`multiscale.artifacts.read_artifact` (HDF5, kind, schema, content digest). A damaged entry (truncated,
    changed after writing) is moved to ``<cache>/quarantine/`` with a warning naming it, so the calculation is
    recomputed and the damaged file kept for inspection."""
    if not cached.exists():
        return False
    try:
        read_artifact(cached, "dft_calc")
        return True
    except ArtifactError as exc:
        quarantine = cached.parent.parent / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        dest = quarantine / f"{cached.stem}.{time.strftime('%Y%m%dT%H%M%S')}.h5"
        os.replace(cached, dest)
        message = f"DFT cache entry {cached} failed its check ({exc}); moved to {dest}, recomputing it"
        warnings.warn(message, stacklevel=2)
        return False


def cached_single_point(atoms: Atoms, settings: DFTSettings, *, txt: str | None = None, comm=None
                        ) -> tuple[Path, bool]:
    """Make sure the cache holds the calculation of ``atoms`` at ``settings``; return its path and whether
    GPAW ran. Only rank 0 writes; every rank gets the path."""
    key = cache_key(atoms, settings)
    cached = Path(settings.cache_dir) / key[:2] / f"{key}.h5"
    rank = 0 if comm is None else comm.rank
    ran = False
    usable = np.array([usable_cache_entry(cached) if rank == 0 else False])  # rank 0 checks (and quarantines)
    if comm is not None:
        comm.Bcast(usable, root=0) if hasattr(comm, "Bcast") else comm.broadcast(usable, 0)  # mpi4py / GPAW world
    if not usable[0]:
        result = run_single_point(atoms, settings, txt=txt, comm=comm)
        if rank == 0:
            write_artifact(cached, "dft_calc", calc_data(atoms, result), {
                "name": atoms.info.get("name", ""), "group": atoms.info.get("group", ""),
                "metadata": _with_relaxation(atoms, result.get("relaxation")), "settings": settings.physics(),
                "cache_key": key, "retries": result["retries"]}, config=settings.physics())
        ran = True
    if comm is not None:
        comm.barrier()
    return cached, ran


def compute_cached(atoms: Atoms, settings: DFTSettings, out: str | Path, *, inputs=(), txt: str | None = None,
                   comm=None) -> bool:
    """Write the ``dft_calc`` artifact of ``atoms`` to ``out``, from the cache if it holds the calculation.

    Returns True if GPAW ran, False on a cache hit. Only rank 0 writes.
    """
    cached, ran = cached_single_point(atoms, settings, txt=txt, comm=comm)
    if comm is None or comm.rank == 0:
        art = read_artifact(cached, "dft_calc")  # validates the cache entry too
        attrs = dict(art.attrs)
        relaxation = json.loads(str(attrs.get("metadata") or "{}")).get("relaxation")
        attrs.update(name=atoms.info.get("name", ""), group=atoms.info.get("group", ""),
                     metadata=_with_relaxation(atoms, relaxation))
        write_artifact(out, "dft_calc", art.data, attrs, inputs=[*inputs, cached], config=settings.physics())
    if comm is not None:
        comm.barrier()
    return ran
