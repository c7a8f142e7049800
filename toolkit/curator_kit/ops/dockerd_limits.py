"""What a local dockerd may grant containers, read from /proc (no probe container needed).

A dockerd without CAP_SYS_RESOURCE (rootless, or inside a sandbox such as this project's CI)
cannot set a container's memlock above its own hard limit: `--ulimit memlock=-1` then fails at
start with "error setting rlimit". Knowing the cap up front lets the plan ask for what works.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.parsers import Ulimit

if TYPE_CHECKING:
    import docker

CAP_SYS_RESOURCE = 24


def memlock_cap(limits_text: str, status_text: str, initial_namespace: bool = True) -> int | None:
    """dockerd's hard memlock limit in bytes when it cannot exceed it; None when unlimited or capable.
    A process in a user namespace of its own (a rootless Podman service) may show every capability there,
    but none of them lets it raise a hard limit it was started with."""
    for line in status_text.splitlines():
        capable = line.startswith("CapEff:") and int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1
        if capable and initial_namespace:
            return None
    for line in limits_text.splitlines():
        if line.startswith("Max locked memory"):
            hard = line.split()[4]
            return None if hard == "unlimited" else int(hard)
    return None


def local_dockerd_pid(proc: Path = Path("/proc")) -> int | None:
    for comm in proc.glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "dockerd":
                return int(comm.parent.name)
        except OSError:
            continue
    return None


def local_memlock_cap() -> int | None:
    """The cap for the engine curator-kit talks to, when that engine is this machine's dockerd."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return None
    pid = local_dockerd_pid()
    if pid is None:
        return None
    try:
        return memlock_cap(Path(f"/proc/{pid}/limits").read_text(), Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None


# --- a local Podman service (`podman system service`), which has the same ceiling as dockerd ------------

_PROC_LIMIT_LABELS = {"nofile": "Max open files", "nproc": "Max processes"}


def hard_limits(limits_text: str) -> dict[str, int]:
    """nofile and nproc hard limits of a /proc/PID/limits text; an unlimited one is left out."""
    found = {}
    for name, label in _PROC_LIMIT_LABELS.items():
        for line in limits_text.splitlines():
            if line.startswith(label):
                hard = line[len(label) :].split()[1]
                if hard.isdigit():
                    found[name] = int(hard)
    return found


def local_podman_pid(socket: str = "", proc: Path = Path("/proc")) -> int | None:
    """The local Podman service's pid: the one serving SOCKET (a path on its command line) when one does,
    else the lowest pid (a rootful and a rootless service may run side by side, with their own limits)."""
    services: list[tuple[bool, int]] = []
    for comm in proc.glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != "podman":
                continue
            cmdline = (comm.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"service" in cmdline.split(b"\0"):
            services.append((not (socket and socket.encode() in cmdline), int(comm.parent.name)))
    return min(services)[1] if services else None


def local_podman_limits(socket: str = "") -> tuple[int | None, dict[str, int]]:
    """What the local Podman service on SOCKET may grant containers: its memlock cap (as `memlock_cap` says of
    dockerd) and its nofile/nproc hard limits; (None, {}) when no service is found or its limits cannot be read."""
    pid = local_podman_pid(socket)
    if pid is None:
        return None, {}
    try:
        limits, status = Path(f"/proc/{pid}/limits").read_text(), Path(f"/proc/{pid}/status").read_text()
        uid_map = Path(f"/proc/{pid}/uid_map").read_text().split()
    except OSError:
        return None, {}
    initial = uid_map == ["0", "0", "4294967295"]  # the whole id range, unmapped: no user namespace of its own
    return memlock_cap(limits, status, initial), hard_limits(limits)


def helper_ulimits(client: docker.DockerClient) -> list[Ulimit]:
    """nofile and nproc for curator-kit's own short-lived containers (a probe, a build step run outside the
    builder) where the engine needs them named: a local Podman, at its service's hard limits (its defaults
    exceed what it may raise; engine.podman). None elsewhere: the engine's defaults start."""
    from curator_kit.engine.identity import engine_is_podman

    if not engine_is_podman(client):
        return []
    from curator_kit.engine.client import engine_address
    from curator_kit.engine.podman import podman_ulimits

    _, limits = local_podman_limits(engine_address().removeprefix("unix://"))
    return list(podman_ulimits((), limits))
