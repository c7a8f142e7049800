"""`curator-kit spec`: the pipeline spec, resolved from the manifest or read from an image."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curator_kit.cli.output import OUTPUT_FILE, project_option, say, write_output
from curator_kit.cli.params import IMAGE


@click.command()
@project_option()
@click.option(
    "--image", type=IMAGE, help="Read the spec baked into this image instead of resolving the working tree's."
)
@click.option(
    "--output",
    "-o",
    type=OUTPUT_FILE,
    help="Write the JSON here (e.g. for `python pipeline.py --spec FILE` outside the image).",
)
def spec(project: Path | None, image: str | None, output: Path | None) -> None:
    """Print the pipeline spec: stage order, classes, parameters, resources, GPU and codec needs."""
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project.loading import find_project_dir, load_manifest

    if image:
        from curator_kit.engine.client import connect
        from curator_kit.ops.launch import image_spec

        resolved = image_spec(connect(), image)
    else:
        project_dir = find_project_dir(project or ".")
        resolved = resolve_spec(load_manifest(project_dir), project_dir)
    for line in resolved.describe():
        say(line, None)
    text = json.dumps(resolved.to_dict(), indent=2, sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text)
    say(f"wrote {output}")
