"""`curator-kit shell`: bash in the project's image, in the container `run` would start, code mounted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.output import say as _say
from curator_kit.cli.params import GPUS, HOST_ENV_ASSIGNMENT, IMAGE, MOUNT, SIZE

if TYPE_CHECKING:
    from curator_kit.core.parsers import Mount
    from curator_kit.core.pipeline.devices import GpuRequest

DIR = click.Path(path_type=Path, file_okay=False)


@click.command()
@click.option("--input", "input_dir", type=DIR, help="Videos at /data/input, read-only [default: PROJECT/input].")
@click.option("--output", "output_dir", type=DIR, help="Writable /data/output [default: PROJECT/output].")
@click.option("--gpus", type=GPUS, help="all | none | N | count=N | device=ID[,ID] [default: the manifest's run.gpus].")
@click.option("--shm-size", type=SIZE, help="Size of /dev/shm, e.g. 8g [default: 35% of host memory].")
@click.option(
    "--env", "-e", "env", type=HOST_ENV_ASSIGNMENT, multiple=True, help="KEY=VALUE for the container (repeatable)."
)
@click.option(
    "--mount", "mounts", type=MOUNT, multiple=True, help="HOST:CONTAINER[:ro] besides the manifest's run.mounts."
)
@click.option("--image", type=IMAGE, help="Image to open [default: the project's last `curator-kit build`].")
@click.option(
    "--mount-code/--no-mount-code",
    default=True,
    help="The working tree's code over the image's copy [default: on; refused when only a build carries a change].",
)
@click.option("--command", "command_text", help="Run this without a terminal instead of bash, e.g. 'python -V'.")
@click.option(
    "--allow-host-mount", is_flag=True, help="Allow mounts of /, the Docker socket, or over /data/input|output."
)
@project_option()
@click.option("--force", is_flag=True, help="Start although preflight found problems (codec engines, GPU support).")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent `docker run` line; start nothing.")
def shell(
    input_dir: Path | None,
    output_dir: Path | None,
    gpus: GpuRequest | None,
    shm_size: int | None,
    env: tuple[tuple[str, str], ...],
    mounts: tuple[Mount, ...],
    image: str | None,
    mount_code: bool,
    command_text: str | None,
    allow_host_mount: bool,
    project: Path | None,
    force: bool,
    dry_run: bool,
) -> None:
    """An interactive shell in the project's image: GPUs, /dev/shm, ulimits, env and mounts as `run` sets
    them, the project's code mounted over the image's copy. `python pipeline.py --input /data/input
    --output /data/output --video-limit 1` there runs the pipeline as edited. Without a PROJECT/input
    directory (or --input) no data is mounted."""
    from curator_kit.core.parsers import parse_command
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.core.run.runplan import RunOptions
    from curator_kit.ops.build import planned_image
    from curator_kit.ops.launch import execute

    project_dir = find_project_dir(project or ".")
    manifest = load_manifest(project_dir)
    input_dir = input_dir or project_dir / "input"
    options = RunOptions(
        input_dir=input_dir,
        output_dir=output_dir or project_dir / "output",
        image=image or planned_image(project_dir, manifest),
        gpus=gpus,
        shm_size=shm_size,
        env=env,
        mounts=mounts,
        command=parse_command(command_text) if command_text else None,
        allow_host_mount=allow_host_mount,
        mount_data=input_dir.is_dir(),
    )
    where = {"mount_code": mount_code, "shell": True}
    code = execute(manifest, project_dir, options, click.echo, _say, dry_run=dry_run, force=force, **where)
    if not dry_run:
        sys.exit(code)
