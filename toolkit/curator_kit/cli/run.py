"""`curator-kit run`: the project's pipeline in a container, GPUs and codec engines passed through."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.output import say as _say
from curator_kit.cli.params import COUNT, EXECUTION_MODE, GPUS, HOST_ENV_ASSIGNMENT, IMAGE, MOUNT, SIZE, ULIMIT

if TYPE_CHECKING:
    from curator_kit.core.parsers import Mount, Ulimit
    from curator_kit.core.pipeline.devices import GpuRequest


DIR = click.Path(path_type=Path, file_okay=False)


@click.command()
@click.option("--input", "input_dir", type=DIR, help="Videos to read [default: PROJECT/input].")
@click.option("--output", "output_dir", type=DIR, help="Where results go [default: PROJECT/output].")
@click.option("--gpus", type=GPUS, help="all | none | N | count=N | device=ID[,ID] [default: the manifest's run.gpus].")
@click.option("--runtime", type=click.Choice(["nvidia"]), help="Use the nvidia runtime and NVIDIA_VISIBLE_DEVICES.")
@click.option("--shm-size", type=SIZE, help="Size of /dev/shm, e.g. 8g [default: 35% of host memory].")
@click.option("--ipc", type=click.Choice(["host"]), help="Share the host's IPC namespace (and /dev/shm).")
@click.option(
    "--env", "-e", "env", type=HOST_ENV_ASSIGNMENT, multiple=True, help="KEY=VALUE for the container (repeatable)."
)
@click.option(
    "--ulimit", "ulimits", type=ULIMIT, multiple=True, help="NAME=SOFT[:HARD], replaces memlock=-1 / stack=64 MiB."
)
@click.option(
    "--mount", "mounts", type=MOUNT, multiple=True, help="HOST:CONTAINER[:ro] besides the manifest's run.mounts."
)
@click.option("--image", type=IMAGE, help="Image to run [default: the project's last `curator-kit build`].")
@click.option(
    "--execution-mode",
    type=EXECUTION_MODE,
    help="Xenna mode; auto streams, stage CPUs scaled to the cores [default: the manifest's run.execution_mode].",
)
@click.option("--ignore-failures/--no-ignore-failures", default=None, help="Keep going when a task fails.")
@click.option(
    "--resume", is_flag=True, help="Skip the videos an interrupted run into the same --output finished; redo the rest."
)
@click.option(
    "--allow-host-mount", is_flag=True, help="Allow mounts of /, the Docker socket, or over /data/input|output."
)
@click.option(
    "--mount-code", is_flag=True, help="Mount the project's code over the image's copy: a stage edit needs no build."
)
@click.option(
    "--capture", metavar="STAGE", help="Save every task entering STAGE in OUTPUT/curator-kit-capture (`replay`)."
)
@click.option(
    "--profile",
    "profile",
    metavar="STAGE",
    multiple=True,
    help="Sample STAGE's workers with py-spy: a flame graph, top functions and peak memory (repeatable).",
)
@click.option("--limit", "video_limit", type=COUNT, help="Read only the first N videos: a quick check of an edit.")
@click.option("--command", "command_text", help="Run this instead of the pipeline, e.g. 'bash -c \"nvidia-smi\"'.")
@click.option("--cluster", is_flag=True, help="Run on the project's `curator-kit cluster up` (Ray, containers).")
@click.option("--ray-address", help="Join the Ray cluster whose head is HOST[:6379]; the driver becomes a node.")
@click.option("--network", help="Docker network of the driver with --ray-address [default: the host's].")
@click.option(
    "--ray-token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Ray token of the cluster at --ray-address (RAY_AUTH_MODE=token); mounted read-only in the driver.",
)
@click.option(
    "--weights-on-nodes",
    is_flag=True,
    help="With --ray-address: the cluster's nodes hold the model weights the image does not bake, at /opt/models.",
)
@project_option()
@click.option("--keep", is_flag=True, help="Keep the container after it exits.")
@click.option("--force", is_flag=True, help="Run although preflight found problems (codec engines, GPU support).")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent `docker run` line; start nothing.")
@click.option("--report", is_flag=True, help="After a successful run, write the HTML report of the output (`report`).")
def run(
    input_dir: Path | None,
    output_dir: Path | None,
    gpus: GpuRequest | None,
    runtime: str | None,
    shm_size: int | None,
    ipc: str | None,
    env: tuple[tuple[str, str], ...],
    ulimits: tuple[Ulimit, ...],
    mounts: tuple[Mount, ...],
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
    report: bool = False,
    resume: bool = False,
    allow_host_mount: bool = False,
    ray_token_file: Path | None = None,
    weights_on_nodes: bool = False,
    video_limit: int | None = None,
    mount_code: bool = False,
    capture: str | None = None,
    profile: tuple[str, ...] = (),
) -> None:
    """Run the project's Xenna pipeline in a container; its exit code is curator-kit's.

    The run ends with a summary (videos found, unreadable, failed; clips written, filtered), also in
    OUTPUT/curator-kit-summary.json. Exit 3: there were videos and nothing was written; 1: an error or
    a crash; 128+N: signal N stopped it. With --cluster or --ray-address the pipeline's driver joins a
    Ray cluster and Xenna spreads the stages over its nodes."""
    from curator_kit.core.parsers import parse_command
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.core.run.runplan import RunOptions
    from curator_kit.errors import CuratorKitError
    from curator_kit.ops.build import planned_image

    project_dir = find_project_dir(project or ".")
    manifest = load_manifest(project_dir)
    on_ray = cluster or ray_address or network or ray_token_file or weights_on_nodes
    if on_ray and (runtime or ipc):
        raise CuratorKitError("--runtime and --ipc are for single-container runs", "leave them out on a cluster")
    if on_ray and (capture or profile):
        option = "--capture" if capture else "--profile"
        raise CuratorKitError(f"{option} is for single-container runs", "leave out --cluster/--ray-address")
    if on_ray and report:
        raise CuratorKitError("--report is for single-container runs", "run `curator-kit report OUTPUT` afterwards")
    options = RunOptions(
        input_dir=input_dir or project_dir / "input",
        output_dir=output_dir or project_dir / "output",
        # On a local cluster "" means the image its nodes run; elsewhere the last build.
        image=image or ("" if cluster else planned_image(project_dir, manifest)),
        gpus=gpus,
        runtime=runtime,
        shm_size=shm_size,
        ipc=ipc,
        env=env,
        ulimits=ulimits,
        mounts=mounts,
        execution_mode=execution_mode,
        ignore_failures=ignore_failures,
        command=parse_command(command_text) if command_text else None,
        resume=resume,
        allow_host_mount=allow_host_mount,
        video_limit=video_limit,
        capture=capture,
        profile=tuple(dict.fromkeys(profile)),
    )
    if on_ray:
        from curator_kit.cli.cluster import run_on_ray

        where = {"cluster": cluster, "ray_address": ray_address, "network": network, "ray_token_file": ray_token_file}
        where["weights_on_nodes"] = weights_on_nodes
        return run_on_ray(
            project_dir,
            manifest,
            options,
            (input_dir, output_dir),
            **where,
            keep=keep,
            force=force,
            dry_run=dry_run,
            mount_code=mount_code,
        )
    from curator_kit.ops.launch import execute

    where = {"mount_code": mount_code}
    code = execute(manifest, project_dir, options, click.echo, _say, dry_run=dry_run, force=force, keep=keep, **where)
    if dry_run:
        return
    if capture:  # `replay` finds this capture without --output
        from curator_kit.ops.capture import remember_capture

        remember_capture(project_dir, options.output_dir, capture)
    if profile:  # what the workers sampled, also when the run failed: where did the time go
        from curator_kit.ops.profiles import print_profiles

        print_profiles(options.output_dir, click.echo)
    if code == 0 and report:
        from curator_kit.cli.report import echo_written
        from curator_kit.ops.report import write_report

        echo_written(write_report(options.output_dir))
    sys.exit(code)
