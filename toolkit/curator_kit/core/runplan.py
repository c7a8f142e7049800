"""`curator-kit run` as a plan: manifest + options + host facts -> ContainerPlan (pure data).

The plan renders to docker-py `containers.create()` keyword arguments and to the equivalent
`docker run` line; `engine.containers` executes it, `preflight` judges it.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator_kit.core.constants import (
    INPUT_DIR,
    LABEL_PROJECT,
    LABEL_RUN_ID,
    OUTPUT_DIR,
    PIPELINE_IN_IMAGE,
    PROJECT_DIR_IN_IMAGE,
)
from curator_kit.core.devices import DRIVER_CAPABILITIES, GpuRequest, parse_gpus
from curator_kit.core.manifest import EXECUTION_MODES
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.manifest import ClippingSettings, Manifest, StageSpec

CONTAINER_HOME = "/tmp"  # an arbitrary --user has no home in the image; Ray and torch write caches there

# Ray falls back to /tmp unless /dev/shm holds its object store: 30% of available memory, and it
# suggests 1.1x that. 35% of total RAM covers both; the store is capped at 200 GB, so shm at 220 GB.
SHM_FRACTION = 0.35
SHM_MIN_BYTES = 2 * 2**30
SHM_MAX_BYTES = 220 * 10**9
# Ray and PyTorch DataLoader workers pin memory and recurse deeply.
ULIMITS: tuple[tuple[str, int, int], ...] = (("memlock", -1, -1), ("stack", 67108864, 67108864))

# Curator's XennaExecutor default; Xenna allocates int(cores x this) CPUs to a node.
STREAMING_CPU_ALLOCATION = 0.95
# Batch runs one stage at a time, so it may use every core (what ran on the 2-core CI host).
BATCH_CPU_ALLOCATION = 1.0
# The Curator stages the generated pipeline puts around the project's own, with the cpus their
# Resources have in nemo-curator 1.4.0: VideoReader decomposes into the two leading ones.
LEADING_STAGES: tuple[tuple[str, float], ...] = (("FilePartitioningStage", 0.5), ("VideoReaderStage", 1.0))
TRAILING_STAGES: tuple[tuple[str, float], ...] = (("ClipWriterStage", 0.25),)
# [clipping] method = "fixed-stride" puts these between VideoReader and the project's stages.
# FixedStrideExtractorStage keeps ProcessingStage's default Resources(cpus=1.0); ClipTranscodingStage
# asks num_cpus_per_worker (= encoder_cpus) with a CPU encoder, and Resources(gpus=1/3), whose cpus
# default to 1.0, with h264_nvenc.
FIXED_STRIDE_CPUS = 1.0
GPU_TRANSCODER_CPUS = 1.0


@dataclass(frozen=True)
class HostFacts:
    """What the plan needs to know about the machine the engine runs on, and who runs curator-kit."""

    cpus: int
    memory_bytes: int
    uid: int
    gid: int
    source: str = "this host"
    memlock_cap: int | None = None  # dockerd's own memlock limit when it cannot grant more (dockerd_limits)

    @classmethod
    def local(cls) -> HostFacts:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        uid, gid = os.getuid(), os.getgid()
        if uid == 0 and os.environ.get("SUDO_UID", "").isdigit() and os.environ.get("SUDO_GID", "").isdigit():
            uid, gid = int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])  # `sudo curator-kit run`
        from curator_kit.ops.dockerd_limits import local_memlock_cap

        return cls(os.cpu_count() or 1, memory, uid, gid, memlock_cap=local_memlock_cap())

    @classmethod
    def from_engine_info(cls, info: dict[str, Any]) -> HostFacts:
        """The engine's own view (NCPU, MemTotal): right even when DOCKER_HOST is another machine."""
        local = cls.local()
        return cls(
            int(info.get("NCPU") or local.cpus),
            int(info.get("MemTotal") or local.memory_bytes),
            local.uid,
            local.gid,
            source="the Docker engine",
            memlock_cap=local.memlock_cap,
        )


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    def mount_flag(self) -> str:
        # --mount, not -v: like the SDK's Mounts it refuses a missing source instead of creating it as root.
        return f"type=bind,source={self.source},target={self.target}" + (",readonly" if self.read_only else "")


@dataclass(frozen=True)
class ExecutionChoice:
    """Xenna's execution mode and why: streaming needs every stage's cpus at once."""

    mode: str
    cpu_allocation: float
    required_cpus: float
    streaming_cpus: int  # floor(STREAMING_CPU_ALLOCATION x cores)
    fits_streaming: bool
    reason: str


@dataclass(frozen=True)
class RunOptions:
    """The CLI's choices; None = the manifest's [run] default."""

    input_dir: Path
    output_dir: Path
    image: str
    gpus: str | None = None
    runtime: str | None = None
    shm_size: str | None = None
    ipc: str | None = None
    env: tuple[str, ...] = ()
    ulimits: tuple[str, ...] = ()  # docker syntax, NAME=SOFT[:HARD]; replaces a default of that name
    execution_mode: str | None = None
    ignore_failures: bool | None = None
    command: tuple[str, ...] | None = None  # instead of the project's pipeline (debugging, tests)
    run_id: str | None = None


@dataclass
class ContainerPlan:
    image: str
    command: list[str]
    name: str
    mounts: list[Mount]
    env: dict[str, str]
    user: str
    labels: dict[str, str]
    gpus: GpuRequest
    runtime: str | None
    shm_size_bytes: int | None  # None with --ipc host: the host's /dev/shm is shared
    ipc_mode: str | None
    execution: ExecutionChoice
    runs_pipeline: bool = True  # False with a --command override
    clipping: ClippingSettings | None = None  # the manifest's [clipping]; None = no clipping stages
    executor: str = "xenna"  # the generated pipeline.py runs XennaExecutor
    working_dir: str = PROJECT_DIR_IN_IMAGE
    init: bool = True
    ulimits: tuple[tuple[str, int, int], ...] = ULIMITS
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.labels[LABEL_RUN_ID]

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py `client.containers.create()`; docker types built here, lazily."""
        from docker.types import Mount as DockerMount
        from docker.types import Ulimit

        from curator_kit.core.devices import build_device_request

        kwargs: dict[str, Any] = {
            "image": self.image,
            "command": self.command,
            "name": self.name,
            "environment": dict(self.env),
            "user": self.user,
            "working_dir": self.working_dir,
            "labels": dict(self.labels),
            "init": self.init,
            "ulimits": [Ulimit(name=n, soft=s, hard=h) for n, s, h in self.ulimits],
            "mounts": [DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in self.mounts],
        }
        if self.shm_size_bytes is not None:
            kwargs["shm_size"] = self.shm_size_bytes
        if self.ipc_mode:
            kwargs["ipc_mode"] = self.ipc_mode
        if self.runtime:
            kwargs["runtime"] = self.runtime
        elif self.gpus.wanted:
            kwargs["device_requests"] = [build_device_request(self.gpus)]
        return kwargs

    def docker_run_argv(self) -> list[str]:
        argv = ["docker", "run", "--rm", "--name", self.name, "--init"]
        if self.runtime:
            argv += ["--runtime", self.runtime]
        elif self.gpus.wanted:
            argv += ["--gpus", self.gpus.docker_flag()]
        if self.ipc_mode:
            argv += ["--ipc", self.ipc_mode]
        if self.shm_size_bytes is not None:
            argv += [f"--shm-size={self.shm_size_bytes // 2**20}m"]
        for name, soft, hard in self.ulimits:
            argv += ["--ulimit", f"{name}={soft}:{hard}"]
        argv += ["--user", self.user, "--workdir", self.working_dir]
        for mount in self.mounts:
            argv += ["--mount", mount.mount_flag()]
        for key, value in self.env.items():
            argv += ["-e", f"{key}={value}"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        return [*argv, self.image, *self.command]

    def docker_run_line(self) -> str:
        return shlex.join(self.docker_run_argv())

    def describe(self) -> list[str]:
        shm = "host /dev/shm (--ipc host)" if self.shm_size_bytes is None else _gib(self.shm_size_bytes)
        lines = [
            f"image      {self.image}",
            f"container  {self.name} (run id {self.run_id})",
            f"command    {shlex.join(self.command)}",
            f"gpus       {self.gpus.describe()}" + (f" via --runtime {self.runtime}" if self.runtime else ""),
            f"shm        {shm}",
            f"user       {self.user}",
            f"limits     {', '.join(f'{n}={s}:{h}' for n, s, h in self.ulimits)}; init process",
            f"execution  {self.execution.mode}: {self.execution.reason}",
        ]
        if self.runs_pipeline and self.clipping is not None and self.clipping.enabled:
            lines.insert(-1, f"clipping   {describe_clipping(self.clipping)}")
        lines += [
            f"mount      {m.source} -> {m.target} ({'read-only' if m.read_only else 'writable'})" for m in self.mounts
        ]
        lines += [f"note       {note}" for note in self.notes]
        return lines


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """Docker's size syntax (binary units): 8g, 512m, 7.62gb, 1073741824."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise CuratorKitError(f"size {text!r} is not understood", "write it like docker does: 8g, 512m, 7.5gb")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def default_shm_bytes(memory_bytes: int) -> int:
    """/dev/shm from host RAM, whole MiB: 35%, at least 2 GiB, at most what Ray's capped store wants."""
    size = min(max(int(memory_bytes * SHM_FRACTION), SHM_MIN_BYTES), SHM_MAX_BYTES)
    return size // 2**20 * 2**20


_CLASS_DEF = re.compile(r"^class\s+([A-Za-z_]\w*)\s*\(([^)]*)\)", re.MULTILINE)


def writer_stages(stages: list[StageSpec], project_dir: Path) -> frozenset[str]:
    """Stages whose class subclasses ClipWriterStage: pipeline.py runs such a one in its place.

    Read from the project's sources, not imported: the project's dependencies live in the image.
    A writer may subclass another writer of the project (e.g. the reference StatsWriterStage), so
    subclassing is followed through every class defined in the stages' modules and stages/.
    """
    bases: dict[str, set[str]] = {}
    sources = {_module_source(project_dir, stage.module) for stage in stages}
    sources |= set(project_dir.joinpath("stages").glob("*.py"))
    for source in sources:
        if source is not None and source.is_file():
            for name, parents in _CLASS_DEF.findall(source.read_text(errors="replace")):
                bases.setdefault(name, set()).update(re.findall(r"[A-Za-z_]\w*", parents))

    def is_writer(name: str, seen: frozenset[str] = frozenset()) -> bool:
        parents = bases.get(name, set())
        return "ClipWriterStage" in parents or any(is_writer(p, seen | {name}) for p in parents - seen - {name})

    return frozenset(stage.name for stage in stages if is_writer(stage.class_name))


def _module_source(project_dir: Path, module: str) -> Path | None:
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def clipping_stage_cpus(clipping: ClippingSettings | None) -> list[tuple[str, float]]:
    """The Curator stages [clipping] adds after VideoReader, with the cpus Xenna reserves for each."""
    if clipping is None or not clipping.enabled:
        return []
    transcoder = GPU_TRANSCODER_CPUS if clipping.uses_gpu else float(clipping.encoder_cpus)
    return [("FixedStrideExtractorStage", FIXED_STRIDE_CPUS), ("ClipTranscodingStage", transcoder)]


def describe_clipping(clipping: ClippingSettings) -> str:
    where = "a third of a GPU (NVENC)" if clipping.uses_gpu else f"{clipping.encoder_cpus:g} CPU"
    return (
        f"{clipping.method}: {clipping.clip_len_s:g} s clips every {clipping.clip_stride_s:g} s "
        f"(none under {clipping.min_clip_length_s:g} s), transcoded with {clipping.encoder} on {where}"
    )


def stage_cpus(
    stages: list[StageSpec], writers: frozenset[str] = frozenset(), clipping: ClippingSettings | None = None
) -> list[tuple[str, float]]:
    """Every stage the generated pipeline runs, with its cpus, in order: VideoReader's two, the
    clipping stages, the project's own; ClipWriterStage last unless a project writer replaces it."""
    own = [(s.name, float(s.resources.cpus)) for s in stages]
    return [*LEADING_STAGES, *clipping_stage_cpus(clipping), *own, *(() if writers else TRAILING_STAGES)]


def choose_execution_mode(
    requested: str,
    stages: list[StageSpec],
    cores: int,
    writers: frozenset[str] = frozenset(),
    clipping: ClippingSettings | None = None,
) -> ExecutionChoice:
    """Streaming runs every stage at once, so their cpus must fit int(0.95 x cores) (Xenna refuses
    otherwise, after Ray started); auto picks batch then, and says why."""
    if requested not in EXECUTION_MODES:
        raise CuratorKitError(f"execution mode {requested!r} is unknown", f"use one of {', '.join(EXECUTION_MODES)}")
    cpus = stage_cpus(stages, writers, clipping)
    required = round(sum(c for _, c in cpus), 4)
    allotted = math.floor(STREAMING_CPU_ALLOCATION * cores)
    fits = required <= allotted
    sum_text = " + ".join(f"{name} {c:g}" for name, c in cpus)
    budget = f"Xenna streams on int({STREAMING_CPU_ALLOCATION} x {cores} cores) = {allotted} CPUs"
    if requested == "batch":
        return ExecutionChoice("batch", BATCH_CPU_ALLOCATION, required, allotted, fits, "asked for")
    if fits:
        why = "asked for" if requested == "streaming" else f"stages need {required:g} CPUs; {budget}"
        return ExecutionChoice("streaming", STREAMING_CPU_ALLOCATION, required, allotted, True, why)
    why = f"streaming needs every stage at once: {sum_text} = {required:g} CPUs, but {budget}"
    if requested == "streaming":
        return ExecutionChoice("streaming", STREAMING_CPU_ALLOCATION, required, allotted, False, f"asked for; {why}")
    return ExecutionChoice("batch", BATCH_CPU_ALLOCATION, required, allotted, False, why)


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """Docker's `--ulimit NAME=SOFT[:HARD]`; -1 (or `unlimited`) is no limit."""
    name, _, values = text.partition("=")
    soft, _, hard = values.partition(":")
    try:
        limit = (name, _limit(soft), _limit(hard or soft))
    except ValueError:
        limit = None
    if limit is None or not re.fullmatch(r"[a-z]+", name):
        raise CuratorKitError(f"--ulimit {text!r} is not NAME=SOFT[:HARD]", "e.g. --ulimit memlock=8388608")
    return limit


def _limit(value: str) -> int:
    return -1 if value == "unlimited" else int(value)


def merge_ulimits(overrides: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    chosen = {name: (name, soft, hard) for name, soft, hard in ULIMITS}
    chosen |= {limit[0]: limit for limit in map(parse_ulimit, overrides)}
    return tuple(chosen.values())


def parse_env(pairs: list[str] | tuple[str, ...], host_env: dict[str, str] | None = None) -> dict[str, str]:
    """`K=V` pairs; a bare `K` takes the host's value, as `docker run -e K` does."""
    env: dict[str, str] = {}
    host = os.environ if host_env is None else host_env
    for pair in pairs:
        key, has_value, value = pair.partition("=")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise CuratorKitError(f"--env {pair!r} is not KEY=VALUE", "write --env NAME=value")
        if not has_value:
            if key not in host:
                raise CuratorKitError(f"--env {key} names a variable this shell does not set", f"write --env {key}=...")
            value = host[key]
        env[key] = value
    return env


def parse_mount(spec: str, project_dir: Path) -> Mount:
    """A manifest mount, `host:container[:ro|rw]`; a relative host path is relative to the project."""
    parts = spec.split(":")
    valid = len(parts) in (2, 3) and parts[0] and parts[1].startswith("/") and parts[2:] in ([], ["ro"], ["rw"])
    if not valid:
        raise CuratorKitError(f"[run] mount {spec!r} is not host:container[:ro]", 'e.g. "models:/opt/models:ro"')
    return Mount(str((project_dir / parts[0]).resolve()), parts[1], parts[2:] == ["ro"])


def pipeline_command(execution: ExecutionChoice, ignore_failures: bool) -> list[str]:
    """templates/pipeline.py.j2's options, every one explicit: the plan decided them all."""
    options = {
        "--input": INPUT_DIR,
        "--output": OUTPUT_DIR,
        "--execution-mode": execution.mode,
        "--cpu-allocation-percentage": f"{execution.cpu_allocation:g}",
    }
    flag = "--ignore-failures" if ignore_failures else "--no-ignore-failures"
    return ["python", PIPELINE_IN_IMAGE, *(part for pair in options.items() for part in pair), flag]


def plan_run(manifest: Manifest, project_dir: Path, options: RunOptions, host: HostFacts) -> ContainerPlan:
    """The container `curator-kit run` would start, computed without touching the engine."""
    run = manifest.run
    project = manifest.project.name
    run_id = options.run_id or uuid.uuid4().hex[:12]
    gpus = parse_gpus(options.gpus, "--gpus") if options.gpus is not None else parse_gpus(run.gpus, "[run] gpus")
    if options.runtime not in (None, "nvidia"):
        raise CuratorKitError(f"--runtime {options.runtime!r} is not supported", "use --runtime nvidia or --gpus")
    if options.ipc not in (None, "host"):
        raise CuratorKitError(f"--ipc {options.ipc!r} is not supported", "use --ipc host, or leave it out")
    notes: list[str] = []
    if options.runtime and not gpus.wanted:
        gpus = parse_gpus("all")
        notes.append("--runtime nvidia without --gpus: all GPUs (NVIDIA_VISIBLE_DEVICES=all)")

    requested = options.execution_mode or run.execution_mode
    writers = writer_stages(manifest.stages, project_dir)
    execution = choose_execution_mode(requested, manifest.stages, host.cpus, writers, manifest.clipping)
    ignore_failures = run.ignore_failures if options.ignore_failures is None else options.ignore_failures
    command = list(options.command) if options.command else pipeline_command(execution, ignore_failures)

    shm_bytes: int | None
    if options.ipc == "host":
        shm_bytes = None
    elif options.shm_size or run.shm_size:
        shm_bytes = parse_size(options.shm_size or run.shm_size)
        if shm_bytes < int(host.memory_bytes * 0.3):
            notes.append(f"/dev/shm {_gib(shm_bytes)} is under 30% of {_gib(host.memory_bytes)} RAM: Ray may use /tmp")
    else:
        shm_bytes = default_shm_bytes(host.memory_bytes)
        notes.append(
            f"/dev/shm {_gib(shm_bytes)} = {SHM_FRACTION:.0%} of {_gib(host.memory_bytes)} RAM "
            f"({host.source}); --shm-size to change"
        )

    env = {"HOME": CONTAINER_HOME, "USER": "curator"}  # getpass.getuser() needs one without a passwd entry
    if gpus.wanted:
        env["NVIDIA_DRIVER_CAPABILITIES"] = DRIVER_CAPABILITIES
        if options.runtime:
            env["NVIDIA_VISIBLE_DEVICES"] = gpus.visible_devices()
    env |= {str(k): str(v) for k, v in run.env.items()}
    env |= parse_env(options.env)

    ulimits = merge_ulimits(options.ulimits)
    user_set_memlock = any(u.partition("=")[0] == "memlock" for u in options.ulimits)
    if host.memlock_cap is not None and not user_set_memlock:
        ulimits = tuple((n, host.memlock_cap, host.memlock_cap) if n == "memlock" else (n, s, h) for n, s, h in ulimits)
        notes.append(
            f"memlock {host.memlock_cap} bytes, not unlimited: dockerd lacks CAP_SYS_RESOURCE and may grant no more"
        )

    mounts = [
        Mount(str(options.input_dir.resolve()), INPUT_DIR, read_only=True),
        Mount(str(options.output_dir.resolve()), OUTPUT_DIR, read_only=False),
        *(parse_mount(spec, project_dir) for spec in run.mounts),
    ]
    return ContainerPlan(
        image=options.image,
        command=command,
        name=f"{project}-run-{run_id}",
        mounts=mounts,
        env=env,
        user=f"{host.uid}:{host.gid}",
        labels={LABEL_PROJECT: project, LABEL_RUN_ID: run_id},
        gpus=gpus,
        runtime=options.runtime,
        shm_size_bytes=shm_bytes,
        ipc_mode=options.ipc,
        execution=execution,
        ulimits=ulimits,
        runs_pipeline=not options.command,
        clipping=manifest.clipping,
        notes=notes,
    )


def plan_tests(
    manifest: Manifest, project_dir: Path, image: str, pytest_args: tuple[str, ...], host: HostFacts
) -> ContainerPlan:
    """`curator-kit test`: the project's tests in its image, in the container a run gets (user, shm,
    ulimits, env, manifest mounts) but with no input or output data mounted."""
    from dataclasses import replace

    command = ("python", "-m", "pytest", "-p", "no:cacheprovider", "tests", *pytest_args)
    options = RunOptions(input_dir=project_dir, output_dir=project_dir, image=image, command=command)
    plan = plan_run(manifest, project_dir, options, host)
    data_targets = (INPUT_DIR, OUTPUT_DIR)
    return replace(
        plan,
        name=f"{manifest.project.name}-test-{plan.run_id}",
        mounts=[m for m in plan.mounts if m.target not in data_targets],
    )
