"""`curator-kit dockerfile | build | inspect`: the project's image."""

from __future__ import annotations

from pathlib import Path

import click

from curator_kit.cli.output import OUTPUT_FILE, emit, project_option
from curator_kit.cli.output import say as _log
from curator_kit.cli.params import IMAGE


def _load(project: Path | None):
    from curator_kit.core.project.loading import find_project_dir, load_manifest

    project_dir = find_project_dir(project or Path.cwd())
    return project_dir, load_manifest(project_dir)


templates_option = click.option(
    "--templates", type=click.Path(path_type=Path, file_okay=False), help="Directory overriding Dockerfile.j2."
)


def _preview_layout(manifest, choice: str):
    """The base layout a printed Dockerfile is rendered for (`ops.baselayout.layout_for_preview`);
    a note on stderr when it is assumed rather than read from the image."""
    from curator_kit.core.build.dockerfile import base_image_of
    from curator_kit.ops.baselayout import layout_for_preview

    layout, note = layout_for_preview(base_image_of(manifest), choice)
    if note:
        click.echo(note, err=True)
    return layout


@click.command()
@project_option()
@templates_option
@click.option("--output", "-o", type=OUTPUT_FILE, help="Write it here (eject).")
@click.option(
    "--layout",
    type=click.Choice(["auto", "pip", "uv"]),
    default="auto",
    show_default=True,
    help="The base image's installer: auto reads the image from the engine (pip when it cannot); "
    "uv: a uv-managed venv without pip, as in NVIDIA's NeMo Curator image.",
)
def dockerfile(project: Path | None, templates: Path | None, output: Path | None, layout: str) -> None:
    """Print (or write) the Dockerfile generated from curator-kit.toml."""
    from curator_kit.core.build.dockerfile import render_dockerfile
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project.templating import team_template_dir

    project_dir, manifest = _load(project)
    spec = resolve_spec(manifest, project_dir)
    team_dir = team_template_dir(templates, manifest.project.templates, project_dir)
    text = render_dockerfile(manifest, spec, team_dir, layout=_preview_layout(manifest, layout))
    emit(text, output)


@click.command()
@project_option()
@templates_option
@click.option("--tag", "-t", help="Image tag [default: <project name>:latest].")
@click.option("--build-arg", multiple=True, metavar="KEY=VALUE", help="Build argument (repeatable).")
@click.option("--no-cache", is_flag=True, help="Build every layer anew.")
@click.option("--push", is_flag=True, help="Push the tag after building (tag it with the registry host).")
@click.option("--quiet", "-q", is_flag=True, help="Only print the image id.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the Dockerfile, build nothing.")
def build(
    project: Path | None,
    templates: Path | None,
    tag: str | None,
    build_arg: tuple[str, ...],
    no_cache: bool,
    push: bool,
    quiet: bool,
    dry_run: bool,
) -> None:
    """Build the project's image on the curator base image, with streamed progress."""
    from curator_kit.ops.build import plan_project_build

    project_dir, manifest = _load(project)
    if dry_run:
        plan = plan_project_build(
            project_dir, manifest, tag, build_arg, no_cache, templates, _preview_layout(manifest, "auto")
        )
        click.echo("\n".join(plan.describe()))
        click.echo(plan.dockerfile, nl=False)
        return
    from curator_kit.core.build.dockerfile import base_image_of
    from curator_kit.engine.client import connect
    from curator_kit.ops.baselayout import read_base_layout
    from curator_kit.ops.build import execute_project_build
    from curator_kit.ops.progress import choose_progress

    client = connect()
    # The Dockerfile installs requirements the way the base image can (pip, or uv): read it first.
    layout = read_base_layout(client, base_image_of(manifest))
    plan = plan_project_build(project_dir, manifest, tag, build_arg, no_cache, templates, layout)

    log = (lambda _m: None) if quiet else _log
    target = None
    if push:
        from curator_kit.core.build.registry import push_target

        target = push_target(plan.tag, None)  # refused before building: no registry in the tag
    image_id = execute_project_build(client, plan, choose_progress(quiet), log)
    if target is not None:
        from curator_kit.ops.publish import publish

        publish(client, project_dir, plan.tag, target, log)
    click.echo(image_id if quiet else f"{plan.tag} {image_id}")


@click.command("inspect")
@click.argument("image", required=False, type=IMAGE)
@project_option()
@click.option("--json", "as_json", is_flag=True, help="Print the labels as JSON.")
def inspect_image(image: str | None, project: Path | None, as_json: bool) -> None:
    """Show what an image carries: stages, resources, codec needs, versions."""
    import json

    from curator_kit.core.build.imagelabels import describe_labels
    from curator_kit.engine.client import connect
    from curator_kit.engine.images import image_labels

    if image is None:
        from curator_kit.core.project.loading import find_project_dir
        from curator_kit.ops.build import last_built_image

        image = last_built_image(find_project_dir(project or Path.cwd()))
    labels = image_labels(connect(), image)
    if as_json:
        click.echo(json.dumps(labels, indent=2, sort_keys=True))
        return
    click.echo("\n".join(describe_labels(image, labels)))
