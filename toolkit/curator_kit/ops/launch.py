"""Start a planned pipeline container the one way every command does: show the plan, preflight it,
make the output directory as the invoking user, run it to its end. Shared by `run` and `demo`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker

    from curator_kit.core.manifest import StageSpec
    from curator_kit.core.runplan import ContainerPlan, HostFacts

Say = Callable[[str, str | None], None]


def ensure_output_dir(path: Path, host: HostFacts) -> None:
    """Create the output directory as the user the containers run as; the engine would make a missing
    bind source as root. Under sudo (root here, SUDO_UID the user) a new directory goes to that user."""
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if created and os.getuid() == 0 and (host.uid, host.gid) != (0, 0):
        os.chown(path, host.uid, host.gid)


def launch(
    client: docker.DockerClient,
    info: dict[str, Any],
    plan: ContainerPlan,
    stages: list[StageSpec],
    host: HostFacts,
    say: Say,
    *,
    force: bool = False,
    keep: bool = False,
) -> int:
    """The container's exit code (128+N when signal N stopped it); preflight refusals raise."""
    from curator_kit.core.constants import OUTPUT_DIR
    from curator_kit.core.preflight import EngineFacts, preflight
    from curator_kit.engine.client import engine_address
    from curator_kit.engine.containers import RunInterrupted, run_plan

    for line in plan.describe():
        say(line, None)
    for warning in preflight(client, plan, stages, EngineFacts.from_info(info, engine_address()), force=force):
        say(f"warning: {warning}", "yellow")
    for mount in plan.mounts:
        if mount.target == OUTPUT_DIR:
            ensure_output_dir(Path(mount.source), host)

    def interrupted(stop: RunInterrupted) -> None:
        say(f"{stop}: stopping {plan.name}" + ("" if keep else " and removing it"), "yellow")

    code = run_plan(client, plan, keep=keep, on_interrupt=interrupted)
    if keep:
        say(f"kept container {plan.name} (docker rm {plan.name} removes it)", "cyan")
    if code:
        say(f"{plan.name} exited with {code}", "red")
    return code
