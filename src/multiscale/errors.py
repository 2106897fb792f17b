"""Error classes. Every message names the input (file), the key and the fix."""

from __future__ import annotations


class MultiscaleError(Exception):
    """Base class of all errors raised by multiscale."""


class ConfigError(MultiscaleError, ValueError):
    """A study configuration is invalid: unknown key, wrong type or impossible value."""


class ArtifactError(MultiscaleError):
    """An HDF5 artifact is missing, of the wrong kind, of another schema version, or malformed."""


class SCFConvergenceError(MultiscaleError, RuntimeError):
    """A DFT self-consistency cycle did not converge, even after the retry with safer settings."""


class CalculationError(MultiscaleError, RuntimeError):
    """An external code (GPAW, LAMMPS, dolfinx) failed on an input we built."""
