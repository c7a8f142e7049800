"""`curator-kit replay`: one stage on the tasks `run --capture` saved, in one process without Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.output import say as _say
from curator_kit.cli.params import COUNT, IMAGE


@click.command()
@click.argument("stage")
@click.option(
    "--output",
    "output_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The captured run's --output [default: the last `run --capture`'s, else PROJECT/output].",
)
@click.option("--limit", type=COUNT, help="Replay only the first N captured tasks.")
@click.option("--mount-code", is_flag=True, help="Replay the working tree's code, mounted over the image's: no build.")
@click.option("--image", type=IMAGE, help="Image to replay in [default: the project's last `curator-kit build`].")
@project_option()
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent `docker run` line; start nothing.")
def replay(
    stage: str,
    output_dir: Path | None,
    limit: int | None,
    mount_code: bool,
    image: str | None,
    project: Path | None,
    dry_run: bool,
) -> None:
    """Run STAGE's setup_on_node, setup and process on the tasks `run --capture STAGE` saved, inside the
    image, in one process without Ray: per-task time and what process changed; a stage that raises
    shows its own traceback and exits non-zero."""
    from curator_kit.core.pipeline.capture import replay_output
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.core.run.runplan import RunOptions
    from curator_kit.ops.build import planned_image
    from curator_kit.ops.launch import execute

    project_dir = find_project_dir(project or ".")
    manifest = load_manifest(project_dir)
    output_dir, note = replay_output(project_dir, output_dir, stage)
    if note:
        _say(f"note: {note}", "yellow")
    options = RunOptions(
        input_dir=project_dir, output_dir=output_dir, image=image or planned_image(project_dir, manifest)
    )
    where = {"mount_code": mount_code, "replay": (stage, limit)}
    code = execute(manifest, project_dir, options, click.echo, _say, dry_run=dry_run, **where)
    if not dry_run:
        sys.exit(code)
