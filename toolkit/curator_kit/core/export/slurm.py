"""`curator-kit export slurm` as a plan: an sbatch script for the project's image (pure).

The job is the cluster `cluster up` makes, on Slurm's nodes: a Ray head on the node that runs the
script, a worker on every other node (one `srun` step each), the image run by one of three
container runtimes, Xenna's Ray variables on every node, Ray token auth, the data and the model
cache on shared storage mounted at the paths the pipeline reads. A driver then joins as a node
of its own (`clusterplan.driver_script`), waits for every node, runs the pipeline `run` would run,
and leaves; on exit, failure or `scancel` the script tears every step and container down.

One script shape, three runtimes: `pyxis` (`srun --container-image`), `apptainer` (`apptainer
exec` on a pulled or built image) and `docker` (a Docker engine on every node). The pipeline's
shape comes from the image's own spec label (`spec.pipeline_spec`), as for `export kuberay`.
Every value reaches the script parsed (`slurmsyntax`, `parsers`) and shell-quoted.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from curator_kit.core.checks import export_findings
from curator_kit.core.cluster.clusterplan import (
    DRIVER_CPUS,
    MIN_NODE_CPUS,
    RAY_QUIET_ENV,
    XENNA_RAY_ENV,
    driver_script,
    object_store_bytes,
    ray_start_head,
    ray_start_worker,
)
from curator_kit.core.constants import (
    DRIVER_CAPABILITIES,
    FALLBACK_HOME,
    INPUT_DIR,
    MODEL_DIR_IN_IMAGE,
    NONROOT_USER,
    OUTPUT_DIR,
    PROJECT_DIR_IN_IMAGE,
)
from curator_kit.core.export.slurmsyntax import (
    DEFAULT_CPUS_PER_NODE,
    DEFAULT_JOIN_TIMEOUT,
    DEFAULT_LOG,
    MIN_JOIN_TIMEOUT,
    RUNTIMES,
    cluster_path,
    memory,
    partition_list,
    slurm_word,
    time_limit,
)
from curator_kit.core.findings import Code, Finding, notes_of, raise_refusals, warn, warnings_of
from curator_kit.core.parsers import ParseError, Ulimit, parse_image_reference
from curator_kit.core.pipeline.placement import Nodes, PipelineOptions, Placement, place
from curator_kit.core.pipeline.spec import (
    ExecutionChoice,
    gpu_export_warnings,
    pipeline_spec,
)
from curator_kit.core.run.runplan import SHM_MIN_BYTES, merge_ulimits
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from pathlib import Path

    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest

TEMPLATE = "slurm.sbatch.j2"
# Without --shared-dir the job's token goes here: home directories are on shared storage on
# virtually every cluster, and the script expands $HOME on the node, as the user who runs the job.
DEFAULT_SHARED_DIR = "$HOME/.curator-kit/slurm"
HEREDOC_END = "CURATOR_KIT_DRIVER"
# The driver takes stage work too (Xenna needs a CPU on each node), but little of it: a small store.
DRIVER_OBJECT_STORE = object_store_bytes(SHM_MIN_BYTES)

# Run in the driver after it joined: wait until every node (and the driver) is alive, then become
# the pipeline. Ray's own view of the cluster, with the job's token; no port is probed by hand.
WAIT_FOR_NODES = """\
import os, sys, time, ray
want, limit = int(sys.argv[1]), float(sys.argv[2])
ray.init(logging_level="ERROR")
deadline = time.monotonic() + limit
while (alive := sum(1 for node in ray.nodes() if node["Alive"])) < want:
    if time.monotonic() > deadline:
        sys.exit(f"error: {alive} of {want} Ray nodes joined in {limit:g} s")
    time.sleep(2)
print(f"all {alive} Ray nodes are up, the driver among them", flush=True)
ray.shutdown()
os.execvp(sys.argv[3], sys.argv[3:])"""


@dataclass(frozen=True)
class SlurmOptions:
    """The CLI's choices. Paths are on the cluster's shared storage, as every node sees them."""

    image: str  # the image reference whose labels give the pipeline (and which nodes pull)
    input_path: str
    output_path: str
    runtime: str = "pyxis"
    image_file: str | None = None  # a .sqsh (pyxis) or .sif (apptainer) on shared storage, instead of pulling
    nodes: int = 1
    cpus_per_node: int = DEFAULT_CPUS_PER_NODE
    gpus_per_node: int | None = None  # None: 1 when a stage or [clipping] needs a GPU, else 0
    mem_per_node: str | None = None
    partition: str | None = None
    account: str | None = None
    time: str | None = None
    job_name: str | None = None  # None: the project's name
    log: str = DEFAULT_LOG
    exclusive: bool = True
    model_cache: str | None = None
    shared_dir: str | None = None  # where the job writes its token; None: DEFAULT_SHARED_DIR
    auth_token_file: str | None = None  # a token file of the user's (0600) instead of one per job
    execution_mode: str | None = None
    ignore_failures: bool | None = None
    gpu_memory_gib: float | None = None
    ulimits: tuple[Ulimit, ...] = ()  # docker only: over runplan's memlock/stack defaults
    join_timeout: int = DEFAULT_JOIN_TIMEOUT


@dataclass(frozen=True)
class SlurmScript:
    text: str
    job_name: str
    log: str
    execution: ExecutionChoice
    findings: list[Finding] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What the user hears on stderr (requirements are written into the script's header instead)."""
        return [finding.message for finding in warnings_of(self.findings)]


def _parsed(parse: Callable[[str], str], value: str, option: str) -> str:
    """`value` by its Slurm parser, refused as the value of `option`."""
    try:
        return parse(value)
    except ParseError as error:
        raise error.at(option) from None


def node_image(options: SlurmOptions) -> str:
    """What the runtime loads on each node: the file given, else the image reference in its syntax."""
    if options.image_file is not None:
        return _parsed(cluster_path, options.image_file, "--image-file")
    reference = parse_image_reference(options.image)
    if options.runtime == "apptainer":
        return f"docker://{reference}"
    if options.runtime == "pyxis":
        # enroot's URI: [REGISTRY#]IMAGE[:TAG], no digest.
        if reference.digest:
            raise CuratorKitError(
                f"pyxis cannot pull {options.image} by digest",
                "pass an image with a tag, or --image-file with a squashfs made by `enroot import`",
            )
        name = f"{reference.registry}#{reference.repository}" if reference.registry else reference.repository
        return name + (f":{reference.tag}" if reference.tag else "")
    return str(reference)


def _check(options: SlurmOptions) -> None:
    if options.runtime not in RUNTIMES:
        raise CuratorKitError(f"runtime {options.runtime!r} is not supported", f"use one of {', '.join(RUNTIMES)}")
    if options.nodes < 1:
        raise CuratorKitError("a Slurm job needs at least one node", "pass --nodes 1 or more")
    if options.cpus_per_node < MIN_NODE_CPUS:
        raise CuratorKitError(
            "every Ray node needs at least 1 CPU for Xenna",
            "Xenna sizes the cluster with a 1-CPU task on each node; pass --cpus-per-node 1 or more",
        )
    if options.gpus_per_node is not None and options.gpus_per_node < 0:
        raise CuratorKitError("--gpus-per-node cannot be negative", "pass 0 or more")
    if options.join_timeout < MIN_JOIN_TIMEOUT:
        raise CuratorKitError(f"--join-timeout {options.join_timeout} is too short", f"at least {MIN_JOIN_TIMEOUT} s")
    if options.image_file is not None and options.runtime == "docker":
        raise CuratorKitError(
            "--image-file is for pyxis (a squashfs) or apptainer (a SIF)",
            "with --runtime docker every node runs the image from its engine: drop --image-file",
        )
    if options.ulimits and options.runtime != "docker":
        raise CuratorKitError(
            f"--ulimit is for --runtime docker; {options.runtime} runs steps with the limits Slurm gives them",
            "drop --ulimit (Slurm's PropagateResourceLimits decides them)",
        )
    if options.auth_token_file is not None and options.shared_dir is not None:
        raise CuratorKitError(
            "--shared-dir holds the token the job generates; --auth-token-file brings one of yours",
            "pass one of them",
        )


def _paths(options: SlurmOptions) -> dict[str, str | None]:
    """Every path the script names, parsed by the one rule for paths on the cluster."""
    given = {
        "input_dir": (options.input_path, "--input"),
        "output_dir": (options.output_path, "--output"),
        "model_cache": (options.model_cache, "--model-cache"),
        "shared_dir": (options.shared_dir, "--shared-dir"),
        "token_file": (options.auth_token_file, "--auth-token-file"),
        "image_file": (options.image_file, "--image-file"),
    }
    return {key: None if value is None else _parsed(cluster_path, value, what) for key, (value, what) in given.items()}


def _sbatch_directives(options: SlurmOptions, job_name: str, gpus: int) -> list[str]:
    directives = [
        f"--job-name={job_name}",
        f"--nodes={options.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={options.cpus_per_node}",
    ]
    if gpus:
        directives.append(f"--gres=gpu:{gpus}")
    if options.mem_per_node is not None:
        directives.append(f"--mem={_parsed(memory, options.mem_per_node, '--mem-per-node')}")
    if options.partition is not None:
        directives.append(f"--partition={_parsed(partition_list, options.partition, '--partition')}")
    if options.account is not None:
        directives.append(f"--account={_parsed(slurm_word, options.account, '--account')}")
    if options.time is not None:
        directives.append(f"--time={_parsed(time_limit, options.time, '--time')}")
    if options.exclusive:
        # Ray's head listens on fixed ports (GCS, dashboard, agent): one Ray per node.
        directives.append("--exclusive")
    directives.append(f"--output={_parsed(slurm_word, options.log, '--log')}")
    return directives


def _mounts(paths: Mapping[str, str | None]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) as the script writes them: sources are its variables."""
    mounts = [("$input_dir", INPUT_DIR, True), ("$output_dir", OUTPUT_DIR, False)]
    if paths["model_cache"]:
        # Stages download weights into CURATOR_KIT_MODEL_DIR once (setup_on_node) and every node reads them.
        mounts.append(("$model_cache", MODEL_DIR_IN_IMAGE, False))
    mounts += [("$token_dir", "$token_dir", True), ("$node_tmp", "/tmp", False)]
    return mounts


def _env(manifest: Manifest) -> list[tuple[str, str]]:
    env = {
        **XENNA_RAY_ENV,
        **RAY_QUIET_ENV,
        "NVIDIA_DRIVER_CAPABILITIES": DRIVER_CAPABILITIES,
        **{str(k): str(v) for k, v in manifest.run.env.items()},
    }
    return [(name, shlex.quote(value)) for name, value in env.items()]


def _driver(pipeline: list[str], nodes: int, join_timeout: int) -> str:
    """clusterplan's driver, whose pipeline first waits for every node (and the driver) to be alive."""
    waiting = ["python", "-c", WAIT_FOR_NODES, str(nodes + 1), str(join_timeout), *pipeline]
    script = driver_script(waiting, DRIVER_CPUS, 0, DRIVER_OBJECT_STORE)
    if HEREDOC_END in script.splitlines():  # cannot happen with parsed values; the heredoc would end early
        raise CuratorKitError("the driver script cannot be written into the job script", "please report this")
    return script


def _warnings(spec: PipelineSpec, options: SlurmOptions, gpus: int, labels: Mapping[str, str] | None) -> list[Finding]:
    warnings = gpu_export_warnings(spec, options.image, labels, gpus, options.gpu_memory_gib, "the driver's step")
    if options.auth_token_file is None and options.shared_dir is None:
        shared = (
            f"the job writes its Ray token under {DEFAULT_SHARED_DIR} on the nodes: every node must see that "
            "directory (a shared home); --shared-dir DIR names another"
        )
        warnings.append(warn(Code.RAY_TOKEN_ON_NODES, shared))
    return warnings


def _header(
    manifest: Manifest, options: SlurmOptions, node_image_text: str, placed: Placement, requires: list[str]
) -> list[str]:
    how = {
        "pyxis": "pyxis imports it on each node (`srun --container-image`); for many nodes or a large image, "
        "`enroot import` it once into a squashfs on shared storage and pass --image-file",
        "apptainer": "apptainer pulls it on each node; `apptainer build image.sif docker://...` once on shared "
        "storage and --image-file is faster",
        "docker": "every node's Docker engine must have it or be able to pull it (`curator-kit push --registry R`)",
    }[options.runtime]
    execution = placed.execution
    why = [f"{execution.mode}: {execution.reason}", *(f.message for f in notes_of(placed.findings))]
    lines = [
        f"Slurm job for curator-kit project {manifest.project.name}, written by `curator-kit export slurm`.",
        f"Runtime {options.runtime}, image {node_image_text}:",
        f"  {how}.",
        "Submit: sbatch FILE. The Ray head runs on the node that runs this script, a worker on each other node;",
        "every node gets Xenna's Ray variables, Ray token auth, and the input, output (and model cache) from",
        "shared storage at the same paths.",
        f"Execution {'; '.join(why)}.",
        *(f"Requires: {requirement}." for requirement in requires),
    ]
    # A comment ends at a line break; anything not printable is written escaped (values are parsed already).
    return ["".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line) for line in lines]


def render_script(
    manifest: Manifest,
    project_dir: Path,
    options: SlurmOptions,
    image_labels: Mapping[str, str] | None = None,
) -> SlurmScript:
    """The sbatch script for `options.image`, whose labels are `image_labels` (None: not read)."""
    _check(options)
    paths = _paths(options)
    warnings: list[Finding] = []
    spec = pipeline_spec(manifest, project_dir, options.image, image_labels, warnings)
    gpus = options.gpus_per_node if options.gpus_per_node is not None else int(bool(spec.gpu_stages))
    job_name = _parsed(slurm_word, options.job_name or manifest.project.name, "--job-name")
    run = manifest.run
    placed = place(
        spec,
        Nodes(
            cpus=(options.cpus_per_node,) * options.nodes,
            gpus=gpus > 0,
            gpu_memory_gib=options.gpu_memory_gib,
            gpu_option="--gpus-per-node 1",
        ),
        PipelineOptions(
            execution_mode=options.execution_mode or run.execution_mode,
            ignore_failures=run.ignore_failures if options.ignore_failures is None else options.ignore_failures,
        ),
    )
    findings = export_findings(
        manifest,
        spec,
        image=options.image,
        input_path=str(paths["input_dir"]),
        output_path=str(paths["output_dir"]),
        image_labels=image_labels,
        weights_at=f"--model-cache {paths['model_cache']}" if paths["model_cache"] else None,
        accept="pass --model-cache DIR, a directory of the shared storage that holds them",
    )
    raise_refusals([*findings, *placed.findings])  # nothing is written for a job that cannot work
    execution, pipeline = placed.execution, placed.command
    image_text = node_image(options)
    address = "ADDRESS"  # a placeholder for the head's address, which the script learns at run time
    worker = shlex.join(ray_start_worker(address, options.cpus_per_node, gpus, None))
    context = {
        "header": _header(manifest, options, image_text, placed, [f.message for f in notes_of(findings)]),
        "sbatch": _sbatch_directives(options, job_name, gpus),
        "runtime": options.runtime,
        "image": shlex.quote(image_text),
        "input_dir": shlex.quote(str(paths["input_dir"])),
        "output_dir": shlex.quote(str(paths["output_dir"])),
        "model_cache": shlex.quote(paths["model_cache"]) if paths["model_cache"] else None,
        "shared_dir": shlex.quote(paths["shared_dir"]) if paths["shared_dir"] else DEFAULT_SHARED_DIR,
        "token_file": shlex.quote(paths["token_file"]) if paths["token_file"] else None,
        "join_timeout": options.join_timeout,
        "env": _env(manifest),
        "mounts": _mounts(paths),
        "ulimits": [f"{n}={s}:{h}" for n, s, h in merge_ulimits(options.ulimits)],
        "workdir": PROJECT_DIR_IN_IMAGE,
        "driver_capabilities": DRIVER_CAPABILITIES,
        # docker runs the job's user (`id -u`), known only on the node: HOME is the one every uid can write
        # (runplan.container_home's answer for a user that may not own the image's home), USER the image's.
        "home": FALLBACK_HOME,
        "user": NONROOT_USER,
        "container_prefix": f"{manifest.project.name}-slurm",
        "nodes": options.nodes,
        "gpus_per_node": gpus,
        "head_command": shlex.join(ray_start_head(options.cpus_per_node, gpus, None)),
        "worker_command": worker.replace(f"--address={address}", '"--address=$ray_address"'),
        "driver": _driver(pipeline, options.nodes, options.join_timeout),
    }
    from curator_kit.core.project.templating import make_environment, render  # Jinja only when a script is made

    text = render(make_environment(), TEMPLATE, **context)
    found = [*warnings, *placed.findings, *findings, *_warnings(spec, options, gpus, image_labels)]
    return SlurmScript(text, job_name, options.log, execution, found)
