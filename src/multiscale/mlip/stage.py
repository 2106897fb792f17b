"""MLIP stage entry points: descriptors (LAMMPS compute snap, once per model), Bayesian SNAP fit, splits."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.artifacts import Artifact, read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, split_atoms
from multiscale.dft.external import energy_labels
from multiscale.errors import ArtifactError
from multiscale.grading import Grader
from multiscale.mlip.snap import BayesianSNAP, SNAPSettings, descriptors, write_potential_files


def split_by_group(groups: np.ndarray, test_fraction: float, seed: int,
                   calibration_fraction: float = 0.0) -> np.ndarray:
    """'train' / 'calibration' / 'test' per configuration, drawn within every group from the seed, so every
    group is represented in each part it is large enough for (and always in training). Each group draws from its
    own random stream (seed, group name), so adding or removing a group never changes another group's split."""
    split = np.array(["train"] * len(groups), dtype=object)
    for g in sorted(set(groups)):
        rng = np.random.default_rng([seed, zlib.crc32(str(g).encode())])
        idx = rng.permutation(np.flatnonzero(groups == g))
        n_test = int(round(test_fraction * len(idx)))
        n_cal = int(round(calibration_fraction * len(idx)))
        if len(idx) >= 3:
            n_test = max(1, n_test)
        n_test = min(n_test, len(idx) - 1)
        n_cal = min(n_cal, len(idx) - 1 - n_test)
        split[idx[:n_test]] = "test"
        split[idx[n_test : n_test + n_cal]] = "calibration"
    return split


def dataset_split(ds: Artifact, settings: SNAPSettings) -> np.ndarray:
    """Split within strata: the configuration group, refined by the facet for surfaces (so that every facet
    is in the training set). Configurations dropped by the DFT failure policy (``dft.on_failure: drop``, listed
    with their row position in the dataset's ``dropped`` attribute) take their place in the draw and are then
    removed, so a dropped configuration never changes the split of the others. Configurations the active-learning
    loop labelled (groups ``al_*``) are all trained on: its fixed test set holds them out."""
    groups, metas = list(ds["groups"]), list(ds["metadata"])
    kept = np.ones(len(groups), bool)
    for d in sorted(json.loads(ds.attrs.get("dropped", "[]")), key=lambda d: d.get("position", len(groups))):
        at = int(d.get("position", len(groups)))
        groups.insert(at, d.get("group", "dropped"))
        metas.insert(at, d.get("metadata", "{}"))
        kept = np.insert(kept, at, False)
    strata = []
    for g, meta in zip(groups, metas, strict=True):
        facet = json.loads(meta).get("facet")
        strata.append(f"{g}/{facet}" if facet is not None else str(g))
    sp = settings.split
    split = split_by_group(np.array(strata, dtype=object), sp.test_fraction, sp.seed, sp.calibration_fraction)
    # the active-learning loop's labels are all trained on: its fixed test set is their held-out data
    split[np.array([str(g).startswith("al_") for g in groups], bool)] = "train"
    return split[kept]


def compute_descriptors(dataset: str, mlip: dict[str, Any], model: str, out: str, comm=None) -> None:
    """Design rows of every configuration for one model; configurations are shared out over MPI ranks."""
    settings = SNAPSettings.from_dict(mlip).for_model(model)
    ds = read_artifact(dataset, "dft_dataset")
    images = images_from_arrays(ds.data)
    if comm is None or comm.size == 1:
        desc = [descriptors(a, settings.descriptor) for a in images]
    else:
        mine = {i: descriptors(a, settings.descriptor) for i, a in enumerate(images) if i % comm.size == comm.rank}
        merged: dict[int, dict[str, np.ndarray]] = {}
        for part in comm.allgather(mine):
            merged.update(part)
        desc = [merged[i] for i in range(len(images))]
        if comm.rank != 0:
            return
    write_artifact(out, "descriptors", {
        "n_atoms": ds["n_atoms"],
        "energy": np.array([d["energy"] for d in desc]),
        "forces": np.concatenate([d["forces"].reshape(-1, 3, d["forces"].shape[1]) for d in desc]),
        "stress": np.array([d["stress"] for d in desc]),
        "atom": np.concatenate([d["atom"] for d in desc]),
    }, {"settings": settings.to_dict(), "model": model}, inputs=[dataset], config=settings.to_dict())


def descriptor_list(art: Artifact) -> list[dict[str, np.ndarray]]:
    """Per-configuration design rows from a descriptors artifact."""
    out = []
    for i, sl in enumerate(split_atoms(art.data)):
        f = art["forces"][sl]
        out.append({"energy": art["energy"][i], "forces": f.reshape(-1, f.shape[-1]), "stress": art["stress"][i],
                    "atom": art["atom"][sl]})
    return out


def fit_model(desc: list[dict], ds: Artifact, settings: SNAPSettings, mask: np.ndarray) -> BayesianSNAP:
    """Fit on the configurations selected by ``mask``, with per-group and per-fidelity weight factors; energies
    only where they are labels (:func:`multiscale.dft.external.energy_labels`: not those of the converged scans or of
    an external fidelity with its own energy reference)."""
    slices = split_atoms(ds.data)
    idx = np.flatnonzero(mask)
    groups = np.array(ds["groups"], dtype=object)
    fidelity = np.array(ds["fidelity"], dtype=object)
    # against the whole dataset: leave-one-group-out fits lack one group by design
    settings.fit.check_groups(groups, fidelity)
    return BayesianSNAP(settings).fit([desc[i] for i in idx], energy_labels(ds)[idx],
                                      [ds["forces"][slices[i]] for i in idx], ds["stress"][idx], ds["n_atoms"][idx],
                                      groups=groups[idx], fidelities=fidelity[idx])


def predict_all(model: BayesianSNAP, desc: list[dict], ds: Artifact) -> dict[str, np.ndarray]:
    """Predictions of every configuration beside its labels (``energy_dft`` NaN where the energy is no label)."""
    n_atoms = ds["n_atoms"]
    preds = [model.predict(d, int(n)) for d, n in zip(desc, n_atoms, strict=True)]
    return {
        "energy_dft": energy_labels(ds) / n_atoms,
        "energy_pred": np.array([q["energy"] for q in preds]),
        "energy_std": np.array([q["energy_std"] for q in preds]),
        "forces_dft": ds["forces"],
        "forces_pred": np.concatenate([q["forces"] for q in preds]),
        "forces_std": np.concatenate([q["forces_std"] for q in preds]),
        "stress_dft": ds["stress"],
        "stress_pred": np.array([q["stress"] for q in preds]),
    }


def metrics(mask_cfg: np.ndarray, mask_atom: np.ndarray, p: dict[str, np.ndarray]) -> dict[str, float]:
    """Energy RMSE/MAE (meV/atom, over the configurations with an energy label), force RMSE/MAE (eV/A, per
    component), stress RMSE (GPa)."""
    if not mask_cfg.any():
        return {}
    de = (p["energy_pred"] - p["energy_dft"])[mask_cfg] * 1000.0
    de = de[np.isfinite(de)]
    df = (p["forces_pred"] - p["forces_dft"])[mask_atom]
    ds = (p["stress_pred"] - p["stress_dft"])[mask_cfg]
    nan = float("nan")
    return {
        "n_configs": int(mask_cfg.sum()), "n_atoms": int(mask_atom.sum()), "n_energies": int(de.size),
        "energy_rmse_meV_atom": float(np.sqrt(np.mean(de**2))) if de.size else nan,
        "energy_mae_meV_atom": float(np.mean(np.abs(de))) if de.size else nan,
        "force_rmse_eV_A": float(np.sqrt(np.mean(df**2))) if df.size else float("nan"),
        "force_mae_eV_A": float(np.mean(np.abs(df))) if df.size else float("nan"),
        "stress_rmse_GPa": float(np.sqrt(np.mean(ds**2))),
    }


def split_metrics(split: np.ndarray, groups: np.ndarray, n_atoms: np.ndarray, p: dict) -> dict[str, Any]:
    atom_split, atom_group = np.repeat(split, n_atoms), np.repeat(groups, n_atoms)
    out: dict[str, Any] = {s: metrics(split == s, atom_split == s, p) for s in ("train", "calibration", "test")}
    out["by_group"] = {
        f"{s}/{g}": metrics((split == s) & (groups == g), (atom_split == s) & (atom_group == g), p)
        for s in ("train", "calibration", "test") for g in sorted(set(groups)) if ((split == s) & (groups == g)).any()
    }
    return out


def fit(dataset: str, desc_path: str, mlip: dict[str, Any], out: str, potential_dir: str) -> None:
    """Fit one model (linear or quadratic, from the descriptors) on the training split; write LAMMPS files."""
    ds = read_artifact(dataset, "dft_dataset")
    dart = read_artifact(desc_path, "descriptors")
    model_name = str(dart.attrs["model"])
    settings = SNAPSettings.from_dict(mlip).for_model(model_name)
    if list(dart["n_atoms"]) != list(ds["n_atoms"]):
        raise ArtifactError(f"{desc_path} does not describe {dataset}; rerun the mlip_descriptors rule")
    desc = descriptor_list(dart)
    split = dataset_split(ds, settings)
    model = fit_model(desc, ds, settings, split == "train")
    p = predict_all(model, desc, ds)
    groups = np.array(ds["groups"], dtype=object)
    element = images_from_arrays({k: ds[k] for k in ("n_atoms", "numbers", "positions", "cell", "pbc")},
                                 labels=False)[0].get_chemical_symbols()[0]
    grader = Grader().fit(dart["atom"][np.repeat(split == "train", ds["n_atoms"])])
    coeff, param, include = write_potential_files(model, element, potential_dir)
    write_artifact(out, "potential", {
        "coefficients": model.coef_, "covariance": model.covariance_, "split": split,
        "config_names": ds["names"], "n_atoms": ds["n_atoms"], **p,
        "grade_mean": grader.mean_, "grade_scale": grader.scale_, "grade_inverse": grader.inverse_,
    }, {
        "grade_edge": grader.edge_,
        "snapparam": param.read_text(), "snapcoeff": coeff.read_text(), "element": element,
        "hyperparameters": model.hyperparameters(), "metrics": split_metrics(split, groups, ds["n_atoms"], p),
        "settings": mlip, "model": model_name, "files": [str(Path(coeff)), str(Path(param)), str(Path(include))],
    }, inputs=[dataset, desc_path], config=mlip)


def load_grader(potential: str) -> Grader:
    """The extrapolation grader of a fitted potential (grade per atom from its linear bispectrum)."""
    art = read_artifact(potential, "potential")
    return Grader.from_arrays(art["grade_mean"], art["grade_scale"], art["grade_inverse"], art.attrs["grade_edge"])


def load_model(potential: str) -> tuple[BayesianSNAP, str]:
    """Rebuild the fitted model (posterior and settings) from a potential artifact."""
    art = read_artifact(potential, "potential")
    hyper = art.json_attr("hyperparameters")
    model = BayesianSNAP(SNAPSettings.from_dict(hyper["settings"]).for_model(str(art.attrs["model"])))
    model.coef_ = art["coefficients"]
    model.covariance_ = art["covariance"]
    model.alpha_, model.lambda_ = hyper["alpha"], hyper["lambda"]
    return model, str(art.attrs["element"])
