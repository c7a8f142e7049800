"""`curator-kit demo`: sample videos through reference stages in a container, end to end."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.cli.params import GPUS, IMAGE
from curator_kit.core.constants import DEFAULT_BASE_IMAGE

if TYPE_CHECKING:
    from curator_kit.core.pipeline.devices import GpuRequest

STEPS = 6


def _step(number: int, text: str) -> None:
    click.secho(f"[{number}/{STEPS}] {text}", fg="green", bold=True, err=True)


def _log(message: str) -> None:
    click.secho(f"  {message}", fg="cyan", err=True)


@click.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
    help="Where the project, sample videos and results go.",
)
@click.option("--base-image", type=IMAGE, default=DEFAULT_BASE_IMAGE, show_default=True, help="Curator base image.")
@click.option(
    "--videos",
    "sample_count",
    type=click.IntRange(1, 12),
    default=3,
    show_default=True,
    help="Sample videos to generate.",
)
@click.option("--gpus", type=GPUS, default="none", show_default=True, help="all | none | N | count=N | device=ID[,ID].")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit.")
def demo(output: Path, base_image: str, sample_count: int, gpus: GpuRequest, dry_run: bool) -> None:
    """Generate sample videos, build a project of reference stages and run it in a container."""
    from curator_kit.ops.demo import DemoPlan

    plan = DemoPlan(output.resolve(), base_image, sample_count)
    for line in plan.describe():
        click.echo(line, err=True)
    if dry_run:
        return
    started = time.monotonic()
    code = _run_demo(plan, gpus)
    from curator_kit.ops.demo import summarize

    summary = summarize(plan)
    click.echo("\n".join(summary.lines()))
    click.echo(f"done in {time.monotonic() - started:.0f}s" if code == 0 else f"pipeline exited with {code}")
    if code == 0 and summary.clips_written + summary.clips_filtered == 0:
        click.secho("error: the pipeline wrote no clips -- see its log above", fg="red", err=True)
        code = 1
    sys.exit(code)


def _run_demo(plan, gpus: GpuRequest) -> int:
    import shutil

    from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
    from curator_kit.core.build.pipconfig import read_pip_settings
    from curator_kit.core.constants import MANIFEST_NAME
    from curator_kit.core.project.loading import load_manifest
    from curator_kit.core.run.runplan import RunOptions
    from curator_kit.engine.client import engine_address
    from curator_kit.ops.base_build import ensure_base
    from curator_kit.ops.build import execute_project_build, plan_project_build
    from curator_kit.ops.demo import fill_in_reference_stages, scaffold_project
    from curator_kit.ops.launch import launch, open_session, plan_pipeline_run
    from curator_kit.ops.progress import choose_progress
    from curator_kit.ops.samples import make_sample_videos

    _step(1, "container engine")
    session = open_session()
    client = session.client
    named = session.identity.describe() if session.identity else f"Docker {session.info.get('ServerVersion', '?')}"
    _log(f"{named} at {engine_address()}")

    _step(2, f"base image {plan.base_image}")
    base_plan = plan_base_build(BaseBuildOptions(variant="cpu", tag=plan.base_image), read_pip_settings())
    ensure_base(client, base_plan, choose_progress(), _log)  # reused when current, else (re)built

    _step(3, f"project {plan.project_dir}")
    if (plan.project_dir / MANIFEST_NAME).is_file():
        _log("present; reused")
    else:
        scaffold_project(plan, _log)
    fill_in_reference_stages(plan.project_dir, _log)

    _step(4, f"sample videos in {plan.videos_dir}")
    videos = make_sample_videos(plan.videos_dir, count=plan.sample_count)
    _log(", ".join(v.name for v in videos))

    _step(5, f"image {plan.image_tag}")
    manifest = load_manifest(plan.project_dir)
    build_plan = plan_project_build(plan.project_dir, manifest, tag=plan.image_tag)
    execute_project_build(client, build_plan, choose_progress(), _log)

    _step(6, "pipeline run in a container")
    shutil.rmtree(plan.results_dir, ignore_errors=True)  # ours alone: a rerun starts from empty results
    options = RunOptions(input_dir=plan.videos_dir, output_dir=plan.results_dir, image=plan.image_tag, gpus=gpus)
    container = plan_pipeline_run(manifest, plan.project_dir, options, session)
    return launch(session, container, lambda message, _colour: _log(message))
