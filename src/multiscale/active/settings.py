"""Settings of the active-learning loop (the ``active_learning`` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiscale.config import settings_from_dict
from multiscale.errors import ConfigError

RULES = ("uncertainty", "downstream", "random")
QOIS = ("C44", "usf_111", "isf_111")
FAMILIES = ("strained_bulk", "stacking_fault", "hot_md", "specimen")


@dataclass
class StrainedBulkSettings:
    """Conventional cubic cells (``supercell`` repeats) under uniaxial and shear strains up to ``max_strain``
    (the plasticity sweep's largest strain is the natural choice), each rattled by ``rattle`` Angstrom."""

    max_strain: float = 0.08
    steps: int = 4
    supercell: list[int] = field(default_factory=lambda: [2, 1, 1])
    rattle: float = 0.03


@dataclass
class StackingFaultSettings:
    """The generalized stacking-fault path on {111}<112>: ``points`` shifts in (0, 1] partial Burgers vectors,
    ``periods`` x 3 (111) layers (6 atoms per period), each rattled by ``rattle`` Angstrom (fcc only)."""

    points: int = 6
    periods: int = 2
    rattle: float = 0.02


@dataclass
class HotMDSettings:
    """NVT snapshots with the current potential: ``snapshots`` per temperature (K), cubic ``supercell``^3."""

    temperatures: list[float] = field(default_factory=lambda: [600.0, 900.0])
    snapshots: int = 3
    supercell: int = 2
    steps: int = 400
    timestep: float = 0.002
    seed: int = 4321


@dataclass
class SpecimenExplorerSettings:
    """The plate with a hole relaxed with the current potential at ``strains`` (a plate ``size`` nm wide: the
    hole surface's steps and kinks are set by the hole and the orientation, not the plate); around each atom beyond
    the extrapolation threshold a cylinder of ``radius`` Angstrom (the plate's periodic thickness along the hole
    axis, vacuum ``vacuum`` around) is cut out, shrunk until it holds at most ``max_atoms``; centres closer than
    ``radius`` to an earlier one are skipped."""

    size: float = 6.0
    strains: list[float] = field(default_factory=lambda: [0.0])
    radius: float = 6.0
    max_atoms: int = 48
    vacuum: float = 5.0
    max_cuts: int = 24


@dataclass
class ExplorerSettings:
    """Which explorer families run (``families``) and each family's settings."""

    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    strained_bulk: StrainedBulkSettings = field(default_factory=StrainedBulkSettings)
    stacking_fault: StackingFaultSettings = field(default_factory=StackingFaultSettings)
    hot_md: HotMDSettings = field(default_factory=HotMDSettings)
    specimen: SpecimenExplorerSettings = field(default_factory=SpecimenExplorerSettings)


@dataclass
class ActiveLearningSettings:
    """The loop: ``iterations`` of explore -> select ``batch_size`` -> DFT -> refit (0: no loop), the selection
    ``rule`` (uncertainty, downstream or random), the downstream quantity ``qoi`` whose posterior variance the
    downstream rule reduces, the ``diversity`` radius (standardised descriptor distance below which two
    configurations of one batch count as near-duplicates), the fixed test set (``test_per_family`` configurations
    per explorer family, drawn once from the first pool and never trained on), a DFT ``budget`` (labels in all),
    the stop rule (stop early when no candidate's grade exceeds ``stop_grade``) and the ``seed``."""

    iterations: int = 0
    batch_size: int = 4
    rule: str = "uncertainty"
    qoi: str = "C44"
    diversity: float = 0.5
    test_per_family: int = 1
    budget: int = 64
    stop_grade: float | None = None
    seed: int = 1
    explorers: ExplorerSettings = field(default_factory=ExplorerSettings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActiveLearningSettings:
        s = settings_from_dict(cls, d, "active_learning")
        s.check()
        return s

    def check(self) -> None:
        """Raises :class:`ConfigError` naming the key for an unknown rule, QoI or explorer family."""
        if self.rule not in RULES:
            raise ConfigError(f"active_learning.rule = {self.rule!r} is not a selection rule. Fix: one of {RULES}")
        if self.qoi not in QOIS:
            raise ConfigError(f"active_learning.qoi = {self.qoi!r} has no closed-form variance here. Fix: one of "
                              f"{QOIS}")
        unknown = sorted(set(self.explorers.families) - set(FAMILIES))
        if unknown or not self.explorers.families:
            raise ConfigError(f"active_learning.explorers.families = {self.explorers.families}: unknown {unknown} "
                              f"or empty. Fix: a non-empty list of {FAMILIES}")
