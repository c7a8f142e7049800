"""Execute base-image plans against the engine: resolve the FROM image (present, pulled,
or bootstrapped), then build with streamed progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from curator_kit.core.baseimage import BaseBuildPlan
from curator_kit.engine.images import build_image, image_exists, import_rootfs, try_pull
from curator_kit.errors import CuratorKitError
from curator_kit.ops.bootstrap import BootstrapPlan, plan_bootstrap, run_bootstrap

if TYPE_CHECKING:
    import docker

    from curator_kit.ops.progress import Progress

Log = Callable[[str], None]


def bootstrap_image(client: docker.DockerClient, plan: BootstrapPlan, log: Log) -> str:
    from curator_kit.ops.bootstrap import IMAGE_CHANGES

    tarball = run_bootstrap(plan, log)
    try:
        log(f"importing the root as {plan.tag}")
        import_rootfs(client, tarball, plan.tag, list(IMAGE_CHANGES))
    finally:
        tarball.unlink(missing_ok=True)
        tarball.parent.rmdir()
    return plan.tag


def resolve_from_image(client: docker.DockerClient, plan: BaseBuildPlan, explicit: bool, log: Log) -> str:
    """The image to build FROM: the planned one if present or pullable, else the bootstrap root."""
    wanted = plan.from_image
    if image_exists(client, wanted):
        return wanted
    log(f"pulling {wanted}")
    reason = try_pull(client, wanted)
    if reason is None:
        return wanted
    suite = plan.variant.bootstrap_suite
    if explicit or not suite:
        raise CuratorKitError(
            f"base image {wanted} is absent and cannot be pulled ({reason})",
            "load it with `docker load`, or pass --from IMAGE with an image the engine has",
        )
    fallback = plan_bootstrap(suite)
    log(f"{wanted} cannot be pulled ({reason}); building on {fallback.tag}, a debootstrapped Debian {suite} root")
    if not image_exists(client, fallback.tag):
        bootstrap_image(client, fallback, log)
    return fallback.tag


def build_base(
    client: docker.DockerClient,
    plan: BaseBuildPlan,
    progress: Progress,
    log: Log,
    explicit_from: bool = False,
    nocache: bool = False,
) -> str:
    from_image = resolve_from_image(client, plan, explicit_from, log)
    build_args = {**plan.build_args, "BASE_IMAGE": from_image}
    plan = replace(plan, from_image=from_image, build_args=build_args)
    log(f"building {plan.tag} on {from_image} (context {plan.context.size_bytes / 2**20:.0f} MB)")
    return build_image(client, plan.context, tag=plan.tag, buildargs=build_args, progress=progress, nocache=nocache)
