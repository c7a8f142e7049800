"""`curator-kit init | new-stage | new-model | new-env | new-writer | stages`: scaffolding.

Only click and the standard library load with this module; Jinja and the manifest code load
inside each command, so `curator-kit --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.params import (
    APT_PACKAGE,
    BATCH_SIZE,
    ENV_ASSIGNMENT,
    HF_FILE,
    HF_REPO,
    IMAGE,
    PARAM_ASSIGNMENT,
    REQUIREMENT,
    REVISION,
    resource,
)
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION, RESOURCE_LIMITS

if TYPE_CHECKING:
    from curator_kit.core.project.scaffold import ScaffoldPlan
    from curator_kit.ops.templatecache import TemplateCache

# Mirrors curator_kit.core.project.scaffold.TASK_TYPES and PRESETS (kept literal here so --help does not import them).
TASK_TYPE_NAMES = ("VideoTask", "FileGroupTask")
PRESET_NAMES = ("clips", "split", "bare")

_project_option = project_option("project_dir")
_templates_option = click.option(
    "--templates",
    type=click.Path(file_okay=False, path_type=Path),
    help="A team's template directory; files it lacks fall back to the built-in ones.",
)
_force_option = click.option("--force", is_flag=True, help="Overwrite files that already exist.")
_after_option = click.option("--after", metavar="STAGE", help="Place it right after this [[stages]] entry.")
_before_option = click.option(
    "--before", metavar="STAGE", help="Place it right before this entry (e.g. transcoding) [default: last]."
)


def _up_to(resource_name: str) -> str:
    return f" (0 to {RESOURCE_LIMITS[resource_name]})"


def _project_root(project_dir: Path | None) -> Path:
    from curator_kit.core.project.loading import find_project_dir

    return find_project_dir(project_dir or Path.cwd())


def _template_cache() -> TemplateCache | None:
    """Compiled templates kept under the user's cache: a command renders without compiling them again."""
    from curator_kit.ops.templatecache import template_cache

    return template_cache()


def _report(plan: ScaffoldPlan, force: bool) -> None:
    from curator_kit.core.constants import MANIFEST_NAME
    from curator_kit.ops.scaffold import write_plan

    for path in write_plan(plan, force):
        verb = "updated" if path == MANIFEST_NAME and any(w.update for w in plan.writes) else "created"
        click.echo(f"{verb} {plan.root / path}")
    for note in plan.notes:
        click.echo(note)


@click.command()
@click.argument("name")
@click.option(
    "--curator-version", default=DEFAULT_CURATOR_VERSION, show_default=True, help="Target nemo-curator version."
)
@click.option("--base-image", type=IMAGE, help="Image to build FROM [default: curator-kit/base:<curator-version>-cpu].")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Where to create it [default: ./NAME].")
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default="clips",
    show_default=True,
    help="clips: fixed-stride clips ([clipping]); split: Curator's split pipeline (motion filter, aesthetics, "
    "Cosmos-Embed1, captions, previews) with a slot for your stages; bare: no clipping.",
)
@_templates_option
@_force_option
def init(
    name: str,
    curator_version: str,
    base_image: str | None,
    directory: Path | None,
    preset: str,
    templates: Path | None,
    force: bool,
) -> None:
    """Create a project: manifest, stages/, models/, envs/, tests/, pipeline.py."""
    from curator_kit.core.project.names import check_project_name
    from curator_kit.core.project.scaffold import plan_init

    check_project_name(name)  # before NAME is used as a path
    target = directory or Path(name)
    plan = plan_init(target, name, curator_version, base_image, templates, preset, bytecode_cache=_template_cache())
    _report(plan, force)


@click.command("new-stage")
@click.argument("name")
@click.option("--cpus", type=resource("cpus"), default=1.0, show_default=True, help=f"CPUs per worker{_up_to('cpus')}.")
@click.option(
    "--gpu-memory-gb",
    type=resource("gpu_memory_gb"),
    help=f"GPU memory of a single-GPU stage, not with --gpus{_up_to('gpu_memory_gb')}.",
)
@click.option(
    "--gpus", type=resource("gpus"), help=f"GPUs of a multi-GPU stage, not with --gpu-memory-gb{_up_to('gpus')}."
)
@click.option(
    "--nvdecs", type=resource("nvdecs"), default=0, show_default=True, help=f"NVDEC engines needed{_up_to('nvdecs')}."
)
@click.option(
    "--nvencs", type=resource("nvencs"), default=0, show_default=True, help=f"NVENC engines needed{_up_to('nvencs')}."
)
@click.option("--batch-size", type=BATCH_SIZE, default=1, show_default=True, help="Tasks per call.")
@click.option("--env", "env", default="", help="An env of curator-kit.toml the stage runs in.")
@click.option("--model", default="", help="A model of curator-kit.toml the stage loads.")
@click.option("--input-task", type=click.Choice(TASK_TYPE_NAMES), default="VideoTask", show_default=True)
@click.option("--output-task", type=click.Choice(TASK_TYPE_NAMES), default="VideoTask", show_default=True)
@_after_option
@_before_option
@_project_option
@_templates_option
@_force_option
def new_stage(
    name: str,
    cpus: float,
    gpu_memory_gb: float | None,
    gpus: float | None,
    nvdecs: int,
    nvencs: int,
    batch_size: int,
    env: str,
    model: str,
    input_task: str,
    output_task: str,
    after: str | None,
    before: str | None,
    project_dir: Path | None,
    templates: Path | None,
    force: bool,
) -> None:
    """Add a stage: stages/NAME.py, its test, and a [[stages]] entry (last, or where --after/--before say:
    file order is pipeline order; a stage before transcoding may make its own spans)."""
    from curator_kit.core.project.names import check_stage_name
    from curator_kit.core.project.scaffold import StageOptions, plan_new_stage

    check_stage_name(name)  # before the project is looked for: a bad name is the first thing to hear
    options = StageOptions(
        name, cpus, gpu_memory_gb, gpus, nvdecs, nvencs, batch_size, env, model, input_task, output_task, after, before
    )
    _report(plan_new_stage(_project_root(project_dir), options, templates, bytecode_cache=_template_cache()), force)


@click.command("new-model")
@click.argument("name")
@click.option("--hf-repo", type=HF_REPO, required=True, help="Hugging Face repository, ORG/NAME.")
@click.option("--revision", type=REVISION, default="main", show_default=True, help="Branch, tag or commit.")
@click.option(
    "--file", "files", type=HF_FILE, multiple=True, help="A file to fetch (repeatable) [default: the whole repo]."
)
@click.option("--bake", is_flag=True, help="Download the weights into the image at build time.")
@_project_option
@_templates_option
@_force_option
def new_model(
    name: str,
    hf_repo: str,
    revision: str,
    files: tuple[str, ...],
    bake: bool,
    project_dir: Path | None,
    templates: Path | None,
    force: bool,
) -> None:
    """Add a model: models/NAME.py (a ModelInterface), its test, and a [[models]] entry."""
    from curator_kit.core.project.names import check_model_name
    from curator_kit.core.project.scaffold import plan_new_model

    check_model_name(name)
    root = _project_root(project_dir)
    plan = plan_new_model(root, name, hf_repo, revision, files, bake, templates, bytecode_cache=_template_cache())
    _report(plan, force)


@click.command("new-env")
@click.argument("name")
@click.option("--pip", type=REQUIREMENT, multiple=True, help="PEP 508 requirement (repeatable).")
@click.option("--apt", type=APT_PACKAGE, multiple=True, help="Debian package (repeatable).")
@click.option("--env", "variables", type=ENV_ASSIGNMENT, multiple=True, help="KEY=VALUE set in the image (repeatable).")
@_project_option
def new_env(
    name: str,
    pip: tuple[str, ...],
    apt: tuple[str, ...],
    variables: tuple[tuple[str, str], ...],
    project_dir: Path | None,
) -> None:
    """Add an environment to curator-kit.toml; the build turns it into image layers."""
    from curator_kit.core.project.names import check_env_name
    from curator_kit.core.project.scaffold import plan_new_env

    check_env_name(name)
    _report(plan_new_env(_project_root(project_dir), name, pip, apt, variables), force=False)


@click.command("new-writer")
@click.argument("name")
@_project_option
@_templates_option
@_force_option
def new_writer(name: str, project_dir: Path | None, templates: Path | None, force: bool) -> None:
    """Add a ClipWriterStage subclass with a _write_custom_output(clip) hook; it replaces the default writer."""
    from curator_kit.core.project.names import check_stage_name
    from curator_kit.core.project.scaffold import plan_new_writer

    check_stage_name(name, kind="writer")
    _report(plan_new_writer(_project_root(project_dir), name, templates, bytecode_cache=_template_cache()), force)


@click.command("refresh-pipeline")
@_project_option
@_templates_option
@_force_option
def refresh_pipeline(project_dir: Path | None, templates: Path | None, force: bool) -> None:
    """Regenerate pipeline.py for this curator-kit's pipeline spec; the old file is kept as pipeline.py.orig."""
    from curator_kit.core.project.scaffold import plan_pipeline_refresh

    _report(plan_pipeline_refresh(_project_root(project_dir), templates, bytecode_cache=_template_cache()), force)


@click.command("add")
@click.argument("builtin")
@click.option("--name", help="The [[stages]] entry's name [default: BUILTIN].")
@click.option(
    "--param",
    "params",
    type=PARAM_ASSIGNMENT,
    multiple=True,
    help="A constructor parameter, KEY=VALUE, VALUE as TOML writes it (5, 2.5, true, [27, 48]) or a bare word "
    "(repeatable); checked against the catalogue.",
)
@_after_option
@_before_option
@_project_option
def add(
    builtin: str,
    name: str | None,
    params: tuple[tuple[str, object], ...],
    after: str | None,
    before: str | None,
    project_dir: Path | None,
) -> None:
    """Add a Curator built-in stage (motion_filter, cosmos_embed1, ...) to the pipeline: a [[stages]] entry
    with `builtin = BUILTIN` and its [stages.params]. `curator-kit stages --catalogue` lists them."""
    from curator_kit.core.project.scaffold import plan_add_builtin

    _report(plan_add_builtin(_project_root(project_dir), builtin, name, params, after, before), force=False)


@click.command()
@click.option(
    "--catalogue",
    is_flag=True,
    help="List the built-in stages of the project's Curator release: parameters, resources, GPU and weights.",
)
@click.option(
    "--curator-version", help="With --catalogue outside a project: the release to list [default: the newest]."
)
@_project_option
def stages(catalogue: bool, curator_version: str | None, project_dir: Path | None) -> None:
    """List the project's stages with resources, codec needs, envs and models (--catalogue: Curator's built-ins)."""
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project.loading import load_manifest
    from curator_kit.core.project.scaffold import stage_table

    if catalogue:
        from curator_kit.core.pipeline.catalogue import catalogue_for
        from curator_kit.core.pipeline.catalogue.listing import catalogue_lines
        from curator_kit.core.project.loading import find_project_dir
        from curator_kit.errors import CuratorKitError

        if curator_version is None:
            try:
                curator_version = load_manifest(find_project_dir(project_dir or Path.cwd())).project.curator_version
            except CuratorKitError:
                curator_version = DEFAULT_CURATOR_VERSION  # outside a project: the release new projects target
        click.echo("\n".join(catalogue_lines(catalogue_for(curator_version))))
        return
    root = _project_root(project_dir)
    manifest = load_manifest(root)
    click.echo("\n".join(stage_table(manifest, resolve_spec(manifest, root))))
