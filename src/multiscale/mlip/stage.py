"""MLIP stage entry point: split the DFT dataset, fit Bayesian linear SNAP, validate on held-out data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, split_atoms
from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors, write_potential_files


def split_by_group(groups: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """'train'/'test' per configuration: within every group, round(test_fraction * n) held out (at least
    one if the group has 3 or more), chosen at random from the seed. Groups stay represented in training."""
    rng = np.random.default_rng(seed)
    split = np.array(["train"] * len(groups), dtype=object)
    for g in sorted(set(groups)):
        idx = np.flatnonzero(groups == g)
        n_test = int(round(test_fraction * len(idx)))
        if len(idx) >= 3:
            n_test = max(1, n_test)
        n_test = min(n_test, len(idx) - 1)
        split[rng.choice(idx, size=n_test, replace=False)] = "test"
    return split


def _metrics(mask_cfg: np.ndarray, mask_atom: np.ndarray, p: dict[str, np.ndarray]) -> dict[str, float]:
    if not mask_cfg.any():
        return {}
    de = (p["energy_pred"] - p["energy_dft"])[mask_cfg] * 1000.0
    df = (p["forces_pred"] - p["forces_dft"])[mask_atom]
    ds = (p["stress_pred"] - p["stress_dft"])[mask_cfg]
    return {
        "n_configs": int(mask_cfg.sum()), "n_atoms": int(mask_atom.sum()),
        "energy_rmse_meV_atom": float(np.sqrt(np.mean(de**2))), "energy_mae_meV_atom": float(np.mean(np.abs(de))),
        "force_rmse_eV_A": float(np.sqrt(np.mean(df**2))) if df.size else float("nan"),
        "force_mae_eV_A": float(np.mean(np.abs(df))) if df.size else float("nan"),
        "stress_rmse_GPa": float(np.sqrt(np.mean(ds**2))),
    }


def all_descriptors(images, settings: SNAPSettings, comm=None) -> list[dict[str, np.ndarray]]:
    """Descriptors of every configuration; with a communicator, configurations are shared out over ranks
    (one serial LAMMPS per configuration) and gathered on every rank."""
    if comm is None or comm.size == 1:
        return [descriptors(a, settings) for a in images]
    mine = {i: descriptors(a, settings) for i, a in enumerate(images) if i % comm.size == comm.rank}
    merged: dict[int, dict[str, np.ndarray]] = {}
    for part in comm.allgather(mine):
        merged.update(part)
    return [merged[i] for i in range(len(images))]


def fit(dataset: str, mlip: dict[str, Any], out: str, potential_dir: str, comm=None) -> None:
    settings = SNAPSettings.from_dict(mlip)
    ds = read_artifact(dataset, "dft_dataset")
    images = images_from_arrays(ds.data)
    groups = np.array(ds["groups"], dtype=object)
    split = split_by_group(groups, settings.test_fraction, settings.seed)
    desc = all_descriptors(images, settings, comm)
    n_atoms = ds["n_atoms"]
    slices = split_atoms(ds.data)
    forces = [ds["forces"][sl] for sl in slices]
    train = np.flatnonzero(split == "train")
    model = BayesianSNAP(settings).fit([desc[i] for i in train], ds["energy"][train], [forces[i] for i in train],
                                       ds["stress"][train], n_atoms[train])
    preds = [model.predict(d, int(n)) for d, n in zip(desc, n_atoms, strict=True)]
    p = {
        "energy_dft": ds["energy"] / n_atoms,
        "energy_pred": np.array([q["energy"] for q in preds]),
        "energy_std": np.array([q["energy_std"] for q in preds]),
        "forces_dft": ds["forces"],
        "forces_pred": np.concatenate([q["forces"] for q in preds]),
        "forces_std": np.concatenate([q["forces_std"] for q in preds]),
        "stress_dft": ds["stress"],
        "stress_pred": np.array([q["stress"] for q in preds]),
    }
    atom_split = np.repeat(split, n_atoms)
    atom_group = np.repeat(groups, n_atoms)
    metrics: dict[str, Any] = {s: _metrics(split == s, atom_split == s, p) for s in ("train", "test")}
    metrics["by_group"] = {
        f"{s}/{g}": _metrics((split == s) & (groups == g), (atom_split == s) & (atom_group == g), p)
        for s in ("train", "test") for g in sorted(set(groups)) if ((split == s) & (groups == g)).any()
    }
    if comm is not None and comm.rank != 0:
        return
    element = images[0].get_chemical_symbols()[0]
    coeff, param = write_potential_files(model, element, potential_dir)
    write_artifact(out, "potential", {
        "coefficients": model.coef_, "covariance": model.covariance_, "split": split,
        "config_names": ds["names"], "n_atoms": n_atoms, **p,
    }, {
        "snapparam": param.read_text(), "snapcoeff": coeff.read_text(), "element": element,
        "hyperparameters": model.hyperparameters(), "metrics": metrics, "settings": mlip,
        "files": [str(Path(coeff)), str(Path(param))],
    }, inputs=[dataset], config=mlip)


def load_model(potential: str) -> tuple[BayesianSNAP, str]:
    """Rebuild the fitted model (posterior and settings) from a potential artifact."""
    art = read_artifact(potential, "potential")
    hyper = art.json_attr("hyperparameters")
    model = BayesianSNAP(SNAPSettings.from_dict(hyper["settings"]))
    model.coef_ = art["coefficients"]
    model.covariance_ = art["covariance"]
    model.alpha_, model.lambda_ = hyper["alpha"], hyper["lambda"]
    return model, str(art.attrs["element"])
