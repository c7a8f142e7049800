"""`curator-kit report`: an HTML page of a run's clips, scores and what was filtered, next to its results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from curator_kit.ops.report import ReportWritten

DIR = click.Path(path_type=Path, file_okay=False)


@click.command()
@click.argument("results_dir", type=DIR, required=False)
@click.option("--output", "-o", type=DIR, help="Folder for index.html and images/ [default: RESULTS_DIR/report].")
@click.option(
    "--log",
    "log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The run's saved output, for time per stage [default: a *.log in RESULTS_DIR].",
)
@click.option(
    "--frames",
    type=click.IntRange(0, 12),
    default=4,
    show_default=True,
    help="Frames per thumbnail strip when the run made no previews; 0 for none.",
)
def report(results_dir: Path | None, output: Path | None, log: Path | None, frames: int) -> None:
    """Write a static HTML report of RESULTS_DIR: per video its clips, kept or filtered and by which stage,
    every score, captions, histograms [default RESULTS_DIR: here when it holds results, else PROJECT/output]."""
    from curator_kit.ops.report import default_results_dir, write_report

    written = write_report(results_dir or default_results_dir(), output, log=log, frames=frames)
    echo_written(written)


def echo_written(written: ReportWritten) -> None:
    """The lines `report` and `run --report` print."""
    for line in [*written.missing, *written.problems, *written.image_failures]:
        click.secho(f"note: {line}", fg="yellow", err=True)
    if written.dominant_drop is not None:
        click.secho(f"dropped: {written.dominant_drop.describe()} -- fix: {written.dominant_drop.fix}", fg="yellow")
    images = f"{written.images_made} images made, {written.images_reused} reused"
    click.echo(f"report: {written.videos} videos, {written.clips} clips; {images}; {written.seconds:.1f}s")
    click.echo(written.index.as_uri())
