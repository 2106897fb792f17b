"""Every semantic check that the config and the files it names decide runs before any job (issue 20, part 1).

Each case is a study file on top of the default config, validated the way the workflow and ``multiscale config
validate`` do (:func:`multiscale.study.load_study`, then every sweep point by :func:`multiscale.sweep.expand`): it
must be refused with a ConfigError naming the study file, the dotted key and a fix. The checks themselves are
tested where they live as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multiscale.errors import ConfigError
from multiscale.lammps import check_potential, potential_elements, potentials_folder
from multiscale.material import Material
from multiscale.mlip.snap import FitSettings, SplitSettings
from multiscale.specimen import Specimen
from multiscale.study import load_study
from multiscale.sweep import expand

ROOT = Path(__file__).resolve().parents[1]


def rejected(tmp_path: Path, patch: dict, *words: str) -> str:
    """The message of the ConfigError that the default config with ``patch`` on top is refused with, sweep points
    included; it names the patch file, every one of ``words`` and a fix."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(patch))
    files = [ROOT / "config/config.yaml", bad]
    with pytest.raises(ConfigError) as err:
        expand(load_study(*files), files)  # as `multiscale config validate` and workflow/rules/common.smk
    msg = str(err.value)
    assert str(bad) in msg and "Fix:" in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg}"
    return msg


# ----------------------------------------------------------------------------------- 1. element and crystal
def test_unknown_element_is_refused(tmp_path):
    msg = rejected(tmp_path, {"material": {"element": "Xx"}}, "material.element", "'Xx'", "not a chemical element")
    assert "Ta" in msg  # the fix names elements that work


def test_lattice_other_than_the_reference_crystal_is_refused(tmp_path):
    rejected(tmp_path, {"material": {"lattice": "bcc"}}, "material.lattice", "reference crystal of Al",
             "fcc with a = 4.05", "set material.lattice: fcc")


def test_a_guess_far_from_the_reference_lattice_constant_is_refused(tmp_path):
    rejected(tmp_path, {"material": {"a_guess": 3.3}}, "material.a_guess = 3.3", "4.05", "near 4.05")


def test_another_cubic_element_in_its_reference_crystal_passes(tmp_path):
    """Ta is bcc (a = 3.31 A): accepted with a bcc lattice and no Al baseline potential."""
    ok = tmp_path / "ta.yaml"
    ok.write_text(yaml.safe_dump({"material": {"element": "Ta", "lattice": "bcc", "a_guess": 3.3},
                                  "mlip": {"baseline": None}}))
    assert load_study(ROOT / "config/config.yaml", ok)["material"]["element"] == "Ta"


@pytest.mark.parametrize("study, cutoff, phases, clean_up", [(None, 4.8, ["hcp", "bcc"], 7),
                                                              ("cu.yaml", 4.31, ["hcp", "bcc"], 7),
                                                              ("ta.yaml", 4.82, ["fcc", "hcp"], 4)])
def test_per_element_defaults_follow_the_lattice_from_one_table(study, cutoff, phases, clean_up):
    """mlip.rcutfac: auto (1.68 nearest-neighbour distances), the competing phases and the hole clean-up rule come
    from multiscale.material.LATTICE_TABLE; the named studies of other elements set only the material (a bcc study
    inheriting fcc's [hcp, bcc] failed in its phase job)."""
    files = [ROOT / "config/config.yaml"] + ([ROOT / "config/studies/tiny.yaml", ROOT / "config/studies" / study]
                                             if study else [])
    config = load_study(*files)
    assert config["mlip"]["rcutfac"] == cutoff
    assert config["dft"]["configurations"]["phases"]["lattices"] == phases
    assert config["specimen"]["min_coordination"] == clean_up
    if study:
        assert set(yaml.safe_load((ROOT / "config/studies" / study).read_text())) == {"study", "material"}


def test_a_phase_list_naming_the_crystals_own_lattice_is_refused_before_any_job(tmp_path):
    rejected(tmp_path, {"material": {"element": "Ta", "lattice": "bcc", "a_guess": 3.31},
                        "dft": {"configurations": {"phases": {"lattices": ["hcp", "bcc"]}}}},
             "dft.configurations.phases.lattices", "own lattice 'bcc'", "auto")


def test_element_whose_reference_crystal_is_not_fcc_or_bcc_is_refused(tmp_path):
    for element, crystal in (("Ti", "hcp"), ("Si", "diamond"), ("Po", "sc")):
        msg = rejected(tmp_path, {"material": {"element": element}}, "material.element", crystal)
        assert "fcc or bcc" in msg


def test_material_check_in_its_module():
    Material().check()
    Material("W", "bcc", 3.17).check()
    for bad, key in ((Material("Q"), "material.element"), (Material("Cu", "bcc", 3.6), "material.lattice"),
                     (Material("Cu", "fcc", 4.05), "material.a_guess")):
        with pytest.raises(ConfigError, match=key):
            bad.check()


# ----------------------------------------------------------------------------------- 2. specimen geometry
def test_hole_larger_than_the_plate_is_refused(tmp_path):
    rejected(tmp_path, {"specimen": {"hole_radius": 12.0}}, "specimen.hole_radius = 12.0", "specimen.size")


def test_hole_reaching_into_the_frame_is_refused(tmp_path):
    """size 20, frame 0.6, grid 0.5: the hole must stay below 10 - 0.6 - 0.5 = 8.9 nm."""
    rejected(tmp_path, {"specimen": {"hole_radius": 9.2}}, "specimen.hole_radius", "8.9")


@pytest.mark.parametrize("orientation", [[[1, 1, 0], [1, 1, 0], [0, 0, 1]],      # two equal rows
                                         [[1, 0, 0], [1, 1, 0], [0, 0, 1]]])     # not orthogonal
def test_orientation_rows_not_orthogonal_are_refused(tmp_path, orientation):
    rejected(tmp_path, {"specimen": {"orientation": orientation}}, "specimen.orientation", "orthogonal")


def test_left_handed_orientation_is_refused(tmp_path):
    rejected(tmp_path, {"specimen": {"orientation": [[1, 1, 0], [0, 0, 1], [-1, 1, 0]]}},
             "specimen.orientation", "left-handed")


def test_frame_narrower_than_the_potential_cutoff_is_refused(tmp_path):
    """Default SNAP cutoff: rcutfac 4.8 A * 2 * radius 0.5 = 0.48 nm."""
    rejected(tmp_path, {"specimen": {"frame": 0.4}}, "specimen.frame = 0.4", "0.48", "mlip.rcutfac")
    rejected(tmp_path, {"mlip": {"rcutfac": 7.0}}, "specimen.frame = 0.6", "0.7", "mlip.rcutfac")
    Specimen(frame=0.48).check_frame(0.48)


# ----------------------------------------------------------------------------------- 3. named files
def test_missing_baseline_potential_file_is_refused(tmp_path):
    rejected(tmp_path, {"mlip": {"baseline": {"pair_style": "eam/fs", "file": "Al_nowhere.eam.fs"}}},
             "mlip.baseline.file", "Al_nowhere.eam.fs", "no such potential file")
    rejected(tmp_path, {"mlip": {"baseline": {"pair_style": "eam/fs", "file": str(tmp_path / "gone.eam.fs")}}},
             "mlip.baseline.file", "gone.eam.fs")


def test_baseline_potential_of_another_element_is_refused(tmp_path):
    """An Al potential in a Ta study, in either form: the fix names the shipped EAM that lists Ta and the Ta
    default (Ta06A)."""
    ta = {"element": "Ta", "lattice": "bcc", "a_guess": 3.3}
    for al in ({"pair_style": "eam/fs", "file": "Al_mm.eam.fs"},
               {"pair_style": "eam/fs", "pair_coeff": ["* * Al_mm.eam.fs Ta"], "files": ["Al_mm.eam.fs"]}):
        msg = rejected(tmp_path, {"material": ta, "mlip": {"baseline": al}}, "mlip.baseline", "Al_mm.eam.fs",
                       "for Al", "Ta")
        assert "CuTa.eam.alloy" in msg and "Ta06A" in msg


def test_a_study_without_a_baseline_gets_its_elements_default(tmp_path):
    """mlip.baseline auto (the default config's): Ta gets the published Ta06A, not aluminium's EAM."""
    from multiscale.mlip.snap import SNAPSettings

    ta = tmp_path / "ta.yaml"
    ta.write_text(yaml.safe_dump({"material": {"element": "Ta", "lattice": "bcc", "a_guess": 3.3}}))
    for files, element, name in (([], "Al", "Al_mm.eam.fs"), ([ta], "Ta", "Ta06A")):
        cfg = load_study(ROOT / "config/config.yaml", *files)
        assert cfg["mlip"]["baseline"] == "auto"
        pot = SNAPSettings.from_dict(cfg["mlip"]).validation.baseline_potential(element)
        assert name in pot.name


def test_baseline_value_of_the_wrong_form_is_refused_by_the_schema(tmp_path):
    rejected(tmp_path, {"mlip": {"baseline": "Al_mm.eam.fs"}}, "mlip.baseline", "does not match", "auto")
    rejected(tmp_path, {"mlip": {"baseline": {"pair_style": "eam/fs", "files": ["Al_mm.eam.fs"]}}},
             "mlip.baseline", "either {pair_style, file}")


def test_baseline_file_that_is_not_of_its_pair_style_is_refused(tmp_path):
    garbage = tmp_path / "junk.eam.alloy"
    garbage.write_text("comment\ncomment\ncomment\nAl Cu\n")
    rejected(tmp_path, {"mlip": {"baseline": {"pair_style": "eam/alloy", "file": str(garbage)}}},
             "mlip.baseline.file", "junk.eam.alloy", "line 4")


def test_potential_headers_are_read_per_pair_style():
    folder = potentials_folder()
    assert potential_elements(folder / "Al_mm.eam.fs", "eam/fs") == ["Al"]
    assert potential_elements(folder / "CuTa.eam.alloy", "eam/alloy/omp") == ["Cu", "Ta"]
    assert potential_elements(folder / "Cu_u3.eam", "eam") == ["Cu"]
    assert potential_elements(folder / "Cu_u3.eam", "eam/opt") == ["Cu"]
    assert potential_elements(folder / "Cu_Zuo_JPCA2020.snapcoeff", "snap") is None  # not read
    assert check_potential("eam/alloy", "CuTa.eam.alloy", "Ta").endswith("CuTa.eam.alloy")
    with pytest.raises(ConfigError, match="md.baseline.file"):
        check_potential("eam/alloy", "CuTa.eam.alloy", "Al", key="md.baseline")


def test_funcfl_baseline_runs_in_lammps():
    """pair_style eam (funcfl: one element, no element names in pair_coeff) works as a shipped potential."""
    from ase.build import bulk

    from multiscale.lammps import Potential, single_point

    e = single_point(bulk("Cu", "fcc", a=3.615, cubic=True), Potential.shipped("eam", "Cu_u3.eam", "Cu")).energy
    assert e / 4 == pytest.approx(-3.54, abs=0.01)  # Foiles' Cu cohesive energy


# ----------------------------------------------------------------------------------- 4. fractions and weights
def test_test_and_calibration_fractions_must_leave_training_data(tmp_path):
    rejected(tmp_path, {"mlip": {"test_fraction": 0.5, "calibration_fraction": 0.5}},
             "mlip.test_fraction + mlip.calibration_fraction", "= 1", "less than 1")
    SplitSettings(test_fraction=0.45, calibration_fraction=0.5).check()


def test_all_fit_weights_zero_is_refused(tmp_path):
    rejected(tmp_path, {"mlip": {"weights": {"energy": 0.0, "force": 0.0, "stress": 0.0}}}, "mlip.weights")
    FitSettings(group_weights={"thermal": {"energy": 0.0, "force": 0.0, "stress": 0.0}}).check()  # leaves a group out


def test_every_problem_is_listed_once(tmp_path):
    """Independent problems are all reported in one error, one line each."""
    msg = rejected(tmp_path, {"material": {"element": "Xx"}, "specimen": {"frame": 0.3},
                              "mlip": {"test_fraction": 0.6, "calibration_fraction": 0.5}},
                   "material.element", "specimen.frame", "mlip.test_fraction")
    assert msg.count("\n  - ") == 3 and msg.count("Fix:") == 3


# ----------------------------------------------------------------------------------- 5. sweep directories
def test_sweep_values_sharing_a_directory_tag_are_refused(tmp_path):
    msg = rejected(tmp_path, {"study": "s", "sweep": {"material.a_guess": [4.04, 4.0400001]}},
                   "sweep.material.a_guess", "4.04", "4.0400001", "a_guess-4.04")
    assert "6 significant digits" in msg


def test_sweep_value_listed_twice_is_refused(tmp_path):
    rejected(tmp_path, {"study": "s", "sweep": {"mlip.twojmax": [4, 6, 4]}}, "sweep.mlip.twojmax", "twice")


def test_sweep_points_are_validated_with_the_semantic_checks(tmp_path):
    rejected(tmp_path, {"study": "s", "sweep": {"specimen.frame": [0.6, 0.3]}}, "sweep point frame-0.3",
             "specimen.frame = 0.3")


def test_distinct_sweep_values_give_distinct_directories():
    cfg = load_study(ROOT / "config/config.yaml")
    cfg["sweep"] = {"material.a_guess": [4.0, 4.04, 4.08], "mlip.twojmax": [4, 6]}
    points = expand(cfg, ["<test>"])
    assert len({p.tags["divergence"] for p in points}) == 6
    assert len({p.tags["dft"] for p in points}) == 3


def test_each_sweep_point_resolves_its_own_per_element_defaults():
    """mlip.rcutfac: auto follows the swept lattice guess (as read, not the base point's resolved value)."""
    from multiscale.config import read_config

    cfg = read_config(ROOT / "config/config.yaml")
    cfg["sweep"] = {"material.a_guess": [3.9, 4.2]}
    assert [p.config["mlip"]["rcutfac"] for p in expand(cfg, ["<test>"])] == [4.63, 4.99]


def test_a_swept_baseline_tags_only_what_compares_against_it():
    cfg = load_study(ROOT / "config/config.yaml")
    cfg["sweep"] = {"mlip.baseline": ["auto", None], "mlip.twojmax": [4, 6]}
    points = expand(cfg, ["<test>"])
    assert {p.tags["mlip"] for p in points} == {"@twojmax-4", "@twojmax-6"}  # the fit: twojmax only
    assert {p.tags["md"] for p in points} == {p.tags["mlip"] for p in points}
    assert {p.tags["baseline"] for p in points} == {"@baseline-auto", "@baseline-None"}
    assert len({p.tags["divergence"] for p in points}) == 4


def test_config_validate_command_checks_the_sweep_points(tmp_path, capsys):
    from multiscale.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"study": "s", "sweep": {"material.a_guess": [4.04, 4.0400001]}}))
    assert main(["config", "validate", str(ROOT / "config/config.yaml"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "sweep.material.a_guess" in err and "Fix:" in err
    assert main(["config", "validate", str(ROOT / "config/config.yaml"),
                 str(ROOT / "config/studies/sweep-twojmax.yaml")]) == 0
    assert "3 sweep points" in capsys.readouterr().out


# ----------------------------------------------------------------------------------- 6. the venv on PATH
def test_workflow_without_multiscale_on_path_stops_before_any_job(tmp_path):
    """`.venv/bin/snakemake` run without the venv activated: one WorkflowError, not exit 127 in every job."""
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "multiscale").exists())
    env = {**os.environ, "PATH": path, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                                      os.environ.get("PYTHONPATH", "")])}
    shutil.copy(ROOT / "Snakefile", tmp_path)
    for d in ("workflow", "config", "data", "envs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "WorkflowError" in text and "`multiscale` command is not on PATH" in text and "Fix:" in text, text
    assert "make run" in text and "activate" in text
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("text, words", [
    ("properties:\n  C44: {value: 31.6, units: GPa, temperature_K: 0}\n", ["properties.C44 lacks 'source'"]),
    ("properties:\n  C44: {value: thirty, units: GPa, temperature_K: 0, source: x}\n",
     ["properties.C44.value = 'thirty' is not a number"]),
    ("properties: [C44]\n", ["no 'properties' mapping"]),
    ("properties:\n  C44: {value: [31.6\n", ["not valid YAML"]),
])
def test_a_broken_experiment_file_is_refused_before_any_job(tmp_path, monkeypatch, text, words):
    """data/experiment/<element>.yaml is read as the record will read it, in the validation step."""
    (tmp_path / "data/experiment").mkdir(parents=True)
    (tmp_path / "data/experiment/Al.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    msg = rejected(tmp_path, {"study": "s"}, "data/experiment/Al.yaml", *words)
    assert "Fix:" in msg
