"""`curator-kit run` as a plan: manifest + options + host facts -> ContainerPlan (pure data).

The plan renders to docker-py `containers.create()` keyword arguments and to the equivalent
`docker run` line; `engine.containers` executes it, `preflight` judges it.
"""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator_kit.core.checks import image_findings
from curator_kit.core.constants import (
    DRIVER_CAPABILITIES,
    ENGINE_DOCKER,
    FALLBACK_HOME,
    GOLDEN_ATOL,
    GOLDEN_DIR,
    GOLDEN_FILE,
    GOLDEN_IN_CONTAINER,
    GOLDEN_REPORT_IN_CONTAINER,
    GOLDEN_RTOL,
    HF_OFFLINE_ENV,
    INPUT_DIR,
    LABEL_PROJECT,
    LABEL_RUN_ID,
    NONROOT_HOME,
    NONROOT_UID,
    NONROOT_USER,
    OUTPUT_DIR,
    PIPELINE_IN_IMAGE,
    PROFILE_DIR_NAME,
    PROFILE_IN_CONTAINER,
    PROJECT_DIR_IN_IMAGE,
    RUN_ID_ENV,
    STATE_DIR,
)
from curator_kit.core.findings import Code, Finding, note, notes_of
from curator_kit.core.parsers import HostValue, Mount, Ulimit
from curator_kit.core.pipeline.cdi import cdi_request_fields
from curator_kit.core.pipeline.devices import GpuRequest, HostGpu, selected_gpus
from curator_kit.core.pipeline.modelweights import WeightsFacts, cache_mounts, needed_models, weights_findings
from curator_kit.core.pipeline.placement import Nodes, PipelineOptions, Placement, place
from curator_kit.core.pipeline.spec import ExecutionChoice, describe_clipping
from curator_kit.core.run.datapaths import data_dir_findings, judge_extra_mounts
from curator_kit.core.sizes import gib as _gib
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest, RunDefaults


def container_home(uid: int, gid: int, image_home: str | None) -> str:
    """HOME for a container run as `uid:gid` (the invoking user, so that its outputs are theirs) of an
    image whose ENV HOME is `image_home` (None: not known).

    curator-kit's images make NONROOT_HOME their HOME, owned by NONROOT_UID and group 0 with g=u
    (constants): its owner, a uid in group 0 (as OpenShift runs one) and root can write it, and keep it.
    Any other user cannot (it is not world-writable: the image's caches are not everyone's), nor can
    anyone write a home an image does not have (one built on an older base, or on another FROM image):
    they get FALLBACK_HOME, /tmp, which every uid can write, and Ray, torch, Triton and Hugging Face put
    their caches under it (~/.cache, ~/.triton follow HOME)."""
    can_write = uid in (0, NONROOT_UID) or gid == 0
    return NONROOT_HOME if image_home == NONROOT_HOME and can_write else FALLBACK_HOME


def home_in_environment(environment: list[str]) -> str | None:
    """The HOME an image's ENV entries (`KEY=value`) set; None when they set none."""
    return next((entry.partition("=")[2] for entry in reversed(environment) if entry.startswith("HOME=")), None)


# Ray falls back to /tmp unless /dev/shm holds its object store: 30% of available memory, and it
# suggests 1.1x that. 35% of total RAM covers both; the store is capped at 200 GB, so shm at 220 GB.
SHM_FRACTION = 0.35
SHM_MIN_BYTES = 2 * 2**30
SHM_MAX_BYTES = 220 * 10**9
ROOT_NOTE = (
    "containers run as root (uid 0): curator-kit itself runs as root without sudo; run it as your user "
    "(or through sudo, which passes SUDO_UID) and they run as that user"
)
# Ray and PyTorch DataLoader workers pin memory and recurse deeply.
ULIMITS: tuple[Ulimit, ...] = (Ulimit("memlock", -1, -1), Ulimit("stack", 67108864, 67108864))


@dataclass(frozen=True)
class HostFacts:
    """What the plan needs to know about the machine the engine runs on, and who runs curator-kit.

    Gathered by `ops.hostfacts`; plain data here so plans stay pure."""

    cpus: int
    memory_bytes: int
    uid: int
    gid: int
    source: str = "this host"
    memlock_cap: int | None = None  # dockerd's own memlock limit when it cannot grant more (dockerd_limits)
    gpus: tuple[HostGpu, ...] = ()  # what nvidia-smi sees there; gathered only when a run asks for GPUs
    cache_home: Path = Path("/tmp/.cache")  # the user's cache directory ($XDG_CACHE_HOME, else ~/.cache)
    local: bool = True  # the engine runs on this machine: its paths are ours to check


@dataclass(frozen=True)
class RunOptions:
    """The CLI's choices, parsed by `core.parsers`; None = the manifest's [run] default."""

    input_dir: Path
    output_dir: Path
    image: str
    gpus: GpuRequest | None = None
    runtime: str | None = None
    shm_size: int | None = None  # bytes
    ipc: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # (KEY, VALUE), over the manifest's [run] env
    ulimits: tuple[Ulimit, ...] = ()  # each replaces a default of that name
    mounts: tuple[Mount, ...] = ()  # besides the manifest's; a relative source is relative to here
    execution_mode: str | None = None
    ignore_failures: bool | None = None
    command: tuple[str, ...] | None = None  # instead of the project's pipeline (debugging, tests)
    run_id: str | None = None
    resume: bool = False  # skip the videos an earlier run into the same output finished
    allow_host_mount: bool = False  # mounts of /, the engine's socket, or over the data (datapaths)
    mount_data: bool = True  # False: no input or output mounted (`curator-kit test`)
    # Where the project's weights are (ops.modelcache); None: no models, or a plan that does not look.
    weights: WeightsFacts | None = None
    weights_writable: bool = False  # `models pull` writes the cache; runs only read it
    video_limit: int | None = None  # read only the first N videos (`run --limit`): a quick check of an edit
    code_mounts: tuple[Mount, ...] = ()  # the project's code over the image's copy (`--mount-code`, core.run.codemount)
    capture: str | None = None  # pickle the tasks entering this stage (`run --capture`, read by `replay`)
    profile: tuple[str, ...] = ()  # sample these stages' workers with py-spy (`run --profile`)
    # Input and output mounted at their own paths, and pipeline.py told those: an external Ray cluster's
    # nodes run stage actors that read and write them there (a shared filesystem at the same path).
    same_paths: bool = False
    # The image's ENV HOME, as `ops` reads it (None: not read, or none): `container_home` decides from it.
    image_home: str | None = None


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
    # False for a Ray driver: the pipeline's stages run on the cluster's nodes, not in this container.
    stages_here: bool = True
    output_source: str | None = None  # the host directory the pipeline writes to
    model_dirs: list[str] = field(default_factory=list)  # cache directories to create before the engine binds them
    # Other host directories the container writes into (a golden, its report, profiles): created first,
    # as the user the container runs as, since the engine would make a missing bind source as root.
    write_dirs: list[str] = field(default_factory=list)
    spec: PipelineSpec | None = None  # the pipeline the image runs; None with a --command override
    executor: str = "xenna"  # the generated pipeline.py runs XennaExecutor
    working_dir: str = PROJECT_DIR_IN_IMAGE
    init: bool = True
    interactive: bool = False  # a terminal and stdin attached (`curator-kit shell`)
    ulimits: tuple[Ulimit, ...] = ULIMITS
    findings: list[Finding] = field(default_factory=list)
    placement: Placement | None = None  # where the stages run (core.pipeline.placement); None for plans made by hand
    # The engine's side (ops.launch.fit_to_engine): GPUs as CDI devices (core.pipeline.cdi) instead of the
    # nvidia driver's `--gpus` (`cdi`; `cdi_devices` empty when the request was refused), the engine it runs
    # on (its name is its command line's too, which the plan is shown as), and the user namespace mode (keep-id
    # on a rootless Podman whose own user the plan runs as, so that uid is itself inside and owns what it writes).
    cdi: bool = False
    cdi_devices: tuple[str, ...] = ()
    engine: str = ENGINE_DOCKER  # one of core.constants.ENGINES
    # Where the engine's CLI must be told the service is (`podman --url`): the podman CLI does not read
    # DOCKER_HOST, so without it a line would reach the CLI's own storage, not the service curator-kit used.
    engine_url: str | None = None
    userns: str | None = None

    @property
    def run_id(self) -> str:
        return self.labels[LABEL_RUN_ID]

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py `client.containers.create()` as plain data: mounts, ulimits and
        device requests are the keyword arguments of their docker types, which `engine.containers` builds."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "command": self.command,
            "name": self.name,
            "environment": dict(self.env),
            "user": self.user,
            "working_dir": self.working_dir,
            "labels": dict(self.labels),
            "init": self.init,
            "ulimits": [{"name": n, "soft": s, "hard": h} for n, s, h in self.ulimits],
            "mounts": [
                {"target": m.target, "source": m.source, "type": "bind", "read_only": m.read_only} for m in self.mounts
            ],
        }
        if self.interactive:
            kwargs |= {"tty": True, "stdin_open": True}
        if self.shm_size_bytes is not None:
            kwargs["shm_size"] = self.shm_size_bytes
        if self.ipc_mode:
            kwargs["ipc_mode"] = self.ipc_mode
        if self.runtime:
            kwargs["runtime"] = self.runtime
        elif self.cdi:
            kwargs["device_requests"] = [cdi_request_fields(self.cdi_devices)]
        elif self.gpus.wanted:
            kwargs["device_requests"] = [self.gpus.device_request_fields()]
        return kwargs

    def engine_argv(self) -> list[str]:
        """The engine's command line before its subcommand."""
        return [self.engine, *(["--url", self.engine_url] if self.engine_url else [])]

    def lifetime_flags(self) -> list[str]:
        return ["--rm", *(["-it"] if self.interactive else [])]

    def network_flags(self) -> list[str]:
        return []  # the engine's default network (cluster nodes name theirs)

    def docker_run_argv(self) -> list[str]:
        argv = [*self.engine_argv(), "run", *self.lifetime_flags(), "--name", self.name, *self.network_flags()]
        argv += ["--init"]
        if self.userns:
            argv += [f"--userns={self.userns}"]
        if self.runtime:
            argv += ["--runtime", self.runtime]
        elif self.cdi:
            argv += [arg for name in self.cdi_devices for arg in ("--device", name)]
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
        for key, value in self.env.items():  # a value from this shell is passed by name, never printed
            argv += ["-e", key if isinstance(value, HostValue) else f"{key}={value}"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        return [*argv, self.image, *self.command]

    def docker_run_line(self) -> str:
        return shlex.join(self.docker_run_argv())

    def gpu_route(self) -> str:
        """How the GPUs reach the container, for the plan's lines: a runtime, CDI devices, or '' (--gpus)."""
        if self.runtime:
            return f" via --runtime {self.runtime}"
        return f" via CDI {', '.join(self.cdi_devices)}" if self.cdi and self.cdi_devices else ""

    def user_line(self) -> str:
        return self.user + (f", user namespace {self.userns}" if self.userns else "")

    def describe(self) -> list[str]:
        shm = "host /dev/shm (--ipc host)" if self.shm_size_bytes is None else _gib(self.shm_size_bytes)
        lines = [
            f"image      {self.image}",
            f"container  {self.name} (run id {self.run_id})",
            f"command    {shlex.join(self.command)}",
            f"gpus       {self.gpus.describe()}" + self.gpu_route(),
            f"shm        {shm}",
            f"user       {self.user_line()}",
            f"limits     {', '.join(f'{n}={s}:{h}' for n, s, h in self.ulimits)}; init process",
            f"execution  {self.execution.mode}: {self.execution.reason}",
        ]
        clipping = describe_clipping(self.spec) if self.runs_pipeline and self.spec is not None else None
        if clipping:
            lines.insert(-1, f"clipping   {clipping}")
        lines += [
            f"mount      {m.source} -> {m.target} ({'read-only' if m.read_only else 'writable'})" for m in self.mounts
        ]
        lines += [f"note       {finding.message}" for finding in notes_of(self.findings)]  # warnings: the gate
        return lines


def default_shm_bytes(memory_bytes: int) -> int:
    """/dev/shm from host RAM, whole MiB: 35%, at least 2 GiB, at most what Ray's capped store wants."""
    size = min(max(int(memory_bytes * SHM_FRACTION), SHM_MIN_BYTES), SHM_MAX_BYTES)
    return size // 2**20 * 2**20


def check_shm_size(size: int, host: HostFacts, source: str) -> None:
    """/dev/shm is memory: a size above the host's RAM cannot be backed, and Ray's object store in it
    would push the container into swap or the OOM killer long before Ray says anything."""
    if size > host.memory_bytes:
        most = default_shm_bytes(host.memory_bytes)
        raise CuratorKitError(
            f"{source} {_gib(size)} is more than the {_gib(host.memory_bytes)} of memory on {host.source}",
            f"/dev/shm lives in memory: pass at most {_gib(host.memory_bytes)}, e.g. the default {_gib(most)}",
        )


def merge_ulimits(overrides: tuple[Ulimit, ...]) -> tuple[Ulimit, ...]:
    chosen = {limit.name: limit for limit in ULIMITS}
    chosen |= {limit.name: limit for limit in overrides}
    return tuple(chosen.values())


def run_pipeline_options(options: RunOptions, run: RunDefaults) -> PipelineOptions:
    """pipeline.py's options for a run: the CLI's choices over the manifest's [run] defaults."""
    input_path, output_path = data_targets(options)
    return PipelineOptions(
        execution_mode=options.execution_mode or run.execution_mode,
        ignore_failures=run.ignore_failures if options.ignore_failures is None else options.ignore_failures,
        resume=options.resume,
        video_limit=options.video_limit,
        capture=options.capture,
        profile=options.profile,
        input_path=input_path,
        output_path=output_path,
    )


def data_targets(options: RunOptions) -> tuple[str, str]:
    """Where the container sees the input and the output."""
    if options.same_paths:
        return str(options.input_dir.resolve()), str(options.output_dir.resolve())
    return INPUT_DIR, OUTPUT_DIR


def host_nodes(host: HostFacts, gpus: GpuRequest) -> Nodes:
    """This host as the one node that runs the stages, with the GPUs the run selects of it."""
    cards = selected_gpus(gpus, list(host.gpus)) if gpus.wanted else []
    smallest = min(cards, key=lambda card: card.memory_mib) if cards else None
    return Nodes(
        cpus=(host.cpus,),
        gpus=gpus.wanted,
        gpu_memory_gib=smallest.memory_mib / 1024 if smallest else None,
        gpu_name=smallest.name if smallest else None,
    )


def plan_run(
    manifest: Manifest,
    spec: PipelineSpec,
    project_dir: Path,
    options: RunOptions,
    host: HostFacts,
    nodes: Nodes | None = None,
) -> ContainerPlan:
    """The container `curator-kit run` would start, computed without touching the engine.

    `spec` is the pipeline of the image that will run (its label); the manifest gives only the
    run defaults ([run]) and the project's name. `nodes`: where the stages run when not in this
    container (a Ray driver's cluster); None: here, on this host. Problems of the request are
    findings on the plan (`plan.findings`), refused by `findings.decide` before anything starts."""
    run = manifest.run
    project = manifest.project.name
    run_id = options.run_id or uuid.uuid4().hex[:12]
    if options.resume and options.command:
        raise CuratorKitError("--resume with --command", "--resume continues the pipeline; leave out --command")
    if options.capture:
        check_capture_stage(spec, options.capture, "--capture")
    for stage in options.profile:
        check_capture_stage(spec, stage, "--profile")
    if options.video_limit and options.command:
        raise CuratorKitError("--limit with --command", "--limit limits the pipeline's videos; leave out --command")
    gpus = run.gpus if options.gpus is None else options.gpus
    if options.runtime not in (None, "nvidia"):
        raise CuratorKitError(f"--runtime {options.runtime!r} is not supported", "use --runtime nvidia or --gpus")
    if options.ipc not in (None, "host"):
        raise CuratorKitError(f"--ipc {options.ipc!r} is not supported", "use --ipc host, or leave it out")
    findings: list[Finding] = image_findings(options.image)
    if options.mount_data:
        findings += data_dir_findings(options.input_dir, options.output_dir, local=host.local)
    if options.runtime and not gpus.wanted:
        gpus = GpuRequest(count=-1)
        findings.append(
            note(Code.RUNTIME_ALL_GPUS, "--runtime nvidia without --gpus: all GPUs (NVIDIA_VISIBLE_DEVICES=all)")
        )

    placement = place(spec, nodes or host_nodes(host, gpus), run_pipeline_options(options, run))
    if not options.command:
        findings += placement.findings
    command = list(options.command) if options.command else placement.command

    shm_bytes: int | None
    if options.ipc == "host":
        shm_bytes = None
    elif options.shm_size or run.shm_size:
        shm_bytes = options.shm_size or run.shm_size
        check_shm_size(shm_bytes, host, "--shm-size" if options.shm_size else "[run] shm_size")
        if shm_bytes < int(host.memory_bytes * 0.3):
            small = f"/dev/shm {_gib(shm_bytes)} is under 30% of {_gib(host.memory_bytes)} RAM: Ray may use /tmp"
            findings.append(note(Code.SHM_SMALL, small))
    else:
        shm_bytes = default_shm_bytes(host.memory_bytes)
        findings.append(
            note(
                Code.SHM_DEFAULT,
                f"/dev/shm {_gib(shm_bytes)} = {SHM_FRACTION:.0%} of {_gib(host.memory_bytes)} RAM "
                f"({host.source}); --shm-size to change",
            )
        )

    # USER: getpass.getuser() needs one where the uid has no passwd entry (the image's ENV says the same).
    env = {"HOME": container_home(host.uid, host.gid, options.image_home), "USER": NONROOT_USER}
    if not options.command:
        env[RUN_ID_ENV] = run_id  # pipeline.py writes it into its summary
    if gpus.wanted:
        env["NVIDIA_DRIVER_CAPABILITIES"] = DRIVER_CAPABILITIES
        if options.runtime:
            env["NVIDIA_VISIBLE_DEVICES"] = gpus.visible_devices()
    env |= run.env
    env |= dict(options.env)

    ulimits = merge_ulimits(options.ulimits)
    user_set_memlock = any(limit.name == "memlock" for limit in options.ulimits)
    if host.memlock_cap is not None and not user_set_memlock:
        cap = host.memlock_cap
        ulimits = tuple(u._replace(soft=cap, hard=cap) if u.name == "memlock" else u for u in ulimits)
        findings.append(
            note(
                Code.MEMLOCK_CAP,
                f"memlock {host.memlock_cap} bytes, not unlimited: "
                "the engine's service (dockerd, Podman) lacks CAP_SYS_RESOURCE and may grant no more",
            )
        )

    # The manifest's relative sources are the project's; the command line's, the working directory's.
    extra = [
        *(replace(m, source=str((project_dir / m.source).resolve())) for m in run.mounts),
        *(replace(m, source=str(Path(m.source).resolve())) for m in options.mounts),
    ]
    model_mounts = cache_mounts(manifest, options.weights, writable=options.weights_writable) if options.weights else []
    if options.weights is not None and not options.command:
        findings += weights_findings(manifest, spec, options.weights)  # refused before anything starts
        if needed_models(spec):
            env.setdefault(HF_OFFLINE_ENV, "1")  # every weight is here: nothing may reach the network
    input_source = str(options.input_dir.resolve()) if options.mount_data else None
    findings += judge_extra_mounts(extra, input_source, allow=options.allow_host_mount)
    input_target, output_target = data_targets(options)
    data = [
        Mount(str(options.input_dir.resolve()), input_target, read_only=True),
        Mount(str(options.output_dir.resolve()), output_target, read_only=False),
    ]
    mounts = [*(data if options.mount_data else []), *model_mounts, *options.code_mounts, *extra]
    if options.code_mounts:
        mounted = f"code mounted read-only from {project_dir.resolve()} over the image's copy (--mount-code)"
        findings.append(note(Code.CODE_MOUNTED, mounted))
    if host.uid == 0:
        findings.append(note(Code.ROOT_USER, ROOT_NOTE))
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
        execution=placement.execution,
        ulimits=ulimits,
        runs_pipeline=not options.command,
        spec=placement.spec,  # the image's pipeline, sized to the nodes that run it
        output_source=str(options.output_dir.resolve()) if options.mount_data else None,
        model_dirs=[m.source for m in model_mounts],
        findings=findings,
        placement=placement,
    )


def plan_tests(
    manifest: Manifest,
    spec: PipelineSpec,
    project_dir: Path,
    image: str,
    pytest_args: tuple[str, ...],
    host: HostFacts,
    *,
    allow_host_mount: bool = False,
    weights: WeightsFacts | None = None,
    code_mounts: tuple[Mount, ...] = (),
    image_home: str | None = None,
) -> ContainerPlan:
    """`curator-kit test`: the project's tests in its image, in the container a run gets (user, HOME, shm,
    ulimits, env, manifest mounts) but with no input or output data mounted; `code_mounts` for
    `--mount-code`."""
    command = ("python", "-m", "pytest", "-p", "no:cacheprovider", "tests", *pytest_args)
    options = RunOptions(
        input_dir=project_dir,
        output_dir=project_dir,
        image=image,
        command=command,
        allow_host_mount=allow_host_mount,
        mount_data=False,
        weights=weights,
        code_mounts=code_mounts,
        image_home=image_home,
    )
    plan = plan_run(manifest, spec, project_dir, options, host)
    return replace(plan, name=f"{manifest.project.name}-test-{plan.run_id}")


SHELL_COMMAND = ("bash",)


def plan_shell(
    manifest: Manifest,
    spec: PipelineSpec,
    project_dir: Path,
    options: RunOptions,
    host: HostFacts,
) -> ContainerPlan:
    """`curator-kit shell`: the container `run` would start (GPUs, shm, ulimits, env, data and code
    mounts), with a terminal and bash instead of the pipeline; `options.command` runs instead,
    without a terminal (a script's check, or a test's)."""
    command = options.command or SHELL_COMMAND
    plan = plan_run(manifest, spec, project_dir, replace(options, command=command), host)
    name = f"{manifest.project.name}-shell-{plan.run_id}"
    return replace(plan, name=name, interactive=options.command is None)


def check_capture_stage(spec: PipelineSpec, stage: str, option: str) -> None:
    """A stage of the image's pipeline after the reader (whose input is the input directory itself)."""
    names = [entry.name for entry in spec.stages]
    if stage not in names[1:]:
        raise CuratorKitError(
            f"{option} {stage}: the pipeline has no such stage after its reader",
            f"name one of {', '.join(names[1:])} (`curator-kit spec` lists them)",
        )


@dataclass(frozen=True)
class ReplayChoice:
    """`curator-kit replay STAGE`'s choices: which tasks, and what to do with what the stage produced."""

    stage: str
    limit: int | None = None
    save_golden: str | None = None  # NAME: keep the stage's results as PROJECT/tests/golden/STAGE/NAME
    compare: str | None = None  # NAME: replay that golden's own captured tasks and hold the results against it
    rtol: float = GOLDEN_RTOL
    atol: float = GOLDEN_ATOL
    report: Path | None = None  # --compare's JSON [default: PROJECT/.curator-kit/golden-reports/STAGE/NAME.json]
    profile: bool = False  # sample the replay with py-spy into OUTPUT/curator-kit-profile/STAGE


def golden_dir(project_dir: Path, stage: str, name: str) -> Path:
    return project_dir / GOLDEN_DIR / stage / name


def golden_report_path(project_dir: Path, choice: ReplayChoice) -> Path:
    name = choice.compare or ""
    return choice.report or project_dir / STATE_DIR / "golden-reports" / choice.stage / f"{name}.json"


def plan_replay(
    manifest: Manifest,
    spec: PipelineSpec,
    project_dir: Path,
    options: RunOptions,
    host: HostFacts,
    choice: ReplayChoice,
) -> ContainerPlan:
    """`curator-kit replay`: pipeline.py --replay runs one stage in one process without Ray, on the tasks
    `run --capture` saved under OUTPUT/curator-kit-capture/STAGE (mounted read-only), or with --compare
    on a golden's own copy of them (the golden mounted read-only). --save-golden writes the golden into
    PROJECT/tests/golden/STAGE; --compare's report and --profile's samples go to their own mounts."""
    stage = choice.stage
    if choice.save_golden is not None and choice.compare is not None:
        raise CuratorKitError("replay: --save-golden and --compare at once", "compare first, then save")
    check_capture_stage(spec, stage, "replay")
    command = ["python", PIPELINE_IN_IMAGE, "--input", INPUT_DIR, "--output", OUTPUT_DIR, "--replay", stage]
    command += ["--replay-limit", str(choice.limit)] if choice.limit else []
    mounts: list[Mount] = []
    write_dirs: list[str] = []
    if choice.compare is not None:
        golden = golden_dir(project_dir, stage, choice.compare)
        if not (golden / GOLDEN_FILE).is_file():
            raise CuratorKitError(
                f"no golden {choice.compare!r} for {stage} at {golden}",
                f"save one: curator-kit run --capture {stage}, then curator-kit replay {stage} "
                f"--save-golden {choice.compare}",
            )
        report = golden_report_path(project_dir, choice).resolve()
        mounts += [Mount(str(golden.resolve()), GOLDEN_IN_CONTAINER, read_only=True)]
        mounts += [Mount(str(report.parent), GOLDEN_REPORT_IN_CONTAINER)]
        write_dirs.append(str(report.parent))
        command += ["--compare", GOLDEN_IN_CONTAINER, "--rtol", repr(choice.rtol), "--atol", repr(choice.atol)]
        command += ["--report", f"{GOLDEN_REPORT_IN_CONTAINER}/{report.name}"]
    else:
        mounts.append(Mount(str(options.output_dir.resolve()), OUTPUT_DIR, read_only=True))
    if choice.save_golden is not None:
        stage_goldens = (project_dir / GOLDEN_DIR / stage).resolve()
        mounts.append(Mount(str(stage_goldens), GOLDEN_IN_CONTAINER))
        write_dirs.append(str(stage_goldens))
        command += ["--save-golden", f"{GOLDEN_IN_CONTAINER}/{choice.save_golden}"]
    if choice.profile:
        profiles = (options.output_dir / PROFILE_DIR_NAME).resolve()
        mounts.append(Mount(str(profiles), PROFILE_IN_CONTAINER))
        write_dirs.append(str(profiles))
        command += ["--profile", stage, "--profile-dir", PROFILE_IN_CONTAINER]
    plan = plan_run(manifest, spec, project_dir, replace(options, command=tuple(command), mount_data=False), host)
    name = f"{manifest.project.name}-replay-{plan.run_id}"
    return replace(plan, name=name, mounts=[*mounts, *plan.mounts], write_dirs=[*plan.write_dirs, *write_dirs])
