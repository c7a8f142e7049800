"""`curator-kit sbom`: the SBOM an image carries."""

from __future__ import annotations

from pathlib import Path

import click

from curator_kit.cli.output import OUTPUT_FILE, emit, project_option, say
from curator_kit.cli.params import IMAGE


@click.command("sbom")
@click.argument("image", required=False, type=IMAGE)
@project_option()
@click.option("--output", "-o", type=OUTPUT_FILE, help="Write it here [default: stdout].")
def sbom(image: str | None, project: Path | None, output: Path | None) -> None:
    """Write an image's SBOM (CycloneDX 1.5 JSON): its Python distributions, Debian packages and ffmpeg,
    with versions and licences.

    IMAGE defaults to the project's last build. Base images built by `curator-kit base build` carry one
    (the file /opt/curator-kit/sbom.cdx.json, summarised by the image's curator-kit.sbom label, which
    `inspect` shows); an image without one is refused.
    """
    from curator_kit.core.build.sbom import describe_summary, generator
    from curator_kit.engine.client import connect
    from curator_kit.ops.imagesbom import read_image_sbom

    if image is None:
        from curator_kit.core.project.loading import find_project_dir
        from curator_kit.ops.build import last_built_image

        image = last_built_image(find_project_dir(project or Path.cwd()))
    found = read_image_sbom(connect(), image)
    for note in found.notes:
        say(f"note: {note}", "yellow")
    emit(found.text, output, describe_summary(generator().summarize(found.bom)))
