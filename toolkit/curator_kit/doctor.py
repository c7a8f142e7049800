"""`curator-kit doctor`: gather facts about the engine and host, then judge them (pure)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

from curator_kit.baseimage import default_tag
from curator_kit.errors import CuratorKitError

NVIDIA_FIX = "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker`"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail" | "info"
    detail: str


@dataclass
class HostFacts:
    engine_error: CuratorKitError | None = None
    engine_address: str = ""
    server_version: str = ""
    api_version: str = ""
    runtimes: list[str] = field(default_factory=list)
    default_runtime: str = ""
    cdi_spec_dirs: list[str] = field(default_factory=list)
    nvidia_hook_on_path: bool = False
    gpus: list[str] = field(default_factory=list)
    gpu_probe: str = ""
    base_images: dict[str, str] = field(default_factory=dict)  # tag -> size text, present ones only
    wanted_base: str = default_tag("1.4.0", "cpu")


def diagnose(facts: HostFacts) -> list[Check]:
    if facts.engine_error:
        return [Check("engine", "fail", facts.engine_error.one_line())]
    checks = [
        Check("engine", "ok", f"Docker {facts.server_version} (API {facts.api_version}) at {facts.engine_address}")
    ]
    nvidia_ways = []
    if "nvidia" in facts.runtimes:
        nvidia_ways.append("runtime nvidia" + (" (default)" if facts.default_runtime == "nvidia" else ""))
    if facts.nvidia_hook_on_path:
        nvidia_ways.append("nvidia-container-runtime-hook for --gpus")
    if facts.cdi_spec_dirs:
        nvidia_ways.append(f"CDI specs in {', '.join(facts.cdi_spec_dirs)}")
    if nvidia_ways:
        checks.append(Check("nvidia", "ok", "; ".join(nvidia_ways)))
    else:
        checks.append(Check("nvidia", "warn", f"no NVIDIA support in the engine: GPU runs will fail -- {NVIDIA_FIX}"))
    if facts.gpus:
        checks.append(Check("gpus", "ok", "; ".join(facts.gpus)))
    else:
        checks.append(Check("gpus", "info", f"none found ({facts.gpu_probe}); pipelines run on CPU"))
    if facts.wanted_base in facts.base_images:
        checks.append(Check("base image", "ok", f"{facts.wanted_base} ({facts.base_images[facts.wanted_base]})"))
    else:
        others = ", ".join(sorted(facts.base_images)) or "none"
        checks.append(
            Check(
                "base image", "warn", f"{facts.wanted_base} absent (present: {others}) -- run `curator-kit base build`"
            )
        )
    return checks


def probe_gpus() -> tuple[list[str], str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return [], "nvidia-smi not on PATH"
    try:
        result = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as error:
        return [], f"nvidia-smi failed: {error}"
    return [line.strip() for line in result.stdout.splitlines() if line.strip()], "nvidia-smi"


def gather_facts() -> HostFacts:
    from curator_kit.engine.client import connect, engine_address

    facts = HostFacts(engine_address=engine_address())
    facts.gpus, facts.gpu_probe = probe_gpus()
    try:
        client = connect(timeout=30)
    except CuratorKitError as error:
        facts.engine_error = error
        return facts
    version = client.version()
    info = client.info()
    facts.server_version = version.get("Version", "?")
    facts.api_version = version.get("ApiVersion", "?")
    facts.runtimes = sorted((info.get("Runtimes") or {}).keys())
    facts.default_runtime = info.get("DefaultRuntime", "")
    facts.cdi_spec_dirs = list(info.get("CDISpecDirs") or [])
    # The engine registers the `nvidia` device driver for --gpus when this hook is on dockerd's PATH;
    # the API does not report it, so look where dockerd would.
    facts.nvidia_hook_on_path = shutil.which("nvidia-container-runtime-hook") is not None
    for image in client.images.list(name="curator-kit/base"):
        for tag in image.tags:
            facts.base_images[tag] = f"{image.attrs.get('Size', 0) / 2**30:.1f} GB"
    return facts
