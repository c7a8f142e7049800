"""`curator-kit run`: the project's pipeline in a container, GPUs and codec engines passed through."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


def _say(message: str, colour: str | None = "cyan") -> None:
    click.secho(message, fg=colour, err=True)


DIR = click.Path(path_type=Path, file_okay=False)


@click.command()
@click.option("--input", "input_dir", type=DIR, help="Videos to read [default: PROJECT/input].")
@click.option("--output", "output_dir", type=DIR, help="Where results go [default: PROJECT/output].")
@click.option("--gpus", help="Docker syntax: all | N | device=0,2 | none [default: the manifest's run.gpus].")
@click.option("--runtime", type=click.Choice(["nvidia"]), help="Use the nvidia runtime and NVIDIA_VISIBLE_DEVICES.")
@click.option("--shm-size", help="Size of /dev/shm, e.g. 8g [default: 35% of host memory].")
@click.option("--ipc", type=click.Choice(["host"]), help="Share the host's IPC namespace (and /dev/shm).")
@click.option("--env", "-e", "env", multiple=True, help="KEY=VALUE for the container (repeatable).")
@click.option("--ulimit", "ulimits", multiple=True, help="NAME=SOFT[:HARD], replaces memlock=-1 / stack=64 MiB.")
@click.option("--image", help="Image to run [default: the project's last `curator-kit build`].")
@click.option(
    "--execution-mode",
    type=click.Choice(["auto", "streaming", "batch"]),
    help="Xenna mode; auto streams only when every stage fits the cores [default: the manifest's run.execution_mode].",
)
@click.option("--ignore-failures/--no-ignore-failures", default=None, help="Keep going when a task fails.")
@click.option("--command", "command_text", help="Run this instead of the pipeline, e.g. 'bash -c \"nvidia-smi\"'.")
@click.option("--cluster", is_flag=True, help="Run on the project's `curator-kit cluster up` (Ray, containers).")
@click.option("--ray-address", help="Join the Ray cluster whose head is HOST[:6379]; the driver becomes a node.")
@click.option("--network", help="Docker network of the driver with --ray-address [default: the host's].")
@click.option("--project", "project", type=DIR, help="Project directory [default: found upward].")
@click.option("--keep", is_flag=True, help="Keep the container after it exits.")
@click.option("--force", is_flag=True, help="Run although preflight found problems (codec engines, GPU support).")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent `docker run` line; start nothing.")
def run(
    input_dir: Path | None,
    output_dir: Path | None,
    gpus: str | None,
    runtime: str | None,
    shm_size: str | None,
    ipc: str | None,
    env: tuple[str, ...],
    ulimits: tuple[str, ...],
    image: str | None,
    execution_mode: str | None,
    ignore_failures: bool | None,
    command_text: str | None,
    project: Path | None,
    keep: bool,
    force: bool,
    dry_run: bool,
    cluster: bool = False,
    ray_address: str | None = None,
    network: str | None = None,
) -> None:
    """Run the project's Xenna pipeline in a container; its exit code is curator-kit's.

    With --cluster or --ray-address the pipeline's driver joins a Ray cluster and Xenna spreads the
    stages over its nodes."""
    from curator_kit.core.manifest import find_project_dir, load_manifest
    from curator_kit.core.runplan import HostFacts, RunOptions, plan_run
    from curator_kit.errors import CuratorKitError
    from curator_kit.ops.build import last_built_image

    project_dir = find_project_dir(project or ".")
    manifest = load_manifest(project_dir)
    if cluster or ray_address or network:
        from curator_kit.cli.cluster import run_on_ray

        if runtime or ipc:
            raise CuratorKitError("--runtime and --ipc are for single-container runs", "leave them out on a cluster")
        return run_on_ray(
            project_dir,
            manifest,
            cluster=cluster,
            ray_address=ray_address,
            network=network,
            input_dir=input_dir,
            output_dir=output_dir,
            image=image,
            gpus=gpus,
            shm_size=shm_size,
            env=env,
            ulimits=ulimits,
            execution_mode=execution_mode,
            ignore_failures=ignore_failures,
            command=tuple(shlex.split(command_text)) if command_text else None,
            keep=keep,
            force=force,
            dry_run=dry_run,
        )
    options = RunOptions(
        input_dir=input_dir or project_dir / "input",
        output_dir=output_dir or project_dir / "output",
        image=image or last_built_image(project_dir),
        gpus=gpus,
        runtime=runtime,
        shm_size=shm_size,
        ipc=ipc,
        env=env,
        ulimits=ulimits,
        execution_mode=execution_mode,
        ignore_failures=ignore_failures,
        command=tuple(shlex.split(command_text)) if command_text else None,
    )
    if dry_run:
        plan = plan_run(manifest, project_dir, options, HostFacts.local())
        click.echo("\n".join(plan.describe()))
        click.echo(plan.docker_run_line())
        return
    if not options.input_dir.is_dir():
        raise CuratorKitError(f"input directory {options.input_dir} does not exist", "pass --input DIR")

    from curator_kit.engine.client import connect
    from curator_kit.ops.launch import launch

    client = connect()
    info = client.info()
    host = HostFacts.from_engine_info(info)
    plan = plan_run(manifest, project_dir, options, host)
    code = launch(client, info, plan, manifest.stages, host, _say, force=force, keep=keep)
    sys.exit(code)
