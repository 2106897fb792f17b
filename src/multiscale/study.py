"""A study's configuration, validated completely before any job runs: the schema, then the semantic checks.

The schema (:mod:`multiscale.config`) checks each key alone; the checks here need the stages' own settings
classes (a convergence scan must reach beyond the setting it judges, the specimen's hole must fit in the plate),
so they live above the stages. The workflow (``workflow/rules/common.smk``), every sweep point and
``multiscale config validate`` call :func:`validate_study`; every problem is one :class:`ConfigError` naming the
file, the key and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from multiscale.config import read_config, validate_config
from multiscale.dft.calculator import DFTSettings
from multiscale.dft.convergence import ConvergenceSettings
from multiscale.errors import ConfigError
from multiscale.specimen import Specimen


def semantic_checks(config: Mapping[str, Any], where: str) -> None:
    """Checks across keys of a schema-valid config with defaults filled in; raises :class:`ConfigError`."""
    try:
        dft = DFTSettings.from_dict(config["dft"])
        ConvergenceSettings.from_dict(config["convergence"]).check(dft)
        Specimen.from_dict(config["specimen"], "specimen")
        if "converged" in config["mlip"]["fidelity_weights"] and not dft.converged_labels:
            raise ConfigError("mlip.fidelity_weights names the fidelity 'converged', but dft.converged_labels is "
                              "false, so the dataset has none. Fix: set dft.converged_labels: true or remove "
                              "mlip.fidelity_weights.converged")
    except ConfigError as exc:
        raise ConfigError(f"invalid study configuration in {where}: {exc}") from None


def validate_study(config: Mapping[str, Any], sources: Sequence[str | Path] = ()) -> dict[str, Any]:
    """The config with defaults filled in, after the schema and the semantic checks."""
    filled = validate_config(config, sources)
    semantic_checks(filled, ", ".join(str(s) for s in sources) or "<config>")
    return filled


def load_study(*paths: str | Path) -> dict[str, Any]:
    """Read study files (later ones override earlier ones) and validate them completely."""
    return validate_study(read_config(*paths), paths)
