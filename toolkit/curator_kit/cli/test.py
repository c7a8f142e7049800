"""`curator-kit test`: the project's tests inside its built image."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--image", help="Image to test [default: the project's last `curator-kit build`].")
@click.option("--project", type=click.Path(path_type=Path, file_okay=False), help="Project directory.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(image: str | None, project: Path | None, pytest_args: tuple[str, ...]) -> None:
    """Run the project's tests in its image; pytest's exit code is curator-kit's.

    Arguments after `--` go to pytest: `curator-kit test -- -k brightness -x`.
    """
    from curator_kit.core.manifest import find_project_dir, load_manifest
    from curator_kit.core.runplan import HostFacts, plan_tests
    from curator_kit.engine.client import connect
    from curator_kit.engine.containers import run_plan
    from curator_kit.ops.build import last_built_image

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    client = connect()
    plan = plan_tests(
        manifest,
        project_dir,
        image or last_built_image(project_dir),
        pytest_args,
        HostFacts.from_engine_info(client.info()),
    )
    click.secho(f"testing {plan.image}: {' '.join(plan.command)}", fg="cyan", err=True)
    sys.exit(run_plan(client, plan))
