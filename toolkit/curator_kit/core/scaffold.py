"""Render templates into a project: plan every file in memory, check for clashes, then write.

Each `plan_*` function validates its input and returns a `ScaffoldPlan` without touching the
disk; `write_plan` refuses to overwrite existing files unless forced, stages every file next to
its target and renames them into place only when all were staged, so a failure leaves nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import jinja2

from curator_kit.core import names, templating
from curator_kit.core.constants import MANIFEST_NAME, base_image_tag
from curator_kit.core.manifest import (
    EnvSpec,
    Manifest,
    ModelSpec,
    ProjectInfo,
    StageResources,
    StageSpec,
    append_entry,
    parse_manifest,
    parse_version,
    read_manifest_text,
)
from curator_kit.errors import CuratorKitError

# Task types a generated stage may take or produce: name -> module that defines it.
TASK_TYPES: dict[str, str] = {
    "VideoTask": "nemo_curator.tasks.video",
    "FileGroupTask": "nemo_curator.tasks.file_group",
}
# ClipWriterStage sets Resources(cpus=0.25) for itself; a writer subclass starts from the same.
WRITER_CPUS = 0.25
_HF_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


# ---------------------------------------------------------------- writing


def write_plan(plan: ScaffoldPlan, force: bool = False) -> list[str]:
    """Write every file of the plan or none; returns the paths written."""
    clashes = [w.path for w in plan.writes if not w.update and (plan.root / w.path).exists()]
    for path in clashes:
        if (plan.root / path).is_dir():
            raise CuratorKitError(f"{plan.root / path} is a directory", "move it away; --force replaces only files")
    if clashes and not force:
        listed = ", ".join(clashes[:3]) + (f" and {len(clashes) - 3} more" if len(clashes) > 3 else "")
        raise CuratorKitError(
            f"{listed} already exist{'s' if len(clashes) == 1 else ''} in {plan.root}",
            "pass --force to overwrite, or pick another name",
        )
    for write in plan.writes:
        if write.update and (plan.root / write.path).read_text(encoding="utf-8") != write.based_on:
            raise CuratorKitError(f"{plan.root / write.path} changed while curator-kit worked", "run the command again")
    umask = os.umask(0)
    os.umask(umask)
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for write in plan.writes:
            target = plan.root / write.path
            made += _make_dirs(target.parent)
            mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~umask
            handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((Path(temp), target))
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(write.content)
            os.chmod(temp, mode)
    except OSError as error:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(made):
            directory.rmdir()
        raise CuratorKitError(
            f"could not write {error.filename or plan.root}: {error.strerror}", "check permissions and free space"
        ) from None
    for temp, target in staged:
        os.replace(temp, target)
    return [write.path for write in plan.writes]


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents; return those created, outermost first."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


# ---------------------------------------------------------------- init


def plan_init(
    target: Path,
    name: str,
    curator_version: str,
    base_image: str | None = None,
    templates: Path | None = None,
) -> ScaffoldPlan:
    names.check_project_name(name)
    curator = CuratorTarget.of(curator_version)
    if target.exists() and not target.is_dir():
        raise CuratorKitError(f"{target} exists and is not a directory", "pick another name or --dir")
    stored_templates = os.path.relpath(templates.resolve(), target.resolve()) if templates else ""
    project = ProjectInfo(
        name=name,
        curator_version=curator_version,
        base_image=base_image or base_image_tag(curator_version),
        templates=stored_templates,
    )
    env = templating.make_environment(templates)
    writes = [
        FileWrite(_project_path(template), templating.render(env, template, project=project, curator=curator))
        for template in templating.list_templates(env, "project")
    ]
    writes.append(FileWrite("pipeline.py", templating.render(env, "pipeline.py.j2", project=project, curator=curator)))
    manifest = next((w for w in writes if w.path == MANIFEST_NAME), None)
    if manifest is None:
        raise CuratorKitError("the template set has no project/curator-kit.toml.j2", "restore it")
    parse_manifest(manifest.content, f"rendered {MANIFEST_NAME}")  # a broken template fails here, not later
    return ScaffoldPlan(target, writes, [f"next: cd {target} && curator-kit new-stage my_stage"])


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

    def environment(self, override: Path | None) -> jinja2.Environment:
        if override is None and self.manifest.project.templates:
            override = (self.root / self.manifest.project.templates).resolve()
        return templating.make_environment(override)

    def check_new_stage(self, name: str, class_name: str) -> None:
        for stage in self.manifest.stages:
            if name == stage.name or class_name == stage.class_name:
                raise CuratorKitError(
                    f"stage {name!r} clashes with stage {stage.name!r} ({stage.class_name}) in {MANIFEST_NAME}",
                    "pick another name, or remove the old [[stages]] entry first",
                )


def plan_new_stage(root: Path, options: StageOptions, templates: Path | None = None) -> ScaffoldPlan:
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
    text = append_entry(project.text, spec)  # validates the resulting manifest as a whole
    expr, note = resources_source(resources, project.curator)
    jinja = project.environment(templates)
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
        FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text),
    ]
    return ScaffoldPlan(root, writes, [_pipeline_line(project.manifest, [*project.manifest.stages, spec])])


def plan_new_writer(root: Path, name: str, templates: Path | None = None) -> ScaffoldPlan:
    class_name = names.check_stage_name(name, kind="writer")
    project = _Project.open(root)
    project.check_new_stage(name, class_name)
    spec = StageSpec(name, f"stages.{name}", class_name, resources=StageResources(cpus=WRITER_CPUS))
    text = append_entry(project.text, spec)
    jinja = project.environment(templates)
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


def _pipeline_line(manifest: Manifest, stages: list[StageSpec]) -> str:
    steps = ["VideoReader", *_clipping_steps(manifest), *(s.name for s in stages), "clip writer"]
    return "pipeline: " + " -> ".join(steps)


def plan_new_model(
    root: Path,
    name: str,
    hf_repo: str,
    revision: str = "main",
    files: tuple[str, ...] = (),
    bake: bool = False,
    templates: Path | None = None,
) -> ScaffoldPlan:
    class_name = names.check_model_name(name)
    if not _HF_REPO.fullmatch(hf_repo):
        raise CuratorKitError(f"--hf-repo {hf_repo!r} is not ORG/REPO", "e.g. --hf-repo openai/clip-vit-base-patch32")
    if not revision.strip():
        raise CuratorKitError("--revision is empty", "pass a branch, tag or commit, e.g. --revision main")
    project = _Project.open(root)
    for model in project.manifest.models:
        if name == model.name or class_name == model.class_name:
            raise CuratorKitError(
                f"model {name!r} clashes with model {model.name!r} in {MANIFEST_NAME}", "pick another name"
            )
    spec = ModelSpec(name, f"models.{name}", class_name, hf_repo, revision, list(files), bake)
    text = append_entry(project.text, spec)
    jinja = project.environment(templates)
    context = {
        "project": project.manifest.project,
        "curator": project.curator,
        "model": spec,
        "files_literal": _py_tuple(files),
    }
    writes = [
        FileWrite(f"models/{name}.py", templating.render(jinja, "model.py.j2", **context)),
        FileWrite(f"tests/test_model_{name}.py", templating.render(jinja, "model_test.py.j2", **context)),
        FileWrite(MANIFEST_NAME, text, update=True, based_on=project.text),
    ]
    how = "the build bakes its weights into the image" if bake else "stages fetch its weights in setup_on_node"
    return ScaffoldPlan(root, writes, [f"{name}: {how}; use it with new-stage --model {name}"])


def plan_new_env(
    root: Path, name: str, pip: tuple[str, ...] = (), apt: tuple[str, ...] = (), env: tuple[str, ...] = ()
) -> ScaffoldPlan:
    names.check_env_name(name)
    variables: dict[str, str] = {}
    for pair in env:
        key, has_value, value = pair.partition("=")
        if not has_value or not _ENV_KEY.fullmatch(key):
            raise CuratorKitError(f"--env {pair!r} is not KEY=VALUE", "e.g. --env OPENCV_LOG_LEVEL=ERROR")
        variables[key] = value
    for package in apt:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.:=~-]*", package):
            raise CuratorKitError(f"--apt {package!r} is not a Debian package name", "e.g. --apt libgl1")
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


def stage_table(manifest: Manifest) -> list[str]:
    """The pipeline as the manifest describes it: one row per custom stage."""
    header = ("#", "stage", "class", "cpus", "gpu", "nvdec", "nvenc", "batch", "env", "model")
    rows = [header]
    for index, stage in enumerate(manifest.stages, start=1):
        res = stage.resources
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
                str(stage.batch_size),
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
        lines.append("(no custom stages yet: curator-kit new-stage NAME adds one)")
    for model in manifest.models:
        lines.append(f"model {model.name}: {model.hf_repo}@{model.revision}{' (baked)' if model.bake else ''}")
    for env in manifest.envs.values():
        parts = [f"pip {' '.join(env.pip)}" if env.pip else "", f"apt {' '.join(env.apt)}" if env.apt else ""]
        lines.append(f"env {env.name}: {'; '.join(p for p in parts if p) or 'no packages'}")
    return lines
