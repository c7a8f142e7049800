"""Start a planned pipeline container the one way every command does.

`run`, `demo`, `test` and the cluster driver all come through here: the pipeline spec is read from
the image that will run (never re-derived from the working tree), the plan is shown, preflight
judges it, the output directory is made as the invoking user, and the container runs to its end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.cluster.clusterplan import ClusterOptions
    from curator_kit.core.findings import Finding
    from curator_kit.core.pipeline.cdi import CdiInventory
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.run.preflight import CodecFacts, EngineFacts
    from curator_kit.core.run.runplan import ContainerPlan, HostFacts, ReplayChoice, RunOptions
    from curator_kit.engine.identity import EngineIdentity

Say = Callable[[str, str | None], None]
# A run's or a cluster's options: both name an image and carry the weights, code mounts and image HOME
# planned for it.
Planned = TypeVar("Planned", "RunOptions", "ClusterOptions")


def ensure_output_dir(path: Path, host: HostFacts) -> None:
    """Create the output directory as the user the containers run as; the engine would make a missing
    bind source as root. Under sudo (root here, SUDO_UID the user) a new directory goes to that user."""
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CuratorKitError(
            f"cannot create the output directory {path}: {error.strerror}",
            "pass --output a directory you can write, on a real filesystem",
        ) from None
    if created:
        give_to_user(path, host)


def give_to_user(path: Path, host: HostFacts) -> None:
    """Under sudo (root here, SUDO_UID the user) a file curator-kit made goes to the user the containers run as."""
    if os.getuid() == 0 and (host.uid, host.gid) != (0, 0):
        os.chown(path, host.uid, host.gid)


@dataclass
class EngineSession:
    """An engine that answered, and what plans need of it: its info and the host it runs on."""

    client: docker.DockerClient
    info: dict[str, Any]
    host: HostFacts
    engine: EngineFacts
    identity: EngineIdentity | None = None  # Docker or Podman, and whether it injects CDI devices
    cdi: CdiInventory | None = None  # the CDI specs of a local engine with CDI; None: none read
    service_limits: dict[str, int] = field(default_factory=dict)  # a local Podman service's nofile/nproc
    service_uid: int | None = None  # the host uid a rootless Podman service runs as; None elsewhere
    # Where Podman's CLI must be told the service is (`engine.client.podman_cli_url`); None on Docker.
    cli_url: str | None = None


def open_session() -> EngineSession:
    from curator_kit.engine.client import connect, engine_address, podman_cli_url
    from curator_kit.engine.identity import engine_identity
    from curator_kit.ops.hostfacts import engine_host

    client = connect()
    info = client.info()
    address = engine_address()
    host = engine_host(info, address)
    identity = engine_identity(client, info)
    cdi, service_limits = None, {}
    if identity.cdi and host.local:
        from curator_kit.ops.cdispecs import read_cdi_inventory

        cdi = read_cdi_inventory(identity.cdi_spec_dirs)
    if identity.podman and host.local:  # what it may grant containers is its own ceiling, not dockerd's
        from curator_kit.ops.dockerd_limits import local_podman_limits

        memlock, service_limits = local_podman_limits(address.removeprefix("unix://"))
        host = replace(host, memlock_cap=memlock, source="the Podman engine")
    service_uid = None
    if identity.podman and identity.rootless:
        from curator_kit.engine.podman import rootless_service_uid

        service_uid = rootless_service_uid(client)
    facts = engine_facts(client, info)
    cli_url = podman_cli_url() if identity.podman else None
    return EngineSession(client, info, host, facts, identity, cdi, service_limits, service_uid, cli_url)


def fit_to_engine(plan: ContainerPlan, session: EngineSession | None) -> None:
    """The engine's side of a plan, decided from what answers, once for every target that runs a plan: on
    Podman the plan is shown as a `podman run` line (with `--url` when DOCKER_HOST, which the podman CLI does
    not read, named the service) and names nofile and nproc (engine.podman), and on a
    rootless Podman a plan run as the service's own user keeps that uid inside (`--userns=keep-id`); a GPU
    request goes as CDI devices where the engine takes them so (`cdi.cdi_route`), resolved against the CDI
    specs, whose refusal joins the plan's findings. Without an engine (a dry run) the plan stays Docker's."""
    if session is None or session.identity is None:
        return
    from curator_kit.core.constants import ENGINE_PODMAN
    from curator_kit.core.pipeline.cdi import cdi_route, gpu_devices

    identity = session.identity
    if identity.podman:
        from curator_kit.engine.podman import podman_ulimits, rootless_userns

        plan.engine = ENGINE_PODMAN
        plan.engine_url = session.cli_url
        plan.ulimits = (*plan.ulimits, *podman_ulimits(plan.ulimits, session.service_limits))
        if identity.rootless:
            plan.userns = rootless_userns(plan.user, session.service_uid)
    if plan.gpus.wanted and not plan.runtime and cdi_route(identity.podman, identity.cdi, session.cdi):
        plan.cdi = True
        plan.cdi_devices, found = gpu_devices(plan.gpus, session.cdi if session.host.local else None)
        plan.findings.extend(found)


def gate(findings: list[Finding], say: Say, force: bool = False) -> None:
    """Say every warning, then pass the one gate (`findings.decide`): a refusal raises, a forced one is
    said. Warnings come first, so a refused command still shows what else was found."""
    from curator_kit.core.findings import decide, warnings_of

    for warning in warnings_of(findings):
        say(f"warning: {warning.one_line()}", "yellow")
    for forced in decide(findings, force)[len(warnings_of(findings)) :]:
        say(f"warning: {forced.one_line()}", "yellow")


def require_session(session: EngineSession | None, findings: list[Finding], force: bool) -> EngineSession:
    """The engine a real command needs. When none answered at planning, the plan's own refusals are
    said first (they need no engine), then the engine's own error."""
    if session is not None:
        return session
    from curator_kit.core.findings import decide

    decide(findings, force)
    return open_session()


def try_session() -> EngineSession | None:
    """For dry runs: the engine when one answers, else None (plans then use this machine's facts). An engine
    choice that names none is refused here too, not taken for an engine that does not answer."""
    from curator_kit.engine.client import chosen_engine

    chosen_engine()
    try:
        return open_session()
    except CuratorKitError:
        return None


def image_spec(client: docker.DockerClient, image: str) -> PipelineSpec:
    """The pipeline spec `build` baked into the image's label."""
    from curator_kit.core.pipeline.spec import spec_in_labels
    from curator_kit.engine.images import image_labels

    spec = spec_in_labels(image_labels(client, image), image)
    if spec is None:
        raise CuratorKitError(
            f"image {image} carries no pipeline spec (built by an older curator-kit, or not by curator-kit)",
            "rebuild it with `curator-kit build`",
        )
    return spec


def image_home(client: docker.DockerClient | None, image: str) -> str | None:
    """The image's ENV HOME, from which `runplan.container_home` decides the container's HOME; None
    without an engine or the image (a dry run plans HOME=/tmp then), or when the image sets none."""
    from curator_kit.core.run.runplan import home_in_environment
    from curator_kit.engine.images import image_environment, image_exists

    if client is None or not image or not image_exists(client, image):
        return None
    return home_in_environment(image_environment(client, image))


def stale_image_note(image: str, baked: PipelineSpec, manifest: Manifest, project_dir: Path) -> Finding | None:
    """Say so when the working tree's pipeline is not the one the image will run."""
    from curator_kit.core.findings import Code, warn
    from curator_kit.core.pipeline.spec import resolve_spec

    try:
        changes = baked.differences(resolve_spec(manifest, project_dir))
    except CuratorKitError:  # the working tree does not resolve; the image still runs what it has
        return None
    if not changes:
        return None
    stale = f"stale image: {image} runs its own pipeline ({'; '.join(changes)} since) -- run `curator-kit build`"
    return warn(Code.IMAGE_STALE, stale)


def planning_spec(
    client: docker.DockerClient | None,
    image: str,
    manifest: Manifest,
    project_dir: Path,
    *,
    runs_pipeline: bool = True,
) -> tuple[PipelineSpec, list[Finding]]:
    """The spec a plan is made from, and notes about it: the image's own spec, with a note when the
    working tree has moved on. With no engine or no image yet the plan is made from the working tree
    and says so (`check_plan` refuses the real command for the missing image, after every other
    finding is known). A container that runs another command (`run --command`) may use any image:
    without a spec label the working tree's stands in."""
    from curator_kit.core.findings import Code, warn
    from curator_kit.core.parsers import ParseError, parse_image_reference
    from curator_kit.core.pipeline.spec import resolve_spec, spec_in_labels
    from curator_kit.engine.images import image_exists, image_labels

    try:
        parse_image_reference(image)
        known = client is not None and image_exists(client, image)
    except ParseError:  # the plan refuses the reference itself (IMAGE_REFERENCE)
        known = False
    if not known:
        why = "no engine answers" if client is None else f"{image} is not built yet"
        return resolve_spec(manifest, project_dir), [warn(Code.SPEC_FROM_TREE, f"planned from the working tree: {why}")]
    assert client is not None
    if not runs_pipeline and spec_in_labels(image_labels(client, image), image) is None:
        return resolve_spec(manifest, project_dir), []
    spec = image_spec(client, image)
    note = stale_image_note(image, spec, manifest, project_dir)
    return spec, [note] if note else []


def check_image(client: docker.DockerClient, image: str) -> None:
    from curator_kit.engine.images import image_exists

    if not image_exists(client, image):
        raise image_missing(image, dry_run=False).error()


def image_missing(image: str, *, dry_run: bool) -> Finding:
    """The image a plan names is not in the engine: the real command refuses; a dry run plans from
    the working tree (so a project can be planned before its first build) and says so."""
    from curator_kit.core.findings import Code, refuse, warn

    also = ": the real command refuses until it is built" if dry_run else ""
    return (warn if dry_run else refuse)(
        Code.IMAGE_NOT_BUILT,
        f"image {image} is not in the Docker engine{also}",
        "run `curator-kit build` (or pass --image with an image the engine has)",
    )


def engine_facts(client: docker.DockerClient, info: dict[str, Any] | None = None) -> EngineFacts:
    from curator_kit.core.run.preflight import EngineFacts
    from curator_kit.engine.client import engine_address

    return EngineFacts.from_info(info if info is not None else client.info(), engine_address())


def image_presence(session: EngineSession, image: str, findings: list[Finding], *, dry_run: bool) -> list[Finding]:
    """The image is in the engine, asked only of a reference the plan did not refuse already."""
    from curator_kit.core.findings import Code, refusals
    from curator_kit.engine.images import image_exists

    if not image or Code.IMAGE_REFERENCE in {f.code for f in refusals(findings)}:
        return []
    return [] if image_exists(session.client, image) else [image_missing(image, dry_run=dry_run)]


@dataclass
class Checked:
    """Every finding of a container plan (its own, then the engine's and the host's), and the input
    sample the codec check opened (shown before the verdict)."""

    findings: list[Finding]
    codecs: CodecFacts | None = None


def check_plan(session: EngineSession | None, plan: ContainerPlan, *, dry_run: bool) -> Checked:
    """The one check of a container plan, the same for the real command and its dry run. Without an
    engine (a dry run) only the plan's own findings are known; the real command connects first."""
    from curator_kit.core.run.preflight import judge

    findings = list(plan.findings)
    if session is None:
        return Checked(findings)
    findings += image_presence(session, plan.image, findings, dry_run=dry_run)
    codecs = codec_facts(session.client, plan, session.engine)
    host_gpus = list(session.host.gpus) if session.engine.local else []
    return Checked(findings + judge(plan, session.engine, host_gpus, codecs), codecs)


def show_dry_run(
    plan_lines: list[str], checked: Checked, echo: Callable[[str], None], say: Say, *, force: bool
) -> None:
    """A dry run prints the plan (on stdout), its warnings, and then the refusal the real command would
    give (one `error:` line, non-zero exit): what it says is what the real command would do."""

    for line in plan_lines:
        echo(line)
    _show_inputs(checked, say)
    gate(checked.findings, say, force)


def execute(
    manifest: Manifest,
    project_dir: Path,
    options: RunOptions,
    echo: Callable[[str], None],
    say: Say,
    *,
    dry_run: bool,
    force: bool = False,
    keep: bool = False,
    **planning: Any,
) -> int:
    """`run`, `shell` and `replay`: one plan and one check for the real command and its dry run. The dry
    run prints the plan and the `docker run` line and exits 0, or non-zero with the real command's
    refusal; the real command connects (the engine's own error when none answers) and launches."""
    session = try_session()
    plan = plan_pipeline_run(manifest, project_dir, options, session, **planning)
    checked = check_plan(session, plan, dry_run=dry_run)
    if dry_run:
        show_dry_run(plan.describe(), checked, echo, say, force=force)
        echo(plan.docker_run_line())
        return 0
    if session is None:
        session = require_session(session, checked.findings, force)
        checked = check_plan(session, plan, dry_run=False)
    return launch(session, plan, say, force=force, keep=keep, checked=checked)


def _show_inputs(checked: Checked, say: Say) -> None:
    codecs = checked.codecs
    if codecs is not None and codecs.sample is not None:
        say(f"inputs    {codecs.sample.describe()}", None)
        for warning in codecs.sample.skipped():  # before the verdict: shown even when it refuses the run
            say(f"warning: {warning}", "yellow")


def codec_facts(client: docker.DockerClient, plan: ContainerPlan, engine: EngineFacts) -> CodecFacts | None:
    """The run's input videos (opened on this machine, a sample when many) and the image's codecs label;
    None when the container runs no stages here (a --command override, a cluster driver)."""
    from curator_kit.core.constants import INPUT_DIR
    from curator_kit.core.pipeline.codecs import codecs_in_labels
    from curator_kit.core.run.preflight import CodecFacts
    from curator_kit.engine.images import image_exists, image_labels

    if not (plan.runs_pipeline and plan.stages_here and plan.spec is not None) or not image_exists(client, plan.image):
        return None
    codecs = codecs_in_labels(image_labels(client, plan.image))
    source = next((Path(m.source) for m in plan.mounts if m.target == INPUT_DIR), None)
    if source is None or not engine.local or not source.is_dir():
        return CodecFacts(None, codecs, remote=source is not None and not engine.local)
    from curator_kit.ops.inputprobe import probe_inputs

    return CodecFacts(probe_inputs(source), codecs)


def planning_facts(
    session: EngineSession | None,
    manifest: Manifest,
    project_dir: Path,
    options: Planned,
    *,
    runs_pipeline: bool,
    mount_code: bool,
) -> tuple[Planned, HostFacts, PipelineSpec, list[Finding]]:
    """What every local plan (a run's container, a cluster's nodes) is made from: the host (the engine's
    view, else this machine's), the image's pipeline spec, where the models' weights are, the image's HOME,
    and with `mount_code` the project's code mounts; `options` comes back with those filled in."""
    from dataclasses import replace

    from curator_kit.ops.hostfacts import local_host
    from curator_kit.ops.modelcache import weights_facts

    client = session.client if session is not None else None
    host = session.host if session is not None else local_host()
    spec, notes = planning_spec(client, options.image, manifest, project_dir, runs_pipeline=runs_pipeline)
    if options.weights is None:
        options = replace(options, weights=weights_facts(manifest, project_dir, host, client, options.image))
    if options.image_home is None:
        options = replace(options, image_home=image_home(client, options.image))
    if mount_code:
        from curator_kit.ops.codemount import code_mounts_for

        code_mounts, code_notes = code_mounts_for(client, options.image, manifest, project_dir)
        options, notes = replace(options, code_mounts=code_mounts), [*notes, *code_notes]
    return options, host, spec, notes


def plan_pipeline_run(
    manifest: Manifest,
    project_dir: Path,
    options: RunOptions,
    session: EngineSession | None,
    *,
    mount_code: bool = False,
    shell: bool = False,
    replay: ReplayChoice | None = None,
) -> ContainerPlan:
    """The run plan for `options.image`, made from that image's pipeline spec. A dry run may have no
    session (no engine): it plans with this machine's facts and the working tree's spec, and says so.
    `mount_code`: the project's code over the image's copy, refused when only a build carries a change.
    `shell`: the same container with a terminal and bash (`curator-kit shell`, `runplan.plan_shell`).
    `replay`: that stage alone on the tasks `run --capture` saved, or a golden's (`runplan.plan_replay`)."""
    from curator_kit.core.run.runplan import plan_run, plan_shell

    runs_pipeline = options.command is None and not shell
    options, host, spec, notes = planning_facts(
        session, manifest, project_dir, options, runs_pipeline=runs_pipeline, mount_code=mount_code
    )
    if replay is not None:
        from curator_kit.core.run.runplan import plan_replay

        plan = plan_replay(manifest, spec, project_dir, options, host, replay)
    else:
        plan = (plan_shell if shell else plan_run)(manifest, spec, project_dir, options, host)
    plan.findings.extend(notes)
    fit_to_engine(plan, session)
    return plan


def launch(
    session: EngineSession,
    plan: ContainerPlan,
    say: Say,
    *,
    force: bool = False,
    keep: bool = False,
    checked: Checked | None = None,
) -> int:
    """The container's exit code (128+N when signal N stopped it); refusals raise before anything is
    created or written. `checked`: the plan's findings when the caller checked it already."""
    from curator_kit.engine.containers import RunInterrupted, run_plan

    checked = checked or check_plan(session, plan, dry_run=False)
    for line in plan.describe():
        say(line, None)
    _show_inputs(checked, say)
    gate(checked.findings, say, force)
    if plan.output_source is not None:
        ensure_output_dir(Path(plan.output_source), session.host)
    for directory in plan.write_dirs:
        ensure_output_dir(Path(directory), session.host)
    if plan.model_dirs:
        from curator_kit.ops.modelcache import ensure_model_dirs

        ensure_model_dirs(plan.model_dirs)

    def interrupted(stop: RunInterrupted) -> None:
        say(f"{stop}: stopping {plan.name}" + ("" if keep else " and removing it"), "yellow")

    if plan.interactive:  # `curator-kit shell`: the terminal is the user's until the shell exits
        from curator_kit.engine.containers import run_interactive

        return run_interactive(plan)
    code = run_plan(session.client, plan, keep=keep, on_interrupt=interrupted)
    if keep:
        say(f"kept container {plan.name} (docker rm {plan.name} removes it)", "cyan")
    show_summary(plan, say)
    if code:
        say(f"{plan.name} exited with {code}", "red")
    return code


def launch_tests(
    session: EngineSession,
    manifest: Manifest,
    project_dir: Path,
    image: str,
    pytest_args: tuple[str, ...],
    say: Say,
    *,
    allow_host_mount: bool = False,
    mount_code: bool = False,
) -> int:
    """`curator-kit test`: the project's tests in its image, planned from the image's spec as a run is
    (weights cache, `--mount-code`); pytest's exit code. No data is mounted and no pipeline runs, so
    there is no preflight verdict, input sample or summary."""
    from curator_kit.core.run.runplan import plan_tests
    from curator_kit.engine.containers import run_plan
    from curator_kit.ops.modelcache import ensure_model_dirs, weights_facts

    spec, notes = planning_spec(session.client, image, manifest, project_dir)
    weights = weights_facts(manifest, project_dir, session.host, session.client, image)
    code_mounts: tuple = ()
    if mount_code:
        from curator_kit.ops.codemount import code_mounts_for

        code_mounts, code_notes = code_mounts_for(session.client, image, manifest, project_dir)
        notes += code_notes
    plan = plan_tests(
        manifest,
        spec,
        project_dir,
        image,
        pytest_args,
        session.host,
        allow_host_mount=allow_host_mount,
        weights=weights,
        code_mounts=code_mounts,
        image_home=image_home(session.client, image),
    )
    fit_to_engine(plan, session)
    gate(check_plan(session, plan, dry_run=False).findings, say)  # risky mounts, the image
    ensure_model_dirs(plan.model_dirs)
    for note in notes:
        say(f"note: {note.one_line()}", "yellow")
    say(f"testing {plan.image}: {' '.join(plan.command)}", "cyan")
    return run_plan(session.client, plan)


def show_summary(plan: ContainerPlan, say: Say) -> None:
    """The summary pipeline.py wrote for this run (matched by run id), after the container's own output."""
    from curator_kit.core.run.runsummary import read_summary

    if not plan.runs_pipeline or plan.output_source is None:
        return
    summary = read_summary(Path(plan.output_source), plan.run_id)
    if summary is None:
        return
    for line in summary.lines():
        say(line, "red" if line.startswith(("exit", "error")) else None)
