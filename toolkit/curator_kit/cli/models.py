"""`curator-kit models`: the project's model weights on this host (pull into the cache, list)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curator_kit.cli.output import echo_table, project_option, say
from curator_kit.cli.params import IMAGE
from curator_kit.errors import CuratorKitError


@click.group()
def models() -> None:
    """The project's model weights: baked into the image, in the host's cache, or missing."""


@models.command()
@click.option(
    "--image", type=IMAGE, help="Image whose code downloads [default: the project's last `curator-kit build`]."
)
@project_option()
@click.argument("names", nargs=-1)
def pull(image: str | None, project: Path | None, names: tuple[str, ...]) -> None:
    """Download models (all of the project's when no NAME) into the cache [run] model_cache names."""
    from curator_kit.core.pipeline.modelweights import select_models
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.ops.build import last_built_image
    from curator_kit.ops.launch import open_session
    from curator_kit.ops.models import pull as pull_models

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    select_models(manifest, names)  # an unknown name is refused before the engine is asked
    session = open_session()
    code = pull_models(manifest, project_dir, image or last_built_image(project_dir), names, session, say)
    sys.exit(code)


@models.command(name="list")
@click.option(
    "--image", type=IMAGE, help="Image whose baked models count [default: the project's last `curator-kit build`]."
)
@project_option()
def list_models(image: str | None, project: Path | None) -> None:
    """Each model: its repository, where its weights are (baked, cached, missing) and their size."""
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.core.sizes import human_size
    from curator_kit.ops.build import last_built_image
    from curator_kit.ops.hostfacts import local_host
    from curator_kit.ops.launch import try_session
    from curator_kit.ops.modelcache import weights_facts
    from curator_kit.ops.models import model_rows

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    if not manifest.models:
        say("no [[models]] in curator-kit.toml (`curator-kit new-model NAME` adds one)", "yellow")
        return
    session = try_session()
    client = session.client if session is not None else None
    chosen = image or ""
    if not chosen and client is not None:
        try:
            chosen = last_built_image(project_dir)
        except CuratorKitError:
            chosen = ""  # not built yet: nothing is baked
    facts = weights_facts(manifest, project_dir, local_host(), client, chosen)
    assert facts is not None  # the project has models
    rows = [("MODEL", "SOURCE", "WHERE", "SIZE")]
    for row in model_rows(manifest, facts):
        size = "-" if row.size_bytes is None else human_size(row.size_bytes)
        rows.append((row.name, row.source, row.place, size))
    echo_table(rows)
    click.echo(f"cache: {facts.cache_dir}")
    if not chosen:
        say("no image to read: models with bake = true count as baked (the build bakes them)", "yellow")
