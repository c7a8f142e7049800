"""Execute a ContainerPlan: create, start, stream logs, wait; leave no container behind.

Cleanup finds containers by the plan's run-id label, not by a handle, so a signal that lands
while `create` is in flight still finds what the engine made.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, BinaryIO

from curator_kit.core.constants import ENGINE_PODMAN, LABEL_RUN_ID
from curator_kit.core.parsers import RLIMIT_NUMBERS
from curator_kit.core.pipeline.cdi import CDI_FIX
from curator_kit.core.pipeline.devices import NVIDIA_FIX
from curator_kit.core.run.runplan import ContainerPlan
from curator_kit.engine.podman import create_compat, create_with_cdi
from curator_kit.engine.stopsignals import ignoring_stop_signals, stop_signals
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

STOP_TIMEOUT_S = 10  # SIGTERM to the init process, then SIGKILL: Ray gets a moment to shut down


class RunInterrupted(CuratorKitError):
    """SIGINT or SIGTERM arrived while a container ran; uncaught, the CLI exits 128+N with one line."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def translate_engine_error(error: Exception, action: str | None) -> CuratorKitError:
    """The engine's refusal as one line with a fix; the NVIDIA cases are the common ones."""
    text = str(getattr(error, "explanation", None) or error)
    if "could not select device driver" in text:
        return CuratorKitError(
            "the Docker engine has no NVIDIA GPU support (could not select a device driver for --gpus)",
            f"{NVIDIA_FIX}, restart dockerd; or run with --gpus none",
        )
    if "unknown or invalid runtime name" in text:
        return CuratorKitError(
            "the Docker engine has no `nvidia` runtime (--runtime nvidia)",
            f"{NVIDIA_FIX}, restart dockerd; or use --gpus instead of --runtime",
        )
    if "error setting rlimit" in text:
        return _rlimit_refused(text)
    if "/dev/net/tun" in text:  # rootless Podman's slirp4netns opens it as the user
        return CuratorKitError(
            f"rootless Podman cannot give the container a network: {text}",
            "let users open /dev/net/tun (`sudo chmod 0666 /dev/net/tun`, its usual mode; "
            "scripts/ensure-podman --rootless USER does), then remove the stale namespace it left "
            "(`rm $XDG_RUNTIME_DIR/netns/rootless-netns-*` while no container of that user runs)",
        )
    if "rootless netns" in text:  # a namespace file left by an earlier failed setup, with nothing behind it
        return CuratorKitError(
            f"rootless Podman's network namespace is stale: {text}",
            "remove it while no container of that user runs: `rm $XDG_RUNTIME_DIR/netns/rootless-netns-*` "
            "(scripts/ensure-podman --rootless USER does when it starts the service)",
        )
    if "unresolvable CDI devices" in text:
        return CuratorKitError(
            f"the engine resolves no such CDI device: {text}",
            f"`curator-kit doctor` lists the CDI GPU devices; {CDI_FIX}",
        )
    if action is None:
        return CuratorKitError(
            f"the Docker engine refused: {text}", "check the arguments; `curator-kit doctor` checks the engine"
        )
    return CuratorKitError(f"the Docker engine could not {action} the container: {text}")


_RLIMIT_TYPE = re.compile(r"error setting rlimit type (\d+)")
# What /proc/PID/limits calls each limit (the fix tells the user where to read dockerd's own).
_PROC_LIMIT_NAMES = {"memlock": "locked memory", "nofile": "open files", "stack": "stack size", "nproc": "processes"}


def _rlimit_refused(text: str) -> CuratorKitError:
    """runc names the limit by number; say which one, and where the engine's own ceiling is.

    Unprivileged or capped engines (no CAP_SYS_RESOURCE, systemd's LimitNOFILE/LimitMEMLOCK) cannot
    raise a limit above their own."""
    match = _RLIMIT_TYPE.search(text)
    name = RLIMIT_NUMBERS.get(int(match.group(1))) if match else None
    if name is None:
        return CuratorKitError(
            f"the Docker engine may not set one of the container's ulimits: {text}",
            "lower the --ulimit values to at most dockerd's own (cat /proc/$(pidof dockerd)/limits)",
        )
    shown = _PROC_LIMIT_NAMES.get(name, name)
    fix = (
        f"pass --ulimit {name}=SOFT:HARD at or below dockerd's own limit "
        f"(grep '{shown}' /proc/$(pidof dockerd)/limits), or raise that limit (systemd: Limit{name.upper()}=infinity)"
    )
    return CuratorKitError(f"the Docker engine may not raise the {name} ulimit this far in containers", fix)


def run_containers(client: docker.DockerClient, run_id: str) -> list[Container]:
    return client.containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"})


def remove_run_containers(client: docker.DockerClient, run_id: str) -> None:
    from docker.errors import APIError, NotFound

    for container in run_containers(client, run_id):
        try:
            container.remove(force=True)
        except NotFound:
            continue
        except APIError as error:
            if "already in progress" not in str(error):
                raise


def stop_run_containers(client: docker.DockerClient, run_id: str) -> None:
    from docker.errors import APIError

    for container in run_containers(client, run_id):
        with suppress(APIError):  # gone or never started; removal settles it
            container.stop(timeout=STOP_TIMEOUT_S)


def _interrupt(signum: int, _frame: object) -> None:
    # Raised in the main thread, out of a blocking log read too (PEP 475 retries only when handlers return).
    raise RunInterrupted(signum)


def docker_create_kwargs(plan: ContainerPlan) -> dict[str, Any]:
    """The plan's create() arguments with docker's own types for mounts, ulimits and device requests."""
    from docker.types import DeviceRequest, Mount, Ulimit

    kwargs = plan.create_kwargs()
    kwargs["mounts"] = [Mount(**mount) for mount in kwargs["mounts"]]
    kwargs["ulimits"] = [Ulimit(**limit) for limit in kwargs["ulimits"]]
    if "device_requests" in kwargs:
        kwargs["device_requests"] = [DeviceRequest(**request) for request in kwargs["device_requests"]]
    return kwargs


def create(client: docker.DockerClient, plan: ContainerPlan) -> Container:
    """The plan's container, as the plan was fitted to this engine (`ops.launch.fit_to_engine`)."""
    from docker.errors import APIError

    try:
        if plan.cdi and plan.engine == ENGINE_PODMAN:  # Podman's compat API drops CDI devices (engine.podman)
            return create_with_cdi(client, plan.create_kwargs(), plan.cdi_devices, plan.userns)
        if plan.userns:  # docker-py's own create allows "host" only
            return create_compat(client, docker_create_kwargs(plan), plan.userns)
        return client.containers.create(**docker_create_kwargs(plan))
    except APIError as error:
        raise translate_engine_error(error, "create") from None


def start(client: docker.DockerClient, container: Container, run_id: str) -> None:
    """Start, or remove what was created and raise the engine's refusal as one line."""
    from docker.errors import APIError

    try:
        container.start()
    except APIError as error:
        with ignoring_stop_signals():
            remove_run_containers(client, run_id)
        raise translate_engine_error(error, "start") from None


def stream_logs(container: Container, out: BinaryIO) -> None:
    # stdout and stderr both to `out`, as they arrive; `logs(follow=True)` lifts the socket timeout,
    # so a pipeline silent for longer than the client's timeout keeps streaming.
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        out.write(chunk)
        out.flush()


def run_plan(
    client: docker.DockerClient,
    plan: ContainerPlan,
    *,
    keep: bool = False,
    out: BinaryIO | None = None,
    on_interrupt: Callable[[RunInterrupted], None] | None = None,
) -> int:
    """Run the plan to its end: the container's exit code, or 128+signal when a signal stopped it.

    Without `keep` the container is removed on every way out; a refused start removes it even with `keep`.
    """
    sink = out if out is not None else sys.stdout.buffer
    try:
        with stop_signals(_interrupt):
            try:
                container = create(client, plan)
                start(client, container, plan.run_id)
                stream_logs(container, sink)
                return int(container.wait()["StatusCode"])
            except RunInterrupted as stop:
                with ignoring_stop_signals():
                    if on_interrupt:
                        on_interrupt(stop)
                    stop_run_containers(client, plan.run_id)
                return 128 + stop.signum
    finally:
        if not keep:
            with ignoring_stop_signals():
                remove_run_containers(client, plan.run_id)


def run_interactive(plan: ContainerPlan) -> int:
    """A plan with a terminal (`curator-kit shell`), through the docker CLI: the SDK has no terminal
    relay (raw mode, resizes, signals), and the CLI's is the one users know. Its exit code is the shell's."""
    import shutil
    import subprocess

    if shutil.which(plan.engine) is None:  # docker, or podman for a plan fitted to Podman
        raise CuratorKitError(
            f"an interactive shell needs the {plan.engine} command line, which is not on PATH",
            f"install the {plan.engine} CLI, or run `curator-kit shell --dry-run` and start the printed line elsewhere",
        )
    return subprocess.run(plan.docker_run_argv(), check=False).returncode
