"""`curator-kit cluster up | down | status`, and the Ray side of `curator-kit run` (--cluster, --ray-address)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curator_kit.cli.output import echo_table, project_option
from curator_kit.cli.output import say as _say
from curator_kit.cli.params import GPUS_PER_WORKER, HOST_ENV_ASSIGNMENT, IMAGE, LOCAL_WORKERS, NODE_CPUS, SIZE, ULIMIT
from curator_kit.core.constants import MAX_LOCAL_WORKERS

if TYPE_CHECKING:
    from curator_kit.core.parsers import Ulimit
    from curator_kit.core.pipeline.devices import GpuRequest
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.run.runplan import RunOptions

DIR = click.Path(path_type=Path, file_okay=False)


def _load(project: Path | None) -> tuple[Path, Manifest]:
    from curator_kit.core.project.loading import find_project_dir, load_manifest

    project_dir = find_project_dir(project or ".")
    return project_dir, load_manifest(project_dir)


@click.group()
def cluster() -> None:
    """A local Ray cluster of containers from the project's image: a head and N workers."""


@cluster.command()
@click.option(
    "--workers", type=LOCAL_WORKERS, default=2, show_default=True, help=f"Worker containers (1 to {MAX_LOCAL_WORKERS})."
)
@click.option(
    "--cpus-per-worker",
    type=NODE_CPUS,
    help="Ray logical CPUs per worker [default: cores left by head and driver / workers, >= 1].",
)
@click.option(
    "--gpus-per-worker",
    type=GPUS_PER_WORKER,
    default="none",
    show_default=True,
    help="none | N (worker i gets GPUs i*N..i*N+N-1) | all (every worker sees every GPU).",
)
@click.option("--head-cpus", type=NODE_CPUS, default=1, show_default=True, help="Ray logical CPUs of the head.")
@click.option("--input", "input_dir", type=DIR, help="Videos, mounted in every node [default: PROJECT/input].")
@click.option("--output", "output_dir", type=DIR, help="Results, mounted in every node [default: PROJECT/output].")
@click.option("--image", type=IMAGE, help="Image of every node [default: the project's last `curator-kit build`].")
@click.option(
    "--shm-size", type=SIZE, help="/dev/shm per node, e.g. 4g [default: the run default shared by the nodes]."
)
@click.option(
    "--env", "-e", "env", type=HOST_ENV_ASSIGNMENT, multiple=True, help="KEY=VALUE for every node (repeatable)."
)
@click.option("--ulimit", "ulimits", type=ULIMIT, multiple=True, help="NAME=SOFT[:HARD], as for `run`.")
@click.option(
    "--allow-host-mount", is_flag=True, help="Allow [run] mounts of /, the Docker socket, or over /data/input|output."
)
@click.option(
    "--mount-code",
    is_flag=True,
    help="Mount the project's code over the image's copy on every node: `run --cluster` sees stage edits, no build.",
)
@project_option()
@click.option("--force", is_flag=True, help="Start although preflight found problems.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent docker commands; start nothing.")
def up(
    workers: int,
    cpus_per_worker: int | None,
    gpus_per_worker: GpuRequest,
    head_cpus: int,
    input_dir: Path | None,
    output_dir: Path | None,
    image: str | None,
    shm_size: int | None,
    env: tuple[tuple[str, str], ...],
    ulimits: tuple[Ulimit, ...],
    project: Path | None,
    force: bool,
    dry_run: bool,
    allow_host_mount: bool = False,
    mount_code: bool = False,
) -> None:
    """Start the cluster: a network, a head, workers; Xenna's Ray variables set on every node.

    Ray's token authentication is on: a new token per cluster in PROJECT/.curator-kit/ray-auth-token
    (mode 0600), mounted read-only into every node and driver."""
    from curator_kit.core.cluster.clusterplan import ClusterOptions
    from curator_kit.ops.build import planned_image
    from curator_kit.ops.cluster import bring_up, check_cluster, plan_up
    from curator_kit.ops.launch import Checked, require_session, show_dry_run, try_session

    project_dir, manifest = _load(project)
    options = ClusterOptions(
        input_dir=input_dir or project_dir / "input",
        output_dir=output_dir or project_dir / "output",
        image=image or planned_image(project_dir, manifest),
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        head_cpus=head_cpus,
        shm_size=shm_size,
        env=env,
        ulimits=ulimits,
        allow_host_mount=allow_host_mount,
    )
    session = try_session()
    plan = plan_up(manifest, project_dir, options, session, mount_code=mount_code)
    findings = check_cluster(session, plan, dry_run=dry_run)
    if dry_run:
        show_dry_run(plan.describe(), Checked(findings), click.echo, _say, force=force)
        click.echo("\n".join(plan.docker_lines()))
        return
    session = require_session(session, findings, force)
    nodes, dashboard = bring_up(session, plan, project_dir, _say, force=force)
    click.echo(f"cluster {plan.project} is up: {nodes} Ray nodes on network {plan.network}")
    if dashboard:
        click.echo(f"dashboard {dashboard} (it asks for the Ray token in {plan.token_file})")
    click.echo("run the pipeline on it with `curator-kit run --cluster`; `curator-kit cluster down` removes it")


@cluster.command()
@project_option()
def down(project: Path | None) -> None:
    """Remove the cluster's containers (running drivers too) and its network; nothing there is no error."""
    from curator_kit.core.project.state import RAY_TOKEN
    from curator_kit.engine.client import connect
    from curator_kit.engine.cluster import tear_down
    from curator_kit.ops.state import remove_record

    project_dir, manifest = _load(project)
    containers, networks = tear_down(connect(), manifest.project.name)
    remove_record(project_dir, RAY_TOKEN)  # the token dies with its cluster
    if not containers and not networks:
        click.echo(f"no cluster for project {manifest.project.name}: nothing to remove")
        return
    click.echo(f"removed {len(containers)} container(s): {', '.join(containers) or '-'}")
    click.echo(f"removed {len(networks)} network(s): {', '.join(networks) or '-'}")


@cluster.command()
@project_option()
@click.option("--ray-status", "show_ray_status", is_flag=True, help="Also print `ray status` from the head.")
def status(project: Path | None, show_ray_status: bool) -> None:
    """Containers and Ray nodes of the cluster; exit 1 when there is none or a node is not alive.

    Ray is asked inside the head, whose environment names the cluster's token file."""
    from curator_kit.core.cluster.clusterplan import token_file
    from curator_kit.engine.client import connect
    from curator_kit.engine.cluster import ray_status, running_head
    from curator_kit.ops.cluster import cluster_status

    project_dir, manifest = _load(project)
    client = connect()
    report = cluster_status(client, manifest.project.name)
    if report is None:
        click.echo(f"no cluster for project {manifest.project.name}")
        sys.exit(1)
    click.echo(f"cluster {report.project} on network {report.network}")
    if report.image:
        click.echo(f"image     {report.image}")
    if report.dashboard:
        click.echo(f"dashboard {report.dashboard} (Ray token: {token_file(project_dir)})")
    header = ("CONTAINER", "ROLE", "STATE", "IP", "RAY NODE", "CPUS")
    rows = [(r.container, r.role, r.state, r.ip, r.ray_state, r.cpus) for r in report.rows]
    echo_table([header, *rows])
    click.echo(f"{report.alive} Ray node(s) alive")
    head = running_head(client, report.project) if show_ray_status else None
    if head is not None:
        click.echo(ray_status(head).rstrip())
    sys.exit(0 if report.healthy else 1)


# --- `curator-kit run --cluster | --ray-address` ----------------------------------------------


def run_on_ray(
    project_dir: Path,
    manifest: Manifest,
    options: RunOptions,
    given_dirs: tuple[Path | None, Path | None],
    *,
    cluster: bool,
    ray_address: str | None,
    network: str | None,
    ray_token_file: Path | None,
    keep: bool,
    force: bool,
    dry_run: bool,
    mount_code: bool = False,
    weights_on_nodes: bool = False,
) -> None:
    """The pipeline's driver in a container that joins a Ray cluster; exits with the driver's code.

    `given_dirs` are --input/--output as typed (None: not given), which a local cluster must match."""
    from curator_kit.ops.cluster import plan_driver
    from curator_kit.ops.launch import check_plan, launch, require_session, show_dry_run, try_session

    session = try_session()
    where = {"cluster": cluster, "ray_address": ray_address, "network": network, "ray_token_file": ray_token_file}
    where["weights_on_nodes"] = weights_on_nodes
    plan = plan_driver(manifest, project_dir, options, session, **where, given_dirs=given_dirs, mount_code=mount_code)
    checked = check_plan(session, plan, dry_run=dry_run)
    if dry_run:
        show_dry_run(plan.describe(), checked, click.echo, _say, force=force)
        click.echo(plan.docker_run_line())
        return
    session = require_session(session, checked.findings, force)
    sys.exit(launch(session, plan, _say, force=force, keep=keep, checked=checked))
