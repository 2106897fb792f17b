"""Every HDF5 artifact kind the workflow passes between stages, declared in one table.

A kind lists its datasets (dtype, symbolic shape, units, meaning) and required attributes, and carries a
schema version. :func:`write_artifact` validates data against the kind, writes to a temporary file beside
the target and renames it (so a killed job never leaves a half-written artifact), and stamps provenance.
:func:`read_artifact` refuses a file of another kind or schema version.

Every artifact verifies itself: the writer stores the sha256 of the file's whole content (every attribute and
every dataset with its dtype, shape and attributes, in name order; :func:`content_digest`) as the attribute
``content_sha256``, and the reader recomputes it, so a value changed after writing (a bad disk, a hand edit) is an
:class:`~multiscale.errors.ArtifactError` naming the file, never a silently different number. The provenance
records the sha256 of each input file, so :func:`verify_file` can also tell a stale artifact from a fresh one.
(HDF5's own Fletcher32 filter checksums chunked datasets only, not attributes or contiguous data, hence our own.)

Conventions: lengths in Angstrom, energies in eV, forces in eV/Angstrom, stresses in GPa in Voigt order
(xx, yy, zz, yz, xz, xy) with ASE's sign (positive = tensile). Per-configuration data of varying atom count
is stored concatenated along ``n_atoms_total`` with ``n_atoms`` giving each configuration's count.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from multiscale import __version__
from multiscale.errors import ArtifactError
from multiscale.fileio import atomic_path
from multiscale.records import (
    EnvironmentCluster,
    Explanation,
    FarField,
    MonitorSummary,
    PlasticityOnset,
    PlasticityRecord,
    Relaxation,
    SpecimenDescription,
    Validity,
    ValidityVariant,
    from_json,
    to_json,
)

STR = "str"  # variable-length UTF-8 strings
DIGEST_ATTR = "content_sha256"


@dataclass(frozen=True)
class Dataset:
    dtype: str  # numpy dtype string ("f8", "i8", "bool") or STR
    shape: tuple[str | int, ...]  # symbolic dimension names bind consistently across one artifact
    units: str
    description: str
    optional: bool = False


@dataclass(frozen=True)
class ArtifactKind:
    name: str
    version: int
    description: str
    datasets: dict[str, Dataset]
    attrs: dict[str, str] = field(default_factory=dict)  # required attribute -> meaning
    # typed attributes: attribute -> the record type it holds (multiscale.records), stored as JSON
    records: dict[str, Any] = field(default_factory=dict)


def _structure_datasets(per: str) -> dict[str, Dataset]:
    """Datasets of a set of atomic configurations (``per`` = the configuration dimension)."""
    return {
        "n_atoms": Dataset("i8", (per,), "1", "atoms in each configuration"),
        "numbers": Dataset("i8", ("n_atoms_total",), "1", "atomic numbers, concatenated"),
        "positions": Dataset("f8", ("n_atoms_total", 3), "Angstrom", "Cartesian positions, concatenated"),
        "cell": Dataset("f8", (per, 3, 3), "Angstrom", "cell vectors as rows"),
        "pbc": Dataset("bool", (per, 3), "1", "periodicity along each cell vector"),
    }


_LABELS = {
    "energy": Dataset("f8", ("n_configs",), "eV", "energy per cell: the force-consistent (Mermin free) energy"),
    "forces": Dataset("f8", ("n_atoms_total", 3), "eV/Angstrom", "atomic forces, concatenated"),
    "stress": Dataset("f8", ("n_configs", 6), "GPa", "stress, Voigt xx yy zz yz xz xy, positive tensile"),
}

_PROPERTY_TABLE = {
    "names": Dataset(STR, ("n_props",), "-", "property names (e.g. a0, B, C11)"),
    "values": Dataset("f8", ("n_props",), "see units", "property values"),
    "std": Dataset("f8", ("n_props",), "see units", "one standard deviation (fit or posterior); NaN if unknown"),
    "units": Dataset(STR, ("n_props",), "-", "units of each property"),
    "notes": Dataset(STR, ("n_props",), "-", "how each value was obtained (cell, settings, method)"),
}


def _grid_fields(prefix: str, what: str) -> dict[str, Dataset]:
    return {
        f"{prefix}displacement": Dataset("f8", ("n_cells", 3), "nm", f"{what} displacement, kernel average"),
        f"{prefix}stress": Dataset("f8", ("n_cells", 6), "GPa", f"{what} stress, Voigt, kernel average"),
    }


_MONITOR = {
    "monitor_step": Dataset("i8", ("n_frames",), "1", "minimiser iteration of the frame within its relaxation"),
    "monitor_strain": Dataset("f8", ("n_frames",), "1", "applied strain of the frame"),
    "monitor_max_std": Dataset("f8", ("n_frames",), "eV", "largest per-atom epistemic energy std"),
    "monitor_mean_std": Dataset("f8", ("n_frames",), "eV", "mean per-atom epistemic energy std"),
    "monitor_max_grade": Dataset("f8", ("n_frames",), "1", "largest extrapolation grade"),
    "monitor_n_above": Dataset("i8", ("n_frames",), "1", "atoms above the extrapolation threshold"),
}

KINDS: dict[str, ArtifactKind] = {
    k.name: k
    for k in [
        ArtifactKind(
            "dft_structures",
            1,
            "Generated configurations of one group, before any calculation.",
            {
                **_structure_datasets("n_configs"),
                "names": Dataset(STR, ("n_configs",), "-", "unique configuration names"),
                "groups": Dataset(STR, ("n_configs",), "-", "configuration group label"),
                "metadata": Dataset(STR, ("n_configs",), "-", "JSON: strain tensor, temperature, defect..."),
            },
            {"group": "group of all configurations in this file", "material": "JSON material settings"},
        ),
        ArtifactKind(
            "dft_calc",
            1,
            "One DFT single-point calculation of one configuration.",
            {
                **_structure_datasets("n_configs"),
                **_LABELS,
                "scf_iterations": Dataset("i8", ("n_configs",), "1", "SCF iterations used"),
                "wall_time": Dataset("f8", ("n_configs",), "s", "wall time of the calculation"),
                "initial_magmoms": Dataset("f8", ("n_atoms_total",), "Bohr magneton",
                                           "initial magnetic moments (spin-polarised calculations only)", True),
                "magmoms": Dataset("f8", ("n_atoms_total",), "Bohr magneton",
                                   "converged local magnetic moments (spin-polarised calculations only)", True),
                "magmom": Dataset("f8", ("n_configs",), "Bohr magneton",
                                  "total magnetic moment of the cell (spin-polarised calculations only)", True),
            },
            {
                "name": "configuration name",
                "group": "configuration group",
                "metadata": "JSON metadata of the configuration",
                "settings": "JSON DFT settings used",
                "cache_key": "sha256 of (structure, settings, code version)",
                "retries": "JSON list of retries with the settings changed",
            },
        ),
        ArtifactKind(
            "dft_convergence_runs",
            1,
            "The calculations of one part of the DFT convergence study (cells: training cells vs cutoff and "
            "k-density; elastic: primitive-cell EOS and strained cells vs k-density, smearing and cutoff).",
            {
                **_structure_datasets("n_calcs"),
                "energy": Dataset("f8", ("n_calcs",), "eV", "force-consistent energy per cell"),
                "forces": _LABELS["forces"],
                "stress": Dataset("f8", ("n_calcs", 6), "GPa", "stress, Voigt, positive tensile"),
                "series": Dataset(STR, ("n_calcs",), "-", "scanned parameter (ecut, kpt_density, smearing) or eos"),
                "structure": Dataset(STR, ("n_calcs",), "-", "bulk/rattled, or the strain mode zero/xx/yz"),
                "ecut": Dataset("f8", ("n_calcs",), "eV", "plane-wave cutoff"),
                "kpt_density": Dataset("f8", ("n_calcs",), "1/Angstrom", "k-point density"),
                "smearing": Dataset("f8", ("n_calcs",), "eV", "smearing width (method: attribute reference/settings)"),
                "kpts": Dataset("i8", ("n_calcs", 3), "1", "Monkhorst-Pack mesh used"),
                "strain_voigt": Dataset("f8", ("n_calcs", 6), "1", "applied strain (engineering shear)"),
                "scf_iterations": Dataset("i8", ("n_calcs",), "1", "SCF iterations"),
                "wall_time": Dataset("f8", ("n_calcs",), "s", "wall time of the (cached) calculation"),
            },
            {"part": "cells or elastic", "settings": "JSON configured (training) DFT settings",
             "reference": "JSON settings the scans are centred on", "material": "JSON material",
             "convergence": "JSON convergence settings"},
        ),
        ArtifactKind(
            "transfer_curve",
            1,
            "Few-shot transfer (multiscale.transfer): test force RMSE of a held-out element vs DFT calls, learned "
            "prior vs default prior, one row per (prior, DFT-call count).",
            {
                "prior": Dataset(STR, ("n_points",), "-", "default or learned"),
                "calls": Dataset("i8", ("n_points",), "1", "DFT calls on the target (its EOS cells included)"),
                "rmse": Dataset("f8", ("n_points",), "eV/Angstrom", "test force RMSE"),
                "rmse_lo": Dataset("f8", ("n_points",), "eV/Angstrom", "5 % bootstrap quantile over test atoms"),
                "rmse_hi": Dataset("f8", ("n_points",), "eV/Angstrom", "95 % bootstrap quantile over test atoms"),
                "added": Dataset(STR, ("n_points",), "-", "the configuration added at this count ('' at the start)"),
            },
            {"target": "held-out element", "sources": "JSON source elements", "scales": "JSON per element: a0, "
             "B, length and energy scales of the reduced crystal", "target_force_rmse": "eV/Angstrom",
             "calls_to_target": "JSON per prior: DFT calls to reach the target error (null: never)",
             "zero_shot_force_rmse": "eV/Angstrom, the learned prior's mean alone",
             "prior_mean": "JSON learned prior mean (reduced units)", "prior_std": "JSON learned prior std",
             "source_coefficients": "JSON each source's fitted coefficients (reduced units)",
             "noise_model": "JSON the sources' residual std per label kind (reduced units) and the row weights",
             "settings": "JSON transfer settings"},
        ),
        ArtifactKind(
            "dft_convergence",
            3,
            "The DFT convergence study: errors of the training settings, and elastic constants vs settings.",
            {
                "cell_parameter": Dataset(STR, ("n_cell_rows",), "-", "scanned parameter (ecut or kpt_density)"),
                "cell_value": Dataset("f8", ("n_cell_rows",), "eV or 1/Angstrom", "value of the parameter"),
                "cell_kpts": Dataset("i8", ("n_cell_rows", 3), "1", "k-point mesh of the bulk cell"),
                "cell_energy_error": Dataset("f8", ("n_cell_rows",), "meV/atom",
                                             "error of the rattled-minus-bulk energy per atom vs the tightest value"),
                "cell_energy_abs_error": Dataset("f8", ("n_cell_rows",), "meV/atom",
                                                 "error of the bulk energy per atom vs the tightest value"),
                "cell_force_error": Dataset("f8", ("n_cell_rows",), "eV/Angstrom", "largest force component error"),
                "cell_stress_error": Dataset("f8", ("n_cell_rows",), "GPa", "largest stress component error"),
                "cell_passes": Dataset("bool", ("n_cell_rows",), "1", "all three errors within the tolerances"),
                "cell_configured": Dataset("bool", ("n_cell_rows",), "1", "the row of the configured setting"),
                "elastic_parameter": Dataset(STR, ("n_el_rows",), "-", "scanned parameter"),
                "elastic_value": Dataset("f8", ("n_el_rows",), "see parameter", "value of the parameter"),
                "elastic_kpts": Dataset("i8", ("n_el_rows", 3), "1", "k-point mesh of the shear cell"),
                "elastic_C": Dataset("f8", ("n_el_rows", 3), "GPa", "C11, C12, C44"),
                "elastic_C_std": Dataset("f8", ("n_el_rows", 3), "GPa", "fit standard errors"),
                "elastic_change": Dataset("f8", ("n_el_rows", 3), "1",
                                          "relative change to the next tighter value of the scan (NaN: tightest)"),
                "elastic_reference": Dataset("bool", ("n_el_rows",), "1", "the row of the reference setting"),
                "elastic_at_reference_value": Dataset("bool", ("n_el_rows",), "1", "the scan's value equal to the "
                                                      "reference's (whose change is the remaining error)"),
                "elastic_kpt_density": Dataset("f8", ("n_el_rows",), "1/Angstrom",
                                               "k-point density the row ran at (convergence.elastic.scan_at)"),
            },
            {"tolerances": "JSON tolerances", "configured": "JSON training settings",
             "reference": "JSON reference settings of the elastic scans", "remaining": "JSON remaining error per "
             "constant and parameter", "verdict": "JSON: configured settings and reference within tolerances",
             "eos": "JSON a0, B at the reference settings"},
        ),
        ArtifactKind(
            "dft_dataset",
            2,
            "All DFT-labelled configurations of a study: the training/validation data of the potential. A "
            "configuration of a fidelity without a shared energy reference has energy NaN (stress/force labels only).",
            {
                **_structure_datasets("n_configs"),
                **_LABELS,
                "names": Dataset(STR, ("n_configs",), "-", "configuration names"),
                "groups": Dataset(STR, ("n_configs",), "-", "configuration groups"),
                "fidelity": Dataset(STR, ("n_configs",), "-", "DFT settings family of the labels: training (the "
                                    "configured settings), converged (the convergence study's reference scans) or "
                                    "an external fidelity (dft.external: the user's files, settings as declared)"),
                "metadata": Dataset(STR, ("n_configs",), "-", "JSON metadata per configuration (external data: "
                                    "'source' names the file and frame)"),
                "scf_iterations": Dataset("i8", ("n_configs",), "1", "SCF iterations used (-1: external data)"),
                "wall_time": Dataset("f8", ("n_configs",), "s", "wall time per calculation (NaN: external data)"),
                "initial_magmoms": Dataset("f8", ("n_atoms_total",), "Bohr magneton", "initial magnetic moments "
                                           "(a study with spin-polarised calculations; NaN: not recorded)", True),
                "magmoms": Dataset("f8", ("n_atoms_total",), "Bohr magneton", "converged local magnetic moments "
                                   "(a study with spin-polarised calculations; NaN: not recorded)", True),
            },
            {"settings": "JSON DFT settings", "dropped": "JSON list of dropped configurations and why",
             "fidelities": "JSON: per fidelity, the DFT settings of its labels and which labels are fitted "
                           "('labels'); an external fidelity also its energy rule and source files"},
        ),
        ArtifactKind(
            "eos",
            1,
            "Equation-of-state fit (Birch-Murnaghan) of energy vs volume per atom.",
            {
                "volume": Dataset("f8", ("n_points",), "Angstrom^3/atom", "volume per atom"),
                "energy": Dataset("f8", ("n_points",), "eV/atom", "energy per atom"),
            },
            {
                "a0": "equilibrium lattice constant, Angstrom",
                "a0_std": "its fit standard deviation, Angstrom",
                "B": "bulk modulus, GPa",
                "B_std": "its fit standard deviation, GPa",
                "Bp": "pressure derivative of B",
                "E0": "minimum energy per atom, eV",
                "V0": "equilibrium volume per atom, Angstrom^3",
            },
        ),
        ArtifactKind(
            "properties",
            1,
            "A table of material properties from one scale, with uncertainties and provenance notes.",
            {**_PROPERTY_TABLE,
             "samples": Dataset("f8", ("n_samples", "n_props"), "see units",
                                "each property for every posterior draw that gave a stable lattice", optional=True)},
            {"scale": "dft, mlip or md", "settings": "JSON settings at which the values were computed"},
        ),
        ArtifactKind(
            "potential",
            1,
            "A fitted linear SNAP potential with Bayesian posterior and held-out validation.",
            {
                "coefficients": Dataset("f8", ("n_coeff",), "eV", "posterior mean, LAMMPS .snapcoeff order"),
                "covariance": Dataset("f8", ("n_coeff", "n_coeff"), "eV^2", "posterior covariance"),
                "split": Dataset(STR, ("n_configs",), "-", "train or test, per dataset configuration"),
                "config_names": Dataset(STR, ("n_configs",), "-", "dataset configuration names"),
                "energy_dft": Dataset("f8", ("n_configs",), "eV/atom", "DFT energy per atom"),
                "energy_pred": Dataset("f8", ("n_configs",), "eV/atom", "predicted energy per atom"),
                "energy_std": Dataset("f8", ("n_configs",), "eV/atom", "predictive std of energy per atom"),
                "forces_dft": Dataset("f8", ("n_atoms_total", 3), "eV/Angstrom", "DFT forces"),
                "forces_pred": Dataset("f8", ("n_atoms_total", 3), "eV/Angstrom", "predicted forces"),
                "forces_std": Dataset("f8", ("n_atoms_total", 3), "eV/Angstrom", "predictive std of forces"),
                "stress_dft": Dataset("f8", ("n_configs", 6), "GPa", "DFT stress"),
                "stress_pred": Dataset("f8", ("n_configs", 6), "GPa", "predicted stress"),
                "n_atoms": Dataset("i8", ("n_configs",), "1", "atoms per configuration"),
                "grade_mean": Dataset("f8", ("n_bispectrum",), "1", "training mean of per-atom bispectrum"),
                "grade_scale": Dataset("f8", ("n_bispectrum",), "1", "training std of per-atom bispectrum"),
                "grade_inverse": Dataset("f8", ("n_bispectrum", "n_bispectrum"), "1",
                                         "inverse (ridged) covariance of standardised training bispectra"),
            },
            {
                "grade_edge": "largest Mahalanobis distance of a training atom (grade 1)",
                "snapparam": "text of the LAMMPS .snapparam file",
                "snapcoeff": "text of the LAMMPS .snapcoeff file",
                "element": "chemical symbol",
                "hyperparameters": "JSON: alpha (noise precision), lambda (prior precision), per-row weights",
                "metrics": "JSON: RMSE/MAE per split and per group",
                "settings": "JSON MLIP settings",
            },
        ),
        ArtifactKind(
            "descriptors",
            1,
            "SNAP design rows of every dataset configuration (from LAMMPS compute snap), for fitting and validation.",
            {
                "n_atoms": Dataset("i8", ("n_configs",), "1", "atoms per configuration"),
                "energy": Dataset("f8", ("n_configs", "n_coeff"), "1", "energy row: N and sum of B over atoms"),
                "forces": Dataset("f8", ("n_atoms_total", 3, "n_coeff"), "1/Angstrom", "force rows per atom"),
                "stress": Dataset("f8", ("n_configs", 6, "n_coeff"), "GPa", "stress rows, Voigt, positive tensile"),
                "atom": Dataset("f8", ("n_atoms_total", "n_linear"), "1", "per-atom linear bispectrum (col 0 = 1)"),
            },
            {"settings": "JSON SNAP settings (model, 2J, cutoff)", "model": "linear or quadratic"},
        ),
        ArtifactKind(
            "mlip_validation",
            1,
            "Validation of fitted potentials: per-group metrics, leave-one-group-out, conformal calibration.",
            {
                "split": Dataset(STR, ("n_configs",), "-", "train, calibration or test"),
                "groups": Dataset(STR, ("n_configs",), "-", "configuration groups"),
                "force_error": Dataset("f8", ("n_atoms_total",), "eV/Angstrom", "|F_pred - F_dft| per atom"),
                "force_std": Dataset("f8", ("n_atoms_total",), "eV/Angstrom", "predicted std (norm over xyz)"),
                "grade": Dataset("f8", ("n_atoms_total",), "1", "extrapolation grade per atom (1 = training edge)"),
                "levels": Dataset("f8", ("n_levels",), "1", "nominal coverage levels of the calibration curve"),
                "observed": Dataset("f8", ("n_levels",), "1", "observed coverage of Gaussian intervals, test forces"),
            },
            {"report": "JSON: metrics per model/split/group, LOGO, conformal coverage, baseline, Spearman",
             "settings": "JSON MLIP settings"},
        ),
        ArtifactKind(
            "md_specimen",
            2,
            "The plate-with-hole specimen relaxed in LAMMPS: per-atom fields, trust monitor, coarse-grained grid "
            "fields, the plasticity strain sweep. Positions and displacements in nm.",
            {
                "reference": Dataset("f8", ("n_atoms", 3), "nm", "ideal lattice sites (hole centred at the origin)"),
                "frame": Dataset("bool", ("n_atoms",), "1", "atom belongs to the displacement-controlled frame"),
                "coordination": Dataset("f8", ("n_atoms",), "1", "neighbours within the 1st/2nd shell midpoint"),
                "cna": Dataset("i8", ("n_atoms",), "1", "common neighbour analysis id (LAMMPS cna/atom)"),
                "atom_std": Dataset("f8", ("n_atoms",), "eV", "epistemic std of the atom's energy, under load"),
                "grade": Dataset("f8", ("n_atoms",), "1", "extrapolation grade, under load"),
                **_MONITOR,
                "centres": Dataset("f8", ("n_cells", 2), "nm", "shared grid cell centres"),
                **_grid_fields("", "MD, under load (from the ideal lattice)"),
                **_grid_fields("load_", "MD, load-induced (loaded minus zero-load relaxed)"),
                **_grid_fields("residual_", "MD, zero load (surface relaxation)"),
                "cell_atoms": Dataset("f8", ("n_cells",), "1", "atoms whose site lies in the cell"),
                "cell_coordination": Dataset("f8", ("n_cells",), "1", "mean coordination in the cell"),
                "cell_non_lattice": Dataset("f8", ("n_cells",), "1", "fraction of atoms not in the lattice's CNA "
                                            "structure"),
                "cell_max_std": Dataset("f8", ("n_cells",), "eV", "largest per-atom epistemic std in the cell"),
                "cell_max_grade": Dataset("f8", ("n_cells",), "1", "largest extrapolation grade in the cell"),
                "sweep_strain": Dataset("f8", ("n_sweep",), "1", "applied strain of each sweep point"),
                "sweep_non_lattice_interior": Dataset("i8", ("n_sweep",), "1", "non-lattice atoms away from the "
                                                      "hole surface and the frame (plasticity indicator)"),
                "sweep_non_lattice": Dataset("i8", ("n_sweep",), "1", "all non-lattice atoms"),
                "sweep_max_grade": Dataset("f8", ("n_sweep",), "1", "largest extrapolation grade"),
                "sweep_n_above": Dataset("i8", ("n_sweep",), "1", "atoms above the extrapolation threshold"),
                "sweep_far_stress_xx": Dataset("f8", ("n_sweep",), "GPa", "mean sigma_xx of far-field cells"),
                "sweep_max_stress_xx": Dataset("f8", ("n_sweep",), "GPa", "largest sigma_xx of the grid"),
                "sweep_energy": Dataset("f8", ("n_sweep",), "eV", "potential energy of the specimen"),
                "sweep_cna": Dataset("i8", ("n_sweep", "n_atoms"), "1", "CNA id of every atom at each sweep point"),
                "atom_displacement": Dataset("f8", ("n_atoms", 3), "nm", "each atom's displacement from its ideal "
                                             "site, relaxed under load"),
                "atom_residual_displacement": Dataset("f8", ("n_atoms", 3), "nm", "each atom's displacement from "
                                                      "its ideal site, relaxed at zero load"),
                "sweep_displacement": Dataset("f8", ("n_sweep", "n_atoms", 3), "nm", "each atom's displacement at "
                                              "each sweep point"),
            },
            {"specimen": "machine-readable specimen description (geometry, orientation, BCs, grid)",
             "flagged": "true if any frame had an atom above the extrapolation threshold",
             "bulk_stress": "stress (GPa, Voigt) of the same homogeneous strain in a periodic bulk cell",
             "far_field": "far-field cell definition and mean stresses",
             "plasticity": "onset strain of plasticity (or none below the largest swept strain)",
             "potential": "potential used", "settings": "JSON md and specimen settings",
             "relaxations": "per relaxation, iterations, final max force and whether it met the tolerance"},
            {"specimen": SpecimenDescription, "far_field": FarField, "plasticity": PlasticityOnset,
             "relaxations": list[Relaxation], "bulk_stress": list[float]},
        ),
        ArtifactKind(
            "continuum",
            2,
            "Continuum (FEM) solution of the specimen: homogeneous check, Kirsch verification, plate fields on the "
            "shared grid (posterior ensemble mean and std), the linear response at the sweep strains.",
            {
                "strain": Dataset("f8", (6,), "1", "applied homogeneous strain, Voigt (engineering shear)"),
                "stress_fem": Dataset("f8", (6,), "GPa", "volume-averaged FEM stress of the homogeneous strain"),
                "stress_md": Dataset("f8", (6,), "GPa", "MD stress of the same homogeneous strain"),
                "stiffness": Dataset("f8", (6, 6), "GPa", "Voigt stiffness in the specimen frame (from MD)"),
                "centres": Dataset("f8", ("n_cells", 2), "nm", "shared grid cell centres"),
                **_grid_fields("", "FEM (posterior-mean stiffness)"),
                **_grid_fields("mean_", "FEM ensemble mean over posterior stiffness draws"),
                **_grid_fields("std_", "FEM ensemble std over posterior stiffness draws"),
                "fields_3d_displacement": Dataset("f8", ("n_cells", 3), "nm", "3D model (u_z = 0 on the z faces), "
                                                  "mid-thickness, kernel average"),
                "fields_3d_stress": Dataset("f8", ("n_cells", 6), "GPa", "3D model stress, kernel average"),
            },
            {"settings": "JSON continuum settings", "mesh": "JSON mesh description", "xdmf": "field file",
             "specimen": "specimen description the solve reproduced (from the MD stage)",
             "kirsch": "JSON: Kirsch verification at these mesh settings (SCF, L2 error)",
             "ensemble": "JSON: number of posterior stiffness draws"},
            {"specimen": SpecimenDescription},
        ),
        ArtifactKind(
            "divergence",
            4,
            "Divergence records between scales: each quantity at the finer and the coarser scale.",
            {
                "transition": Dataset(STR, ("n_records",), "-", "e.g. dft->mlip, mlip->md, md->continuum"),
                "quantity": Dataset(STR, ("n_records",), "-", "what is compared"),
                "fine": Dataset("f8", ("n_records",), "see units", "value at the finer (reference) scale"),
                "fine_std": Dataset("f8", ("n_records",), "see units", "its uncertainty (NaN if unknown)"),
                "coarse": Dataset("f8", ("n_records",), "see units", "value at the coarser scale"),
                "coarse_std": Dataset("f8", ("n_records",), "see units", "its uncertainty (NaN if unknown)"),
                "difference": Dataset("f8", ("n_records",), "see units", "coarse - fine"),
                "relative": Dataset("f8", ("n_records",), "1", "(coarse - fine)/|fine| (NaN if fine ~ 0)"),
                "units": Dataset(STR, ("n_records",), "-", "units"),
                "mlip_feature_names": Dataset(STR, ("n_mlip_features",), "-", "features of the per-atom records"),
                "atom_features": Dataset("f8", ("n_atom_records", "n_mlip_features"), "see names",
                                         "DFT -> MLIP per atom (out-of-sample configurations): features"),
                "atom_error": Dataset("f8", ("n_atom_records",), "eV/Angstrom", "|F_MLIP - F_DFT| per atom"),
                "atom_shap": Dataset("f8", ("n_atom_records", "n_mlip_features"), "eV/Angstrom",
                                     "SHAP value of each feature for each atom's force error"),
                "atom_config": Dataset(STR, ("n_atom_records",), "-", "configuration of each atom record"),
                "atom_group": Dataset(STR, ("n_atom_records",), "-", "configuration group of each atom record"),
                "continuum_feature_names": Dataset(STR, ("n_continuum_features",), "-", "features of the cells"),
                "cell_centres": Dataset("f8", ("n_cells", 2), "nm", "shared grid cell centres"),
                "cell_features": Dataset("f8", ("n_cells", "n_continuum_features"), "see names",
                                         "atomistic -> continuum per cell: features"),
                "cell_stress_difference": Dataset("f8", ("n_cells", 6), "GPa", "FEM - MD (load-induced) stress"),
                "cell_displacement_difference": Dataset("f8", ("n_cells",), "nm",
                                                        "|FEM - MD (load-induced)| in-plane displacement"),
                "cell_relative": Dataset("f8", ("n_cells",), "1", "|FEM - MD stress| / |bulk stress of the strain|"),
                "cell_relative_std": Dataset("f8", ("n_cells",), "1", "its std from the FEM posterior ensemble"),
                "cell_local_relative": Dataset("f8", ("n_cells",), "1",
                                               "|FEM - MD stress| / |MD stress of the cell| (floor 10% of bulk): "
                                               "the quantity the discrepancy model explains"),
                "cell_valid": Dataset("bool", ("n_cells",), "1", "cell has MD atoms and finite features"),
                "cell_shap": Dataset("f8", ("n_cells", "n_continuum_features"), "1",
                                     "SHAP value of each feature for each valid cell's local relative divergence "
                                     "(NaN for invalid cells)"),
            },
            {"study": "study name",
             "validity": "validity regions (g* for MLIP forces, d* for continuum stress) with uncertainty",
             "explanations": "per transition, discrepancy model CV R2, SHAP global ranking, trust verdict",
             "plasticity": "strain sweep, onset strain and where, MD vs linear continuum",
             "monitor": "trust monitor of the specimen relaxations",
             "settings": "JSON atlas settings"},
            {"validity": Validity, "explanations": dict[str, Explanation | None], "plasticity": PlasticityRecord,
             "monitor": MonitorSummary},
        ),
        ArtifactKind(
            "environments",
            1,
            "Atomic environments of the study clustered in the standardised bispectrum space (divergence."
            "environments): every atom of the potential's DFT dataset, the active-learning candidates and the "
            "specimen's free atoms, with its cluster, 2-D embedding, structure and what the atlas knows of it.",
            {
                "cluster": Dataset("i8", ("n_env_atoms",), "1", "KMeans cluster of each atom"),
                "embedding": Dataset("f8", ("n_env_atoms", 2), "1", "first two principal components of the "
                                     "standardised bispectrum"),
                "source": Dataset(STR, ("n_env_atoms",), "-", "train, calibration, test, candidate, "
                                  "specimen_zero_load, specimen_loaded or specimen_sweep"),
                "group": Dataset(STR, ("n_env_atoms",), "-", "configuration group (specimen atoms: their source)"),
                "grade": Dataset("f8", ("n_env_atoms",), "1", "extrapolation grade under the potential"),
                "force_std": Dataset("f8", ("n_env_atoms",), "eV/Angstrom", "epistemic force std (norm)"),
                "force_error": Dataset("f8", ("n_env_atoms",), "eV/Angstrom", "|F_MLIP - F_DFT| (NaN without DFT)"),
                "coordination": Dataset("f8", ("n_env_atoms",), "1", "neighbours within the shell midpoint"),
                "cna": Dataset("i8", ("n_env_atoms",), "1", "LAMMPS cna/atom id (0 unknown, 1 fcc, 2 hcp, 3 bcc, "
                               "4 icosahedral, 5 other)"),
                "nn_strain": Dataset("f8", ("n_env_atoms",), "1", "mean neighbour distance / ideal - 1"),
                "hole_distance": Dataset("f8", ("n_env_atoms",), "nm", "distance of the site from the hole "
                                         "surface (NaN off the specimen)"),
                "clusters_tried": Dataset("i8", ("n_k",), "1", "numbers of clusters tried"),
                "silhouette": Dataset("f8", ("n_k",), "1", "mean silhouette of each (the largest is chosen)"),
            },
            {"clusters": "per cluster: structure label, counts by source, force errors, std, grade, cells, "
                         "Mondrian conformal force-error bound",
             "criterion": "how the number of clusters was chosen", "settings": "JSON environment settings",
             "confidence": "confidence of the Mondrian bounds",
             "mondrian_test_coverage": "share of the bounded clusters' test atoms within their cluster's bound "
                                       "(NaN: none)"},
            {"clusters": list[EnvironmentCluster]},
        ),
        ArtifactKind(
            "validity",
            1,
            "Conformal validity regions of the continuum (divergence.validity): per specimen (the study's, the "
            "calibration and the held-out ones), the empirical coverage of the split-conformal intervals of the "
            "per-cell divergence |FEM - MD| / |bulk stress|, the certified share and the conformal d*.",
            {
                "specimen": Dataset(STR, ("n_specimens",), "-", "specimen name (study, cal<i>, held<i>)"),
                "role": Dataset(STR, ("n_specimens",), "-", "training, calibration or held-out"),
                "cells": Dataset("i8", ("n_specimens",), "1", "valid grid cells"),
                "coverage": Dataset("f8", ("n_specimens",), "1", "share of cells whose divergence lies in its "
                                    "interval"),
                "certified_fraction": Dataset("f8", ("n_specimens",), "1", "share of cells whose upper bound is "
                                              "within the tolerance"),
                "certified_correct": Dataset("f8", ("n_specimens",), "1", "of those, the share truly within it "
                                             "(NaN: none certified)"),
                "d_star": Dataset("f8", ("n_specimens",), "nm", "conformal d* (NaN: no distance certifies)"),
                "empirical_d_star": Dataset("f8", ("n_specimens",), "nm", "the same from the MD divergence"),
            },
            {"confidence": "nominal coverage", "tolerance": "divergence tolerance (relative to the bulk stress)",
             "held_out_coverage": "coverage pooled over the held-out specimens' cells",
             "variants": "each specimen's role and override", "method": "how the intervals were made"},
            {"variants": list[ValidityVariant]},
        ),
        ArtifactKind(
            "al_candidates",
            1,
            "Active learning: candidate configurations of one iteration (or the picked batch, or the fixed test set), "
            "each graded by that iteration's potential before any DFT call.",
            {
                **_structure_datasets("n_configs"),
                "names": Dataset(STR, ("n_configs",), "-", "configuration names (it<k>_<family cell>)"),
                "groups": Dataset(STR, ("n_configs",), "-", "al_<explorer family>"),
                "metadata": Dataset(STR, ("n_configs",), "-", "JSON: family, strain, shift, temperature, centre"),
                "grade": Dataset("f8", ("n_atoms_total",), "1", "extrapolation grade per atom"),
                "force_std": Dataset("f8", ("n_atoms_total",), "eV/Angstrom",
                                     "epistemic force std per atom (norm over x, y, z)"),
                "max_grade": Dataset("f8", ("n_configs",), "1", "largest grade of each configuration"),
            },
            {"iteration": "0-based iteration", "specimen": "JSON: per explorer strain, flagged free atoms, max "
             "grade, collapse", "threshold": "extrapolation threshold", "settings": "JSON active_learning settings"},
        ),
        ArtifactKind(
            "al_record",
            1,
            "Active learning: per iteration's potential P_k, the DFT labels used before it, its RMSE on the fixed "
            "test set, the trust monitor's coverage on the batch it chose, C44 and stacking-fault energies "
            "(closed form, posterior std), the explorer specimen's flagged free atoms and largest grade at zero load.",
            {
                "iteration": Dataset("i8", ("n_iter",), "1", "k"),
                "dft_calls": Dataset("i8", ("n_iter",), "1", "DFT labels of the loop before P_k"),
                "energy_rmse": Dataset("f8", ("n_iter",), "meV/atom", "fixed test set"),
                "force_rmse": Dataset("f8", ("n_iter",), "eV/Angstrom", "fixed test set"),
                "stress_rmse": Dataset("f8", ("n_iter",), "GPa", "fixed test set"),
                "coverage": Dataset("f8", ("n_iter",), "1", "force components of P_k's batch inside its "
                                    "split-conformal interval (NaN: no batch)"),
                **{q: Dataset("f8", ("n_iter",), u, d) for q, u, d in (
                    ("c44", "GPa", "C44 of P_k"), ("c44_std", "GPa", "posterior std"),
                    ("usf_111", "mJ/m^2", "unrelaxed unstable stacking-fault energy of P_k"),
                    ("usf_111_std", "mJ/m^2", "posterior std"),
                    ("isf_111", "mJ/m^2", "unrelaxed intrinsic stacking-fault energy of P_k"),
                    ("isf_111_std", "mJ/m^2", "posterior std"))},
                "specimen_flagged": Dataset("i8", ("n_iter",), "1", "free atoms beyond the threshold at the first "
                                            "explorer strain (-1: no specimen explorer)"),
                "specimen_max_grade": Dataset("f8", ("n_iter",), "1", "largest free-atom grade there"),
            },
            {"rule": "selection rule", "qoi": "downstream quantity", "settings": "JSON active_learning settings",
             "test_set": "JSON names and groups of the fixed test set",
             "specimen_by_strain": "JSON per iteration: per explorer strain, flagged free atoms, max grade, collapse"},
        ),
    ]
}


@dataclass
class Artifact:
    """An artifact read back from disk: validated datasets, attributes and provenance."""

    kind: ArtifactKind
    path: Path
    data: dict[str, np.ndarray]
    attrs: dict[str, Any]
    provenance: dict[str, Any]
    digest_checked: bool = True  # False: written before content digests, read unchecked

    def __getitem__(self, key: str) -> np.ndarray:
        return self.data[key]

    def json_attr(self, key: str) -> Any:
        """An untyped JSON attribute, decoded."""
        return json.loads(self.attrs[key])

    def attr(self, key: str) -> Any:
        """A typed attribute as its record (:mod:`multiscale.records`); a plain attribute as stored."""
        if key not in self.attrs:
            raise ArtifactError(f"{self.path}: '{self.kind.name}' artifact has no attribute '{key}'")
        tp = self.kind.records.get(key)
        return self.attrs[key] if tp is None else from_json(tp, self.attrs[key], f"{self.path}: attribute {key}")


# ------------------------------------------------------------------------------------------- provenance
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def digest(obj: Any) -> str:
    """Stable sha256 of a JSON-serialisable object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


_SOFTWARE = ("gpaw", "lammps", "dolfinx-solver-real", "fenics-basix", "ase", "numpy", "scipy", "h5py", "snakemake")


def software_versions() -> dict[str, str]:
    """Versions of the codes behind every number, read from package metadata (no heavy imports)."""
    out = {}
    for name in _SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    import platform

    out["python"] = platform.python_version()
    return out


def git_commit() -> str:
    """Commit of the source tree this package runs from ('-dirty' if modified), or 'unknown'."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=5, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(inputs: Iterable[str | os.PathLike] = (), config: Any = None) -> dict[str, Any]:
    return {
        "package": "multiscale",
        "package_version": __version__,
        "git_commit": git_commit(),
        "config_digest": digest(config) if config is not None else None,
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "software": software_versions(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# ------------------------------------------------------------------------------------------- validation
def _as_array(kind: ArtifactKind, key: str, spec: Dataset, value: Any) -> np.ndarray:
    if spec.dtype == STR:
        arr = np.asarray(value, dtype=object)
        if arr.size and not all(isinstance(v, str) for v in arr.ravel()):
            raise ArtifactError(f"artifact kind '{kind.name}': dataset '{key}' must hold strings")
        return arr
    try:
        return np.asarray(value, dtype=spec.dtype)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"artifact kind '{kind.name}': dataset '{key}' is not convertible to "
                            f"{spec.dtype}: {exc}") from exc


def validate(kind: ArtifactKind, data: Mapping[str, Any], where: str = "") -> dict[str, np.ndarray]:
    """Check names, dtypes and symbolic shapes; return the data as arrays."""
    where = f" in {where}" if where else ""
    unknown = set(data) - set(kind.datasets)
    if unknown:
        raise ArtifactError(f"artifact kind '{kind.name}'{where}: undeclared datasets {sorted(unknown)}; "
                            f"declare them in multiscale.artifacts.KINDS")
    dims: dict[str, int] = {}
    out = {}
    for key, spec in kind.datasets.items():
        if key not in data:
            if spec.optional:
                continue
            raise ArtifactError(f"artifact kind '{kind.name}'{where}: required dataset '{key}' is missing")
        arr = _as_array(kind, key, spec, data[key])
        if arr.ndim != len(spec.shape):
            raise ArtifactError(f"artifact kind '{kind.name}'{where}: dataset '{key}' has shape {arr.shape}, "
                                f"expected {spec.shape}")
        for axis, (n, sym) in enumerate(zip(arr.shape, spec.shape, strict=True)):
            if isinstance(sym, int):
                if n != sym:
                    raise ArtifactError(f"artifact kind '{kind.name}'{where}: dataset '{key}' axis {axis} has "
                                        f"length {n}, expected {sym}")
            elif dims.setdefault(sym, n) != n:
                raise ArtifactError(f"artifact kind '{kind.name}'{where}: dataset '{key}' axis {axis} ('{sym}') "
                                    f"has length {n} but another dataset gives '{sym}' = {dims[sym]}")
        out[key] = arr
    if "n_atoms" in out and "n_atoms_total" in dims and int(out["n_atoms"].sum()) != dims["n_atoms_total"]:
        raise ArtifactError(f"artifact kind '{kind.name}'{where}: sum(n_atoms) = {int(out['n_atoms'].sum())} "
                            f"but per-atom datasets have {dims['n_atoms_total']} rows")
    return out


def _attr_value(kind: ArtifactKind, key: str, value: Any, where: str) -> Any:
    tp = kind.records.get(key)
    if tp is not None:
        outer = typing.get_origin(tp) or tp
        if not isinstance(value, outer if isinstance(outer, type) else object):
            raise ArtifactError(f"artifact kind '{kind.name}' for {where}: attribute '{key}' must be a "
                                f"{getattr(tp, '__name__', tp)} record, got {type(value).__name__}")
        return to_json(value)
    if isinstance(value, str | int | float | bool | np.integer | np.floating):
        return value
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------------------------------- content digest
def _value_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        return json.dumps([v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()]).encode()
    return f"{arr.dtype.str}{arr.shape}".encode() + np.ascontiguousarray(arr).tobytes()


def _attrs_bytes(h: hashlib._Hash, attrs: h5py.AttributeManager, skip: str = "") -> None:
    for name in sorted(attrs):
        if name != skip:
            h.update(name.encode() + b"\0" + _value_bytes(attrs[name]) + b"\0")


def content_digest(f: h5py.File) -> str:
    """sha256 (hex) of an open HDF5 file's content: root attributes except ``content_sha256``, then every
    dataset in name order (name, dtype, shape, values; strings as UTF-8 JSON) with its attributes. Independent
    of the file's layout on disk (chunking, free space), so the same content always gives the same digest."""
    h = hashlib.sha256()
    _attrs_bytes(h, f.attrs, skip=DIGEST_ATTR)
    names: list[str] = []
    f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
    for name in sorted(names):
        ds = f[name]
        values = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
        h.update(b"dataset:" + name.encode() + b"\0" + str(ds.dtype).encode() + str(ds.shape).encode())
        h.update(_value_bytes(values))
        _attrs_bytes(h, ds.attrs)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- write / read
def write_artifact(
    path: str | os.PathLike,
    kind: str,
    data: Mapping[str, Any],
    attrs: Mapping[str, Any] | None = None,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    config: Any = None,
) -> Path:
    """Validate ``data``/``attrs`` against ``kind`` and write them atomically to ``path``.

    Non-scalar attributes are stored as JSON strings. ``inputs`` are the artifact files this one was
    computed from (their sha256 goes into the provenance) and ``config`` the settings used (digested).
    """
    path = Path(path)
    if kind not in KINDS:
        raise ArtifactError(f"unknown artifact kind '{kind}'; known kinds: {sorted(KINDS)}")
    spec = KINDS[kind]
    attrs = dict(attrs or {})
    missing = set(spec.attrs) - set(attrs)
    if missing:
        raise ArtifactError(f"artifact kind '{kind}' for {path}: required attributes {sorted(missing)} missing")
    arrays = validate(spec, data, str(path))
    prov = provenance(inputs, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer that was killed
        stale.unlink(missing_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["kind"] = kind
        f.attrs["schema_version"] = spec.version
        f.attrs["provenance"] = json.dumps(prov, sort_keys=True)
        for key, value in attrs.items():
            f.attrs[key] = _attr_value(spec, key, value, str(path))
        for key, arr in arrays.items():
            ds_spec = spec.datasets[key]
            if ds_spec.dtype == STR:
                ds = f.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype())
            else:
                ds = f.create_dataset(key, data=arr)
            ds.attrs["units"] = ds_spec.units
            ds.attrs["description"] = ds_spec.description
        f.attrs[DIGEST_ATTR] = content_digest(f)
    return path


def artifact_kind(path: str | os.PathLike) -> str:
    """The kind recorded in an artifact file (for tools that walk a results folder)."""
    with h5py.File(path, "r") as f:
        return str(f.attrs.get("kind", ""))


def read_artifact(path: str | os.PathLike, kind: str) -> Artifact:
    """Read and validate an artifact; fail clearly on a wrong kind, schema version or content.

    Raises :class:`ArtifactError` naming ``path`` and the fix when the file is missing, not HDF5 (truncated,
    foreign), damaged inside (whatever h5py raises reading it), of another kind or schema version, changed since it
    was written (content digest), or does not match its kind's declared datasets and attributes. Files written
    before content digests existed are read unchecked (``Artifact.digest_checked`` is False)."""
    path = Path(path)
    if kind not in KINDS:
        raise ArtifactError(f"unknown artifact kind '{kind}'; known kinds: {sorted(KINDS)}")
    spec = KINDS[kind]
    if not path.exists():
        raise ArtifactError(f"{path}: no such artifact (expected kind '{kind}'); run the stage that makes it")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ArtifactError(f"{path}: not a readable HDF5 file ({exc}); delete it and rerun its stage") from exc
    try:
        data, attrs = _read_checked(f, path, kind, spec)
        prov = json.loads(attrs.pop("provenance", "{}"))
    except ArtifactError:
        raise
    except Exception as exc:  # a damaged file fails inside h5py in many ways (OSError, KeyError, decoding, ...)
        raise ArtifactError(f"{path}: damaged HDF5 content ({type(exc).__name__}: {exc}). Fix: delete it and "
                            f"rerun its stage") from exc
    finally:
        f.close()
    attrs.pop("kind", None)
    attrs.pop("schema_version", None)
    checked = attrs.pop(DIGEST_ATTR, None) is not None
    missing = set(spec.attrs) - set(attrs)
    if missing:
        raise ArtifactError(f"{path}: '{kind}' artifact lacks required attributes {sorted(missing)}. Fix: delete "
                            f"it and rerun its stage")
    try:
        arrays = validate(spec, data, str(path))
    except ArtifactError as exc:
        raise ArtifactError(f"{exc}. Fix: delete {path} and rerun its stage") from None
    return Artifact(spec, path, arrays, attrs, prov, checked)


def _read_checked(f: h5py.File, path: Path, kind: str, spec: ArtifactKind) -> tuple[dict, dict]:
    """Kind, schema version and content digest of an open artifact, then its declared datasets and attributes."""
    found = f.attrs.get("kind")
    if found != kind:
        raise ArtifactError(f"{path}: artifact kind is '{found}', expected '{kind}'. Fix: give the '{kind}' "
                            f"artifact here, or, if this file should be one, delete it and rerun its stage")
    version = int(f.attrs.get("schema_version", -1))
    if version != spec.version:
        raise ArtifactError(f"{path}: '{kind}' schema version {version}, this multiscale reads version "
                            f"{spec.version}. Fix: delete it and rerun its stage")
    recorded = f.attrs.get(DIGEST_ATTR)
    if recorded is not None and content_digest(f) != (recorded.decode() if isinstance(recorded, bytes)
                                                      else str(recorded)):
        raise ArtifactError(f"{path}: content does not match the digest recorded when it was written (changed "
                            f"afterwards: a damaged disk or a hand edit). Fix: delete it and rerun its stage; "
                            f"`multiscale verify` lists every damaged or stale artifact of a study")
    data = {}
    for key, ds_spec in spec.datasets.items():
        if key not in f:
            continue
        ds = f[key]
        data[key] = np.array(ds.asstr()[()], dtype=object) if ds_spec.dtype == STR else ds[()]
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return data, attrs


def read_properties(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """A ``properties`` artifact as {name: (value, std)} (units: see its ``units`` dataset)."""
    art = read_artifact(path, "properties")
    return {str(n): (float(v), float(s)) for n, v, s in zip(art["names"], art["values"], art["std"], strict=True)}
