"""`curator-kit init | new-stage | new-model | new-env | new-writer | stages`: scaffolding.

Only click and the standard library load with this module; Jinja and the manifest code load
inside each command, so `curator-kit --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.core.constants import DEFAULT_CURATOR_VERSION

if TYPE_CHECKING:
    from curator_kit.core.scaffold import ScaffoldPlan

# Mirrors curator_kit.core.scaffold.TASK_TYPES (kept literal here so --help does not import it).
TASK_TYPE_NAMES = ("VideoTask", "FileGroupTask")

_project_option = click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project directory [default: the one holding curator-kit.toml, from here up].",
)
_templates_option = click.option(
    "--templates",
    type=click.Path(file_okay=False, path_type=Path),
    help="A team's template directory; files it lacks fall back to the built-in ones.",
)
_force_option = click.option("--force", is_flag=True, help="Overwrite files that already exist.")
_non_negative = click.FloatRange(min=0)


def _project_root(project_dir: Path | None) -> Path:
    from curator_kit.core.manifest import find_project_dir

    return find_project_dir(project_dir or Path.cwd())


def _report(plan: ScaffoldPlan, force: bool) -> None:
    from curator_kit.core.manifest import MANIFEST_NAME
    from curator_kit.core.scaffold import write_plan

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
@click.option("--base-image", help="Image to build FROM [default: curator-kit/base:<curator-version>-cpu].")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Where to create it [default: ./NAME].")
@_templates_option
@_force_option
def init(
    name: str,
    curator_version: str,
    base_image: str | None,
    directory: Path | None,
    templates: Path | None,
    force: bool,
) -> None:
    """Create a project: manifest, stages/, models/, envs/, tests/, pipeline.py."""
    from curator_kit.core.names import check_project_name
    from curator_kit.core.scaffold import plan_init

    check_project_name(name)  # before NAME is used as a path
    _report(plan_init(directory or Path(name), name, curator_version, base_image, templates), force)


@click.command("new-stage")
@click.argument("name")
@click.option("--cpus", type=_non_negative, default=1.0, show_default=True, help="CPUs per worker.")
@click.option("--gpu-memory-gb", type=_non_negative, help="GPU memory of a single-GPU stage (not with --gpus).")
@click.option("--gpus", type=_non_negative, help="GPUs of a multi-GPU stage (not with --gpu-memory-gb).")
@click.option("--nvdecs", type=click.IntRange(min=0), default=0, show_default=True, help="NVDEC engines needed.")
@click.option("--nvencs", type=click.IntRange(min=0), default=0, show_default=True, help="NVENC engines needed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Tasks per call.")
@click.option("--env", "env", default="", help="An env of curator-kit.toml the stage runs in.")
@click.option("--model", default="", help="A model of curator-kit.toml the stage loads.")
@click.option("--input-task", type=click.Choice(TASK_TYPE_NAMES), default="VideoTask", show_default=True)
@click.option("--output-task", type=click.Choice(TASK_TYPE_NAMES), default="VideoTask", show_default=True)
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
    project_dir: Path | None,
    templates: Path | None,
    force: bool,
) -> None:
    """Add a stage: stages/NAME.py, its test, and a [[stages]] entry (the pipeline's order)."""
    from curator_kit.core.names import check_stage_name
    from curator_kit.core.scaffold import StageOptions, plan_new_stage

    check_stage_name(name)  # before the project is looked for: a bad name is the first thing to hear
    options = StageOptions(
        name, cpus, gpu_memory_gb, gpus, nvdecs, nvencs, batch_size, env, model, input_task, output_task
    )
    _report(plan_new_stage(_project_root(project_dir), options, templates), force)


@click.command("new-model")
@click.argument("name")
@click.option("--hf-repo", required=True, help="Hugging Face repository, ORG/REPO.")
@click.option("--revision", default="main", show_default=True, help="Branch, tag or commit.")
@click.option("--file", "files", multiple=True, help="A file to fetch (repeatable) [default: the whole repo].")
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
    from curator_kit.core.names import check_model_name
    from curator_kit.core.scaffold import plan_new_model

    check_model_name(name)
    plan = plan_new_model(_project_root(project_dir), name, hf_repo, revision, files, bake, templates)
    _report(plan, force)


@click.command("new-env")
@click.argument("name")
@click.option("--pip", multiple=True, help="pip requirement (repeatable).")
@click.option("--apt", multiple=True, help="Debian package (repeatable).")
@click.option("--env", "variables", multiple=True, help="KEY=VALUE set in the image (repeatable).")
@_project_option
def new_env(
    name: str, pip: tuple[str, ...], apt: tuple[str, ...], variables: tuple[str, ...], project_dir: Path | None
) -> None:
    """Add an environment to curator-kit.toml; the build turns it into image layers."""
    from curator_kit.core.names import check_env_name
    from curator_kit.core.scaffold import plan_new_env

    check_env_name(name)
    _report(plan_new_env(_project_root(project_dir), name, pip, apt, variables), force=False)


@click.command("new-writer")
@click.argument("name")
@_project_option
@_templates_option
@_force_option
def new_writer(name: str, project_dir: Path | None, templates: Path | None, force: bool) -> None:
    """Add a ClipWriterStage subclass with a _write_custom_output(clip) hook; it replaces the default writer."""
    from curator_kit.core.names import check_stage_name
    from curator_kit.core.scaffold import plan_new_writer

    check_stage_name(name, kind="writer")
    _report(plan_new_writer(_project_root(project_dir), name, templates), force)


@click.command()
@_project_option
def stages(project_dir: Path | None) -> None:
    """List the project's stages with resources, codec needs, envs and models."""
    from curator_kit.core.manifest import load_manifest
    from curator_kit.core.scaffold import stage_table

    click.echo("\n".join(stage_table(load_manifest(_project_root(project_dir)))))
