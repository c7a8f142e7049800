"""Where the pipeline's stages run and how: the one placement every target calls.

`place(spec, nodes, options)` takes the pipeline spec, the nodes that will run its stages (their
CPUs, whether they have GPUs and how much memory those have; each may be unknown) and the run's
options, and returns the placement: stages sized to the nodes (`spec.fit_cpus`), Xenna's mode for
them (`spec.choose_execution_mode`), each memory-sized stage's GPU share (`spec.gpu_fractions`), the
exact pipeline.py command, and findings. The single container of `run`, a Ray driver, KubeRay's
entrypoint and a Slurm job's driver all come here, so one request gets one answer on every target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from curator_kit.core.constants import INPUT_DIR, MODE_STREAMING, OUTPUT_DIR, PIPELINE_IN_IMAGE
from curator_kit.core.findings import Code, Finding, note, refuse
from curator_kit.core.pipeline.spec import (
    ExecutionChoice,
    choose_execution_mode,
    fit_cpus,
    gpu_fractions,
    with_capture_stage,
)

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec, SpecStage

# The CPU encoders Curator 1.4's transcoder takes: the fix for an NVENC stage on nodes without GPUs.
CPU_ENCODER_FIX = 'encode on the CPU (encoder = "libopenh264" or "libvpx-vp9")'


@dataclass(frozen=True)
class Nodes:
    """The machines that run the stages, as far as the target knows them.

    `cpus`: each node's CPUs (None: not known here, e.g. an external Ray cluster). `gpus`: whether they
    have GPUs (None: not known). `gpu_memory_gib`: the smallest card's memory (None: not known; Curator
    would then size memory-sized stages where the stage object is built). `gpu_option` is how the
    target gives its nodes GPUs, for the fix of a GPU stage on nodes without them."""

    cpus: tuple[int, ...] | None
    gpus: bool | None = None
    gpu_memory_gib: float | None = None
    gpu_name: str | None = None  # the card, for the share note ("on NVIDIA L4 (22 GiB)")
    gpu_option: str = "--gpus all"


@dataclass(frozen=True)
class PipelineOptions:
    """pipeline.py's run options: the requested mode (already defaulted from the manifest's [run]),
    failures, resume, a video limit, a capture stage, and where the data is as the stages see it."""

    execution_mode: str
    ignore_failures: bool
    resume: bool = False
    video_limit: int | None = None
    capture: str | None = None
    profile: tuple[str, ...] = ()  # stages whose workers sample themselves with py-spy (`run --profile`)
    input_path: str = INPUT_DIR
    output_path: str = OUTPUT_DIR


@dataclass(frozen=True)
class Placement:
    spec: PipelineSpec  # every stage at most what a node can place
    stage_cpus: dict[str, float]  # the stages sized down (pipeline.py --stage-cpus)
    execution: ExecutionChoice
    stage_gpus: dict[str, float]  # GPU share of each memory-sized stage on the nodes' cards (--stage-gpus)
    command: list[str]
    findings: list[Finding]


def place(spec: PipelineSpec, nodes: Nodes, options: PipelineOptions) -> Placement:
    fit = fit_cpus(spec, list(nodes.cpus) if nodes.cpus is not None else None)
    findings: list[Finding] = list(fit.notes)
    counted = with_capture_stage(fit.spec) if options.capture else fit.spec  # the capture stage takes CPUs too
    execution = choose_execution_mode(options.execution_mode, counted, list(nodes.cpus) if nodes.cpus else None)
    if execution.mode == MODE_STREAMING and not execution.fits_streaming:
        findings.append(
            refuse(
                Code.STREAMING_WONT_START,
                f"streaming mode will not start: {execution.reason}",
                "use --execution-mode auto or batch",
            )
        )
    stage_gpus = gpu_fractions(spec, nodes.gpu_memory_gib)
    if stage_gpus:
        shares = ", ".join(f"{name} {fraction:g}" for name, fraction in stage_gpus.items())
        card = f"{nodes.gpu_name} ({int(nodes.gpu_memory_gib or 0)} GiB)" if nodes.gpu_name else "the nodes' GPUs"
        findings.append(note(Code.GPU_SHARE, f"GPU share per stage on {card}: {shares}"))
    if nodes.gpus is False:
        findings += [_no_gpu_refusal(stage, nodes.gpu_option) for stage in spec.gpu_stages]
    command = pipeline_command(execution, options, stage_gpus, fit.stage_cpus)
    return Placement(fit.spec, fit.stage_cpus, execution, stage_gpus, command, findings)


def _no_gpu_refusal(stage: SpecStage, gpu_option: str) -> Finding:
    if stage.nvencs:
        return refuse(
            Code.GPU_STAGE_WITHOUT_GPU,
            f"{stage.who} needs a GPU with NVENC but the nodes that run it get none",
            f"pass {gpu_option}, or {CPU_ENCODER_FIX}",
        )
    return refuse(
        Code.GPU_STAGE_WITHOUT_GPU, f"{stage.who} needs a GPU but the nodes that run it get none", f"pass {gpu_option}"
    )


def pipeline_command(
    execution: ExecutionChoice,
    options: PipelineOptions,
    stage_gpus: dict[str, float] | None = None,
    stage_cpus: dict[str, float] | None = None,
) -> list[str]:
    """templates/pipeline.py.j2's options, every one explicit: the placement decided them all.

    `stage_gpus`: the GPU share of each memory-sized stage on the cards that run it (spec.gpu_fractions).
    `stage_cpus`: the CPUs of each stage sized down to the nodes (spec.fit_cpus)."""
    argv = [
        "python",
        PIPELINE_IN_IMAGE,
        "--input",
        options.input_path,
        "--output",
        options.output_path,
        "--execution-mode",
        execution.mode,
        "--cpu-allocation-percentage",
        f"{execution.cpu_allocation:g}",
    ]
    if execution.cpu_scale != 1:
        argv += ["--cpu-scale", f"{execution.cpu_scale:g}"]
    argv.append("--ignore-failures" if options.ignore_failures else "--no-ignore-failures")
    argv += ["--resume"] if options.resume else []
    argv += ["--video-limit", str(options.video_limit)] if options.video_limit else []
    argv += ["--capture", options.capture] if options.capture else []
    argv += [arg for stage in options.profile for arg in ("--profile", stage)]
    argv += [part for name, share in (stage_gpus or {}).items() for part in ("--stage-gpus", f"{name}={share:g}")]
    argv += [part for name, cpus in (stage_cpus or {}).items() for part in ("--stage-cpus", f"{name}={cpus:g}")]
    return argv
