"""The malformed-input corpus: every case is rejected, naming its file and key, before any job (configs) or at
read (damaged artifacts).

Configs: ``tests/malformed/*.yaml``, each an override of ``config/config.yaml`` whose first line lists the
fragments the error must contain (``# expect: key | value``), checked through ``multiscale config validate``,
the same validation the Snakefile runs before any job (``tests/test_workflow.py`` holds that). Damaged
artifacts: a real dataset artifact damaged in each way a disk, a copy or a hand can damage it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from multiscale.artifacts import DIGEST_ATTR, content_digest, read_artifact, write_artifact
from multiscale.cli import main
from multiscale.errors import ArtifactError

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))


def _expected(case: Path) -> list[str]:
    first = case.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{case}: first line must be '# expect: fragment | ...'"
    return [s.strip() for s in first.removeprefix("# expect: ").split("|")]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_malformed_config_is_rejected_naming_file_and_key(case, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # relative paths in a study are relative to the workflow's directory
    assert main(["config", "validate", "config/config.yaml", str(case)]) == 2
    err = capsys.readouterr().err
    assert str(case) in err, err
    for fragment in _expected(case):
        assert fragment in err, f"{case.name}: '{fragment}' not in:\n{err}"
    assert "Fix: " in err and "Fix: \n" not in err, err  # every message says how to fix it


def _dataset(path: Path) -> Path:
    data = {"n_atoms": [2, 1], "numbers": [13, 13, 13], "positions": np.zeros((3, 3)),
            "cell": np.tile(4.04 * np.eye(3), (2, 1, 1)), "pbc": np.ones((2, 3), bool), "names": ["a", "b"],
            "groups": ["eos", "rattle"], "metadata": ["{}", "{}"], "energy": [-7.4, -3.7],
            "forces": np.zeros((3, 3)), "stress": np.zeros((2, 6)), "fidelity": ["training", "training"]}
    attrs = {"settings": "{}", "material": "{}", "fidelities": "{}", "dropped": "[]"}
    from multiscale.artifacts import KINDS

    spec = KINDS["dft_dataset"]
    data = {k: v for k, v in data.items() if k in spec.datasets}
    for key, ds in spec.datasets.items():  # whatever else the kind requires, at its declared shape
        if key not in data and not ds.optional:
            n = {"n_configs": 2, "n_atoms_total": 3}
            shape = tuple(n.get(s, s) if isinstance(s, str) else s for s in ds.shape)
            data[key] = np.zeros(shape) if ds.dtype != "str" else np.full(shape, "", dtype=object)
    attrs = {k: attrs.get(k, "{}") for k in spec.attrs}
    return write_artifact(path, "dft_dataset", data, attrs)


def _restamp(f: h5py.File) -> None:
    f.attrs[DIGEST_ATTR] = content_digest(f)


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:2000]), "not a readable HDF5 file"),
    "empty file": (lambda p: p.write_bytes(b""), "not a readable HDF5 file"),
    "text file": (lambda p: p.write_text("energy,forces\n-3.7,0\n"), "not a readable HDF5 file"),
    "foreign HDF5": (lambda p: (p.unlink(), h5py.File(p, "w").close()), "artifact kind is 'None'"),
    "value changed": (lambda p: _edit(p, lambda f: f["energy"].__setitem__(0, -7.5)), "does not match the digest"),
    "attribute changed": (lambda p: _edit(p, lambda f: f.attrs.__setitem__("settings", '{"ecut": 1}')),
                          "does not match the digest"),
    "dataset deleted": (lambda p: _edit(p, lambda f: f.__delitem__("forces")), "does not match the digest"),
    "newer schema version": (lambda p: _edit(p, lambda f: f.attrs.__setitem__("schema_version", 99)),
                             "schema version 99"),
    "other kind": (lambda p: _edit(p, lambda f: f.attrs.__setitem__("kind", "eos")), "kind is 'eos'"),
    "required dataset missing (restamped)": (lambda p: _edit(p, lambda f: (f.__delitem__("forces"), _restamp(f))),
                                             "required dataset 'forces' is missing"),
    "shape inconsistent (restamped)": (
        lambda p: _edit(p, lambda f: (f.__delitem__("stress"), f.create_dataset("stress", data=np.zeros((3, 6))),
                                      _restamp(f))), "stress"),
}


def _edit(path: Path, change) -> None:
    with h5py.File(path, "a") as f:
        change(f)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_artifact_is_rejected_at_read_naming_the_file(tmp_path, damage):
    path = _dataset(tmp_path / "dataset.h5")
    read_artifact(path, "dft_dataset")  # intact: reads
    make, message = DAMAGE[damage]
    make(path)
    with pytest.raises(ArtifactError, match=message) as exc:
        read_artifact(path, "dft_dataset")
    assert str(path) in str(exc.value) and "rerun its stage" in str(exc.value)


def test_the_corpus_has_at_least_50_cases():
    assert len(CASES) + len(DAMAGE) >= 50
