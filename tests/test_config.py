from __future__ import annotations

import dataclasses

import pytest
import yaml

from multiscale.config import load_schema, validate_config
from multiscale.errors import ConfigError
from multiscale.study import load_study as load_config


def test_default_and_studies_validate(root):
    for study in [root / "config/config.yaml", *sorted((root / "config/studies").glob("*.yaml"))]:
        files = [root / "config/config.yaml", study]
        cfg = load_config(*files)
        assert cfg["study"]


def test_defaults_are_filled():
    cfg = validate_config({})
    assert cfg["dft"]["scf"]["maxiter"] == 200
    assert cfg["mlip"]["weights"]["force"] == 1.0


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"dft": {"ecutt": 300}}, "dft.ecutt"),
        ({"dft": {"ecut": -300}}, "dft.ecut"),
        ({"mlip": {"twojmax": "six"}}, "mlip.twojmax"),
        ({"md": {"supercell": 0}}, "md.supercell"),
        ({"specimen": {"strain": 0.5}}, "specimen.strain"),
        ({"continuum": {"mesh": {"n_theta": 7}}}, "continuum.mesh.n_theta"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path, root, patch, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(patch))
    with pytest.raises(ConfigError) as err:
        load_config(root / "config/config.yaml", bad)
    assert key in str(err.value) and str(bad) in str(err.value) and "Fix:" in str(err.value)


def test_dataclass_defaults_match_schema():
    """The schema is the source of truth; the settings dataclasses must not drift from it."""
    from multiscale.continuum.elasticity import ContinuumSettings
    from multiscale.dft.calculator import DFTSettings
    from multiscale.md.properties import MDSettings
    from multiscale.mlip.snap import SNAPSettings
    from multiscale.study import resolve_material_defaults

    defaults = validate_config({})
    resolve_material_defaults(defaults)  # mlip.rcutfac: auto -> the default material's (Al: 4.8, the dataclass')
    for obj, section in ((DFTSettings(), "dft"), (MDSettings(), "md"), (ContinuumSettings(), "continuum")):
        for f in dataclasses.fields(obj):
            if f.name in defaults[section] and f.name not in ("configurations", "cache_dir"):
                value = getattr(obj, f.name)
                value = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
                assert value == defaults[section][f.name], f"{section}.{f.name}"
    snap = SNAPSettings().to_dict()  # nested settings, flat config section
    assert set(defaults["mlip"]) <= set(snap)
    for key, value in defaults["mlip"].items():
        assert snap[key] == value, f"mlip.{key}"
    assert SNAPSettings.from_dict(defaults["mlip"]).to_dict() == {**defaults["mlip"], "quadratic": False}
    assert set(load_schema()["properties"]) == set(defaults)


def test_convergence_scan_must_reach_beyond_the_configured_setting(tmp_path, root):
    bad = tmp_path / "bad.yaml"
    bad.write_text("convergence:\n  kpt_density: [3.0, 4.0]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(root / "config/config.yaml", bad)
    msg = str(exc.value)
    assert "convergence.kpt_density" in msg and "dft.kpt_density = 5.0" in msg and "Fix: add a larger value" in msg
    assert str(bad) in msg
