"""A real single-node Slurm cluster on loopback (Debian's slurm 22.05 + munge), for testing the slurm profile.

Everything lives in a private folder; only the daemons started here are stopped, by their pid files.
The settings that mattered on this machine kind are recorded in ../shared/SLURM.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF_LINK = Path("/etc/slurm/slurm.conf")
NEEDED = ("slurmctld", "slurmd", "munged", "mungekey", "sinfo", "srun", "squeue", "sbatch")


def missing_commands() -> list[str]:
    return [c for c in NEEDED if shutil.which(c) is None and not Path(f"/usr/sbin/{c}").exists()]


class LoopbackSlurm:
    """``root`` must be reachable by the munge user: by default a fresh folder under /tmp, removed on stop."""

    def __init__(self, root: Path | None = None):
        import tempfile

        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="multiscale-slurm-")) if root is None else Path(root)
        self.host = socket.gethostname()
        self.env = dict(os.environ)
        self._started: list[Path] = []
        self._linked = False

    def _run(self, *cmd: str, user: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        full = ["runuser", "-u", user, "--", *cmd] if user else list(cmd)
        proc = subprocess.run(full, capture_output=True, text=True, env=self.env, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(full)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def start(self) -> None:
        r = self.root
        r.chmod(0o755)  # the munge user must reach its folder
        munge = r / "munge"
        munge.mkdir(parents=True)
        shutil.chown(munge, "munge", "munge")
        munge.chmod(0o711)
        key = munge / "munge.key"
        self._run("/usr/sbin/mungekey", "--create", f"--keyfile={key}", user="munge")
        sock = munge / "munge.socket"
        pid = munge / "munged.pid"
        self._run("/usr/sbin/munged", f"--socket={sock}", f"--key-file={key}", f"--pid-file={pid}",
                  f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}", user="munge")
        self._started.append(pid)
        for d in ("state", "spool", "log"):
            (r / d).mkdir()
        mem = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
        conf = r / "slurm.conf"
        conf.write_text(f"""ClusterName=loopback
SlurmctldHost={self.host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'log/slurmctld.log'}
SlurmdLogFile={r / 'log/slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")
        # The jobstep plugin strips SLURM_* variables before its inner srun, so the config must also be found
        # at the default path (SLURM.md). Only link if nothing is there; remove only our own link.
        if not SLURM_CONF_LINK.exists() and not SLURM_CONF_LINK.is_symlink():
            SLURM_CONF_LINK.parent.mkdir(parents=True, exist_ok=True)
            SLURM_CONF_LINK.symlink_to(conf)
            self._linked = True
        elif SLURM_CONF_LINK.resolve() != conf:
            raise RuntimeError(f"{SLURM_CONF_LINK} exists and is not ours; refusing to overwrite it")
        self.env["SLURM_CONF"] = str(conf)
        self._run("/usr/sbin/slurmctld")
        self._started.append(r / "slurmctld.pid")
        self._run("/usr/sbin/slurmd")
        self._started.append(r / "slurmd.pid")
        deadline = time.time() + 60
        while time.time() < deadline:
            out = self._run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if out in ("idle", "mix", "alloc"):
                return
            time.sleep(1)
        raise RuntimeError(f"slurm node did not come up: sinfo says {out!r}; see {r / 'log'}")

    def stop(self) -> None:
        for pidfile in reversed(self._started):
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        self._started.clear()
        if self._linked:
            SLURM_CONF_LINK.unlink(missing_ok=True)
            self._linked = False
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
