"""Each element's labelled pool for the transfer experiment: EOS cells, candidate and test cells, through the cache.

The pool is a ``dft_dataset`` artifact (groups ``eos``, ``candidate``, ``test``), so the structures and labels of
every element are stored, and read, like any study's DFT data.
"""

from __future__ import annotations

import json

import numpy as np
from ase import Atoms

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import structure_arrays
from multiscale.dft.calculator import DFTSettings, cached_single_point
from multiscale.material import Material, nearest_neighbour_distance
from multiscale.progress import Progress
from multiscale.transfer.settings import PoolSettings, TransferSettings, material_of

# Displacements and the reduced crystal are set on a common length: 2.5 Angstrom per nearest-neighbour distance
REFERENCE_NN = 2.5


def pool_structures(material: Material, pool: PoolSettings) -> list[Atoms]:
    """The pool of ``material`` (seeded, reproducible): EOS cells, then candidate and test cells (see
    :class:`PoolSettings`), each with ``info`` name, group and JSON metadata (strain, rattle std in Angstrom, and
    ``kpoint_cell``: every cell is sampled on the unstrained cell's k-mesh,
    :func:`multiscale.dft.calculator.kpoint_cell`)."""
    rng = np.random.default_rng([pool.seed, int(material.cubic_cell().numbers[0])])
    a = material.a_guess
    # one k-mesh for the whole pool: the unstrained cell's (else a strained cell can cross a mesh size, and an
    # EOS point on another mesh would distort the element's a0 and B, its scales)
    mesh = material.cubic_cell(a).repeat(tuple(int(n) for n in pool.supercell)).cell[:].round(8).tolist()
    eos_mesh = material.cubic_cell(a).cell[:].round(8).tolist()
    out = []
    for i, s in enumerate(np.linspace(-pool.eos_max_strain, pool.eos_max_strain, int(pool.eos_points))):
        atoms = material.cubic_cell(a * (1 + s))
        atoms.info.update(name=f"{material.element}_eos_{i}", group="eos",
                          metadata=json.dumps({"linear_strain": float(s), "kpoint_cell": eos_mesh}))
        out.append(atoms)
    scale = nearest_neighbour_distance(material, a) / REFERENCE_NN
    for group, count in (("candidate", pool.candidates), ("test", pool.test)):
        for i in range(int(count)):
            atoms = material.cubic_cell(a).repeat(tuple(int(n) for n in pool.supercell))
            e = rng.uniform(-pool.strain, pool.strain, (3, 3))
            e = 0.5 * (e + e.T)
            atoms.set_cell(atoms.cell[:] @ (np.eye(3) + e), scale_atoms=True)
            std = float(rng.uniform(*pool.rattle)) * scale
            atoms.positions += rng.normal(0.0, std, atoms.positions.shape)
            atoms.info.update(name=f"{material.element}_{group}_{i}", group=group,
                              metadata=json.dumps({"strain": e.round(6).tolist(), "rattle_std": std,
                                                   "kpoint_cell": mesh}))
            out.append(atoms)
    return out


def label_pool(element: str, transfer: dict, dft: dict, out: str, comm=None) -> None:
    """Label the pool of ``element`` with GPAW at the transfer experiment's DFT settings (``transfer.dft`` over
    the study's ``dft`` section, through the shared cache) and write it as a ``dft_dataset`` artifact.
    Rank 0 writes. Raises :class:`ConfigError` for an element without a cubic reference crystal."""
    settings = TransferSettings.from_dict(transfer)
    material = material_of(element)
    dft_settings = DFTSettings.from_dict({**dft, **settings.dft})
    images = pool_structures(material, settings.pool)
    rank0 = comm is None or comm.rank == 0
    progress = Progress(len(images), f"DFT single points of the {element} transfer pool", enabled=rank0)
    labels = []
    for atoms in images:
        path, ran = cached_single_point(atoms, dft_settings, comm=comm)
        progress.done(atoms.info["name"], cached=not ran)
        if rank0:
            calc = read_artifact(path, "dft_calc")
            labels.append({k: calc[k][0] for k in ("energy", "stress", "scf_iterations", "wall_time")}
                          | {"forces": calc["forces"]})
    if rank0:
        write_pool(images, labels, dft_settings.physics(), out, config={"transfer": transfer, "element": element})


def write_pool(images: list[Atoms], labels: list[dict], settings: dict, out: str, config: dict | None = None) -> None:
    """Write a labelled pool as a ``dft_dataset`` artifact: ``labels`` per image (energy eV, forces eV/A,
    stress GPa Voigt positive tensile, scf_iterations, wall_time s); ``settings``: the labels' DFT settings."""
    data = structure_arrays(images)
    data.update(energy=[float(x["energy"]) for x in labels], forces=np.concatenate([x["forces"] for x in labels]),
                stress=np.array([x["stress"] for x in labels]).reshape(-1, 6), names=[a.info["name"] for a in images],
                groups=[a.info["group"] for a in images], metadata=[a.info["metadata"] for a in images],
                fidelity=["training"] * len(images), scf_iterations=[int(x["scf_iterations"]) for x in labels],
                wall_time=[float(x["wall_time"]) for x in labels])
    write_artifact(out, "dft_dataset", data, {
        "settings": settings, "dropped": [],
        "fidelities": {"training": {"settings": settings, "labels": ["energy", "forces", "stress"]}}},
        config={**(config or {}), "dft": settings})
