"""`multiscale verify`: schema, content digest and provenance chain of every artifact of a study."""

from __future__ import annotations

import h5py
import pytest

from multiscale.artifacts import write_artifact
from multiscale.cli import main
from multiscale.integrity import verify_tree

EOS = {"volume": [15.0, 16.0, 17.0], "energy": [-3.70, -3.74, -3.72]}
EOS_ATTRS = {"a0": 4.04, "a0_std": 0.001, "B": 78.0, "B_std": 1.0, "Bp": 4.5, "E0": -3.74, "V0": 16.5}


@pytest.fixture
def study(tmp_path, monkeypatch):
    """results/s with an upstream artifact, one computed from it (relative input path, as the workflow records
    it), a DFT cache entry beside the study and an XDMF viewer file; run from tmp_path like the workflow."""
    monkeypatch.chdir(tmp_path)
    write_artifact("results/s/dft/eos.h5", "eos", EOS, EOS_ATTRS)
    write_artifact("results/s/dft/eos2.h5", "eos", EOS, EOS_ATTRS, inputs=["results/s/dft/eos.h5"])
    write_artifact("results/cache/dft/ab/abcd.h5", "eos", EOS, EOS_ATTRS)
    (tmp_path / "results/s/continuum").mkdir(parents=True)
    (tmp_path / "results/s/continuum/fields.xdmf").write_text("<Xdmf/>")
    with h5py.File(tmp_path / "results/s/continuum/fields.h5", "w") as f:
        f["data0"] = [1.0]
    return tmp_path


def _status(findings):
    return {str(f.path): f.status for f in findings}


def test_an_intact_study_and_its_cache_are_all_clean(study, capsys):
    found = _status(verify_tree(["results/s"]))
    assert found == {"results/s/dft/eos.h5": "ok", "results/s/dft/eos2.h5": "ok",
                     "results/cache/dft/ab/abcd.h5": "ok"}  # the XDMF heavy data is not an artifact
    assert main(["verify", "results/s"]) == 0
    assert "3 files: 3 ok -> all clean" in capsys.readouterr().out


def test_a_hand_edited_value_and_a_truncated_cache_entry_are_reported(study, capsys):
    with h5py.File("results/s/dft/eos2.h5", "a") as f:
        f["energy"][0] = -3.71
    entry = study / "results/cache/dft/ab/abcd.h5"
    entry.write_bytes(entry.read_bytes()[:800])
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "results/s"])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "damaged  results/s/dft/eos2.h5: content does not match the digest" in out
    assert "damaged  results/cache/dft/ab/abcd.h5: not a readable HDF5 file" in out
    assert "2 damaged, 1 ok -> NOT clean" in out


def test_a_changed_or_missing_input_makes_an_artifact_stale(study):
    write_artifact("results/s/dft/eos.h5", "eos", EOS, {**EOS_ATTRS, "a0": 4.05})  # upstream rewritten alone
    assert _status(verify_tree(["results/s"]))["results/s/dft/eos2.h5"] == "stale"
    (study / "results/s/dft/eos.h5").unlink()
    finding = next(f for f in verify_tree(["results/s"]) if f.path.name == "eos2.h5")
    assert finding.status == "input missing" and "results/s/dft/eos.h5" in finding.detail


@pytest.mark.parametrize("damage", ["foreign HDF5", "not HDF5", "wrong schema version", "no digest"])
def test_foreign_old_and_undigested_files(study, damage):
    path = study / "results/s/dft/eos.h5"
    if damage == "foreign HDF5":
        path.unlink()
        with h5py.File(path, "w") as f:
            f["x"] = [1]
    elif damage == "not HDF5":
        path.write_text("volume energy\n15 -3.70\n")
    else:
        with h5py.File(path, "a") as f:
            if damage == "no digest":
                del f.attrs["content_sha256"]
            else:
                f.attrs["schema_version"] = 99
    finding = next(f for f in verify_tree(["results/s"]) if f.path == path.relative_to(study))
    expect = {"foreign HDF5": ("damaged", "without an artifact kind"), "not HDF5": ("damaged", "not a readable"),
              "wrong schema version": ("damaged", "schema version 99"), "no digest": ("unchecked", "before content")}
    assert (finding.status, expect[damage][1] in finding.detail) == (expect[damage][0], True)


def test_leftovers_quarantine_and_a_missing_folder(study, capsys):
    (study / "results/s/dft/.eos.h5.x1y2.tmp").write_bytes(b"half")
    (study / "results/cache/dft/quarantine").mkdir()
    (study / "results/cache/dft/quarantine/abcd.20261129T000000.h5").write_bytes(b"bad")
    found = _status(verify_tree(["results/s"]))
    assert found["results/s/dft/.eos.h5.x1y2.tmp"] == "leftover"
    assert found["results/cache/dft/quarantine/abcd.20261129T000000.h5"] == "quarantined"
    assert main(["verify", "results/s"]) == 0  # neither is damage to an artifact in use
    assert main(["verify", "results/nope"]) == 2
    assert "results/nope: no such file or folder to verify" in capsys.readouterr().err
