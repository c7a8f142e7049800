"""`curator-kit push`: the project's image into a registry, where clusters can pull it."""

from __future__ import annotations

from pathlib import Path

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.output import say as _log
from curator_kit.cli.params import IMAGE


@click.command()
@click.option("--registry", "-r", help="HOST[:PORT] to push to [default: the registry the image's tag names].")
@click.option("--image", type=IMAGE, help="Local image [default: the project's last `curator-kit build`].")
@click.option("--tag", "-t", help="Tag in the registry [default: the image's own].")
@project_option()
@click.option("--dry-run", is_flag=True, help="Print where the image would go; push nothing.")
def push(registry: str | None, image: str | None, tag: str | None, project: Path | None, dry_run: bool) -> None:
    """Tag the image into REGISTRY and push it; `export kuberay` then uses that reference."""
    from curator_kit.core.build.registry import push_target
    from curator_kit.core.project.loading import find_project_dir
    from curator_kit.ops.build import last_built_image

    project_dir = find_project_dir(project or Path.cwd())
    source = image or last_built_image(project_dir)
    target = push_target(source, registry, tag)
    if dry_run:
        click.echo(f"docker tag {source} {target}\ndocker push {target}")
        return

    from curator_kit.engine.client import connect
    from curator_kit.ops.launch import check_image
    from curator_kit.ops.publish import publish

    client = connect()
    check_image(client, source)
    digest = publish(client, project_dir, source, target, _log)
    click.echo(f"{target}" + (f" {digest.split('@', 1)[1]}" if digest else ""))
