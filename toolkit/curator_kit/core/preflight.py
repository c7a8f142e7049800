"""Checks before `curator-kit run` creates anything: facts are gathered, then judged (pure).

Refusals stop the run with one line; `--force` turns them into warnings. A missing image is not
forceable: nothing could start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curator_kit.core.devices import NVIDIA_FIX, CodecNeed, HostGpu, codec_problems, detect_host_gpus, selected_gpus
from curator_kit.core.runplan import ContainerPlan
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.manifest import ClippingSettings, StageSpec

# The hook dockerd runs for `--gpus` (its `nvidia` device driver exists only when the hook is on its PATH).
NVIDIA_HOOK = "nvidia-container-runtime-hook"


@dataclass(frozen=True)
class EngineFacts:
    runtimes: tuple[str, ...] = ()
    cdi_spec_dirs: tuple[str, ...] = ()
    nvidia_hook: bool = False  # found where a dockerd on this machine would look
    local: bool = True  # the engine runs on this machine, so nvidia-smi here sees its GPUs

    @property
    def nvidia_evidence(self) -> bool:
        return "nvidia" in self.runtimes or bool(self.cdi_spec_dirs) or self.nvidia_hook

    @classmethod
    def from_info(cls, info: dict[str, Any], address: str) -> EngineFacts:
        return cls(
            runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
            cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
            nvidia_hook=shutil.which(NVIDIA_HOOK) is not None,
            local=address.startswith(("unix://", "npipe://")),
        )


@dataclass
class Verdict:
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (problem, fix or "")
    warnings: list[str] = field(default_factory=list)

    def refuse(self, problem: str, fix: str = "") -> None:
        self.refusals.append((problem, fix))

    @property
    def problems(self) -> list[str]:
        return [problem for problem, _ in self.refusals]


def stage_needs(stages: list[StageSpec]) -> list[CodecNeed]:
    return [CodecNeed(s.name, int(s.resources.nvdecs), int(s.resources.nvencs)) for s in stages]


def clipping_needs(clipping: ClippingSettings | None) -> list[CodecNeed]:
    """[clipping] with a GPU encoder: ClipTranscodingStage encodes with NVENC and, with the
    use_hwaccel pipeline.py sets, decodes with NVDEC."""
    if clipping is None or not clipping.uses_gpu:
        return []
    return [CodecNeed("clipping", nvdecs=1, nvencs=1, label=f"clipping ({clipping.encoder})")]


def _needs_gpu(stage: StageSpec) -> bool:
    r = stage.resources
    return bool(r.gpus or r.gpu_memory_gb or r.nvdecs or r.nvencs)


def judge(plan: ContainerPlan, stages: list[StageSpec], engine: EngineFacts, host_gpus: list[HostGpu]) -> Verdict:
    """Everything but the image: NVIDIA support, codec engines, executor, streaming fit."""
    verdict = Verdict()
    if plan.runtime == "nvidia" and "nvidia" not in engine.runtimes:
        verdict.refuse(f"--runtime nvidia, but the engine's runtimes are {', '.join(engine.runtimes)}", NVIDIA_FIX)
    elif plan.gpus.wanted and not plan.runtime and not engine.nvidia_evidence:
        problem = f"GPUs asked for, but the engine has no NVIDIA support (no nvidia runtime, CDI or {NVIDIA_HOOK})"
        # A remote engine's hook is invisible from here: only the local verdict is sure enough to refuse.
        if engine.local:
            verdict.refuse(problem, NVIDIA_FIX)
        else:
            verdict.warnings.append(problem)

    if not plan.runs_pipeline:
        return verdict  # a --command override runs no stages
    needs = [*clipping_needs(plan.clipping), *(n for n in stage_needs(stages) if n.nvdecs or n.nvencs)]
    if not plan.gpus.wanted:
        if plan.clipping is not None and plan.clipping.uses_gpu:
            verdict.refuse(
                f"clipping ({plan.clipping.encoder}) needs a GPU with NVENC but the run asks for none",
                'pass --gpus all, or set [clipping] encoder = "libvpx-vp9" to encode on the CPU',
            )
        for stage in filter(_needs_gpu, stages):
            verdict.refuse(f"stage {stage.name!r} needs a GPU but the run asks for none", "pass --gpus all")
    elif needs:
        if not engine.local:
            verdict.warnings.append("the engine is remote: NVDEC/NVENC of its GPUs cannot be checked from here")
        elif not host_gpus:
            verdict.warnings.append("nvidia-smi sees no GPU here: NVDEC/NVENC needs cannot be checked")
        else:
            refusals, warnings = codec_problems(needs, selected_gpus(plan.gpus, host_gpus))
            for problem in refusals:
                verdict.refuse(problem, "pick GPUs that have them with --gpus device=...")
            verdict.warnings += warnings
    if plan.executor != "xenna":
        for need in needs:
            verdict.refuse(f"{need.who} needs NVDEC/NVENC, which only Xenna schedules (the run uses {plan.executor})")
    if plan.execution.mode == "streaming" and not plan.execution.fits_streaming:
        verdict.refuse(f"streaming mode will not start: {plan.execution.reason}", "use --execution-mode auto or batch")
    return verdict


def decide(verdict: Verdict, force: bool) -> list[str]:
    """Raise the first refusal (the rest above it) unless forced; the warnings to print."""
    if verdict.refusals and not force:
        (problem, fix), more = verdict.refusals[0], len(verdict.refusals) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''} above)" if more else ""
        fix = f"{fix}; or --force to run anyway" if fix else "--force to run anyway"
        raise CuratorKitError(problem + suffix, fix, details=tuple(verdict.problems[1:]))
    return [*verdict.warnings, *(f"--force: going on although {p}" for p in verdict.problems)]


def check_image(client: docker.DockerClient, image: str) -> None:
    from curator_kit.engine.images import image_exists

    if not image_exists(client, image):
        raise CuratorKitError(
            f"image {image} is not in the Docker engine",
            "run `curator-kit build` (or pass --image with an image the engine has)",
        )


def preflight(
    client: docker.DockerClient,
    plan: ContainerPlan,
    stages: list[StageSpec],
    engine: EngineFacts,
    *,
    force: bool = False,
) -> list[str]:
    """All checks, in order; the engine answered already (connect() pinged it). Returns warnings."""
    check_image(client, plan.image)
    host_gpus = detect_host_gpus() if plan.gpus.wanted and engine.local else []
    return decide(judge(plan, stages, engine, host_gpus), force)
