"""Execute a ClusterPlan: a user-defined network, a head, workers; find them again by label.

Everything a cluster consists of carries the labels curator-kit.project and curator-kit.cluster, so
`down` (and the clean-up after a failed or interrupted `up`) removes by label, not by handle: what
the engine made while a signal landed is found too, and `down` twice is no error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from curator_kit.core.cluster.clusterplan import (
    DASHBOARD_PORT,
    ClusterPlan,
    NetworkedContainerPlan,
    RayNode,
    cluster_name,
    parse_ray_nodes,
)
from curator_kit.core.constants import LABEL_CLUSTER, LABEL_PROJECT, LABEL_ROLE
from curator_kit.engine.containers import RunInterrupted, create, translate_engine_error
from curator_kit.engine.stopsignals import ignoring_stop_signals, stop_signals
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.networks import Network

JOIN_TIMEOUT_S = 180  # a node's `ray start` on a busy 2-core host takes 10-20 s
POLL_S = 1.0
LOG_TAIL = 30


def _filters(project: str, role: str | None = None) -> dict[str, list[str]]:
    labels = [f"{LABEL_PROJECT}={project}", f"{LABEL_CLUSTER}={cluster_name(project)}"]
    if role:
        labels.append(f"{LABEL_ROLE}={role}")
    return {"label": labels}


def cluster_containers(client: docker.DockerClient, project: str, role: str | None = None) -> list[Container]:
    """Every container of the project's cluster (head, workers, drivers), running or not."""
    found = client.containers.list(all=True, filters=_filters(project, role))
    order = {"head": 0, "worker": 1, "driver": 2}
    return sorted(found, key=lambda c: (order.get(c.labels.get(LABEL_ROLE, ""), 3), c.name))


def cluster_networks(client: docker.DockerClient, project: str) -> list[Network]:
    return client.networks.list(filters=_filters(project))


def running_head(client: docker.DockerClient, project: str) -> Container | None:
    heads = [c for c in cluster_containers(client, project, "head") if c.status == "running"]
    return heads[0] if heads else None


def start_node(client: docker.DockerClient, plan: NetworkedContainerPlan) -> Container:
    """Create and start a detached node; a refused start removes it and raises the engine's reason."""
    from docker.errors import APIError

    container = create(client, plan)
    try:
        container.start()
    except APIError as error:
        with suppress(APIError):
            container.remove(force=True)
        raise translate_engine_error(error, "start") from None
    return container


def exec_text(container: Container, argv: list[str]) -> tuple[int, str]:
    """Run a command in a running container (as its user); exit code and output, stdout and stderr together.
    A container that stopped meanwhile answers -1 and the engine's reason."""
    from docker.errors import APIError

    try:
        result = container.exec_run(argv)
    except APIError as error:
        return -1, str(error.explanation or error)
    return int(result.exit_code if result.exit_code is not None else -1), result.output.decode(errors="replace")


def ray_nodes(head: Container) -> list[RayNode] | None:
    """Ray's own view, through its state API in the head; None while the head cannot answer."""
    code, output = exec_text(head, ["ray", "list", "nodes", "--format", "json", "--limit", "10000"])
    return parse_ray_nodes(output) if code == 0 else None


def ray_status(head: Container) -> str:
    return exec_text(head, ["ray", "status"])[1]


def dashboard_url(container: Container) -> str | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{DASHBOARD_PORT}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return f"http://{binding.get('HostIp') or '127.0.0.1'}:{binding['HostPort']}"
    return None


def container_ip(container: Container, network: str) -> str:
    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    return str((networks.get(network) or {}).get("IPAddress") or "")


def _tail(container: Container) -> tuple[str, ...]:
    with suppress(Exception):
        return tuple(container.logs(tail=LOG_TAIL).decode(errors="replace").splitlines())
    return ()


def wait_for_nodes(
    head: Container, watched: list[Container], expected: int, timeout_s: float = JOIN_TIMEOUT_S
) -> list[RayNode]:
    """Until `expected` nodes are alive in Ray's view; a watched container that exits fails at once."""
    deadline = time.monotonic() + timeout_s
    alive: list[RayNode] = []
    while True:
        for container in watched:
            container.reload()
            if container.status not in ("created", "running"):
                code = container.attrs.get("State", {}).get("ExitCode")
                raise CuratorKitError(
                    f"{container.name} exited ({code}) before joining the Ray cluster",
                    "its last log lines are above",
                    details=_tail(container),
                )
        nodes = ray_nodes(head)
        alive = [node for node in nodes or [] if node.alive]
        if len(alive) >= expected:
            return alive
        if time.monotonic() > deadline:
            late = watched[-1]
            raise CuratorKitError(
                f"{len(alive)} of {expected} Ray nodes joined within {timeout_s:g} s",
                f"see `docker logs {late.name}`",
                details=_tail(late),
            )
        time.sleep(POLL_S)


def _interrupt(signum: int, _frame: object) -> None:
    raise RunInterrupted(signum)


def bring_up(
    client: docker.DockerClient, plan: ClusterPlan, log: Callable[[str], None], timeout_s: float = JOIN_TIMEOUT_S
) -> list[RayNode]:
    """Network, head, workers, each waited for in Ray's own view; on any failure or signal the whole
    cluster is removed again (by label) before the error goes on."""
    from docker.errors import APIError

    try:
        with stop_signals(_interrupt):
            try:
                client.networks.create(plan.network, driver="bridge", labels=dict(plan.labels), check_duplicate=True)
            except APIError as error:
                raise CuratorKitError(
                    f"the Docker engine could not create network {plan.network}: {error.explanation or error}"
                ) from None
            require_name_resolution(client, plan.network)
            log(f"network {plan.network}")
            head = start_node(client, plan.head)
            wait_for_nodes(head, [head], 1, timeout_s)
            log(f"head {plan.head.name} is up")
            workers = []
            for worker in plan.workers:
                workers.append(start_node(client, worker))
                log(f"worker {worker.name} started")
            nodes = wait_for_nodes(head, [head, *workers], 1 + len(workers), timeout_s)
            log(f"{len(nodes)} Ray nodes alive")
            return nodes
    except BaseException:
        with ignoring_stop_signals():
            tear_down(client, plan.project)
        raise


def require_name_resolution(client: docker.DockerClient, network: str) -> None:
    """Workers join the head by its container name: Docker's user-defined networks resolve names, Podman's
    only with its DNS plugin installed; refuse (the caller removes the network) rather than time out."""
    from curator_kit.core.findings import Code
    from curator_kit.engine.identity import engine_is_podman
    from curator_kit.engine.podman import NETWORK_DNS_FIX, network_resolves_names

    if engine_is_podman(client) and not network_resolves_names(client, network):
        raise CuratorKitError(
            f"Podman's network {network} resolves no container names, so the workers cannot find the head",
            f"{NETWORK_DNS_FIX}, then run `curator-kit cluster up` again",
            code=Code.PODMAN_NETWORK_DNS.value,
        )


def tear_down(client: docker.DockerClient, project: str) -> tuple[list[str], list[str]]:
    """Remove the cluster's containers (drivers included), then its networks; the names removed."""
    from docker.errors import APIError, NotFound

    containers: list[str] = []
    for container in cluster_containers(client, project):
        try:
            container.remove(force=True)
            containers.append(container.name)
        except NotFound:
            continue
        except APIError as error:
            if "already in progress" not in str(error):
                raise
    networks: list[str] = []
    for network in cluster_networks(client, project):
        try:
            network.reload()
            for attached in network.containers:  # attached by hand after `up`: let go, keep them
                network.disconnect(attached, force=True)
            network.remove()
            networks.append(network.name)
        except NotFound:
            continue
    return containers, networks
