"""curator-kit as a non-root user on that user's own rootless Podman service (subuids, no root anywhere in
the path): `scripts/ensure-podman --rootless USER` sets the user and the service up (root only), the bootstrap
image is loaded into the user's store, and the CLI runs as the user against the user's socket.

What is checked: doctor names Podman and rootless; a run starts a container as the user whose files in the
output directory belong to the user on the host (Podman's keep-id user namespace, engine.podman) with
`--init`'s init process; `--gpus 1` reaches the container as a CDI device through a stand-in spec in
/var/run/cdi, which rootless Podman reads as rootful Podman does.

The stand-in differs from test_podman_cdi.py's: rootless runc cannot make device nodes, so it bind-mounts
each one from the host *at its container path* (a spec mapping /dev/null to /dev/nvidia0 fails with "error
creating device nodes: mount /dev/nvidia0 ...: no such file or directory"). NVIDIA's generated specs name
the same path on both sides (/dev/nvidia0 on the host is /dev/nvidia0 inside); the stand-in does the same
with a node every host here has and no container gets by default, /dev/fuse.

Skipped when not root (the setup creates a user), unless CURATOR_KIT_REQUIRE_PODMAN=1 (scripts/test as
root), where a setup that fails is a failure.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from engines import copy_image, podman_client, skip_or_fail
from kitcli import ok

ROOTLESS_USER = os.environ.get("CURATOR_KIT_TEST_ROOTLESS_USER", "ckrootless")
ENSURE = Path(__file__).resolve().parents[2] / "scripts" / "ensure-podman"
SPEC = Path("/var/run/cdi") / "curator-kit-test-rootless-standin.json"
STANDIN_NODE = "/dev/fuse"  # on the host, and not in a container's default /dev
STANDIN = {
    "cdiVersion": "0.5.0",
    "kind": "nvidia.com/gpu",
    "devices": [
        {
            "name": "0",
            "containerEdits": {"deviceNodes": [{"path": STANDIN_NODE}], "env": ["NVIDIA_VISIBLE_DEVICES=0"]},
        }
    ],
}
# The editable install's site-packages, for an interpreter other than this venv's (see `interpreter`).
RUN_MODULE = (
    "import runpy, site, sys; site.addsitedir({site!r}); sys.argv[0] = 'curator-kit'; "
    "runpy.run_module('curator_kit', run_name='__main__', alter_sys=True)"
)


@dataclass(frozen=True)
class Rootless:
    user: str
    uid: int
    gid: int
    home: str
    docker_host: str
    python: tuple[str, ...]  # the argv that runs `curator-kit` as the user
    client: object  # docker.DockerClient on the user's socket (root may use it)

    def env(self, docker_host: bool = True) -> list[str]:
        return [
            f"HOME={self.home}",
            f"XDG_RUNTIME_DIR=/run/user/{self.uid}",
            *([f"DOCKER_HOST={self.docker_host}"] if docker_host else []),
            "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG=C.UTF-8",
        ]

    def cli(self, *args: str, cwd: Path, timeout: float = 300, docker_host: bool = True) -> subprocess.CompletedProcess:
        """`curator-kit ARGS` as the user, with a clean environment: against the user's socket (DOCKER_HOST),
        or without DOCKER_HOST."""
        return subprocess.run(
            ["runuser", "-u", self.user, "--", "env", "-i", *self.env(docker_host), *self.python, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _runs_as(user: str, argv: list[str]) -> bool:
    probe = subprocess.run(["runuser", "-u", user, "--", *argv], cwd="/", capture_output=True, timeout=60)
    return probe.returncode == 0


def interpreter(user: str) -> tuple[str, ...] | None:
    """How the user runs this checkout's curator-kit: this venv's interpreter when the user may execute it;
    else (a venv whose base interpreter is under a private home, e.g. pyenv in /root, mode 700) the system's
    interpreter of the same version, isolated from its own site-packages (-S: Debian's python3-docker would
    shadow the venv's) and pointed at the venv's."""
    if _runs_as(user, [sys.executable, "-c", "import curator_kit"]):
        return (sys.executable, "-m", "curator_kit")
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    if system is None:
        return None
    argv = (system, "-S", "-c", RUN_MODULE.format(site=sysconfig.get_path("purelib")))
    return argv if _runs_as(user, [*argv, "--version"]) else None


@pytest.fixture(scope="module")
def rootless(docker_client, bootstrap_image):
    """The user's rootless Podman, set up by scripts/ensure-podman, with the bootstrap image in its store."""
    if os.geteuid() != 0:
        pytest.skip("setting up a rootless Podman user needs root (scripts/ensure-podman --rootless)")
    setup = subprocess.run(
        ["bash", str(ENSURE), "--rootless", ROOTLESS_USER], capture_output=True, text=True, timeout=600
    )
    lines = setup.stdout.strip().splitlines()
    if setup.returncode != 0 or not lines or not lines[-1].startswith("DOCKER_HOST="):
        skip_or_fail(f"rootless Podman could not be set up:\n{setup.stdout}\n{setup.stderr}")
    host = lines[-1].removeprefix("DOCKER_HOST=")
    account = pwd.getpwnam(ROOTLESS_USER)
    python = interpreter(ROOTLESS_USER)
    if python is None:
        skip_or_fail(f"{ROOTLESS_USER} can run neither {sys.executable} nor a system Python of its version")
    client = podman_client(host)
    copy_image(docker_client, client, bootstrap_image, host)
    try:
        yield Rootless(ROOTLESS_USER, account.pw_uid, account.pw_gid, account.pw_dir, host, python, client)
    finally:
        client.close()


@pytest.fixture
def project(rootless):
    """A project the user owns, under /tmp (pytest's own temp dirs are root's, mode 700)."""
    made = Path(tempfile.mkdtemp(prefix="curator-kit-rootless-", dir="/tmp"))
    (made / "input").mkdir()
    (made / "curator-kit.toml").write_text('[project]\nname = "podman-rootless"\n')
    for path in (made, made / "input", made / "curator-kit.toml"):
        os.chown(path, rootless.uid, rootless.gid)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def run(rootless: Rootless, project: Path, image: str, *args: str) -> subprocess.CompletedProcess:
    return rootless.cli("run", "--project", str(project), "--image", image, *args, cwd=project)


def leftovers(rootless: Rootless) -> list:
    return rootless.client.containers.list(all=True, filters={"label": "curator-kit.project=podman-rootless"})


def service_nofile(docker_host: str) -> int | None:
    """The hard nofile limit of the service listening on `docker_host` (the plan names it)."""
    from curator_kit.ops.dockerd_limits import hard_limits

    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"service" in cmdline.read_bytes() and docker_host.encode() in cmdline.read_bytes():
                return hard_limits((cmdline.parent / "limits").read_text()).get("nofile")
        except OSError:
            continue
    return None


def test_doctor_names_rootless_podman(rootless):
    result = ok(rootless.cli("doctor", cwd=Path("/")))
    engine = next(line for line in result.stdout.splitlines() if "engine" in line)
    assert "Podman " in engine and "rootless" in engine and rootless.docker_host in engine
    # Without DOCKER_HOST, `--engine podman` finds the user's own socket under XDG_RUNTIME_DIR.
    found = ok(rootless.cli("--engine", "podman", "doctor", cwd=Path("/"), docker_host=False))
    assert "rootless" in found.stdout and rootless.docker_host in found.stdout


def test_a_run_writes_the_users_own_files(rootless, bootstrap_image, project):
    probe = "sh -c 'id -u; id -g; cat /proc/1/comm; ulimit -n; echo written > /data/output/probe'"
    result = ok(run(rootless, project, bootstrap_image, "--command", probe))
    plan_line = f"user       {rootless.uid}:{rootless.gid}, user namespace keep-id"
    assert plan_line in result.stderr.splitlines()  # the plan, as said
    uid, gid, init, nofile = result.stdout.splitlines()
    assert (int(uid), int(gid)) == (rootless.uid, rootless.gid)  # the user's uid inside (keep-id)
    assert init == "podman-init"  # --init: Podman's catatonit is the container's pid 1
    assert int(nofile) == service_nofile(rootless.docker_host)  # at the service's own hard limit
    written = project / "output" / "probe"
    assert written.read_text() == "written\n"
    assert (written.stat().st_uid, written.stat().st_gid) == (rootless.uid, rootless.gid)  # the user's, on the host
    assert leftovers(rootless) == []


def test_the_printed_line_is_the_container_it_starts(rootless, bootstrap_image, project):
    """`--dry-run` prints the plan's podman line, keep-id included; run as printed by the user (the way
    `curator-kit shell` starts its line through the podman CLI), it writes the user's own file."""
    probe = "sh -c 'id -u; echo printed > /data/output/printed'"
    # The bootstrap image has no /workspace (project images do), which `podman run --workdir` requires.
    workspace = ("--mount", f"{project / 'input'}:/workspace:ro")
    planned = ok(run(rootless, project, bootstrap_image, *workspace, "--command", probe, "--dry-run"))
    line = planned.stdout.strip().splitlines()[-1]
    # Reached through DOCKER_HOST, which the podman CLI does not read: the line names the service (`--url`).
    assert line.startswith(f"podman --url {rootless.docker_host} run --rm ") and " --userns=keep-id " in line
    shell = rootless.cli(
        "shell", "--project", str(project), "--image", bootstrap_image, "--no-mount-code", "--dry-run", cwd=project
    )
    shell = ok(shell)
    assert (
        shell.stdout.strip().splitlines()[-1].startswith(f"podman --url {rootless.docker_host} run --rm -it ")
        and "--userns=keep-id" in shell.stdout
    )
    output = project / "output"
    output.mkdir()
    os.chown(output, rootless.uid, rootless.gid)
    started = subprocess.run(
        ["runuser", "-u", rootless.user, "--", "env", "-i", *rootless.env(), *shlex.split(line)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout.splitlines()[0] == str(rootless.uid)
    written = output / "printed"
    assert (written.stat().st_uid, written.stat().st_gid) == (rootless.uid, rootless.gid)
    written.unlink()
    # The same line from root: `--url` takes it to the service the plan was made for, so it runs there as it
    # did for the user. Without it, root's own Podman would take it and refuse: "keep-id is only supported
    # in rootless mode" (Podman 4.3).
    environment = {key: value for key, value in os.environ.items() if key not in ("DOCKER_HOST", "CONTAINER_HOST")}
    from_root = subprocess.run(
        shlex.split(line), cwd=project, capture_output=True, text=True, timeout=300, env=environment
    )
    assert from_root.returncode == 0, from_root.stdout + from_root.stderr
    assert from_root.stdout.splitlines()[0] == str(rootless.uid)
    assert (written.stat().st_uid, written.stat().st_gid) == (rootless.uid, rootless.gid)
    assert leftovers(rootless) == []


def test_gpus_reach_the_container_as_cdi_devices(rootless, bootstrap_image, project):
    from curator_kit.ops.cdispecs import read_cdi_inventory

    if read_cdi_inventory().devices():
        pytest.skip("this host has real nvidia.com/gpu CDI specs: a stand-in would clash with them")
    if not Path(STANDIN_NODE).exists() or not stat.S_ISCHR(Path(STANDIN_NODE).stat().st_mode):
        pytest.skip(f"the stand-in GPU is the host's {STANDIN_NODE}, which this host lacks")
    SPEC.parent.mkdir(parents=True, exist_ok=True)
    SPEC.write_text(json.dumps(STANDIN))
    try:
        probe = f"sh -c 'env; ls -l {STANDIN_NODE}; echo gpu > /data/output/gpu'"
        result = ok(run(rootless, project, bootstrap_image, "--gpus", "1", "--command", probe))
    finally:
        SPEC.unlink(missing_ok=True)
    lines = result.stdout.splitlines()
    assert "gpus       1 GPU(s) via CDI nvidia.com/gpu=0" in result.stderr.splitlines()
    assert "NVIDIA_VISIBLE_DEVICES=0" in lines  # the spec's containerEdits
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in lines  # the plan's
    node = next(line for line in lines if line.endswith(STANDIN_NODE))
    major, minor = os.major(os.stat(STANDIN_NODE).st_rdev), os.minor(os.stat(STANDIN_NODE).st_rdev)
    assert node.startswith("c") and f" {major}, {minor} " in node  # the host's node, bound in
    written = project / "output" / "gpu"
    assert written.stat().st_uid == rootless.uid  # libpod's create (CDI) runs keep-id too
    assert leftovers(rootless) == []


def test_the_engine_option_starts_the_users_service_when_none_answers(rootless):
    """`--engine podman` with no service on the user's socket starts one (detached: later commands find it)."""
    subprocess.run(["pkill", "-u", rootless.user, "-f", "podman system service"], timeout=30)
    socket = rootless.docker_host.removeprefix("unix://")
    started = ok(rootless.cli("--engine", "podman", "doctor", cwd=Path("/"), docker_host=False))
    assert f"starting Podman's service: podman system service --time=0 unix://{socket}" in started.stderr
    assert "rootless" in started.stdout
    again = ok(rootless.cli("--engine", "podman", "doctor", cwd=Path("/"), docker_host=False))
    assert "starting" not in again.stderr  # the service it started answers
