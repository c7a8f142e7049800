"""`curator-kit test`: the project's tests inside its built image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curator_kit.cli.output import project_option


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--image", help="Image to test [default: the project's last `curator-kit build`].")
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
    from curator_kit.core.manifest import find_project_dir, load_manifest
    from curator_kit.core.runplan import plan_tests
    from curator_kit.engine.containers import run_plan
    from curator_kit.ops.build import last_built_image
    from curator_kit.ops.launch import open_session, planning_spec
    from curator_kit.ops.modelcache import ensure_model_dirs, weights_facts

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    session = open_session()
    image = image or last_built_image(project_dir)
    spec, notes = planning_spec(session.client, image, manifest, project_dir)
    weights = weights_facts(manifest, project_dir, session.host, session.client, image)
    code_mounts: tuple = ()
    if mount_code:
        from curator_kit.ops.codemount import code_mounts_for

        code_mounts, code_notes = code_mounts_for(session.client, image, manifest, project_dir)
        notes += code_notes
    plan = plan_tests(
        manifest,
        spec,
        project_dir,
        image,
        pytest_args,
        session.host,
        allow_host_mount=allow_host_mount,
        weights=weights,
        code_mounts=code_mounts,
    )
    ensure_model_dirs(plan.model_dirs)
    for note in notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    click.secho(f"testing {plan.image}: {' '.join(plan.command)}", fg="cyan", err=True)
    sys.exit(run_plan(session.client, plan))
