"""The pipeline spec: the pipeline's shape, resolved once from the manifest.

Stage order (the reader, the [[stages]] in file order: Curator's built-ins from the catalogue of the
project's release and the project's own stages, the writer), each stage's class, constructor
parameters (and the fields the run fills in), the CPUs Xenna reserves for it, its GPU, codec and
model-weight needs, and what the writer is told to write. `build` bakes the spec
into the image as a file and a label; `pipeline.py` in the container builds the Curator pipeline
from that file, and `run`, `cluster`, `export` and `inspect` read the spec of the image they will
run. Nothing else derives the pipeline's shape, so the planner and the container cannot disagree.

The execution mode is one function of the CPUs of each node (`choose_execution_mode`); sizing stages
to those CPUs is another (`fit_cpus`), and the weights rule a third (`missing_weights`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator_kit.core.constants import (
    CAPTURE_CPUS,
    CAPTURE_STAGE,
    EXECUTION_MODES,
    LABEL_SPEC,
    MANIFEST_NAME,
    MODE_BATCH,
    MODE_STREAMING,
    MODEL_DIR_IN_IMAGE,
    SPEC_FORMAT,
)
from curator_kit.core.findings import Code, Finding, note, warn
from curator_kit.core.pipeline.devices import CodecNeed
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.pipeline.catalogue.placement import PlacedPart
    from curator_kit.core.project.manifest import Manifest, StageSpec

ROLES = ("reader", "clipping", "builtin", "custom", "writer")

# Curator's XennaExecutor default share of the cores in streaming mode; Xenna allocates
# int(cores x share) CPUs to each node. Batch runs one stage at a time, so it may use every core.
STREAMING_CPU_ALLOCATION = 0.95
BATCH_CPU_ALLOCATION = 1.0

# `Resources` kept nvdecs/nvencs up to nemo-curator 1.1; from 1.2 they are codec needs curator-kit enforces.
CODEC_RESOURCES_UNTIL = (1, 1)
# Curator: gpu_memory_gb -> max(0.1, round(gpu_memory_gb / card memory, 1)) GPUs, at most 1.
MIN_GPU_FRACTION = 0.1
# What Curator assumes a GPU holds where it sees none (`Resources` on a CPU-only machine).
FALLBACK_GPU_MEMORY_GB = 24.0


@dataclass(frozen=True)
class SpecStage:
    """One stage of the pipeline, as `pipeline.py` constructs it and as Xenna schedules it."""

    name: str
    role: str  # reader | clipping | builtin | custom | writer
    class_path: str  # module.Class
    parts: tuple[tuple[str, float], ...]  # what Xenna runs (a composite's parts) and the cpus of each
    gpus: float = 0.0
    gpu_memory_gb: float = 0.0
    nvdecs: int = 0
    nvencs: int = 0
    batch_size: int | None = None  # None: the stage's own
    params: dict[str, Any] = field(default_factory=dict)  # constructor keyword arguments, as JSON
    # The manifest's resources, applied with Curator's `with_(resources=...)`; None: the stage's own.
    resources: dict[str, float] | None = None
    entry: str = ""  # the manifest entry it comes from: a [[stages]] name, "clipping" for [clipping]
    builtin: str = ""  # its catalogue entry; "" for the project's stages, the reader and the writer
    label: str = ""  # how messages name it ("" = stage 'NAME'), e.g. "transcoding (h264_nvenc)"
    runtime: dict[str, str] = field(default_factory=dict)  # constructor field -> the run value pipeline.py fills in
    convert: dict[str, str] = field(default_factory=dict)  # parameter -> how pipeline.py makes its object
    cpus_param: str = ""  # the parameter its CPUs come from: a CPU clamp sets it (else with_ resources)
    weights: tuple[str, ...] = ()  # model directories it reads under the run's model directory
    fields: tuple[str, ...] = ()  # the constructor fields `pipeline.py --describe` prints ("" = params)
    model: str = ""  # the [[models]] entry a project stage loads ("" = none); preflight checks its weights

    @property
    def cpus(self) -> float:
        return round(sum(cpus for _, cpus in self.parts), 4)

    @property
    def needs_gpu(self) -> bool:
        """Curator's `Resources.requires_gpu` (gpus or gpu_memory_gb), plus NVDEC/NVENC needs."""
        return self.gpus > 0 or self.gpu_memory_gb > 0 or self.nvdecs > 0 or self.nvencs > 0

    @property
    def who(self) -> str:
        return self.label or f"stage {self.name!r}"

    @property
    def codec_need(self) -> CodecNeed | None:
        if not (self.nvdecs or self.nvencs):
            return None
        return CodecNeed(self.name, self.nvdecs, self.nvencs, label=self.label)


@dataclass(frozen=True)
class PipelineSpec:
    project: str
    curator_version: str
    stages: tuple[SpecStage, ...]
    format: int = SPEC_FORMAT

    @property
    def writer(self) -> SpecStage:
        return next(s for s in self.stages if s.role == "writer")

    def by_role(self, role: str) -> list[SpecStage]:
        return [s for s in self.stages if s.role == role]

    @property
    def execution_parts(self) -> list[tuple[str, float]]:
        """Every stage Xenna runs, in order, with the cpus it reserves for one worker."""
        return [part for stage in self.stages for part in stage.parts]

    @property
    def required_cpus(self) -> float:
        """What streaming needs at once: one worker of every stage."""
        return round(sum(cpus for _, cpus in self.execution_parts), 4)

    @property
    def gpu_stages(self) -> list[SpecStage]:
        return [s for s in self.stages if s.needs_gpu]

    @property
    def codec_needs(self) -> list[CodecNeed]:
        return [need for s in self.stages if (need := s.codec_need) is not None]

    @property
    def min_streaming_cores(self) -> int:
        """The fewest cores on one node on which streaming fits (what `pipeline.py` compares in auto mode)."""
        cores = max(1, math.ceil(self.required_cpus / STREAMING_CPU_ALLOCATION))
        while math.floor(STREAMING_CPU_ALLOCATION * cores) < self.required_cpus:
            cores += 1
        return cores

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["executor"] = {
            "streaming_cpu_allocation": STREAMING_CPU_ALLOCATION,
            "batch_cpu_allocation": BATCH_CPU_ALLOCATION,
            "min_streaming_cores": self.min_streaming_cores,
            "required_cpus": self.required_cpus,
        }
        return data

    def to_json(self) -> str:
        """Canonical JSON: the same spec always gives the same bytes (it is a label and a cached layer)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "the pipeline spec") -> PipelineSpec:
        try:
            data = json.loads(text)
            if data.get("format") != SPEC_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, this curator-kit reads {SPEC_FORMAT}")
            stages = tuple(
                SpecStage(
                    **{
                        **stage,
                        "parts": tuple((name, float(cpus)) for name, cpus in stage["parts"]),
                        "weights": tuple(stage["weights"]),
                        "fields": tuple(stage["fields"]),
                    }
                )
                for stage in data["stages"]
            )
            return cls(data["project"], data["curator_version"], stages, SPEC_FORMAT)
        except (ValueError, KeyError, TypeError) as error:
            raise CuratorKitError(
                f"{source} cannot be read ({error})", "rebuild the image with this curator-kit: `curator-kit build`"
            ) from None

    def differences(self, other: PipelineSpec) -> list[str]:
        """What changed between two specs, in words (an image's spec against the working tree's)."""
        mine, theirs = {s.name: s for s in self.stages}, {s.name: s for s in other.stages}
        changes = [f"stage {name} added" for name in theirs if name not in mine]
        changes += [f"stage {name} removed" for name in mine if name not in theirs]
        changes += [f"stage {name} changed" for name in mine if name in theirs and mine[name] != theirs[name]]
        if not changes and [s.name for s in self.stages] != [s.name for s in other.stages]:
            changes.append("stage order changed")
        if not changes and self != other:
            changes.append("pipeline settings changed")
        return changes

    @property
    def weights_needed(self) -> list[tuple[SpecStage, str]]:
        """(stage, model directory) for every weight a built-in reads from the run's model directory."""
        return [(stage, weight) for stage in self.stages for weight in stage.weights]

    def describe(self) -> list[str]:
        lines = []
        for stage in self.stages:
            needs = [f"{stage.cpus:g} CPU"]
            if stage.gpus:
                needs.append(f"{stage.gpus:.3g} GPU")
            if stage.gpu_memory_gb:
                needs.append(f"{stage.gpu_memory_gb:g} GB GPU memory")
            needs += [f"{n} {kind}" for kind, n in (("NVDEC", stage.nvdecs), ("NVENC", stage.nvencs)) if n]
            needs += [f"weights {weight}" for weight in stage.weights]
            entry = f" [{stage.entry}]" if stage.builtin else ""
            lines.append(f"{stage.role:<9}{stage.name}: {stage.class_path}{entry} ({', '.join(needs)})")
        if told := self.writer_told:
            lines.append(f"{'':<9}the writer is told: {told}")
        return lines

    @property
    def writer_told(self) -> str:
        """What the stages ask the writer to write, in words ("" when nothing beyond clips)."""
        told = {key: value for key, value in self.writer.params.items() if value not in (False, [])}
        return ", ".join(f"{key}={value!r}" for key, value in told.items())


def spec_in_labels(labels: Mapping[str, str], image: str) -> PipelineSpec | None:
    """The spec `build` baked into an image's label; None for an image built without one."""
    text = labels.get(LABEL_SPEC)
    return None if text is None else PipelineSpec.from_json(text, f"the pipeline spec of image {image}")


def pipeline_spec(
    manifest: Manifest, project_dir: Path, image: str, image_labels: Mapping[str, str] | None, warnings: list[Finding]
) -> PipelineSpec:
    """The pipeline an exported image runs (`export kuberay`, `export slurm`): its own spec label.

    Without the label (the image could not be read, or predates it) the working tree's, said in a
    warning; with it, a stale image is said too."""
    tree = resolve_spec(manifest, project_dir)
    image_spec = spec_in_labels(image_labels, image) if image_labels is not None else None
    if image_spec is None:
        warnings.append(
            warn(
                Code.SPEC_FROM_TREE,
                f"{image}'s pipeline spec was not read: the export plans the working tree's pipeline, "
                "which is what the image runs only if it was built (and pushed) from this tree",
            )
        )
        return tree
    changes = image_spec.differences(tree)
    if changes:
        stale = f"stale image: {image} runs its own pipeline ({'; '.join(changes)} since) -- build and push"
        warnings.append(warn(Code.IMAGE_STALE, stale))
    return image_spec


# --- resolving the manifest -----------------------------------------------------------------


def resolve_spec(manifest: Manifest, project_dir: Path) -> PipelineSpec:
    """The manifest's pipeline as the container will run it: VideoReader, the [[stages]] in file order
    (a [clipping] table first, as the built-ins it stands for), the writer last.

    Built-ins come from the catalogue of the project's Curator release (`core.pipeline.catalogue`), which also
    checks their order and says what the writer must be told. A stage whose class subclasses
    ClipWriterStage replaces Curator's writer (read from the project's sources, see `writer_stages`)."""
    from curator_kit.core.parsers import parse_version
    from curator_kit.core.pipeline.catalogue import catalogue_for, nearest_catalogue
    from curator_kit.core.pipeline.catalogue.placement import Entry, place

    version = manifest.project.curator_version
    codec_in_resources = parse_version(version)[:2] <= CODEC_RESOURCES_UNTIL
    writers = writer_stages([stage for stage in manifest.stages if not stage.builtin], project_dir)
    if len(writers) > 1:
        raise CuratorKitError(
            f"the manifest lists two writers, {' and '.join(sorted(writers))}",
            "keep one [[stages]] entry whose class subclasses ClipWriterStage",
        )
    # The reader, the writer and [clipping] kept their classes across the releases curator-kit targets;
    # a [[stages]] built-in names fields of exactly the project's release.
    uses_builtins = any(stage.builtin for stage in manifest.stages)
    catalogue = catalogue_for(version) if uses_builtins else nearest_catalogue(version)
    listed = [(stage, "clipping") for stage in manifest.clipping.as_stages()]
    listed += [(stage, stage.name) for stage in manifest.stages]
    placement = place(
        catalogue,
        [Entry(name, s.builtin, s.params, f"{MANIFEST_NAME}:{s.line}" if s.line else "") for s, name in listed],
    )
    reader = catalogue.reader_class
    stages = [
        SpecStage(
            "VideoReader",
            "reader",
            reader,
            catalogue.reader_parts,
            runtime=catalogue.runtime_of(reader),
            fields=catalogue.shown_fields(reader),
        )
    ]
    taken = {stage.name for stage in manifest.stages if not stage.builtin} | {"VideoReader", "ClipWriterStage"}
    project_writer: SpecStage | None = None
    for (stage, _), parts in zip(listed, placement.parts, strict=True):
        if parts is not None:
            stages += [_builtin_stage(placed, stage, len(parts), taken, codec_in_resources) for placed in parts]
        elif stage.name in writers:
            project_writer = replace(
                _project_stage(stage, "writer", codec_in_resources),
                params={**placement.writer, **stage.params},
                runtime=catalogue.runtime_of(catalogue.writer_class),
            )
        else:
            stages.append(_project_stage(stage, "custom", codec_in_resources))
    writer = catalogue.writer_class
    stages.append(
        project_writer
        or SpecStage(
            "ClipWriterStage",
            "writer",
            writer,
            (("ClipWriterStage", catalogue.writer_cpus),),
            params=placement.writer,
            runtime=catalogue.runtime_of(writer),
            fields=catalogue.shown_fields(writer),
        )
    )
    return PipelineSpec(manifest.project.name, version, tuple(stages))


def _project_stage(stage: StageSpec, role: str, codec_in_resources: bool) -> SpecStage:
    from curator_kit.core.project.manifest import StageResources

    res = stage.resources or StageResources()
    resources = {"cpus": float(res.cpus), "gpu_memory_gb": float(res.gpu_memory_gb), "gpus": float(res.gpus)}
    if codec_in_resources:
        resources |= {"nvdecs": int(res.nvdecs), "nvencs": int(res.nvencs)}
    return SpecStage(
        name=stage.name,
        role=role,
        class_path=f"{stage.module}.{stage.class_name}",
        parts=((stage.name, float(res.cpus)),),
        gpus=float(res.gpus),
        gpu_memory_gb=float(res.gpu_memory_gb),
        nvdecs=int(res.nvdecs),
        nvencs=int(res.nvencs),
        batch_size=1 if stage.batch_size is None else stage.batch_size,  # a project stage's default
        params=dict(stage.params),
        resources=resources,
        entry=stage.name,
        model=stage.model,
    )


def _builtin_stage(
    placed: PlacedPart, stage: StageSpec, parts: int, taken: set[str], codec_in_resources: bool
) -> SpecStage:
    """One Curator class of a built-in entry. Its name is the class name (what Xenna's logs say), made
    unique with the entry's name when a class runs twice."""
    name = placed.part.class_name
    if name in taken:
        name = f"{placed.entry}.{name}"
    taken.add(name)
    res, override = placed.resources, stage.resources
    cpus, gpus, gpu_memory_gb, cpus_param = res.cpus, res.gpus, res.gpu_memory_gb, res.cpus_field
    resources = None
    if override is not None:  # the manifest's [stages.resources], applied with with_()
        cpus, gpus, gpu_memory_gb, cpus_param = override.cpus, override.gpus, override.gpu_memory_gb, ""
        resources = {"cpus": float(cpus), "gpu_memory_gb": float(gpu_memory_gb), "gpus": float(gpus)}
        if codec_in_resources:
            resources |= {"nvdecs": int(override.nvdecs), "nvencs": int(override.nvencs)}
    return SpecStage(
        name=name,
        role="clipping" if placed.builtin.family == "clipping" else "builtin",
        class_path=placed.part.class_path,
        parts=((placed.part.class_name, float(cpus)),),
        gpus=float(gpus),
        gpu_memory_gb=float(gpu_memory_gb),
        nvdecs=max(res.nvdecs, override.nvdecs if override else 0),
        nvencs=max(res.nvencs, override.nvencs if override else 0),
        batch_size=stage.batch_size if parts == 1 else None,
        params=placed.params,
        resources=resources,
        entry=placed.entry,
        builtin=placed.builtin.key,
        label=placed.label,
        runtime=placed.runtime,
        convert=placed.convert,
        cpus_param=cpus_param,
        weights=placed.weights,
        fields=placed.fields,
    )


def describe_clipping(spec: PipelineSpec) -> str | None:
    """How the pipeline cuts and encodes clips, in one line; None when it makes no clips."""
    clipping = spec.by_role("clipping")
    if not clipping:
        return None
    steps = []
    for stage in clipping:
        p = stage.params
        if stage.class_path.endswith(".FixedStrideExtractorStage"):
            steps.append(
                f"fixed-stride: {p['clip_len_s']:g} s clips every {p['clip_stride_s']:g} s "
                f"(none under {p['min_clip_length_s']:g} s)"
            )
        elif stage.class_path.endswith(".ClipTranscodingStage"):
            where = f"{stage.gpus:.2g} GPU (NVENC)" if stage.gpus else f"{stage.cpus:g} CPU"
            steps.append(f"transcoded with {p.get('encoder', 'h264_nvenc')} on {where}")
        elif stage.builtin and stage.class_path.endswith(".TransNetV2ClipExtractionStage"):
            steps.append("scene cuts by TransNetV2")
    return ", ".join(steps) or None


_CLASS_DEF = re.compile(r"^class\s+([A-Za-z_]\w*)\s*\(([^)]*)\)", re.MULTILINE)


def writer_stages(stages: list[StageSpec], project_dir: Path) -> frozenset[str]:
    """Stages whose class subclasses ClipWriterStage: the pipeline runs such a one as its writer.

    Read from the project's sources, not imported: the project's dependencies live in the image
    (`pipeline.py` checks the answer with issubclass there). A writer may subclass another writer of
    the project, so subclassing is followed through every class defined in the stages' modules and stages/.
    """
    bases: dict[str, set[str]] = {}
    sources = {_module_source(project_dir, stage.module) for stage in stages}
    sources |= set(project_dir.joinpath("stages").glob("*.py"))
    for source in sources:
        if source is not None and source.is_file():
            for name, parents in _CLASS_DEF.findall(source.read_text(errors="replace")):
                bases.setdefault(name, set()).update(re.findall(r"[A-Za-z_]\w*", parents))

    def is_writer(name: str, seen: frozenset[str] = frozenset()) -> bool:
        parents = bases.get(name, set())
        return "ClipWriterStage" in parents or any(is_writer(p, seen | {name}) for p in parents - seen - {name})

    return frozenset(stage.name for stage in stages if is_writer(stage.class_name))


def _module_source(project_dir: Path, module: str) -> Path | None:
    from curator_kit.core.project.loading import module_source

    return module_source(project_dir, module)


# --- execution mode and GPU fractions ---------------------------------------------------------


@dataclass(frozen=True)
class ExecutionChoice:
    """Xenna's execution mode and why: streaming needs every stage's cpus at once."""

    mode: str
    cpu_allocation: float
    required_cpus: float
    streaming_cpus: int  # what Xenna gives the pipeline when streaming: sum of int(share x node cpus)
    fits_streaming: bool
    reason: str
    # Every stage's CPUs times this (pipeline.py --cpu-scale): below 1 when the stages as declared
    # do not fit streaming, so that one worker of each fits at once.
    cpu_scale: float = 1.0


def choose_execution_mode(requested: str, spec: PipelineSpec, node_cpus: list[int] | None) -> ExecutionChoice:
    """The one rule for Xenna's mode, on one node (`[cores]`) or a cluster (the CPUs of each node).

    Streaming runs every stage at once, so their cpus must fit the sum over nodes of
    int(0.95 x node CPUs) (Xenna refuses otherwise, after Ray started). Where they do not, every
    stage's CPUs are scaled down by one factor until they do (`cpu_scale_to_fit`): streaming starts
    one worker per stage once, where batch starts and stops workers stage by stage (a 0.25-CPU stage
    gets 8 of them on 2 cores, each importing Curator and torch), and the results are the same.
    Only a node too small to stream at all (int(0.95 x 1) = 0), or a cluster of unknown size
    (`None`), gets batch, which runs on any size.
    """
    if requested not in EXECUTION_MODES:
        raise CuratorKitError(f"execution mode {requested!r} is unknown", f"use one of {', '.join(EXECUTION_MODES)}")
    required = spec.required_cpus
    if node_cpus is None:
        allotted, fits, budget = 0, False, ""
        why = "the cluster's size is not known here; batch runs on any size (--execution-mode streaming to stream)"
    else:
        allotted = sum(math.floor(STREAMING_CPU_ALLOCATION * cpus) for cpus in node_cpus)
        fits = required <= allotted
        if len(node_cpus) == 1:
            budget = f"Xenna streams on int({STREAMING_CPU_ALLOCATION} x {node_cpus[0]} cores) = {allotted} CPUs"
        else:
            shares = " + ".join(f"int({STREAMING_CPU_ALLOCATION} x {c})" for c in node_cpus)
            budget = f"Xenna streams on {shares} = {allotted} CPUs of the nodes"
        sum_text = " + ".join(f"{name} {cpus:g}" for name, cpus in spec.execution_parts)
        why = (
            f"stages need {required:g} CPUs; {budget}"
            if fits
            else f"streaming needs every stage at once: {sum_text} = {required:g} CPUs, but {budget}"
        )
    if requested == MODE_BATCH:
        return ExecutionChoice(MODE_BATCH, BATCH_CPU_ALLOCATION, required, allotted, fits, "asked for")
    asked = "asked for; " if requested == MODE_STREAMING else ""
    if fits:
        return ExecutionChoice(MODE_STREAMING, STREAMING_CPU_ALLOCATION, required, allotted, True, asked + why)
    scale = cpu_scale_to_fit(required, allotted)
    if scale is not None:
        why += f": every stage's CPUs scaled x{scale:g}, so one worker of each runs at once"
        why += " (batch starts workers stage by stage)"
        return ExecutionChoice(MODE_STREAMING, STREAMING_CPU_ALLOCATION, required, allotted, True, asked + why, scale)
    if requested == MODE_STREAMING:
        unknown = node_cpus is None  # the user knows their cluster
        return ExecutionChoice(MODE_STREAMING, STREAMING_CPU_ALLOCATION, required, allotted, unknown, asked + why)
    return ExecutionChoice(MODE_BATCH, BATCH_CPU_ALLOCATION, required, allotted, False, why)


def with_capture_stage(spec: PipelineSpec) -> PipelineSpec:
    """The spec as Xenna runs it with `run --capture`: one more stage, whose CPUs streaming must hold too."""
    capture = SpecStage(CAPTURE_STAGE, "custom", "pipeline.CaptureStage", ((CAPTURE_STAGE, CAPTURE_CPUS),))
    return replace(spec, stages=(*spec.stages, capture))


def cpu_scale_to_fit(required: float, allotted: int) -> float | None:
    """The factor that fits `required` stage CPUs into the `allotted` streaming CPUs, rounded down to
    three decimals (so the scaled sum never exceeds them); None where nothing can stream."""
    if allotted < 1 or required <= 0:
        return None
    return math.floor(allotted / required * 1000) / 1000


def gpu_fraction(gpu_memory_gb: float, card_memory_gib: float) -> float:
    """Curator's own conversion of a stage's gpu_memory_gb into GPUs, for a card of the given size."""
    fraction = max(MIN_GPU_FRACTION, round(gpu_memory_gb / card_memory_gib, 1))
    if fraction > 1:
        raise CuratorKitError(
            f"{gpu_memory_gb:g} GB of GPU memory does not fit one {card_memory_gib:.0f} GB GPU",
            "use gpus = N for a multi-GPU stage, or a GPU with more memory",
        )
    return fraction


def gpu_fractions(spec: PipelineSpec, card_memory_gib: float | None) -> dict[str, float]:
    """GPUs for each memory-sized stage on the cards that will run it.

    Curator resolves gpu_memory_gb where the stage object is built: the driver, which on a cluster
    or Kubernetes head has no GPU and so assumes 24 GB. The plan knows the cards, so it passes these.
    """
    if card_memory_gib is None:
        return {}
    return {s.name: gpu_fraction(s.gpu_memory_gb, card_memory_gib) for s in spec.stages if s.gpu_memory_gb > 0}


# --- sizing to the host, model weights --------------------------------------------------------


@dataclass(frozen=True)
class CpuFit:
    """A spec sized to the nodes that run it, and what changed."""

    spec: PipelineSpec  # every stage at most what one node can place
    stage_cpus: dict[str, float]  # the stages sized down -> their CPUs (pipeline.py --stage-cpus)
    notes: list[Finding]


def fit_cpus(spec: PipelineSpec, node_cpus: list[int] | None) -> CpuFit:
    """The one rule for stages asking more CPUs than a node has (Curator's own defaults: transcoding and
    motion decoding 6, previews 4): each is sized down to the cores of the largest node, where Xenna can
    place one worker of it (in batch mode, one stage at a time). Run plans call this before they choose the
    execution mode, and pass the sizes to pipeline.py (`--stage-cpus`), as they pass GPU shares."""
    if not node_cpus:
        return CpuFit(spec, {}, [])
    limit = float(max(math.floor(BATCH_CPU_ALLOCATION * cpus) for cpus in node_cpus))
    sized: dict[str, float] = {}
    stages = []
    for stage in spec.stages:
        if len(stage.parts) == 1 and stage.cpus > limit:
            sized[stage.name] = limit
            stage = replace(stage, parts=((stage.parts[0][0], limit),))
        stages.append(stage)
    if not sized:
        return CpuFit(spec, {}, [])
    node = "a node" if len(node_cpus) > 1 else "this host"
    changes = ", ".join(f"{name} {_original(spec, name):g} -> {cpus:g}" for name, cpus in sized.items())
    text = f"CPUs sized to {node} ({limit:g} cores): {changes} (one worker of each fits; Xenna could place none)"
    return CpuFit(replace(spec, stages=tuple(stages)), sized, [note(Code.CPUS_SIZED, text)])


def _original(spec: PipelineSpec, name: str) -> float:
    return next(stage.cpus for stage in spec.stages if stage.name == name)


def missing_weights(spec: PipelineSpec, present: Callable[[str], bool]) -> dict[str, list[str]]:
    """The model weights the built-ins of the spec read and `present` (a model directory, relative to the
    run's model directory) says are not there: who -> weights. Curator would download them on the node at
    setup; a run refuses instead, naming them, so a missing cache is said before the cluster starts."""
    missing: dict[str, list[str]] = {}
    for stage, weight in spec.weights_needed:
        if not present(weight):
            who = missing.setdefault(f"{stage.entry} ({stage.builtin})", [])
            if weight not in who:
                who.append(weight)
    return missing


# --- what pipeline.py --describe prints ----------------------------------------------------------


# The run values of a description: what `pipeline.py --input /data/input --output /data/output` fills in.
DESCRIBE_RUN: dict[str, Any] = {
    "input": "/data/input",
    "output": "/data/output",
    "video_limit": None,
    "upload_clips": True,
    "dry_run": False,
    "verbose": False,
    "model_dir": MODEL_DIR_IN_IMAGE,
}


def describe_construction(spec: PipelineSpec, run: Mapping[str, Any] = DESCRIBE_RUN) -> list[str]:
    """The stages `pipeline.py --describe` builds, as it prints them in the image: each class, the value of
    every constructor field the catalogue knows (a project stage: the arguments it is given), and the
    Resources Curator gives it. Computed here from the spec and the catalogue alone, so the two can be
    compared line by line (no GPU: Curator sizes gpu_memory_gb on a 24 GB card)."""
    from curator_kit.core.pipeline.catalogue import nearest_catalogue
    from curator_kit.core.pipeline.catalogue.values import conversion, show

    classes = nearest_catalogue(spec.curator_version).classes
    lines = []
    for stage in spec.stages:
        lines.append(f"{stage.name}: {stage.class_path}")
        given = {**stage.params, **{key: run[value] for key, value in stage.runtime.items()}}
        known = {f.name: f for f in classes.get(stage.class_path, ())}
        for name in stage.fields or tuple(given):
            spec_field = known.get(name)
            value = given.get(name, spec_field.default if spec_field else None)
            how = stage.convert.get(name) or (conversion(spec_field.shape) if spec_field else None)
            lines.append(f"  {name} = {show(value, how)}")
        if len(stage.parts) > 1:
            lines.append("  xenna: " + ", ".join(f"{part} {cpus:g} CPU" for part, cpus in stage.parts))
            continue
        gpus = gpu_fraction(stage.gpu_memory_gb, FALLBACK_GPU_MEMORY_GB) if stage.gpu_memory_gb else stage.gpus
        batch = 1 if stage.batch_size is None else stage.batch_size
        lines.append(
            f"  resources: cpus={stage.cpus:g} gpus={gpus:g} gpu_memory_gb={stage.gpu_memory_gb:g} batch_size={batch}"
        )
    return lines


def gpu_export_warnings(
    spec: PipelineSpec,
    image: str,
    image_labels: Mapping[str, str] | None,
    gpus_per_node: int,
    gpu_memory_gib: float | None,
    driver: str,
) -> list[Finding]:
    """What a cluster export (KubeRay, Slurm) must say about GPUs: memory-sized stages whose share would
    be guessed on a GPU-less `driver`, and GPU nodes given an image built on the cpu base."""
    from curator_kit.core.constants import LABEL_BASE_VARIANT

    warnings = []
    sized = [s.name for s in spec.stages if s.gpu_memory_gb > 0]
    if sized and gpu_memory_gib is None:
        guessed = (
            f"{', '.join(sized)} ask for GPU memory: without --gpu-memory-gib, Curator sizes their GPU share "
            f"on {driver}, which has no GPU, as if every card had 24 GB"
        )
        warnings.append(warn(Code.GPU_MEMORY_GUESSED, guessed))
    if gpus_per_node and image_labels is not None and image_labels.get(LABEL_BASE_VARIANT) == "cpu":
        cpu_base = (
            f"nodes get {gpus_per_node} GPU(s) each, but {image} is built on the cpu base ({LABEL_BASE_VARIANT}=cpu: "
            "no CUDA libraries); build a CUDA base with `curator-kit base build --variant cuda`, point "
            "project.base_image at it and rebuild"
        )
        warnings.append(warn(Code.CPU_BASE_ON_GPU_NODES, cpu_base))
    return warnings
