"""A real single-node Slurm for the tests: Debian's slurm-wlm and munge, configured in a temporary
directory, run as root in the foreground, gone when the context ends (even when a test failed).

What Debian bookworm's packages (slurm-wlm 22.05.8, munge 0.5.15) needed on this project's machines:

- munged refuses a socket directory that is not executable by everyone ("execute permissions for
  all required"): the directory is 0755, so it lives under /tmp, not under pytest's 0700 tmp root.
  The key is any 32+ random bytes, mode 0600, owned by the user running munged.
- `AuthInfo=socket=...` points slurmctld, slurmd and the clients at that munged; SLURM_CONF points
  the clients (and, through the job's environment, the srun calls inside a job) at this slurm.conf.
- No cgroups here: ProctrackType=proctrack/linuxproc and TaskPlugin=task/none. select/cons_tres with
  CR_Core schedules CPUs. The node line is what `slurmd -C` reports for this host.
- The pmix "can not load PMIx library" errors at start are harmless (MpiDefault=none).
- KillWait=5: scancel's SIGKILL follows its SIGTERM after 5 s, not Slurm's default 30.
- Jobs of any user: `sbatch --uid=USER --gid=GROUP` (root only) submits as USER, whose steps create
  their per-node directories in the cluster's tmp, so that one is 1777 like /tmp.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
TERMINAL_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
}


def missing_programs() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} not ready after {timeout:g} s\n{tail}")
        time.sleep(0.5)


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    node: str

    @property
    def env(self) -> dict[str, str]:
        # Jobs inherit it (sbatch exports the environment): their srun calls find this cluster, and
        # their per-node directories ($TMPDIR/curator-kit-JOBID) go with the cluster's directory.
        return {**os.environ, "SLURM_CONF": str(self.conf), "TMPDIR": str(self.root / "tmp")}

    def run(
        self, *argv: str, check: bool = True, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        env = {**self.env, **(env or {})}
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr or result.stdout}")
        return result

    def sbatch(self, script: Path, cwd: Path, user: str | None = None) -> str:
        """Submits as root, or (root's --uid/--gid) as USER with its primary group and its own HOME."""
        options, env = [], {}
        if user is not None:
            account = pwd.getpwnam(user)
            options = [f"--uid={account.pw_uid}", f"--gid={account.pw_gid}"]
            # sbatch exports its environment into the job: not root's HOME, which USER cannot read.
            env = {"HOME": account.pw_dir, "USER": user, "LOGNAME": user}
        result = self.run("sbatch", "--parsable", *options, str(script), cwd=cwd, env=env)
        return result.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as KEY=VALUE pairs (Slurm keeps finished jobs for MinJobAge, 300 s)."""
        text = self.run("scontrol", "show", "job", "--oneliner", job_id).stdout
        return dict(field.split("=", 1) for field in text.split() if "=" in field)

    def wait(self, job_id: str, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while (info := self.job(job_id))["JobState"] not in TERMINAL_STATES:
            if time.monotonic() > deadline:
                self.run("scancel", job_id, check=False)
                raise TimeoutError(f"job {job_id} still {info['JobState']} after {timeout:g} s")
            time.sleep(2)
        return info

    def cancel_all(self) -> None:
        jobs = self.run("squeue", "--noheader", "--format=%i", check=False).stdout.split()
        for job_id in jobs:
            self.run("scancel", job_id, check=False)
        for job_id in jobs:
            with suppress(TimeoutError, RuntimeError):
                self.wait(job_id, 60)


def _config(root: Path, node_line: str, node: str) -> str:
    return "\n".join(
        [
            "ClusterName=curatorkit",
            f"SlurmctldHost={node}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "JobCompType=jobcomp/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "KillWait=5",
            f"{node_line} State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def single_node_slurm() -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd for this host, torn down (and the directory removed) on exit."""
    root = Path(tempfile.mkdtemp(prefix="curator-kit-slurm-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        root.chmod(0o755)
        for name in ("munge", "state", "spool", "tmp"):
            (root / name).mkdir(mode=0o755)
        (root / "tmp").chmod(0o1777)  # every job user's $TMPDIR/curator-kit-JOBID, as in /tmp
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)

        def start(argv: list[str], log: str) -> subprocess.Popen:
            output = (root / log).open("w")
            stack.callback(output.close)
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(_stop, process)
            return process

        munge = root / "munge"
        start(
            [
                "munged",
                "--foreground",
                f"--socket={munge / 'munge.socket'}",
                f"--key-file={key}",
                f"--log-file={munge / 'munged.log'}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            "munged.out",
        )
        _wait_for((munge / "munge.socket").exists, 20, "munged", root / "munged.out")

        probe = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        node_line = probe.stdout.splitlines()[0]  # NodeName=HOST CPUs=... RealMemory=...
        node = node_line.split()[0].partition("=")[2]
        conf = root / "slurm.conf"
        conf.write_text(_config(root, node_line, node))
        cluster = SlurmCluster(root, conf, node)
        start(["slurmctld", "-D", "-i", "-f", str(conf)], "slurmctld.out")
        start(["slurmd", "-D", "-f", str(conf)], "slurmd.out")
        # Callbacks run last-registered first: jobs are cancelled while the daemons still run them.
        stack.callback(cluster.cancel_all)

        def idle() -> bool:
            result = cluster.run("sinfo", "--noheader", "--format=%T", check=False)
            return result.returncode == 0 and result.stdout.strip() == "idle"

        _wait_for(idle, 60, "the Slurm node", root / "slurmctld.log")
        yield cluster
