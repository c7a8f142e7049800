"""Local Ray clusters: bring one up from its plan, report its state, run a pipeline driver on it.

`cluster up` and `run --cluster | --ray-address` plan from the pipeline spec of the image the nodes
run (the same spec `run` uses), judge the plan, and act through `engine.cluster` and `ops.launch`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.constants import LABEL_OUTPUT, LABEL_RAY_CPUS, LABEL_ROLE, RAY_TOKEN_BYTES
from curator_kit.errors import CuratorKitError
from curator_kit.ops.launch import (
    EngineSession,
    Say,
    check_image,
    ensure_output_dir,
    fit_to_engine,
    gate,
    give_to_user,
    image_home,
    image_presence,
    planning_facts,
    planning_spec,
)

if TYPE_CHECKING:
    import docker

    from curator_kit.core.cluster.clusterplan import ClusterInfo, ClusterOptions, ClusterPlan, NetworkedContainerPlan
    from curator_kit.core.findings import Finding
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.run.runplan import RunOptions


def plan_up(
    manifest: Manifest,
    project_dir: Path,
    options: ClusterOptions,
    session: EngineSession | None,
    *,
    mount_code: bool = False,
) -> ClusterPlan:
    """The cluster for `options.image`, planned from that image's pipeline spec. `mount_code`: the
    project's code over the image's copy on every node, refused when only a build carries a change."""
    from curator_kit.core.cluster.clusterplan import plan_cluster

    # The nodes run `ray start`, not the pipeline: an image without a spec label may still make a cluster.
    options, host, spec, notes = planning_facts(
        session, manifest, project_dir, options, runs_pipeline=False, mount_code=mount_code
    )
    plan = plan_cluster(manifest, spec, project_dir, options, host)
    plan.findings.extend(notes)
    fit_nodes_to_engine(plan, session)
    return plan


def fit_nodes_to_engine(plan: ClusterPlan, session: EngineSession | None) -> None:
    """Each node as `run`'s container is fitted (`fit_to_engine`): the podman line, its ulimits, the user
    namespace, GPUs as CDI devices judged against the specs."""
    from curator_kit.core.findings import unique

    for node in plan.nodes:
        known = len(node.findings)
        fit_to_engine(node, session)
        plan.findings.extend(node.findings[known:])
    plan.findings = unique(plan.findings)


def check_cluster(session: EngineSession | None, plan: ClusterPlan, *, dry_run: bool) -> list[Finding]:
    """Every finding of `cluster up`, the same for the real command and its dry run: the plan's own,
    then the image's presence and what the engine and host say of each worker (`judge_cluster`)."""
    from curator_kit.core.cluster.clusterplan import judge_cluster

    findings = list(plan.findings)
    if session is None:
        return findings
    findings += image_presence(session, plan.head.image, findings, dry_run=dry_run)
    host_gpus = list(session.host.gpus) if session.engine.local else []
    return findings + judge_cluster(plan, session.engine, host_gpus)


def new_cluster_token(project_dir: Path, session: EngineSession) -> Path:
    """A fresh Ray token for the cluster about to start, in the project's state directory (mode 0600),
    owned by the user the nodes run as (they read it through a read-only bind mount)."""
    from curator_kit.core.project.state import RAY_TOKEN
    from curator_kit.ops.state import write_secret

    path = write_secret(project_dir, RAY_TOKEN, secrets.token_hex(RAY_TOKEN_BYTES))
    give_to_user(path, session.host)
    return path


def bring_up(
    session: EngineSession, plan: ClusterPlan, project_dir: Path, say: Say, *, force: bool
) -> tuple[int, str | None]:
    """Start the cluster after its checks: (Ray nodes started, dashboard URL or None)."""
    from curator_kit.engine import cluster as engine_cluster
    from curator_kit.ops.modelcache import ensure_model_dirs

    client = session.client
    existing = engine_cluster.cluster_containers(client, plan.project) or engine_cluster.cluster_networks(
        client, plan.project
    )
    if existing:
        raise CuratorKitError(
            f"project {plan.project} has a cluster already ({', '.join(x.name for x in existing)})",
            "`curator-kit cluster status` shows it; `curator-kit cluster down` removes it",
        )
    gate(check_cluster(session, plan, dry_run=False), say, force)
    for line in plan.describe():
        say(line, None)
    ensure_output_dir(Path(plan.labels[LABEL_OUTPUT]), session.host)
    ensure_model_dirs([path for node in plan.nodes for path in node.model_dirs])
    new_cluster_token(project_dir, session)  # at plan.token_file: both are the project's state path
    nodes = engine_cluster.bring_up(client, plan, say)
    head = engine_cluster.running_head(client, plan.project)
    return len(nodes), engine_cluster.dashboard_url(head) if head is not None else None


@dataclass(frozen=True)
class StatusRow:
    container: str
    role: str
    state: str
    ip: str
    ray_state: str
    cpus: str


@dataclass(frozen=True)
class ClusterStatus:
    project: str
    network: str
    image: str | None
    dashboard: str | None
    rows: list[StatusRow]
    alive: int
    healthy: bool


def cluster_status(client: docker.DockerClient, project: str) -> ClusterStatus | None:
    """The cluster's containers matched to Ray's nodes by IP; None when the project has no cluster."""
    from curator_kit.engine import cluster as engine_cluster

    containers = engine_cluster.cluster_containers(client, project)
    networks = engine_cluster.cluster_networks(client, project)
    if not containers and not networks:
        return None
    network = networks[0].name if networks else "-"
    head = engine_cluster.running_head(client, project)
    nodes = (engine_cluster.ray_nodes(head) or []) if head is not None else []
    # A node's IP may be listed twice (a dead node and its live successor): the live one wins.
    by_ip = {n.ip: n for n in nodes if not n.alive and n.ip} | {n.ip: n for n in nodes if n.alive}
    rows: list[StatusRow] = []
    healthy = head is not None
    seen: set[str] = set()
    for container in containers:
        ip = engine_cluster.container_ip(container, network)
        node = by_ip.get(ip) if ip else None
        role = container.labels.get(LABEL_ROLE, "?")
        state = "ALIVE" if node and node.alive else ("DEAD" if node else "-")
        if role in ("head", "worker") and (container.status != "running" or state != "ALIVE"):
            healthy = False
        seen.add(ip)
        cpus = f"{node.cpus:g}" if node else container.labels.get(LABEL_RAY_CPUS, "?")
        rows.append(StatusRow(container.name, role, container.status, ip or "-", state, cpus))
    for node in nodes:
        if node.alive and node.ip not in seen:  # e.g. a `run --ray-address` driver on the host's network
            rows.append(StatusRow("(not a cluster container)", "node", "-", node.ip, "ALIVE", f"{node.cpus:g}"))
    image = None
    if head is not None:
        image = head.image.tags[0] if head.image.tags else head.image.id[:19]
    dashboard = engine_cluster.dashboard_url(head) if head is not None else None
    return ClusterStatus(project, network, image, dashboard, rows, sum(n.alive for n in nodes), healthy)


def running_cluster(client: docker.DockerClient, project: str) -> ClusterInfo:
    from curator_kit.core.cluster.clusterplan import cluster_info
    from curator_kit.engine.cluster import cluster_containers, running_head

    head = running_head(client, project)
    if head is None:
        raise CuratorKitError(f"no Ray cluster is up for project {project}", "start one with `curator-kit cluster up`")
    nodes = [c.labels for c in cluster_containers(client, project) if c.labels.get(LABEL_ROLE) in ("head", "worker")]
    return cluster_info(head.labels, head.name, head.image.id, nodes)


def plan_driver(
    manifest: Manifest,
    project_dir: Path,
    options: RunOptions,
    session: EngineSession | None,
    *,
    cluster: bool,
    ray_address: str | None,
    network: str | None,
    given_dirs: tuple[Path | None, Path | None] = (None, None),
    ray_token_file: Path | None = None,
    mount_code: bool = False,
    weights_on_nodes: bool = False,
) -> NetworkedContainerPlan:
    """The driver container of `run --cluster` (this project's local cluster) or `run --ray-address`.

    The driver authenticates to Ray with the local cluster's own token, or `ray_token_file` (--ray-token-file).
    On a cluster started with `--mount-code` the driver mounts the project's code as its nodes do (checked
    against the image again: the working tree may have changed since); `mount_code` asks for that."""
    from curator_kit.core.cluster.clusterplan import RayTarget, parse_ray_address, plan_ray_run, token_file
    from curator_kit.core.findings import Code, note
    from curator_kit.ops.build import planned_image
    from curator_kit.ops.hostfacts import local_host

    if cluster and ray_address:
        raise CuratorKitError("--cluster and --ray-address both given", "--cluster is this project's local cluster")
    if cluster and network:
        raise CuratorKitError("--network with --cluster", "the driver joins the cluster's own network")
    if not cluster and not ray_address:
        raise CuratorKitError(
            "--network and --ray-token-file are for a driver that joins a Ray cluster", "add --ray-address HOST[:PORT]"
        )
    if cluster and weights_on_nodes:
        raise CuratorKitError(
            "--weights-on-nodes with --cluster: the local cluster's nodes mount this host's model cache",
            "leave it out (`curator-kit models pull` fills the cache)",
        )
    if cluster and ray_token_file:
        raise CuratorKitError("--ray-token-file with --cluster", "the driver uses the local cluster's own token")
    if mount_code and not cluster:
        raise CuratorKitError(
            "--mount-code with --ray-address: that cluster's nodes run their image's code",
            "run `curator-kit build` and start the nodes from the new image, or use a local `cluster up --mount-code`",
        )
    client = session.client if session is not None else None
    notes: list[Finding] = []
    if cluster:
        if client is None:
            raise CuratorKitError("--cluster needs the Docker engine to find the cluster", "start the engine")
        info = running_cluster(client, manifest.project.name)
        _same_data_dirs(given_dirs, info)
        if options.image:
            check_image(client, options.image)
            if client.images.get(options.image).id != info.image_id:
                raise CuratorKitError(
                    f"--image {options.image} is not the image the cluster's nodes run ({info.image_id[:19]})",
                    "leave --image out, or recreate the cluster with `cluster up --image`",
                )
        notes += _newer_build_note(client, project_dir, info.image_id)
        token = token_file(project_dir) if info.auth else None
        if token is not None and not token.is_file():
            raise CuratorKitError(
                f"the cluster's Ray token {token} is gone, so no driver can join it",
                "`curator-kit cluster down` and `curator-kit cluster up` make a cluster with a new token",
            )
        target = RayTarget(info.ray_address, cluster=info, token_file=token)
        spec_image = info.image_id
        if mount_code and not info.code_mounted:
            raise CuratorKitError(
                "--mount-code: the cluster's nodes run their image's code (it was started without --mount-code)",
                "`curator-kit cluster down`, then `curator-kit cluster up --mount-code`; or leave --mount-code out",
            )
        if info.code_mounted:
            from curator_kit.ops.codemount import code_mounts_for

            code_mounts, code_notes = code_mounts_for(client, spec_image, manifest, project_dir)
            options, notes = replace(options, code_mounts=code_mounts), [*notes, *code_notes]
    else:
        target = RayTarget(parse_ray_address(ray_address or ""), network=network, token_file=ray_token_file)
        options = replace(options, image=options.image or planned_image(project_dir, manifest))
        spec_image = options.image
    spec, spec_notes = planning_spec(client, spec_image, manifest, project_dir)
    host = session.host if session is not None else local_host()
    if cluster and options.weights is None:
        # The local cluster's nodes mount this host's cache: refuse a run whose weights are not there.
        from curator_kit.ops.modelcache import weights_facts

        options = replace(options, weights=weights_facts(manifest, project_dir, host, client, spec_image))
    if options.image_home is None:
        options = replace(options, image_home=image_home(client, spec_image))
    plan = plan_ray_run(manifest, spec, project_dir, options, host, target)
    plan.findings.extend([*notes, *spec_notes])
    if not cluster:  # the external cluster's nodes load the weights the image does not bake
        from curator_kit.core.checks import weights_on_nodes as weights_check
        from curator_kit.core.constants import MODEL_DIR_IN_IMAGE

        labels = _labels_if_present(client, spec_image)
        at = f"{MODEL_DIR_IN_IMAGE} on the cluster's nodes" if weights_on_nodes else None
        accept = f"pass --weights-on-nodes if the cluster's nodes hold them at {MODEL_DIR_IN_IMAGE}"
        plan.findings.extend(weights_check(manifest, spec, spec_image, labels, at, accept))
    if not cluster and spec.gpu_stages:
        names = ", ".join(s.name for s in spec.gpu_stages)
        need = f"{names} need GPUs (or NVDEC/NVENC): nodes of the cluster at {target.address} must have them"
        plan.findings.append(note(Code.GPUS_ON_NODES, need))
    fit_to_engine(plan, session)
    return plan


def _labels_if_present(client: docker.DockerClient | None, image: str) -> dict[str, str] | None:
    """The image's labels when the engine has it (its baked models); None when they cannot be read."""
    from curator_kit.engine.images import image_exists, image_labels

    if client is None or not image or not image_exists(client, image):
        return None
    return image_labels(client, image)


def _same_data_dirs(given_dirs: tuple[Path | None, Path | None], info: ClusterInfo) -> None:
    """A local cluster's nodes mount input and output at `cluster up`: a driver cannot change them."""
    for given, mounted, flag in zip(
        given_dirs, (info.input_dir, info.output_dir), ("--input", "--output"), strict=True
    ):
        if given is not None and given.resolve() != mounted:
            raise CuratorKitError(
                f"{flag} {given} is not the cluster's: its nodes mount {mounted}",
                f"leave {flag} out, or `curator-kit cluster down` and `cluster up {flag} {given}`",
            )


def _newer_build_note(client: docker.DockerClient, project_dir: Path, image_id: str) -> list[Finding]:
    """The cluster keeps the image it started with; say so when the project was built again since."""
    from curator_kit.engine.images import image_id_of
    from curator_kit.ops.build import last_built_image

    try:
        tag = last_built_image(project_dir)
    except CuratorKitError:  # no build recorded: nothing to compare with
        return []
    latest = image_id_of(client, tag)
    if latest is None or latest == image_id:
        return []
    from curator_kit.core.findings import Code, note

    newer = f"the cluster runs {image_id[:19]}, not the last build {tag}: `cluster down` and `cluster up` to use it"
    return [note(Code.NEWER_BUILD, newer)]
