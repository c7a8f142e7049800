"""Ray clusters of containers as plans (pure data): `cluster up`, `run --cluster`, `run --ray-address`.

A local cluster is a user-defined Docker network with a head and N workers, every one a container
of the project's image made by `runplan.plan_run` (user, shm, ulimits and the memlock cap, GPU device
requests, manifest mounts and env), with `ray start --block` as its command. Input and output are
mounted into every node at the paths a run uses: Xenna places stage actors on any node, and the
writer stage writes outputs from whichever node it landed on.

The pipeline's driver runs in a container of its own. Ray connects a driver only through a raylet
on its own machine (`ray.init(address=...)` looks for a local raylet and fails with ConnectionError
when there is none), so the driver container first joins the cluster as a node (`ray start
--address`), then runs pipeline.py, then leaves (`ray stop`). Every node, the head and the driver's
included, offers at least one logical CPU: Xenna 0.2.0 sizes the cluster by running a 1-CPU task
pinned to each node, which cannot be scheduled on a node with `--num-cpus 0`.

Environment variables Xenna needs of a Ray cluster (cosmos_xenna.ray_utils.cluster): it sets them
itself only when it starts a local Ray; a cluster started by anyone else must have them in every
node's `ray start` environment. `XENNA_RAY_ENV` is that set.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator_kit.core.constants import (
    LABEL_CLUSTER,
    LABEL_CLUSTER_CODE,
    LABEL_INPUT,
    LABEL_NETWORK,
    LABEL_NODE_SHM,
    LABEL_OBJECT_STORE,
    LABEL_OUTPUT,
    LABEL_PROJECT,
    LABEL_RAY_AUTH,
    LABEL_RAY_CPUS,
    LABEL_RAY_GPUS,
    LABEL_ROLE,
    LABEL_RUN_ID,
    MODE_BATCH,
    RAY_TOKEN_IN_CONTAINER,
)
from curator_kit.core.findings import Code, Finding, note, notes_of, refuse, unique
from curator_kit.core.parsers import Mount, Ulimit
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest
from curator_kit.core.pipeline.modelweights import WeightsFacts, weights_findings
from curator_kit.core.pipeline.placement import Nodes, PipelineOptions, place
from curator_kit.core.project.state import RAY_TOKEN, record_path
from curator_kit.core.run.runplan import (
    SHM_MIN_BYTES,
    ContainerPlan,
    HostFacts,
    RunOptions,
    default_shm_bytes,
    plan_run,
)
from curator_kit.core.sizes import gib as _gib
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.pipeline.devices import HostGpu
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.run.preflight import EngineFacts

# What cosmos-xenna 0.2.0 sets before it starts a Ray of its own (ray_utils/cluster.py), and so what
# every node of a cluster it joins must be started with:
XENNA_RAY_ENV: dict[str, str] = {
    # Xenna assigns GPUs to its actors itself; without this Ray overwrites CUDA_VISIBLE_DEVICES and a
    # GPU stage's actor finds no GPU ("the ray cluster was not started with ...", stage_worker.py).
    "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1",
    # Xenna's monitoring lists actors through Ray's state API; Ray's default caps lists at 10,000.
    "RAY_MAX_LIMIT_FROM_API_SERVER": "40000",
    "RAY_MAX_LIMIT_FROM_DATA_SOURCE": "40000",
}
# Ours, not Xenna's: nodes that cannot reach the internet should not try to report usage.
RAY_QUIET_ENV: dict[str, str] = {"RAY_USAGE_STATS_ENABLED": "0"}
# Ray 2.60's token authentication: the GCS, raylets and the dashboard (its job API included) refuse a
# caller without the token. The environment names the file, never the token; the file is mounted read-only.
RAY_AUTH_ENV: dict[str, str] = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": RAY_TOKEN_IN_CONTAINER}
# How a cluster's nodes get a mount (`cluster up` has no --mount): a [run] mounts entry of the manifest.
MOUNTS_ENTRY = "a [run] mounts entry"
# A node's /dev/shm findings: the cluster says its own (one size for every node), a driver its cluster's.
SHM_CODES = frozenset({Code.SHM_DEFAULT, Code.SHM_SMALL})

RAY_PORT = 6379  # the head's GCS
DASHBOARD_PORT = 8265  # dashboard and state API (`ray list nodes`), published on the host's loopback
MIN_NODE_CPUS = 1  # Xenna's per-node probe is a 1-CPU task
HEAD_CPUS = 1
DRIVER_CPUS = 1
# Each node's object store lives in its /dev/shm; a store larger than the free shm sends Ray to /tmp.
OBJECT_STORE_FRACTION = 0.8
MIN_NODE_SHM_BYTES = 256 * 2**20  # Ray refuses object stores under 75 MiB; leave room for the rest

ROLES = ("head", "worker", "driver")


@dataclass
class NetworkedContainerPlan(ContainerPlan):
    """A ContainerPlan on a Docker network (or the host's), optionally detached and publishing ports."""

    network: str | None = None  # a user-defined network, by name
    network_mode: str | None = None  # "host": the host's network stack (an external cluster)
    hostname: str | None = None
    published: dict[int, str] = field(default_factory=dict)  # container port -> host address (port chosen by docker)
    detach: bool = False

    def create_kwargs(self) -> dict[str, Any]:
        kwargs = super().create_kwargs()
        if self.network:
            kwargs["network"] = self.network
        if self.network_mode:
            kwargs["network_mode"] = self.network_mode
        if self.hostname:
            kwargs["hostname"] = self.hostname
        if self.published:
            kwargs["ports"] = {f"{port}/tcp": (address, None) for port, address in self.published.items()}
        return kwargs

    def lifetime_flags(self) -> list[str]:
        return ["-d"] if self.detach else super().lifetime_flags()  # a detached node is never --rm'd by the engine

    def network_flags(self) -> list[str]:
        flags: list[str] = []
        if self.network or self.network_mode:
            flags += ["--network", self.network or str(self.network_mode)]
        if self.hostname:
            flags += ["--hostname", self.hostname]
        for port, address in self.published.items():
            flags += ["--publish", f"{address}::{port}"]
        return flags

    def describe(self) -> list[str]:
        lines = super().describe()
        where = self.network or (f"{self.network_mode} network" if self.network_mode else "default bridge")
        lines.insert(2, f"network    {where}" + (f", hostname {self.hostname}" if self.hostname else ""))
        return lines


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterOptions:
    input_dir: Path
    output_dir: Path
    image: str
    workers: int = 2
    cpus_per_worker: int | None = None  # None: the cores left by head and driver, shared out, at least 1
    # parsers.parse_gpus_per_worker: no GPU, count -1 (every worker sees all) or N (distinct GPUs per worker)
    gpus_per_worker: GpuRequest = NO_GPU
    head_cpus: int = HEAD_CPUS
    shm_size: int | None = None  # bytes per node; None: sized from host memory and node count
    env: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    cluster_id: str | None = None
    allow_host_mount: bool = False
    weights: WeightsFacts | None = None  # every node mounts the same weights cache (ops.modelcache)
    # `--mount-code`: the project's code over the image's copy on every node (core.run.codemount); a driver
    # of `run --cluster` then mounts it too, so nodes and driver run the same code.
    code_mounts: tuple[Mount, ...] = ()
    image_home: str | None = None  # the image's ENV HOME (runplan.container_home), as ops reads it


def cluster_name(project: str) -> str:
    """One cluster per project; containers and the network are named after it."""
    return project


def network_name(project: str) -> str:
    return f"{cluster_name(project)}-ray"


def head_name(project: str) -> str:
    return f"{cluster_name(project)}-ray-head"


def worker_name(project: str, index: int) -> str:
    return f"{cluster_name(project)}-ray-worker-{index}"


def driver_name(project: str, run_id: str) -> str:
    return f"{cluster_name(project)}-ray-driver-{run_id}"


def worker_gpus(per_worker: GpuRequest, workers: int) -> list[GpuRequest]:
    """Each worker's GPUs: none, all (every worker sees every GPU) or N (worker i gets GPUs i*N..i*N+N-1)."""
    if per_worker.device_ids or per_worker.count in (0, -1):
        return [per_worker] * workers
    count = per_worker.count
    return [GpuRequest(device_ids=tuple(str(i * count + k) for k in range(count))) for i in range(workers)]


def ray_gpus(request: GpuRequest) -> int | None:
    """`ray start --num-gpus`: 0 without GPUs, the count when known, None (Ray detects) for all."""
    if not request.wanted:
        return 0
    if request.device_ids:
        return len(request.device_ids)
    return None if request.count == -1 else request.count


def node_shm_bytes(host: HostFacts, nodes: int, shm_size: int | None) -> int:
    """One node's /dev/shm: the single-container default shared by the nodes on this host (a driver
    included), at least 2 GiB, whole MiB."""
    if shm_size:
        if shm_size < MIN_NODE_SHM_BYTES:
            raise CuratorKitError(
                f"--shm-size {shm_size // 2**20} MiB is too small for a Ray node's object store",
                f"give each node at least {MIN_NODE_SHM_BYTES // 2**20} MiB",
            )
        return shm_size
    share = default_shm_bytes(host.memory_bytes) // max(nodes, 1)
    return max(share, SHM_MIN_BYTES) // 2**20 * 2**20


def token_file(project_dir: Path) -> Path:
    """Where the project's cluster keeps its Ray token on the host (the state directory, mode 0600)."""
    return record_path(project_dir, RAY_TOKEN)


def token_mount(path: Path) -> Mount:
    return Mount(str(path.resolve()), RAY_TOKEN_IN_CONTAINER, read_only=True)


def object_store_bytes(shm_bytes: int) -> int:
    return int(shm_bytes * OBJECT_STORE_FRACTION) // 2**20 * 2**20


def ray_start_head(cpus: int, gpus: int | None, store: int) -> list[str]:
    argv = ["ray", "start", "--head", "--block", f"--port={RAY_PORT}"]
    argv += ["--dashboard-host=0.0.0.0", f"--dashboard-port={DASHBOARD_PORT}"]
    return [*argv, *_node_resources(cpus, gpus, store)]


def ray_start_worker(address: str, cpus: int, gpus: int | None, store: int) -> list[str]:
    return ["ray", "start", "--block", f"--address={address}", *_node_resources(cpus, gpus, store)]


def _node_resources(cpus: int, gpus: int | None, store: int | None) -> list[str]:
    argv = [f"--num-cpus={cpus}"]
    if gpus is not None:
        argv.append(f"--num-gpus={gpus}")
    if store is not None:
        argv.append(f"--object-store-memory={store}")
    return [*argv, "--disable-usage-stats"]


# --- the cluster ------------------------------------------------------------------------------


@dataclass
class ClusterPlan:
    project: str
    network: str
    labels: dict[str, str]  # on the network and every node
    head: NetworkedContainerPlan
    workers: list[NetworkedContainerPlan]
    node_shm_bytes: int
    object_store_bytes: int
    token_file: Path  # the Ray token, written by `cluster up` just before the nodes start
    findings: list[Finding] = field(default_factory=list)

    @property
    def nodes(self) -> list[NetworkedContainerPlan]:
        return [self.head, *self.workers]

    @property
    def node_cpus(self) -> list[int]:
        return [int(node.labels[LABEL_RAY_CPUS]) for node in self.nodes]

    def describe(self) -> list[str]:
        lines = [
            f"cluster    {self.project}: head + {len(self.workers)} worker(s) on network {self.network}",
            f"image      {self.head.image}",
            f"ray        {self.project}-ray-head:{RAY_PORT}; logical CPUs per node {self.node_cpus}",
            f"shm        {_gib(self.node_shm_bytes)} per node, object store {_gib(self.object_store_bytes)}",
            f"user       {self.head.user_line()}",
            f"env        {' '.join(f'{k}={v}' for k, v in XENNA_RAY_ENV.items())}",
            f"auth       Ray token authentication: a new token in {self.token_file} (mode 0600), "
            f"mounted read-only at {RAY_TOKEN_IN_CONTAINER}",
        ]
        for node in self.nodes:
            gpus = node.gpus.describe() + node.gpu_route()
            lines.append(f"node       {node.name}: {node.labels[LABEL_RAY_CPUS]} CPU, {gpus}")
        lines += [
            f"mount      {m.source} -> {m.target} ({'read-only' if m.read_only else 'writable'})"
            for m in self.head.mounts
        ]
        lines += [f"note       {finding.message}" for finding in notes_of(self.findings)]  # warnings: the gate
        return lines

    def docker_lines(self) -> list[str]:
        """The `docker` commands that would make the same cluster."""
        labels = [part for key, value in self.labels.items() for part in ("--label", f"{key}={value}")]
        lines = [shlex.join(["docker", "network", "create", *labels, self.network])]
        return [*lines, *(node.docker_run_line() for node in self.nodes)]


def plan_cluster(
    manifest: Manifest, spec: PipelineSpec, project_dir: Path, options: ClusterOptions, host: HostFacts
) -> ClusterPlan:
    """The network and containers `curator-kit cluster up` would make, computed without the engine."""
    if options.workers < 1:
        raise CuratorKitError("a cluster needs at least one worker", "pass --workers 1 or more")
    if options.head_cpus < MIN_NODE_CPUS or (options.cpus_per_worker is not None and options.cpus_per_worker < 1):
        raise CuratorKitError(
            "every Ray node needs at least 1 logical CPU for Xenna",
            "Xenna sizes the cluster with a 1-CPU task on each node; a node with --num-cpus 0 fails it",
        )
    project = manifest.project.name
    cluster_id = options.cluster_id or uuid.uuid4().hex[:12]
    # The cores left after the head and a driver, shared out; at least 1 (Ray's CPUs are logical)
    cpus = options.cpus_per_worker or max(1, (host.cpus - options.head_cpus - DRIVER_CPUS) // options.workers)
    gpus = worker_gpus(options.gpus_per_worker, options.workers)
    shm = node_shm_bytes(host, options.workers + 2, options.shm_size)  # + head + one driver
    store = object_store_bytes(shm)
    network = network_name(project)
    head_host = head_name(project)
    token = token_file(project_dir)
    common = {
        LABEL_PROJECT: project,
        LABEL_CLUSTER: cluster_name(project),
        LABEL_RUN_ID: cluster_id,
        LABEL_NETWORK: network,
        LABEL_INPUT: str(options.input_dir.resolve()),
        LABEL_OUTPUT: str(options.output_dir.resolve()),
        LABEL_NODE_SHM: str(shm),
        LABEL_OBJECT_STORE: str(store),
        LABEL_RAY_AUTH: "token",
    }
    if options.code_mounts:
        common[LABEL_CLUSTER_CODE] = "mounted"

    def node(name: str, role: str, command: list[str], node_cpus: int, request: GpuRequest) -> NetworkedContainerPlan:
        run_options = RunOptions(
            input_dir=options.input_dir,
            output_dir=options.output_dir,
            image=options.image,
            gpus=request,
            shm_size=shm,
            env=options.env,
            ulimits=options.ulimits,
            execution_mode=MODE_BATCH,  # nodes run no pipeline; this only keeps plan_run from judging streaming
            command=tuple(command),
            run_id=cluster_id,
            allow_host_mount=options.allow_host_mount,
            weights=options.weights,
            code_mounts=options.code_mounts,
            image_home=options.image_home,
        )
        plan = plan_run(manifest, spec, project_dir, run_options, host)
        given = ray_gpus(request)
        labels = {**common, LABEL_ROLE: role, LABEL_RAY_CPUS: str(node_cpus)}
        labels[LABEL_RAY_GPUS] = "all" if given is None else str(given)
        return _networked(
            plan,
            name=name,
            labels=labels,
            env={**plan.env, **XENNA_RAY_ENV, **RAY_QUIET_ENV, **RAY_AUTH_ENV},
            mounts=[*plan.mounts, token_mount(token)],
            network=network,
            hostname=name,
            detach=True,
            findings=[f for f in plan.findings if f.code not in SHM_CODES],
        )

    head = node(head_host, "head", ray_start_head(options.head_cpus, 0, store), options.head_cpus, GpuRequest())
    head.published = {DASHBOARD_PORT: "127.0.0.1"}
    address = f"{head_host}:{RAY_PORT}"
    workers = [
        node(worker_name(project, i + 1), "worker", ray_start_worker(address, cpus, ray_gpus(g), store), cpus, g)
        for i, g in enumerate(gpus)
    ]
    findings = unique(f for node in (head, *workers) for f in node.findings)
    # The stages the cluster's drivers will run, placed on its nodes: a GPU stage on workers without GPUs
    # is refused here, before anything starts, as `run` refuses it on a host.
    placement = place(
        spec,
        Nodes(
            cpus=(options.head_cpus, *(cpus for _ in workers), DRIVER_CPUS),
            gpus=any(g.wanted for g in gpus),
            gpu_option="--gpus-per-worker 1 (or all)",
        ),
        PipelineOptions(execution_mode=manifest.run.execution_mode, ignore_failures=manifest.run.ignore_failures),
    )
    findings += [f for f in placement.findings if f.code is Code.GPU_STAGE_WITHOUT_GPU]
    if options.weights is not None:  # the nodes mount the host's cache: the drivers' runs would find none
        findings += weights_findings(manifest, spec, options.weights)
    if options.shm_size is None:
        shared = f"the one-container default ({_gib(default_shm_bytes(host.memory_bytes))})"
        why = f"shared by {options.workers + 2} nodes (head, workers, a driver) on one host; --shm-size to change"
        findings.append(note(Code.SHM_DEFAULT, f"/dev/shm {_gib(shm)} per node: {shared} {why}"))
    if cpus * options.workers + options.head_cpus + DRIVER_CPUS > host.cpus:
        total = cpus * options.workers + options.head_cpus + DRIVER_CPUS
        why = f"{host.cpus} cores: Ray schedules by logical CPUs, so the nodes share the cores"
        findings.append(note(Code.CPUS_OVERCOMMITTED, f"{total} logical CPUs (with a driver) on {why}"))
    if options.gpus_per_worker.count == -1 and options.workers > 1:
        why = "--gpus-per-worker all: every worker sees every GPU, so Ray counts each GPU once per worker"
        findings.append(note(Code.GPUS_SHARED_BY_WORKERS, why))
    nodes = options.workers + 2
    if shm * nodes > host.memory_bytes:
        findings.append(
            note(
                Code.SHM_OVER_MEMORY,
                f"{nodes} nodes x {_gib(shm)} /dev/shm is more than the {_gib(host.memory_bytes)} of memory on "
                f"{host.source}: object stores that fill up will swap or be OOM-killed; a smaller --shm-size avoids it",
            )
        )
    return ClusterPlan(project, network, dict(common), head, workers, shm, store, token, findings)


def _networked(plan: ContainerPlan, **changes: Any) -> NetworkedContainerPlan:
    own = {"network", "network_mode", "hostname", "published", "detach"}
    base = {name: value for name, value in changes.items() if name not in own}
    fields = {f: getattr(plan, f) for f in plan.__dataclass_fields__}
    return NetworkedContainerPlan(**{**fields, **base}, **{k: v for k, v in changes.items() if k in own})


# --- a running cluster, from its labels -------------------------------------------------------


@dataclass(frozen=True)
class ClusterInfo:
    """What `run --cluster` needs of a cluster that is up, read from its containers' labels."""

    project: str
    network: str
    head: str  # container name = hostname on the network
    input_dir: Path
    output_dir: Path
    node_shm_bytes: int
    object_store_bytes: int
    node_cpus: tuple[int, ...]  # head and workers
    image_id: str
    auth: bool = False  # started with Ray token authentication (every cluster since curator-kit had it)
    code_mounted: bool = False  # `cluster up --mount-code`: the nodes run the working tree's code
    has_gpus: bool | None = None  # a node was started with GPUs (None: its labels do not say)

    @property
    def ray_address(self) -> str:
        return f"{self.head}:{RAY_PORT}"


def cluster_info(
    head_labels: dict[str, str], head: str, image_id: str, node_labels: list[dict[str, str]]
) -> ClusterInfo:
    try:
        return ClusterInfo(
            project=head_labels[LABEL_PROJECT],
            network=head_labels[LABEL_NETWORK],
            head=head,
            input_dir=Path(head_labels[LABEL_INPUT]),
            output_dir=Path(head_labels[LABEL_OUTPUT]),
            node_shm_bytes=int(head_labels[LABEL_NODE_SHM]),
            object_store_bytes=int(head_labels[LABEL_OBJECT_STORE]),
            node_cpus=tuple(int(labels[LABEL_RAY_CPUS]) for labels in node_labels),
            image_id=image_id,
            auth=head_labels.get(LABEL_RAY_AUTH) == "token",
            code_mounted=head_labels.get(LABEL_CLUSTER_CODE) == "mounted",
            has_gpus=_has_gpus(node_labels),
        )
    except (KeyError, ValueError) as error:
        raise CuratorKitError(
            f"the cluster's head container {head} lacks curator-kit's labels ({error})",
            "recreate it: `curator-kit cluster down && curator-kit cluster up`",
        ) from None


def _has_gpus(node_labels: list[dict[str, str]]) -> bool | None:
    given = [labels.get(LABEL_RAY_GPUS) for labels in node_labels]
    if any(value is None for value in given):
        return None
    return any(value != "0" for value in given)


# --- the driver -------------------------------------------------------------------------------

_ADDRESS_RE = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?$")


def parse_ray_address(text: str) -> str:
    """`--ray-address`: the head's GCS as host[:port] (port 6379 by default), as `ray start --address` takes it."""
    value = text.strip()
    if value.startswith("ray://"):
        raise CuratorKitError(
            f"--ray-address {text} is a Ray Client address",
            f"give the head's GCS address instead, e.g. {value[6:].split(':')[0]}:{RAY_PORT}: Xenna needs a driver "
            "with a raylet of its own, which Ray Client does not give",
        )
    if value.startswith(("http://", "https://")):
        raise CuratorKitError(
            f"--ray-address {text} is a dashboard (job submission) address",
            f"give the head's GCS address, host:{RAY_PORT}",
        )
    match = _ADDRESS_RE.match(value)
    if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        raise CuratorKitError(f"--ray-address {text!r} is not host[:port]", f"e.g. 10.0.0.5:{RAY_PORT}")
    return value if match.group("port") else f"{value}:{RAY_PORT}"


def driver_script(pipeline: list[str], cpus: int, gpus: int | None, store: int | None) -> str:
    """The driver container's command: join the cluster as a node, run the pipeline, leave.

    The pipeline runs in the background so a SIGTERM from `docker stop` (through the init process)
    reaches it, and `ray stop` runs whatever happened: a node that just disappears is marked dead
    only after missed heartbeats and stays in the cluster's list as a failure.
    """
    join = 'ray start "--address=$RAY_ADDRESS" ' + shlex.join(_node_resources(cpus, gpus, store))
    return "\n".join(
        [
            f"{join} >/tmp/ray-join.log 2>&1 || {{ code=$?; cat /tmp/ray-join.log >&2; exit $code; }}",
            f'echo "joined the Ray cluster at $RAY_ADDRESS as a node with {cpus} CPU"',
            f"{shlex.join(pipeline)} &",
            "child=$!",
            'stop() { kill -TERM "$child" 2>/dev/null; }',
            "trap stop TERM INT",
            'while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done',
            "ray stop >/dev/null 2>&1",
            "exit $code",
        ]
    )


@dataclass(frozen=True)
class RayTarget:
    """Where the driver goes: a local cluster (by its info) or an external one (by address)."""

    address: str
    cluster: ClusterInfo | None = None
    network: str | None = None  # an external cluster: a Docker network, or None for the host's
    token_file: Path | None = None  # the cluster's Ray token (a local cluster's own, or --ray-token-file)


def plan_ray_run(
    manifest: Manifest,
    spec: PipelineSpec,
    project_dir: Path,
    options: RunOptions,
    host: HostFacts,
    target: RayTarget,
) -> NetworkedContainerPlan:
    """The driver container of `run --cluster` / `run --ray-address`: the run's container plan, with the
    stages placed on the cluster's nodes instead of this host."""
    cluster = target.cluster
    if cluster is not None:
        options = replace(options, input_dir=cluster.input_dir, output_dir=cluster.output_dir, image=cluster.image_id)
        if options.gpus is not None and options.gpus.wanted:
            raise CuratorKitError(
                "--gpus with --cluster: the cluster's workers hold the GPUs",
                "give them at `curator-kit cluster up --gpus-per-worker N`",
            )
        options = replace(options, gpus=NO_GPU, shm_size=options.shm_size or cluster.node_shm_bytes)
        # A local cluster's workers use this host's GPUs, so memory-sized stages are sized for those.
        cards = [gpu.memory_mib / 1024 for gpu in host.gpus]
        nodes = Nodes(
            cpus=(*cluster.node_cpus, DRIVER_CPUS),
            gpus=cluster.has_gpus,
            gpu_memory_gib=min(cards) if cards else None,
            gpu_option="`cluster up --gpus-per-worker 1` (cluster down first)",
        )
    else:
        # Other machines run stage actors that read the input and write the output: the pipeline gets
        # paths every node can see (a shared filesystem mounted at the same path). Their sizes and GPUs
        # are not known here (the driver has no GPU: Curator would size memory-sized stages for 24 GB).
        options = replace(options, same_paths=True)
        nodes = Nodes(cpus=None)
    base = plan_run(manifest, spec, project_dir, options, host, nodes)
    mounts = list(base.mounts)
    auth_env: dict[str, str] = {}
    if target.token_file is not None:
        mounts.append(token_mount(target.token_file))
        auth_env = RAY_AUTH_ENV
    store = cluster.object_store_bytes if cluster is not None else None
    script = driver_script(base.command, DRIVER_CPUS, ray_gpus(base.gpus), store)
    project = manifest.project.name
    labels = {LABEL_PROJECT: project, LABEL_RUN_ID: base.run_id, LABEL_ROLE: "driver"}
    if cluster is not None:
        labels[LABEL_CLUSTER] = cluster_name(project)
    network_mode = None if cluster is not None or target.network else "host"
    # A local cluster's driver gets the node size of /dev/shm: the cluster said it at `cluster up`.
    findings = [f for f in base.findings if cluster is None or f.code not in SHM_CODES]
    joins = f"the driver joins the cluster at {target.address} as a node with {DRIVER_CPUS} CPU, then leaves"
    findings.append(note(Code.DRIVER_JOINS, joins))
    if cluster is None:
        shared = "input and output keep their paths: every node of the cluster must see them there"
        findings.append(note(Code.PATHS_SHARED, shared))
    if target.token_file is not None:
        findings.append(
            note(Code.RAY_AUTH, f"Ray token authentication: the token in {target.token_file}, mounted read-only")
        )
    elif cluster is not None:
        why = "the cluster was started without Ray token authentication: `cluster down` and `cluster up`"
        findings.append(note(Code.RAY_NO_AUTH, why))
    return _networked(
        base,
        command=["sh", "-c", script],
        name=driver_name(project, base.run_id),
        labels=labels,
        mounts=mounts,
        env={**base.env, **XENNA_RAY_ENV, **RAY_QUIET_ENV, **auth_env, "RAY_ADDRESS": target.address},
        network=cluster.network if cluster is not None else target.network,
        network_mode=network_mode,
        hostname=None if network_mode == "host" else driver_name(project, base.run_id),
        stages_here=False,
        findings=findings,
    )


# --- `ray list nodes` ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RayNode:
    node_id: str
    ip: str
    alive: bool
    head: bool
    cpus: float
    gpus: float
    message: str = ""


def parse_ray_nodes(text: str) -> list[RayNode]:
    """`ray list nodes --format json` (Ray's state API, run in the head)."""
    try:
        rows = json.loads(text[text.index("[") :]) if "[" in text else []
    except ValueError:
        return []
    nodes = []
    for row in rows:
        resources = row.get("resources_total") or {}
        nodes.append(
            RayNode(
                node_id=str(row.get("node_id", "")),
                ip=str(row.get("node_ip", "")),
                alive=row.get("state") == "ALIVE",
                head=bool(row.get("is_head_node")),
                cpus=float(resources.get("CPU", 0) or 0),
                gpus=float(resources.get("GPU", 0) or 0),
                message=str(row.get("state_message") or ""),
            )
        )
    return nodes


# --- checks before `cluster up` --------------------------------------------------------------


def judge_cluster(plan: ClusterPlan, engine: EngineFacts, host_gpus: list[HostGpu]) -> list[Finding]:
    """`run`'s preflight, asked of each worker as if it ran the pipeline's stages: NVIDIA support in the
    engine, the codec engines of each worker's GPUs, built-in weights; plus GPUs the host lacks. (GPU
    stages on workers without GPUs are the plan's own finding: `plan_cluster` placed the stages.)"""
    from curator_kit.core.run.preflight import judge

    findings: list[Finding] = []
    for worker in plan.workers:
        probe = replace(worker, runs_pipeline=True)
        findings += judge(probe, engine, host_gpus, select_gpus="--gpus-per-worker", mount_option=MOUNTS_ENTRY)
    ids = [int(i) for w in plan.workers for i in w.gpus.device_ids if i.isdigit()]
    if ids and host_gpus and engine.local and max(ids) >= len(host_gpus):
        per = len(plan.workers[0].gpus.device_ids)
        findings.append(
            refuse(
                Code.GPUS_BEYOND_HOST,
                f"{len(plan.workers)} workers x {per} GPU(s) need GPUs 0-{max(ids)}, "
                f"but this host has {len(host_gpus)}",
                "pass fewer --workers or a smaller --gpus-per-worker",
            )
        )
    return unique(findings)
