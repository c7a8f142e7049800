"""`curator-kit doctor`: gather facts about the engine and host, then judge them (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from curator_kit.core.build.baseimage import recipe_digest, stale_reason
from curator_kit.core.build.imagelabels import base_versions_text
from curator_kit.core.constants import (
    BASE_GPU_CHECK_IN_IMAGE,
    DEFAULT_CURATOR_VERSION,
    LABEL_BASE_VARIANT,
    LABEL_CURATOR_VERSION,
    base_image_tag,
)
from curator_kit.core.pipeline.cdi import CDI_FIX, GPU_KIND, CdiInventory, qualified
from curator_kit.core.pipeline.codecs import codecs_in_labels, describe_codecs
from curator_kit.core.pipeline.devices import NVIDIA_FIX, HostGpu, codec_engines
from curator_kit.core.run.preflight import EngineFacts
from curator_kit.engine.identity import PODMAN
from curator_kit.errors import CuratorKitError
from curator_kit.resources import available_variants

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail" | "info"
    detail: str


@dataclass
class DoctorFacts:
    engine_error: CuratorKitError | None = None
    engine_address: str = ""
    server_version: str = ""
    api_version: str = ""
    engine_name: str = "Docker"  # or Podman (engine.identity)
    rootless: bool | None = None  # None: not known
    cdi_supported: bool = False  # the engine injects CDI devices
    cdi: CdiInventory | None = None  # the CDI specs read here (a local engine with CDI); None: not read
    network_dns: bool | None = None  # Podman: whether its new networks resolve container names; None: not asked
    engine: EngineFacts = field(default_factory=EngineFacts)
    default_runtime: str = ""
    gpus: list[HostGpu] = field(default_factory=list)
    base_images: dict[str, str] = field(default_factory=dict)  # tag -> size text, present ones only
    base_stacks: dict[str, str] = field(default_factory=dict)  # tag -> "torch 2.14.1, ..., ffmpeg ... (encoders)"
    base_stale: dict[str, str] = field(default_factory=dict)  # tag -> why it must be rebuilt
    base_codecs: dict[str, list[str]] = field(default_factory=dict)  # tag -> its codecs label, in lines
    # The wanted base's own no-GPU check (a cuda base's check-cuda.py), run in a container: None when
    # the image has none; else (passed, its last line).
    base_gpu_check: tuple[bool, str] | None = None
    wanted_base: str = base_image_tag(DEFAULT_CURATOR_VERSION)


def describe_gpu(gpu: HostGpu) -> str:
    engines = codec_engines(gpu.name)
    codecs = f"{engines.nvdec} NVDEC, {engines.nvenc} NVENC" if engines else "codec engines unknown"
    return f"{gpu.index}: {gpu.name}, {gpu.memory_mib} MiB, {codecs}"


def diagnose(facts: DoctorFacts) -> list[Check]:
    if facts.engine_error:
        return [Check("engine", "fail", facts.engine_error.one_line())]
    mode = "" if facts.rootless is None else (", rootless" if facts.rootless else ", rootful")
    engine_line = (
        f"{facts.engine_name} {facts.server_version} (API {facts.api_version}{mode}) at {facts.engine_address}"
    )
    checks = [Check("engine", "ok", engine_line)]
    engine = facts.engine
    cdi_gpus = facts.cdi.devices(GPU_KIND) if facts.cdi is not None else ()
    checks += _cdi_checks(facts)
    if facts.network_dns is False:
        from curator_kit.engine.podman import NETWORK_DNS_FIX

        why = "Podman's networks resolve no container names: `cluster up` refuses (its workers find the head by name)"
        checks.append(Check("network", "warn", f"{why} -- {NETWORK_DNS_FIX}"))
    elif facts.network_dns:
        checks.append(Check("network", "ok", "Podman's networks resolve container names (cluster up)"))
    if facts.engine_name == PODMAN:  # CDI is Podman's only way to GPUs; the cdi line says whether it has them
        if cdi_gpus:
            checks.append(Check("nvidia", "ok", f"CDI devices {', '.join(qualified(n) for n in cdi_gpus)}"))
        else:
            checks.append(
                Check("nvidia", "warn", f"no NVIDIA GPUs for Podman containers: GPU runs are refused -- {CDI_FIX}")
            )
    elif engine.nvidia_evidence:
        ways = []
        if "nvidia" in engine.runtimes:
            ways.append("runtime nvidia" + (" (default)" if facts.default_runtime == "nvidia" else ""))
        if engine.nvidia_hook:
            ways.append("nvidia-container-runtime-hook for --gpus")
        if engine.cdi_spec_dirs:
            ways.append(f"CDI specs in {', '.join(engine.cdi_spec_dirs)}")
        checks.append(Check("nvidia", "ok", "; ".join(ways)))
    else:
        checks.append(Check("nvidia", "warn", f"no NVIDIA support in the engine: GPU runs will fail -- {NVIDIA_FIX}"))
    if facts.gpus:
        checks.append(Check("gpus", "ok", "; ".join(map(describe_gpu, facts.gpus))))
    else:
        checks.append(Check("gpus", "info", "none found by nvidia-smi; pipelines run on CPU"))
    wanted = facts.wanted_base
    if wanted in facts.base_stale:
        fix = "run `curator-kit base build` to rebuild it"
        checks.append(Check("base image", "warn", f"{wanted} is stale: {facts.base_stale[wanted]} -- {fix}"))
    elif wanted in facts.base_images:
        stack = facts.base_stacks.get(wanted, "versions not recorded")
        checks.append(Check("base image", "ok", f"{wanted} ({facts.base_images[wanted]}): {stack}"))
        codecs = facts.base_codecs.get(wanted) or describe_codecs(None)
        recorded = not codecs[0].startswith("not recorded")
        checks.append(Check("base codecs", "ok" if recorded else "warn", "; ".join(codecs)))
        if facts.base_gpu_check is not None:
            passed, line = facts.base_gpu_check
            fix = "" if passed else " -- rebuild it: `curator-kit base build --variant cuda --no-cache`"
            checks.append(Check("base gpu", "ok" if passed else "fail", f"{line}{fix}"))
    else:
        others = ", ".join(sorted(facts.base_images)) or "none"
        checks.append(
            Check(
                "base image", "warn", f"{facts.wanted_base} absent (present: {others}) -- run `curator-kit base build`"
            )
        )
    return checks


def _cdi_checks(facts: DoctorFacts) -> list[Check]:
    """Whether the engine injects CDI devices, and which GPU devices the specs here declare."""
    if not facts.cdi_supported:
        why = "Docker injects CDI devices from Engine 25 (API 1.44) with CDI enabled; `--gpus` is used"
        return [Check("cdi", "info", f"no CDI in this engine: {why}")]
    if facts.cdi is None:
        return [Check("cdi", "info", "CDI supported; the engine is remote: its specs cannot be read from here")]
    checks = []
    gpus = facts.cdi.devices(GPU_KIND)
    if gpus:
        where = ", ".join(facts.cdi.sources(GPU_KIND))
        checks.append(Check("cdi", "ok", f"{GPU_KIND} devices {', '.join(gpus)} (from {where})"))
    else:
        where = ", ".join(facts.cdi.dirs)
        status = "warn" if facts.engine_name == PODMAN else "info"
        checks.append(Check("cdi", status, f"CDI supported; no spec in {where} declares {GPU_KIND} devices"))
    checks += [Check("cdi", "warn", f"not a CDI spec, skipped: {problem}") for problem in facts.cdi.problems]
    return checks


def gather_facts(wanted_base: str = DoctorFacts.wanted_base) -> DoctorFacts:
    from curator_kit.engine.client import connect, engine_address
    from curator_kit.engine.identity import engine_identity
    from curator_kit.engine.images import local_images
    from curator_kit.ops.cdispecs import read_cdi_inventory
    from curator_kit.ops.hostfacts import detect_host_gpus

    facts = DoctorFacts(engine_address=engine_address(), gpus=detect_host_gpus(), wanted_base=wanted_base)
    try:
        client = connect(timeout=30)
    except CuratorKitError as error:
        facts.engine_error = error
        return facts
    version = client.version()
    info = client.info()
    facts.server_version = version.get("Version", "?")
    facts.api_version = version.get("ApiVersion", "?")
    facts.engine = EngineFacts.from_info(info, facts.engine_address)
    identity = engine_identity(client, info)
    facts.engine_name, facts.rootless, facts.cdi_supported = identity.name, identity.rootless, identity.cdi
    if identity.podman:
        from curator_kit.core.constants import LABEL_PROJECT
        from curator_kit.engine.podman import networks_resolve_names

        facts.server_version = identity.version
        facts.network_dns = networks_resolve_names(client, LABEL_PROJECT)
    if identity.cdi and facts.engine.local:
        facts.cdi = read_cdi_inventory(identity.cdi_spec_dirs)
    facts.default_runtime = info.get("DefaultRuntime", "")
    for image in local_images(client, "curator-kit/base"):
        labels = image.labels
        stack, stale = base_versions_text(labels), _stale(labels)
        for tag in image.tags:
            facts.base_images[tag] = f"{image.size / 2**30:.1f} GB"
            facts.base_codecs[tag] = describe_codecs(codecs_in_labels(labels))
            if stack:
                facts.base_stacks[tag] = stack
            if stale:
                facts.base_stale[tag] = stale
    if wanted_base in facts.base_images and wanted_base not in facts.base_stale:
        facts.base_gpu_check = _gpu_check(client, wanted_base)
    return facts


def _gpu_check(client: docker.DockerClient, tag: str) -> tuple[bool, str] | None:
    """Run the image's no-GPU CUDA check, when it has one (the cuda base): (passed, last line)."""
    from curator_kit.engine.images import probe_image_files, run_in_image
    from curator_kit.ops.dockerd_limits import helper_ulimits

    _texts, present = probe_image_files(client, tag, read=[], check=[BASE_GPU_CHECK_IN_IMAGE])
    if BASE_GPU_CHECK_IN_IMAGE not in present:
        return None
    try:
        output = run_in_image(client, tag, ["python", BASE_GPU_CHECK_IN_IMAGE], helper_ulimits(client))
    except CuratorKitError as error:
        return False, error.message
    lines = output.strip().splitlines()
    driver = [line.split()[1].rstrip(":") for line in lines if line.startswith("driver ")]
    return True, f"{lines[-1] if lines else 'passed'}; left to the NVIDIA runtime: {', '.join(driver) or 'nothing'}"


def _stale(labels: dict[str, str]) -> str | None:
    """Why a base image is stale against this curator-kit's recipe for its own variant and Curator."""
    variant = labels.get(LABEL_BASE_VARIANT)
    if not variant or variant not in available_variants():
        return None
    return stale_reason(labels, recipe_digest(variant, labels.get(LABEL_CURATOR_VERSION, DEFAULT_CURATOR_VERSION)))
