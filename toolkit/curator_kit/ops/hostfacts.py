"""Facts about the machine the engine runs on, gathered for plans (`core.run.runplan.HostFacts`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from typing import Any

from curator_kit.core.pipeline.devices import HostGpu, parse_nvidia_smi
from curator_kit.core.run.runplan import HostFacts
from curator_kit.ops.dockerd_limits import local_memlock_cap


def local_host() -> HostFacts:
    """This machine, and who runs curator-kit: under `sudo` the user behind it, whose files runs write."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    uid, gid = os.getuid(), os.getgid()
    if uid == 0 and os.environ.get("SUDO_UID", "").isdigit() and os.environ.get("SUDO_GID", "").isdigit():
        uid, gid = int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])
    from curator_kit.ops.usercache import user_cache_home

    return HostFacts(
        os.cpu_count() or 1, memory, uid, gid, memlock_cap=local_memlock_cap(), cache_home=user_cache_home()
    )


def engine_host(info: dict[str, Any], address: str) -> HostFacts:
    """The engine's own view (NCPU, MemTotal): right even when DOCKER_HOST is another machine.

    A local engine's GPUs are the ones nvidia-smi sees here: preflight checks their codec engines and
    their memory sizes the GPU share of memory-sized stages."""
    local = local_host()
    facts = HostFacts(
        int(info.get("NCPU") or local.cpus),
        int(info.get("MemTotal") or local.memory_bytes),
        local.uid,
        local.gid,
        source="the Docker engine",
        memlock_cap=local.memlock_cap,
        cache_home=local.cache_home,
    )
    if address.startswith(("unix://", "npipe://")):
        facts = replace(facts, gpus=tuple(detect_host_gpus()))
    else:  # another machine's engine: its paths and GPUs are not this machine's
        facts = replace(facts, local=False)
    return facts


def detect_host_gpus(timeout_s: float = 20) -> list[HostGpu]:
    """The GPUs nvidia-smi sees on this host; empty without nvidia-smi or a working driver."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        result = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return []
    return parse_nvidia_smi(result.stdout)
