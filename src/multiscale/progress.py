"""Progress of a job that runs many calculations: one line per finished calculation, flushed at once.

A Snakemake job's stdout goes to its log (``results/<study>/logs/...``), so a long job (the DFT convergence
scans, the MD properties of every posterior draw, the continuum ensemble) shows while it runs how far it is::

    [progress] 3 of 12 calculations, elapsed 2 min 05 s, estimated remaining 6 min 15 s: kpt_density 6 bulk

The estimate is the mean wall time of the calculations that ran (cache hits, which take no time, are counted as
done but left out of the mean) times the number left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def duration(seconds: float) -> str:
    """A wall time for a log line: ``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Counts finished calculations out of ``total`` and writes one line per calculation to ``stream`` (default:
    stdout), flushed, so that a log shows the job's progress while it runs.

    ``what`` names the calculations in the lines (a plural noun phrase); ``enabled`` False makes
    it silent (MPI ranks other than 0); ``clock`` returns seconds (default :func:`time.monotonic`). Writes a
    start line on creation. Raises ValueError for a negative ``total``."""

    def __init__(self, total: int, what: str = "calculations", *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, enabled: bool = True):
        if total < 0:
            raise ValueError(f"Progress: total = {total} calculations; expected 0 or more")
        self.total, self.what, self.enabled = int(total), what, enabled
        self.stream, self.clock = stream, clock
        self.start = self.last = clock()
        self.finished = 0
        self.ran = 0  # calculations that took time (not cache hits)
        self.ran_seconds = 0.0
        self._write(f"[progress] {self.total} {self.what} to run")

    def _write(self, line: str) -> None:
        if self.enabled:
            stream = self.stream or sys.stdout
            print(line, file=stream, flush=True)

    def remaining(self) -> float | None:
        """Estimated seconds left (mean time of the calculations that ran, times the number left); 0 when all
        are done, None while no calculation has run yet (only cache hits so far)."""
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        return self.ran_seconds / self.ran * left if self.ran else None

    def done(self, label: str = "", *, cached: bool = False) -> str:
        """Record one finished calculation (``cached``: a cache hit, not timed into the estimate); write and
        return its line: ``n of N``, elapsed wall time, estimated remaining time, ``label``."""
        now = self.clock()
        self.finished += 1
        if not cached:
            self.ran += 1
            self.ran_seconds += now - self.last
        self.last = now
        left = self.remaining()
        estimate = "unknown (only cache hits so far)" if left is None else duration(left)
        line = (f"[progress] {self.finished} of {self.total} {self.what}, elapsed "
                f"{duration(now - self.start)}, estimated remaining {estimate}"
                + (f": {label}" if label else "") + (" (cached)" if cached else ""))
        self._write(line)
        return line
