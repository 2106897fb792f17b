"""envs/setup.sh: what it says when it cannot install system prerequisites itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to act as another user")
def test_not_root_lists_exactly_what_is_missing_and_changes_nothing():
    tmp = Path(tempfile.mkdtemp(prefix="multiscale-setup-"))
    try:
        tmp.chmod(0o755)
        (tmp / "envs").mkdir()
        for f in ("setup.sh", "requirements.txt", "gpaw-siteconfig.py", "check_stack.py", "debian-packages-test.txt"):
            shutil.copy(ROOT / "envs" / f, tmp / "envs" / f)
        shutil.copy(ROOT / "pyproject.toml", tmp)
        (tmp / "envs/debian-packages.txt").write_text("gcc\nmultiscale-no-such-package\n")
        proc = subprocess.run(["runuser", "-u", "nobody", "--", "bash", str(tmp / "envs/setup.sh")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "not running as root" in proc.stderr
        assert "multiscale-no-such-package" in proc.stderr and "apt-get install" in proc.stderr
        assert "gcc " not in proc.stderr.split("Debian packages:")[1].split("(")[0]  # installed ones not listed
        assert not (tmp / ".venv").exists()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
