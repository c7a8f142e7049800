"""`curator-kit test`: the project's tests inside its built image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curator_kit.cli.output import project_option, say
from curator_kit.cli.params import IMAGE


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--image", type=IMAGE, help="Image to test [default: the project's last `curator-kit build`].")
@project_option()
@click.option("--allow-host-mount", is_flag=True, help="Allow [run] mounts of /, the Docker socket, or over /data.")
@click.option("--mount-code", is_flag=True, help="Test the working tree's code, mounted over the image's: no build.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(
    image: str | None,
    project: Path | None,
    pytest_args: tuple[str, ...],
    allow_host_mount: bool = False,
    mount_code: bool = False,
) -> None:
    """Run the project's tests in its image; pytest's exit code is curator-kit's.

    Arguments after `--` go to pytest: `curator-kit test -- -k brightness -x`.
    """
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.ops.build import last_built_image
    from curator_kit.ops.launch import launch_tests, open_session

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    session = open_session()
    image = image or last_built_image(project_dir)
    code = launch_tests(
        session,
        manifest,
        project_dir,
        image,
        pytest_args,
        say,
        allow_host_mount=allow_host_mount,
        mount_code=mount_code,
    )
    sys.exit(code)
