"""`curator-kit cluster up | down | status`, and the Ray side of `curator-kit run` (--cluster, --ray-address)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from curator_kit.core.manifest import Manifest

DIR = click.Path(path_type=Path, file_okay=False)


def _say(message: str, colour: str | None = "cyan") -> None:
    click.secho(message, fg=colour, err=True)


def _load(project: Path | None) -> tuple[Path, Manifest]:
    from curator_kit.core.manifest import find_project_dir, load_manifest

    project_dir = find_project_dir(project or ".")
    return project_dir, load_manifest(project_dir)


project_option = click.option("--project", type=DIR, help="Project directory [default: found upward].")


@click.group()
def cluster() -> None:
    """A local Ray cluster of containers from the project's image: a head and N workers."""


@cluster.command()
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker containers.")
@click.option(
    "--cpus-per-worker",
    type=click.IntRange(min=1),
    help="Ray logical CPUs per worker [default: cores left by head and driver / workers, >= 1].",
)
@click.option(
    "--gpus-per-worker",
    default="none",
    show_default=True,
    help="none | N (worker i gets GPUs i*N..i*N+N-1) | all (every worker sees every GPU).",
)
@click.option(
    "--head-cpus", type=click.IntRange(min=1), default=1, show_default=True, help="Ray logical CPUs of the head."
)
@click.option("--input", "input_dir", type=DIR, help="Videos, mounted in every node [default: PROJECT/input].")
@click.option("--output", "output_dir", type=DIR, help="Results, mounted in every node [default: PROJECT/output].")
@click.option("--image", help="Image of every node [default: the project's last `curator-kit build`].")
@click.option("--shm-size", help="/dev/shm per node, e.g. 4g [default: the run default shared by the nodes].")
@click.option("--env", "-e", "env", multiple=True, help="KEY=VALUE for every node (repeatable).")
@click.option("--ulimit", "ulimits", multiple=True, help="NAME=SOFT[:HARD], as for `run`.")
@project_option
@click.option("--force", is_flag=True, help="Start although preflight found problems.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent docker commands; start nothing.")
def up(
    workers: int,
    cpus_per_worker: int | None,
    gpus_per_worker: str,
    head_cpus: int,
    input_dir: Path | None,
    output_dir: Path | None,
    image: str | None,
    shm_size: str | None,
    env: tuple[str, ...],
    ulimits: tuple[str, ...],
    project: Path | None,
    force: bool,
    dry_run: bool,
) -> None:
    """Start the cluster: a network, a head, workers; Xenna's Ray variables set on every node."""
    from curator_kit.core.clusterplan import ClusterOptions, plan_cluster
    from curator_kit.core.runplan import HostFacts
    from curator_kit.errors import CuratorKitError
    from curator_kit.ops.build import last_built_image

    project_dir, manifest = _load(project)
    options = ClusterOptions(
        input_dir=input_dir or project_dir / "input",
        output_dir=output_dir or project_dir / "output",
        image=image or last_built_image(project_dir),
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        head_cpus=head_cpus,
        shm_size=shm_size,
        env=env,
        ulimits=ulimits,
    )
    if dry_run:
        plan = plan_cluster(manifest, project_dir, options, HostFacts.local())
        click.echo("\n".join(plan.describe()))
        click.echo("\n".join(plan.docker_lines()))
        return
    if not options.input_dir.is_dir():
        raise CuratorKitError(f"input directory {options.input_dir} does not exist", "pass --input DIR")

    from curator_kit.core.clusterplan import judge_cluster
    from curator_kit.core.devices import detect_host_gpus
    from curator_kit.core.preflight import EngineFacts, check_image, decide
    from curator_kit.engine.client import connect, engine_address
    from curator_kit.engine.cluster import bring_up, cluster_containers, cluster_networks, dashboard_url, running_head

    client = connect()
    info = client.info()
    host = HostFacts.from_engine_info(info)
    plan = plan_cluster(manifest, project_dir, options, host)
    existing = cluster_containers(client, plan.project) or cluster_networks(client, plan.project)
    if existing:
        raise CuratorKitError(
            f"project {plan.project} has a cluster already ({', '.join(x.name for x in existing)})",
            "`curator-kit cluster status` shows it; `curator-kit cluster down` removes it",
        )
    check_image(client, options.image)
    engine = EngineFacts.from_info(info, engine_address())
    gpus_wanted = any(w.gpus.wanted for w in plan.workers)
    host_gpus = detect_host_gpus() if gpus_wanted and engine.local else []
    for warning in decide(judge_cluster(plan, manifest, engine, host_gpus), force):
        _say(f"warning: {warning}", "yellow")
    for line in plan.describe():
        _say(line, None)
    from curator_kit.ops.launch import ensure_output_dir

    ensure_output_dir(options.output_dir, host)
    nodes = bring_up(client, plan, _say)
    head = running_head(client, plan.project)
    dashboard = dashboard_url(head) if head is not None else None
    click.echo(f"cluster {plan.project} is up: {len(nodes)} Ray nodes on network {plan.network}")
    if dashboard:
        click.echo(f"dashboard {dashboard}")
    click.echo("run the pipeline on it with `curator-kit run --cluster`; `curator-kit cluster down` removes it")


@cluster.command()
@project_option
def down(project: Path | None) -> None:
    """Remove the cluster's containers (running drivers too) and its network; nothing there is no error."""
    from curator_kit.engine.client import connect
    from curator_kit.engine.cluster import tear_down

    _, manifest = _load(project)
    containers, networks = tear_down(connect(), manifest.project.name)
    if not containers and not networks:
        click.echo(f"no cluster for project {manifest.project.name}: nothing to remove")
        return
    click.echo(f"removed {len(containers)} container(s): {', '.join(containers) or '-'}")
    click.echo(f"removed {len(networks)} network(s): {', '.join(networks) or '-'}")


@cluster.command()
@project_option
@click.option("--ray-status", "show_ray_status", is_flag=True, help="Also print `ray status` from the head.")
def status(project: Path | None, show_ray_status: bool) -> None:
    """Containers and Ray nodes of the cluster; exit 1 when there is none or a node is not alive."""
    from curator_kit.core.constants import LABEL_RAY_CPUS, LABEL_ROLE
    from curator_kit.engine.client import connect
    from curator_kit.engine.cluster import (
        cluster_containers,
        cluster_networks,
        container_ip,
        dashboard_url,
        ray_nodes,
        ray_status,
        running_head,
    )

    _, manifest = _load(project)
    name = manifest.project.name
    client = connect()
    containers = cluster_containers(client, name)
    networks = cluster_networks(client, name)
    if not containers and not networks:
        click.echo(f"no cluster for project {name}")
        sys.exit(1)
    network = networks[0].name if networks else "-"
    head = running_head(client, name)
    nodes = (ray_nodes(head) or []) if head is not None else []
    by_ip = {n.ip: n for n in nodes if not n.alive and n.ip} | {node.ip: node for node in nodes if node.alive}
    click.echo(f"cluster {name} on network {network}")
    if head is not None:
        click.echo(f"image     {head.image.tags[0] if head.image.tags else head.image.id[:19]}")
        if dashboard_url(head):
            click.echo(f"dashboard {dashboard_url(head)}")
    rows = [("CONTAINER", "ROLE", "STATE", "IP", "RAY NODE", "CPUS")]
    healthy = head is not None
    seen: set[str] = set()
    for container in containers:
        ip = container_ip(container, network)
        node = by_ip.get(ip) if ip else None
        role = container.labels.get(LABEL_ROLE, "?")
        state = "ALIVE" if node and node.alive else ("DEAD" if node else "-")
        if role in ("head", "worker") and (container.status != "running" or state != "ALIVE"):
            healthy = False
        seen.add(ip)
        cpus = f"{node.cpus:g}" if node else container.labels.get(LABEL_RAY_CPUS, "?")
        rows.append((container.name, role, container.status, ip or "-", state, cpus))
    for node in nodes:
        if node.alive and node.ip not in seen:  # e.g. a `run --ray-address` driver on the host's network
            rows.append(("(not a cluster container)", "node", "-", node.ip, "ALIVE", f"{node.cpus:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    alive = sum(1 for node in nodes if node.alive)
    click.echo(f"{alive} Ray node(s) alive")
    if show_ray_status and head is not None:
        click.echo(ray_status(head).rstrip())
    sys.exit(0 if healthy else 1)


# --- `curator-kit run --cluster | --ray-address` ----------------------------------------------


def run_on_ray(
    project_dir: Path,
    manifest: Manifest,
    *,
    cluster: bool,
    ray_address: str | None,
    network: str | None,
    input_dir: Path | None,
    output_dir: Path | None,
    image: str | None,
    gpus: str | None,
    shm_size: str | None,
    env: tuple[str, ...],
    ulimits: tuple[str, ...],
    execution_mode: str | None,
    ignore_failures: bool | None,
    command: tuple[str, ...] | None,
    keep: bool,
    force: bool,
    dry_run: bool,
) -> None:
    """The pipeline's driver in a container that joins a Ray cluster; exits with the driver's code."""
    from dataclasses import replace

    from curator_kit.core.clusterplan import RayTarget, parse_ray_address, plan_ray_run
    from curator_kit.core.runplan import HostFacts, RunOptions
    from curator_kit.errors import CuratorKitError
    from curator_kit.ops.build import last_built_image

    if cluster and ray_address:
        raise CuratorKitError("--cluster and --ray-address both given", "--cluster is this project's local cluster")
    if cluster and network:
        raise CuratorKitError("--network with --cluster", "the driver joins the cluster's own network")
    if not cluster and not ray_address:
        raise CuratorKitError("--network is for a driver that joins a Ray cluster", "add --ray-address HOST[:PORT]")
    options = RunOptions(
        input_dir=input_dir or project_dir / "input",
        output_dir=output_dir or project_dir / "output",
        image=image or "",
        gpus=gpus,
        shm_size=shm_size,
        env=env,
        ulimits=ulimits,
        execution_mode=execution_mode,
        ignore_failures=ignore_failures,
        command=command,
    )
    notes: list[str] = []
    client = None
    if cluster:
        from curator_kit.core.preflight import check_image
        from curator_kit.engine.client import connect

        client = connect()
        info = _cluster_info(client, manifest.project.name)
        for given, mounted, flag in ((input_dir, info.input_dir, "--input"), (output_dir, info.output_dir, "--output")):
            if given is not None and given.resolve() != mounted:
                raise CuratorKitError(
                    f"{flag} {given} is not the cluster's: its nodes mount {mounted}",
                    f"leave {flag} out, or `curator-kit cluster down` and `cluster up {flag} {given}`",
                )
        if image:
            check_image(client, image)
        if image and client.images.get(image).id != info.image_id:
            raise CuratorKitError(
                f"--image {image} is not the image the cluster's nodes run ({info.image_id[:19]})",
                "leave --image out, or recreate the cluster with `cluster up --image`",
            )
        notes += _stale_image_note(client, project_dir, info.image_id)
        target = RayTarget(info.ray_address, cluster=info)
    else:
        target = RayTarget(parse_ray_address(ray_address or ""), network=network)
        options = replace(options, image=image or last_built_image(project_dir))
    if client is None and not dry_run:
        from curator_kit.engine.client import connect

        client = connect()
    host = HostFacts.from_engine_info(client.info()) if client is not None else HostFacts.local()
    plan = plan_ray_run(manifest, project_dir, options, host, target)
    plan.notes.extend(notes)
    if dry_run:
        click.echo("\n".join(plan.describe()))
        click.echo(plan.docker_run_line())
        return
    mounted_input = plan.mounts[0].source
    if not Path(mounted_input).is_dir():
        raise CuratorKitError(f"input directory {mounted_input} does not exist", "pass --input DIR")

    from curator_kit.core.preflight import EngineFacts, check_image, decide, judge
    from curator_kit.engine.client import engine_address
    from curator_kit.engine.containers import RunInterrupted, run_plan

    for line in plan.describe():
        _say(line, None)
    check_image(client, plan.image)
    if plan.gpus.wanted:  # the driver's own GPUs (an external cluster): the engine must support them
        engine = EngineFacts.from_info(client.info(), engine_address())
        for warning in decide(judge(replace(plan, runs_pipeline=False), manifest.stages, engine, []), force):
            _say(f"warning: {warning}", "yellow")
    if not cluster:
        gpu_stages = [s.name for s in manifest.stages if s.resources.gpus or s.resources.gpu_memory_gb]
        if gpu_stages:
            _say(f"note: {', '.join(gpu_stages)} need GPUs: nodes of the cluster at {target.address} must have them")
    from curator_kit.ops.launch import ensure_output_dir

    ensure_output_dir(Path(plan.mounts[1].source), host)

    def interrupted(stop: RunInterrupted) -> None:
        _say(f"{stop}: stopping {plan.name}" + ("" if keep else " and removing it"), "yellow")

    code = run_plan(client, plan, keep=keep, on_interrupt=interrupted)
    if keep:
        _say(f"kept container {plan.name} (docker rm {plan.name} removes it)")
    if code:
        _say(f"{plan.name} exited with {code}", "red")
    sys.exit(code)


def _cluster_info(client, project: str):
    from curator_kit.core.clusterplan import cluster_info
    from curator_kit.core.constants import LABEL_ROLE
    from curator_kit.engine.cluster import cluster_containers, running_head
    from curator_kit.errors import CuratorKitError

    head = running_head(client, project)
    if head is None:
        raise CuratorKitError(f"no Ray cluster is up for project {project}", "start one with `curator-kit cluster up`")
    nodes = [c.labels for c in cluster_containers(client, project) if c.labels.get(LABEL_ROLE) in ("head", "worker")]
    return cluster_info(head.labels, head.name, head.image.id, nodes)


def _stale_image_note(client, project_dir: Path, image_id: str) -> list[str]:
    """The cluster keeps the image it started with; say so when the project was built again since."""
    from curator_kit.ops.build import last_built_image

    try:
        tag = last_built_image(project_dir)
        latest = client.images.get(tag).id
    except Exception:  # no build recorded, or its tag is gone: nothing to compare with
        return []
    if latest == image_id:
        return []
    return [f"the cluster runs {image_id[:19]}, not the last build {tag}: `cluster down` and `cluster up` to use it"]
