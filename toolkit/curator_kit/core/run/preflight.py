"""Checks of a container plan against the engine and the host: facts are gathered, then judged (pure).

The plan's own findings (data paths, image reference, weights, placement) come with the plan; these
are what only the engine and the host can say. Both go through `findings.decide`: refusals stop the
command with one line, `--force` turns them into warnings.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from curator_kit.core.constants import MODEL_DIR_IN_IMAGE
from curator_kit.core.findings import Code, Finding, refuse, warn
from curator_kit.core.pipeline.codecs import ImageCodecs, InputSample, input_codec_problems
from curator_kit.core.pipeline.devices import NVIDIA_FIX, HostGpu, codec_problems, selected_gpus
from curator_kit.core.pipeline.spec import missing_weights
from curator_kit.core.run.runplan import ContainerPlan

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec

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


def judge(
    plan: ContainerPlan,
    engine: EngineFacts,
    host_gpus: list[HostGpu],
    codecs: CodecFacts | None = None,
    *,
    select_gpus: str = "--gpus device=...",
    mount_option: str = "--mount",
) -> list[Finding]:
    """What the engine and the host say of a plan (the plan's own findings are `plan.findings`): NVIDIA
    support, the codec engines of the selected GPUs, built-in weights under the model mount, whether
    the image decodes the inputs and has the pipeline's encoders (`codecs`), the executor."""
    findings: list[Finding] = []
    if plan.runtime == "nvidia" and "nvidia" not in engine.runtimes:
        runtimes = ", ".join(engine.runtimes)
        findings.append(
            refuse(Code.NO_NVIDIA_SUPPORT, f"--runtime nvidia, but the engine's runtimes are {runtimes}", NVIDIA_FIX)
        )
    elif plan.gpus.wanted and not plan.runtime and not plan.cdi and not engine.nvidia_evidence:
        # (GPUs as CDI devices were judged against the CDI specs when the plan was fitted to the engine)
        problem = f"GPUs asked for, but the engine has no NVIDIA support (no nvidia runtime, CDI or {NVIDIA_HOOK})"
        # A remote engine's hook is invisible from here: only the local verdict is sure enough to refuse.
        findings.append((refuse if engine.local else warn)(Code.NO_NVIDIA_SUPPORT, problem, NVIDIA_FIX))

    spec = plan.spec
    if not plan.runs_pipeline or spec is None or not plan.stages_here:
        return findings  # a --command override runs no stages; a driver's nodes were judged at `cluster up`
    needs = spec.codec_needs
    if plan.gpus.wanted and needs:
        if not engine.local:
            why = "the engine is remote: NVDEC/NVENC of its GPUs cannot be checked from here"
            findings.append(warn(Code.CODEC_ENGINES_UNCHECKED, why))
        elif not host_gpus:
            why = "nvidia-smi sees no GPU here: NVDEC/NVENC needs cannot be checked"
            findings.append(warn(Code.CODEC_ENGINES_UNCHECKED, why))
        else:
            refusals, warnings = codec_problems(needs, selected_gpus(plan.gpus, host_gpus))
            fix = f"pick GPUs that have them with {select_gpus}"
            findings += [refuse(Code.CODEC_ENGINES, problem, fix) for problem in refusals]
            findings += [warn(Code.CODEC_ENGINES_UNCHECKED, warning) for warning in warnings]
    findings += _judge_weights(plan, spec, engine, mount_option)
    if codecs is not None:
        findings += _judge_codecs(plan, spec, codecs)
    if plan.executor != "xenna":
        why = f"needs NVDEC/NVENC, which only Xenna schedules (the run uses {plan.executor})"
        findings += [refuse(Code.CODEC_NEEDS_XENNA, f"{need.who} {why}") for need in needs]
    return findings


def _judge_codecs(plan: ContainerPlan, spec: PipelineSpec, facts: CodecFacts) -> list[Finding]:
    """Inputs the image cannot decode on the planned devices, or an encoder it lacks (core.pipeline.codecs)."""
    findings: list[Finding] = []
    if facts.remote:
        why = "the engine is remote: the input videos' codecs cannot be checked from here"
        findings.append(warn(Code.INPUT_CODECS_UNCHECKED, why))
    found = input_codec_problems(facts.sample, facts.codecs, plan.gpus.wanted, spec)
    findings += [refuse(Code.INPUT_CODECS, problem, fix) for problem, fix in found.refusals]
    findings += [warn(Code.INPUT_CODECS_UNCHECKED, warning) for warning in found.warnings]
    return findings


def _judge_weights(plan: ContainerPlan, spec: PipelineSpec, engine: EngineFacts, mount_option: str) -> list[Finding]:
    """Built-ins read their weights from the run's model directory (a mount at MODEL_DIR_IN_IMAGE): one
    absent there is refused, named, before anything starts (Curator would try to download it mid-run)."""
    if not spec.weights_needed:
        return []
    source = next((m.source for m in plan.mounts if m.target == MODEL_DIR_IN_IMAGE), None)
    if source is not None and not engine.local:
        why = f"the engine is remote: the model weights in {source} cannot be checked from here"
        return [warn(Code.WEIGHTS_UNCHECKED, why)]
    findings = []
    missing = missing_weights(spec, lambda weight: _mounted(plan, weight))
    for who, weights in missing.items():
        where = f"{source} (mounted at {MODEL_DIR_IN_IMAGE})" if source else f"{MODEL_DIR_IN_IMAGE} (nothing mounted)"
        findings.append(
            refuse(
                Code.WEIGHTS_MISSING,
                f"{who} needs model weights {', '.join(weights)}, absent from {where}",
                f"mount a directory holding them: {mount_option} DIR:{MODEL_DIR_IN_IMAGE}:ro, with DIR/{weights[0]} "
                "and so on",
            )
        )
    return findings


def _mounted(plan: ContainerPlan, weight: str) -> bool:
    """A model directory is there when a mount at the model directory, or at or above the weight's own
    folder in it, holds it on the host."""
    wanted = PurePosixPath(MODEL_DIR_IN_IMAGE, weight)
    for mount in plan.mounts:
        target = PurePosixPath(mount.target)
        if (target == wanted or target in wanted.parents) and Path(mount.source, wanted.relative_to(target)).is_dir():
            return True
    return False
