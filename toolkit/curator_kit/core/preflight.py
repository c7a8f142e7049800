"""Checks before `curator-kit run` creates anything: facts are gathered, then judged (pure).

Refusals stop the run with one line; `--force` turns them into warnings. A missing image is not
forceable: nothing could start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from curator_kit.core.codecs import ImageCodecs, InputSample, input_codec_problems
from curator_kit.core.constants import MODEL_DIR_IN_IMAGE
from curator_kit.core.devices import NVIDIA_FIX, HostGpu, codec_problems, selected_gpus
from curator_kit.core.runplan import ContainerPlan
from curator_kit.core.spec import missing_weights
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.spec import PipelineSpec, SpecStage

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


@dataclass(frozen=True)
class CodecFacts:
    """What the run's input videos are (a host sample; None when they cannot be opened from here) and
    what the image decodes and encodes (its codecs label; None for an image without one)."""

    sample: InputSample | None
    codecs: ImageCodecs | None
    remote: bool = False  # the engine is remote: its input directory is not this machine's


@dataclass
class Verdict:
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (problem, fix or "")
    warnings: list[str] = field(default_factory=list)

    def refuse(self, problem: str, fix: str = "") -> None:
        self.refusals.append((problem, fix))

    @property
    def problems(self) -> list[str]:
        return [problem for problem, _ in self.refusals]


def judge(
    plan: ContainerPlan, engine: EngineFacts, host_gpus: list[HostGpu], codecs: CodecFacts | None = None
) -> Verdict:
    """Everything but the image's presence: NVIDIA support, the spec's GPU and codec needs, whether the
    image decodes the inputs and has the pipeline's encoders (`codecs`), executor, streaming fit."""
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

    spec = plan.spec
    if not plan.runs_pipeline or spec is None:
        return verdict  # a --command override runs no stages
    needs = spec.codec_needs if plan.stages_here else []
    if not plan.stages_here:
        pass  # a driver: `cluster up` judged the nodes that run the stages
    elif not plan.gpus.wanted:
        for stage in spec.gpu_stages:
            verdict.refuse(*_no_gpu_refusal(stage))
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
    if plan.stages_here:
        _judge_weights(plan, spec, engine, verdict)
        if codecs is not None:
            _judge_codecs(plan, spec, codecs, verdict)
    if plan.executor != "xenna":
        for need in needs:
            verdict.refuse(f"{need.who} needs NVDEC/NVENC, which only Xenna schedules (the run uses {plan.executor})")
    if plan.execution.mode == "streaming" and not plan.execution.fits_streaming:
        verdict.refuse(f"streaming mode will not start: {plan.execution.reason}", "use --execution-mode auto or batch")
    return verdict


def _judge_codecs(plan: ContainerPlan, spec: PipelineSpec, facts: CodecFacts, verdict: Verdict) -> None:
    """Inputs the image cannot decode on the planned devices, or an encoder it lacks (core.codecs)."""
    if facts.remote:
        verdict.warnings.append("the engine is remote: the input videos' codecs cannot be checked from here")
    found = input_codec_problems(facts.sample, facts.codecs, plan.gpus.wanted, spec)
    for problem, fix in found.refusals:
        verdict.refuse(problem, fix)
    verdict.warnings += found.warnings


def _no_gpu_refusal(stage: SpecStage) -> tuple[str, str]:
    if stage.nvencs:
        return (
            f"{stage.who} needs a GPU with NVENC but the run asks for none",
            'pass --gpus all, or encode on the CPU (encoder = "libopenh264" or "libvpx-vp9")',
        )
    return f"{stage.who} needs a GPU but the run asks for none", "pass --gpus all"


def _judge_weights(plan: ContainerPlan, spec: PipelineSpec, engine: EngineFacts, verdict: Verdict) -> None:
    """Built-ins read their weights from the run's model directory (a mount at MODEL_DIR_IN_IMAGE): one
    absent there is refused, named, before anything starts (Curator would try to download it mid-run)."""
    if not spec.weights_needed:
        return
    source = next((m.source for m in plan.mounts if m.target == MODEL_DIR_IN_IMAGE), None)
    if source is not None and not engine.local:
        verdict.warnings.append(f"the engine is remote: the model weights in {source} cannot be checked from here")
        return
    missing = missing_weights(spec, lambda weight: _mounted(plan, weight))
    for who, weights in missing.items():
        where = f"{source} (mounted at {MODEL_DIR_IN_IMAGE})" if source else f"{MODEL_DIR_IN_IMAGE} (nothing mounted)"
        verdict.refuse(
            f"{who} needs model weights {', '.join(weights)}, absent from {where}",
            f"mount a directory holding them: --mount DIR:{MODEL_DIR_IN_IMAGE}:ro, with DIR/{weights[0]} and so on",
        )


def _mounted(plan: ContainerPlan, weight: str) -> bool:
    """A model directory is there when a mount at the model directory, or at or above the weight's own
    folder in it, holds it on the host."""
    wanted = PurePosixPath(MODEL_DIR_IN_IMAGE, weight)
    for mount in plan.mounts:
        target = PurePosixPath(mount.target)
        if (target == wanted or target in wanted.parents) and Path(mount.source, wanted.relative_to(target)).is_dir():
            return True
    return False


def decide(verdict: Verdict, force: bool) -> list[str]:
    """Raise the first refusal (the rest above it) unless forced; the warnings to print."""
    if verdict.refusals and not force:
        (problem, fix), more = verdict.refusals[0], len(verdict.refusals) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''} above)" if more else ""
        fix = f"{fix}; or --force to run anyway" if fix else "--force to run anyway"
        raise CuratorKitError(problem + suffix, fix, details=tuple(verdict.problems[1:]))
    return [*verdict.warnings, *(f"--force: going on although {p}" for p in verdict.problems)]
