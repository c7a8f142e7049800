"""Render templates into a project: plan every file in memory; `ops.scaffold` checks for clashes, then writes.

Each `plan_*` function validates its input and returns a `ScaffoldPlan` without touching the
disk; `ops.scaffold.write_plan` refuses to overwrite existing files unless forced, stages every file
next to its target and renames them into place only when all were staged, so a failure leaves nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2

from curator_kit.core.constants import (
    CAPTURE_CPUS,
    CAPTURE_DIR_NAME,
    CAPTURE_STAGE,
    EXECUTION_MODES,
    EXIT_GOLDEN_DIFFERS,
    EXIT_NOTHING_WRITTEN,
    GOLDEN_ATOL,
    GOLDEN_DIR,
    GOLDEN_FILE,
    GOLDEN_RTOL,
    MANIFEST_NAME,
    MODE_AUTO,
    MODE_BATCH,
    MODE_STREAMING,
    MODEL_DIR_IN_IMAGE,
    PROFILE_DIR_NAME,
    PROFILE_RATE_HZ,
    RUN_ID_ENV,
    SPEC_FORMAT,
    SPEC_IN_IMAGE,
    SUMMARY_FILE_NAME,
    WEIGHTS_MARKER,
    base_image_tag,
)
from curator_kit.core.parsers import parse_version
from curator_kit.core.pipeline.catalogue import catalogue_for, check_release
from curator_kit.core.project import names, templating
from curator_kit.core.project.editing import Edited, append_entry, clipping_to_stages, stage_placed
from curator_kit.core.project.loading import parse_manifest, read_manifest_text
from curator_kit.core.project.manifest import EnvSpec, Manifest, ModelSpec, ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec

# Task types a generated stage may take or produce: name -> module that defines it.
TASK_TYPES: dict[str, str] = {
    "VideoTask": "nemo_curator.tasks.video",
    "FileGroupTask": "nemo_curator.tasks.file_group",
}
# What `init --preset` writes into curator-kit.toml (templates/project/curator-kit.toml.j2).
PRESETS: dict[str, str] = {
    "clips": "VideoReader, [clipping] (fixed-stride clips encoded with libopenh264), your stages, the writer",
    "split": "Curator's split pipeline as built-ins: fixed stride, transcoding, motion filter, your stages, "
    "frames, aesthetic filter, Cosmos-Embed1, captions, previews",
    "bare": "VideoReader, your stages, the writer: no clips until a stage makes them",
}
DEFAULT_PRESET = "clips"
# The names pipeline.py shares with curator-kit: where the spec is, the summary's file, its exit code.
PIPELINE_NAMES: dict[str, object] = {
    "spec_in_image": SPEC_IN_IMAGE,
    "summary_file": SUMMARY_FILE_NAME,
    "capture_dir": CAPTURE_DIR_NAME,
    "capture_stage": CAPTURE_STAGE,
    "capture_cpus": CAPTURE_CPUS,
    "golden_root": GOLDEN_DIR,
    "golden_file": GOLDEN_FILE,
    "golden_differs_exit": EXIT_GOLDEN_DIFFERS,
    "golden_rtol": GOLDEN_RTOL,
    "golden_atol": GOLDEN_ATOL,
    "profile_dir": PROFILE_DIR_NAME,
    "profile_rate": PROFILE_RATE_HZ,
    "run_id_env": RUN_ID_ENV,
    "exit_nothing_written": EXIT_NOTHING_WRITTEN,
    "spec_format": SPEC_FORMAT,
    "model_dir": MODEL_DIR_IN_IMAGE,
    "execution_modes": EXECUTION_MODES,
    "mode_auto": MODE_AUTO,
    "mode_streaming": MODE_STREAMING,
    "mode_batch": MODE_BATCH,
}
# ClipWriterStage sets Resources(cpus=0.25) for itself; a writer subclass starts from the same.
WRITER_CPUS = 0.25


@dataclass(frozen=True)
class CuratorTarget:
    """What the target nemo-curator version accepts, where generated code must differ."""

    version: str
    codec_resources: bool  # Resources(nvdecs=, nvencs=): up to 1.1; removed in 1.2
    task_id_arg: bool  # Task(task_id=...) is required up to 1.2; from 1.3 the framework assigns it

    @classmethod
    def of(cls, version: str) -> CuratorTarget:
        major_minor = parse_version(version)[:2]
        return cls(version, codec_resources=major_minor <= (1, 1), task_id_arg=major_minor <= (1, 2))


@dataclass(frozen=True)
class TaskType:
    name: str
    module: str


@dataclass(frozen=True)
class FileWrite:
    path: str  # relative to the project directory, '/'-separated
    content: str
    update: bool = False  # the manifest of an existing project: rewritten, never a clash
    based_on: str | None = None  # for an update: the text it was computed from


@dataclass
class ScaffoldPlan:
    root: Path
    writes: list[FileWrite]
    notes: list[str] = field(default_factory=list)  # what to tell the user after writing


@dataclass(frozen=True)
class StageOptions:
    name: str
    cpus: float = 1.0
    gpu_memory_gb: float | None = None
    gpus: float | None = None
    nvdecs: int = 0
    nvencs: int = 0
    batch_size: int = 1
    env: str = ""
    model: str = ""
    input_task: str = "VideoTask"
    output_task: str = "VideoTask"
    after: str | None = None  # the [[stages]] entry it follows; None (and no `before`): last
    before: str | None = None


# ---------------------------------------------------------------- pipeline.py

PIPELINE_FILE = "pipeline.py"
_SPEC_FORMAT_LINE = re.compile(r"^SPEC_FORMAT = (\d+)", re.MULTILINE)


def render_pipeline(env: jinja2.Environment, project: ProjectInfo, curator: CuratorTarget) -> str:
    return templating.render(env, "pipeline.py.j2", project=project, curator=curator, **PIPELINE_NAMES)


def check_pipeline_reads_the_spec(project_dir: Path) -> None:
    """`build` bakes a spec of SPEC_FORMAT; the project's pipeline.py (the user's file, generated once by
    `init`) must read that format, or the image would fail at its first run."""
    path = project_dir / PIPELINE_FILE
    try:
        found = _SPEC_FORMAT_LINE.search(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CuratorKitError(f"{path} is missing", "regenerate it with `curator-kit refresh-pipeline`") from None
    reads = "curator-kit.toml (made before pipeline specs)" if found is None else f"spec format {found.group(1)}"
    if found is None or int(found.group(1)) != SPEC_FORMAT:
        raise CuratorKitError(
            f"{path} reads {reads}, but this curator-kit bakes spec format {SPEC_FORMAT}",
            "regenerate it with `curator-kit refresh-pipeline` (the old file is kept as pipeline.py.orig)",
        )


def plan_pipeline_refresh(
    project_dir: Path, templates: Path | None = None, *, bytecode_cache: jinja2.BytecodeCache | None = None
) -> ScaffoldPlan:
    """pipeline.py rendered anew for the project (its edits are not carried over: the old file is kept)."""
    manifest = parse_manifest(read_manifest_text(project_dir))
    team_dir = templating.team_template_dir(templates, manifest.project.templates, project_dir)
    env = templating.make_environment(team_dir, bytecode_cache)
    fresh = render_pipeline(env, manifest.project, CuratorTarget.of(manifest.project.curator_version))
    current = project_dir / PIPELINE_FILE
    writes = [FileWrite(PIPELINE_FILE, fresh, update=current.exists(), based_on=None)]
    notes = []
    if current.exists():
        old = current.read_text(encoding="utf-8")
        if old == fresh:
            return ScaffoldPlan(project_dir, [], [f"{current} is current"])
        writes = [FileWrite(f"{PIPELINE_FILE}.orig", old), FileWrite(PIPELINE_FILE, fresh, update=True, based_on=old)]
        notes.append("the old file is pipeline.py.orig: carry your own changes over, then delete it")
    return ScaffoldPlan(project_dir, writes, notes)


# ---------------------------------------------------------------- init


def plan_init(
    target: Path,
    name: str,
    curator_version: str,
    base_image: str | None = None,
    templates: Path | None = None,
    preset: str = DEFAULT_PRESET,
    *,
    bytecode_cache: jinja2.BytecodeCache | None = None,
) -> ScaffoldPlan:
    names.check_project_name(name)
    if preset not in PRESETS:
        raise CuratorKitError(f"--preset {preset!r} is unknown", f"use one of {', '.join(PRESETS)}")
    curator = CuratorTarget.of(curator_version)
    check_release(curator_version)
    if target.exists() and not target.is_dir():
        raise CuratorKitError(f"{target} exists and is not a directory", "pick another name or --dir")
    stored_templates = os.path.relpath(templates.resolve(), target.resolve()) if templates else ""
    project = ProjectInfo(
        name=name,
        curator_version=curator_version,
        base_image=base_image or base_image_tag(curator_version),
        templates=stored_templates,
    )
    env = templating.make_environment(templating.team_template_dir(templates), bytecode_cache)
    context = {
        "project": project,
        "curator": curator,
        "preset": preset,
        "model_dir": MODEL_DIR_IN_IMAGE,
        "execution_modes": EXECUTION_MODES,
        "mode_auto": MODE_AUTO,
    }
    writes = [
        FileWrite(_project_path(template), templating.render(env, template, **context))
        for template in templating.list_templates(env, "project")
    ]
    writes.append(FileWrite(PIPELINE_FILE, render_pipeline(env, project, curator)))
    manifest = next((w for w in writes if w.path == MANIFEST_NAME), None)
    if manifest is None:
        raise CuratorKitError("the template set has no project/curator-kit.toml.j2", "restore it")
    parse_manifest(manifest.content, f"rendered {MANIFEST_NAME}")  # a broken template fails here, not later
    where = " --after motion_filter" if preset == "split" else ""
    return ScaffoldPlan(target, writes, [f"next: cd {target} && curator-kit new-stage my_stage{where}"])


def _project_path(template: str) -> str:
    """project/dot_gitignore.j2 -> .gitignore (dot files would be live in the template tree)."""
    parts = PurePosixPath(template).parts[1:]
    parts = tuple("." + p[4:] if p.startswith("dot_") else p for p in parts)
    return str(PurePosixPath(*parts)).removesuffix(".j2")


# ---------------------------------------------------------------- stages, writers, models, envs


@dataclass
class _Project:
    root: Path
    text: str
    manifest: Manifest

    @classmethod
    def open(cls, root: Path) -> _Project:
        text = read_manifest_text(root)
        return cls(root, text, parse_manifest(text))

    @property
    def curator(self) -> CuratorTarget:
        return CuratorTarget.of(self.manifest.project.curator_version)

    def environment(
        self, cli_templates: Path | None, bytecode_cache: jinja2.BytecodeCache | None
    ) -> jinja2.Environment:
        team_dir = templating.team_template_dir(cli_templates, self.manifest.project.templates, self.root)
        return templating.make_environment(team_dir, bytecode_cache)

    def check_new_stage(self, name: str, class_name: str) -> None:
        for stage in self.manifest.stages:
            if name == stage.name or class_name == stage.class_name:
                raise CuratorKitError(
                    f"stage {name!r} clashes with stage {stage.name!r} ({stage.class_name}) in {MANIFEST_NAME}",
                    "pick another name, or remove the old [[stages]] entry first",
                )


def plan_new_stage(
    root: Path,
    options: StageOptions,
    templates: Path | None = None,
    *,
    bytecode_cache: jinja2.BytecodeCache | None = None,
) -> ScaffoldPlan:
    class_name = names.check_stage_name(options.name)
    if options.gpu_memory_gb is not None and options.gpus is not None:
        raise CuratorKitError(
            "--gpu-memory-gb and --gpus cannot be used together (Curator's Resources forbids both)",
            "use --gpu-memory-gb for a single-GPU stage or --gpus for a multi-GPU stage",
        )
    input_task = _task_type("--input-task", options.input_task)
    output_task = _task_type("--output-task", options.output_task)
    project = _Project.open(root)
    project.check_new_stage(options.name, class_name)
    env = _known_env(project.manifest, options.env)
    model = _known_model(project.manifest, options.model)
    resources = StageResources(
        cpus=float(options.cpus),
        gpu_memory_gb=float(options.gpu_memory_gb or 0.0),
        gpus=float(options.gpus or 0.0),
        nvdecs=options.nvdecs,
        nvencs=options.nvencs,
    )
    spec = StageSpec(
        options.name, f"stages.{options.name}", class_name, options.env, options.model, options.batch_size, resources
    )
    placed, placed_notes = _placed(project, spec, options.after, options.before)
    expr, note = resources_source(resources, project.curator)
    jinja = project.environment(templates, bytecode_cache)
    context = {
        "project": project.manifest.project,
        "curator": project.curator,
        "stage": spec,
        "resources_expr": expr,
        "codec_note": note,
        "input_task": input_task,
        "output_task": output_task,
        "env": env,
        "model": model,
    }
    writes = [
        FileWrite(f"stages/{spec.name}.py", templating.render(jinja, "stage.py.j2", **context)),
        FileWrite(f"tests/test_{spec.name}.py", templating.render(jinja, "stage_test.py.j2", **context)),
        FileWrite(golden_test_path(spec.name), templating.render(jinja, "stage_golden_test.py.j2", **context)),
        FileWrite(MANIFEST_NAME, placed.text, update=True, based_on=project.text),
    ]
    return ScaffoldPlan(root, writes, [*placed_notes, _pipeline_line(placed.manifest)])


def golden_test_path(stage: str) -> str:
    """The test `new-stage` scaffolds, and `replay --save-golden` adds where it is missing, that compares
    STAGE against its goldens inside `curator-kit test`."""
    return f"tests/test_{stage}_golden.py"


def plan_golden_test(
    root: Path, stage: str, templates: Path | None = None, bytecode_cache: jinja2.BytecodeCache | None = None
) -> ScaffoldPlan:
    """The stage's golden test when the project has none (a stage made before goldens, a built-in, a
    writer): every golden `replay --save-golden` keeps is then compared by `curator-kit test`."""
    path = golden_test_path(stage)
    if (root / path).exists():
        return ScaffoldPlan(root, [])
    project = _Project.open(root)
    entry = next((entry for entry in project.manifest.stages if entry.name == stage), StageSpec(stage))
    shown = replace(entry, class_name=entry.class_name or entry.builtin or stage)
    text = templating.render(project.environment(templates, bytecode_cache), "stage_golden_test.py.j2", stage=shown)
    return ScaffoldPlan(root, [FileWrite(path, text)], [f"{path} compares {stage}'s goldens in `curator-kit test`"])


def plan_add_builtin(
    root: Path,
    builtin: str,
    name: str | None = None,
    params: tuple[tuple[str, Any], ...] = (),
    after: str | None = None,
    before: str | None = None,
) -> ScaffoldPlan:
    """A [[stages]] entry naming a Curator built-in, its parameters checked against the catalogue of the
    project's Curator release (`--param KEY=VALUE`, as [stages.params] would hold them)."""
    project = _Project.open(root)
    catalogue = catalogue_for(project.manifest.project.curator_version)
    entry = catalogue.builtin(builtin)
    if entry is None:
        raise CuratorKitError(
            f"{builtin!r} is not a built-in stage of nemo-curator {catalogue.curator}",
            f"use one of {', '.join(catalogue.builtins)} (`curator-kit stages --catalogue` describes them)",
        )
    name = name or builtin
    if not name.isidentifier():
        raise CuratorKitError(f"--name {name!r} is not a Python identifier", "use e.g. motion_filter")
    if project.manifest.stage(name) is not None:
        raise CuratorKitError(f"{MANIFEST_NAME} already has a stage named {name!r}", "pick another --name")
    given = dict(params)
    if len(given) < len(params):
        raise CuratorKitError("a --param is given twice", "give each parameter once")
    checked = entry.check_params(given, lambda key: f"--param {key}")
    spec = StageSpec(name, builtin=builtin, resources=None, params=checked)
    (text, manifest), notes = _placed(project, spec, after, before)
    from curator_kit.core.pipeline.spec import resolve_spec

    resolved = resolve_spec(manifest, root)  # the order rules: a stage only after what it needs
    added = [stage for stage in resolved.stages if stage.entry == name]
    gpu = [stage.who for stage in added if stage.needs_gpu]
    weights = sorted({weight for stage in added for weight in stage.weights})
    if gpu:
        notes.append(f"{name} runs on a GPU: `curator-kit run --gpus ...`")
    if weights:
        notes.append(f"{name} reads model weights {', '.join(weights)} from the run's model directory")
    notes.append(_pipeline_line(manifest))
    return ScaffoldPlan(root, [FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text)], notes)


def _placed(project: _Project, spec: StageSpec, after: str | None, before: str | None) -> tuple[Edited, list[str]]:
    """The manifest text with the new entry at its place and what it reads back as, and what to tell the
    user. A place inside a [clipping] table (before transcoding, say) first turns the table into the
    [[stages]] entries it stands for; the resulting manifest is validated as a whole."""
    if after and before:
        raise CuratorKitError("--after and --before cannot both be given", "place the stage after OR before another")
    current, notes = Edited(project.text, project.manifest), []
    anchor = after or before
    clipping = project.manifest.clipping
    inside = ("clipping", *(stage.name for stage in clipping.as_stages()))
    if anchor in inside and project.manifest.stage(anchor) is None:
        text = clipping_to_stages(project.text)
        current = Edited(text, parse_manifest(text))
        notes.append("[clipping] became the [[stages]] entries fixed_stride and transcoding, so stages fit between")
        if anchor == "clipping":
            after, before = ("transcoding", None) if after else (None, "fixed_stride")
    return stage_placed(current, spec, after, before), notes


def plan_new_writer(
    root: Path, name: str, templates: Path | None = None, *, bytecode_cache: jinja2.BytecodeCache | None = None
) -> ScaffoldPlan:
    class_name = names.check_stage_name(name, kind="writer")
    project = _Project.open(root)
    project.check_new_stage(name, class_name)
    from curator_kit.core.pipeline.spec import writer_stages

    # spec.resolve_spec's rule: one writer a pipeline; a second would break every later command.
    existing = writer_stages([stage for stage in project.manifest.stages if not stage.builtin], root)
    if existing:
        writer = min(existing)
        module = next(stage.module for stage in project.manifest.stages if stage.name == writer)
        raise CuratorKitError(
            f"the project already has a writer, {writer} ({module.replace('.', '/')}.py), and a pipeline runs one",
            f"edit {writer}'s _write_custom_output, or remove its [[stages]] entry before adding another",
        )
    spec = StageSpec(name, f"stages.{name}", class_name, resources=StageResources(cpus=WRITER_CPUS))
    text = append_entry(project.text, spec)
    jinja = project.environment(templates, bytecode_cache)
    context = {"project": project.manifest.project, "curator": project.curator, "stage": spec}
    writes = [
        FileWrite(f"stages/{name}.py", templating.render(jinja, "writer.py.j2", **context)),
        FileWrite(f"tests/test_{name}.py", templating.render(jinja, "writer_test.py.j2", **context)),
        FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text),
    ]
    return ScaffoldPlan(root, writes, [f"pipeline.py runs {class_name} last, in place of ClipWriterStage"])


def _clipping_steps(manifest: Manifest) -> list[str]:
    clipping = manifest.clipping
    return [f"clips ({clipping.method}, {clipping.encoder})"] if clipping.enabled else []


def _pipeline_line(manifest: Manifest) -> str:
    steps = ["VideoReader", *_clipping_steps(manifest), *(s.name for s in manifest.stages), "clip writer"]
    return "pipeline: " + " -> ".join(steps)


def plan_new_model(
    root: Path,
    name: str,
    hf_repo: str,
    revision: str = "main",
    files: tuple[str, ...] = (),
    bake: bool = False,
    templates: Path | None = None,
    *,
    bytecode_cache: jinja2.BytecodeCache | None = None,
) -> ScaffoldPlan:
    class_name = names.check_model_name(name)
    project = _Project.open(root)
    for model in project.manifest.models:
        if name == model.name or class_name == model.class_name:
            raise CuratorKitError(
                f"model {name!r} clashes with model {model.name!r} in {MANIFEST_NAME}", "pick another name"
            )
    spec = ModelSpec(name, f"models.{name}", class_name, hf_repo, revision, list(files), bake)
    text = append_entry(project.text, spec)
    jinja = project.environment(templates, bytecode_cache)
    context = {
        "project": project.manifest.project,
        "curator": project.curator,
        "model": spec,
        "files_literal": _py_tuple(files),
        "weights_marker": WEIGHTS_MARKER,  # what `run` and `models list` read to call a download complete
    }
    writes = [
        FileWrite(f"models/{name}.py", templating.render(jinja, "model.py.j2", **context)),
        FileWrite(f"tests/test_model_{name}.py", templating.render(jinja, "model_test.py.j2", **context)),
        FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text),
    ]
    how = "the build bakes its weights into the image" if bake else "stages fetch its weights in setup_on_node"
    return ScaffoldPlan(root, writes, [f"{name}: {how}; use it with new-stage --model {name}"])


def plan_new_env(
    root: Path,
    name: str,
    pip: tuple[str, ...] = (),
    apt: tuple[str, ...] = (),
    env: tuple[tuple[str, str], ...] = (),
) -> ScaffoldPlan:
    """`env` is (KEY, VALUE) pairs; every value is parsed with the manifest's rules when appended."""
    names.check_env_name(name)
    variables = dict(env)
    project = _Project.open(root)
    if name in project.manifest.envs:
        raise CuratorKitError(f"env {name!r} already exists in {MANIFEST_NAME}", "pick another name or edit it there")
    text = append_entry(project.text, EnvSpec(name, list(pip), list(apt), variables))
    write = FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text)
    return ScaffoldPlan(root, [write], [f"use it with new-stage NAME --env {name}"])


def _task_type(flag: str, name: str) -> TaskType:
    if name not in TASK_TYPES:
        raise CuratorKitError(f"{flag} {name!r} is not a task type curator-kit knows", f"use {', '.join(TASK_TYPES)}")
    return TaskType(name, TASK_TYPES[name])


def _known_env(manifest: Manifest, name: str) -> EnvSpec | None:
    if not name:
        return None
    if name not in manifest.envs:
        known = ", ".join(sorted(manifest.envs)) or "none yet"
        raise CuratorKitError(f"unknown env {name!r} (known: {known})", f"create it: curator-kit new-env {name}")
    return manifest.envs[name]


def _known_model(manifest: Manifest, name: str) -> ModelSpec | None:
    if not name:
        return None
    model = manifest.model(name)
    if model is None:
        known = ", ".join(m.name for m in manifest.models) or "none yet"
        raise CuratorKitError(
            f"unknown model {name!r} (known: {known})", f"create it: curator-kit new-model {name} --hf-repo ORG/REPO"
        )
    return model


# ---------------------------------------------------------------- rendering helpers


def resources_source(resources: StageResources, curator: CuratorTarget) -> tuple[str, list[str]]:
    """`Resources(...)` as the target Curator accepts it, and comment lines for what it cannot hold."""
    args = [f"cpus={float(resources.cpus)!r}"]
    if resources.gpu_memory_gb:
        args.append(f"gpu_memory_gb={float(resources.gpu_memory_gb)!r}")
    if resources.gpus:
        args.append(f"gpus={float(resources.gpus)!r}")
    note: list[str] = []
    if curator.codec_resources:
        codecs = {"nvdecs": resources.nvdecs, "nvencs": resources.nvencs}
        args += [f"{key}={value}" for key, value in codecs.items() if value]
    elif resources.nvdecs or resources.nvencs:
        note = [
            f"Codec engines: nvdecs={resources.nvdecs}, nvencs={resources.nvencs}. nemo-curator >= 1.2 dropped them",
            "from Resources, so curator-kit.toml keeps them and `curator-kit run` checks them against the GPUs.",
        ]
    return f"Resources({', '.join(args)})", note


def _py_tuple(values: tuple[str, ...] | list[str]) -> str:
    """A tuple of double-quoted strings, one per line when long (ruff-format style)."""
    items = [json.dumps(value, ensure_ascii=False) for value in values]
    if not items:
        return "()"
    one_line = f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if len(one_line) <= 80:
        return one_line
    return "(\n" + "".join(f"    {item},\n" for item in items) + ")"


# ---------------------------------------------------------------- listing


def stage_table(manifest: Manifest, spec: PipelineSpec | None = None) -> list[str]:
    """The pipeline as the manifest describes it: one row per [[stages]] entry (a built-in's Curator
    classes and the resources the spec resolved for them, when `spec` is given)."""
    header = ("#", "stage", "class", "cpus", "gpu", "nvdec", "nvenc", "batch", "env", "model")
    rows = [header]
    for index, stage in enumerate(manifest.stages, start=1):
        if stage.builtin:
            rows.append((str(index), stage.name, *_builtin_cells(stage, spec)))
            continue
        res = stage.resources or StageResources()
        gpu = f"{res.gpu_memory_gb:g} GB" if res.gpu_memory_gb else (f"{res.gpus:g}" if res.gpus else "-")
        rows.append(
            (
                str(index),
                stage.name,
                f"{stage.module}.{stage.class_name}",
                f"{res.cpus:g}",
                gpu,
                str(res.nvdecs or "-"),
                str(res.nvencs or "-"),
                str(1 if stage.batch_size is None else stage.batch_size),
                stage.env or "-",
                stage.model or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    project = manifest.project
    flow = " -> ".join(["VideoReader", *_clipping_steps(manifest), "stages", "clip writer"])
    lines.insert(0, f"{project.name}: nemo-curator {project.curator_version}, {flow}")
    if not manifest.stages:
        lines.append("(no stages yet: curator-kit new-stage NAME adds one, curator-kit add BUILTIN a Curator one)")
    if spec is not None and (told := spec.writer_told):
        lines.append(f"writer: {told}")
    for model in manifest.models:
        lines.append(f"model {model.name}: {model.hf_repo}@{model.revision}{' (baked)' if model.bake else ''}")
    for env in manifest.envs.values():
        parts = [f"pip {' '.join(env.pip)}" if env.pip else "", f"apt {' '.join(env.apt)}" if env.apt else ""]
        lines.append(f"env {env.name}: {'; '.join(p for p in parts if p) or 'no packages'}")
    return lines


def _builtin_cells(stage: StageSpec, spec: PipelineSpec | None) -> tuple[str, ...]:
    parts = [s for s in spec.stages if s.entry == stage.name] if spec is not None else []
    if not parts:
        return (f"builtin:{stage.builtin}", "-", "-", "-", "-", "-", "-", "-")
    memory = sum(s.gpu_memory_gb for s in parts)
    gpus = sum(s.gpus for s in parts)
    gpu = f"{memory:g} GB" if memory else (f"{gpus:.3g}" if gpus else "-")
    batch = stage.batch_size if stage.batch_size is not None else "-"
    return (
        f"builtin:{stage.builtin} ({' + '.join(s.class_path.rpartition('.')[2] for s in parts)})",
        f"{sum(s.cpus for s in parts):g}",
        gpu,
        str(sum(s.nvdecs for s in parts) or "-"),
        str(sum(s.nvencs for s in parts) or "-"),
        str(batch),
        "-",
        "-",
    )
