"""Execute base-image plans against the engine: resolve the FROM image (present, pulled,
or bootstrapped), check the variant's torch index answers, build with streamed progress (the
recipe's last step checks the image), then record the versions that check found as labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from curator_kit.core.build.baseimage import BaseBuildPlan, from_image_path, stale_reason
from curator_kit.core.build.buildstages import StageBuild, stage_builds
from curator_kit.core.constants import BASE_VERSIONS_IN_IMAGE, LABEL_BASE_VARIANT, LABEL_BASE_VERSIONS, LABEL_CODECS
from curator_kit.core.sizes import human_size
from curator_kit.engine.images import (
    add_labels,
    build_image,
    image_exists,
    image_labels,
    import_rootfs,
    read_image_file,
    stop_build_on_signals,
    try_pull,
)
from curator_kit.errors import CuratorKitError
from curator_kit.ops.bootstrap import BootstrapPlan, plan_bootstrap, run_bootstrap
from curator_kit.ops.secretsteps import args_for, run_secret_steps, with_dockerfile

if TYPE_CHECKING:
    import docker

    from curator_kit.core.build.buildcontext import BuildContext
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


def index_unreachable(url: str, timeout: float = 10.0) -> str | None:
    """Why pip could not use the index at `url` from here; None when it answers (any HTTP status,
    or a TLS handshake that the build's forwarded CA certificates may complete)."""
    import ssl
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLError):
            return None
        return f"does not answer ({error.reason})"
    except OSError as error:
        return f"does not answer ({error})"


def build_base(
    client: docker.DockerClient,
    plan: BaseBuildPlan,
    progress: Progress,
    log: Log,
    explicit_from: bool = False,
    nocache: bool = False,
) -> str:
    with stop_build_on_signals():  # Ctrl-C anywhere in here (bootstrap included): one line, exit 130
        from_image = resolve_from_image(client, plan, explicit_from, log)
        log(from_image_path(plan.variant, from_image, explicit_from))
        build_args = {**plan.build_args, "BASE_IMAGE": from_image}
        plan = replace(plan, from_image=from_image, build_args=build_args)
        plan = plan.with_index(plan.index_url, plan.extra_index_urls, plan.find_links)  # steps see the args
        if plan.torch_index_url and (reason := index_unreachable(plan.torch_index_url)):
            # pip would retry an unreachable index for every package it resolves.
            plan = plan.without_torch_index(reason)
            log(plan.notes[-1])
        log(f"building {plan.tag} on {from_image} (context {human_size(plan.context.size_bytes)})")
        context, dockerfile = plan.context, plan.dockerfile
        if plan.steps:
            # The stages that read index credentials first: their last RUN steps in throwaway containers
            # with a pip.conf mounted (no build arg carries them), each result tagged as the stage's.
            dockerfile = run_secret_steps(
                client, dockerfile, context, plan.build_args, plan.steps, progress, log, nocache
            )
            context, nocache = with_dockerfile(context, dockerfile), False
        build_args = args_for(dockerfile, plan.build_args)
        # Throwaway stages tagged first, so a prune cannot take them mid-build (the plan says why), those
        # that need nothing of each other at once (ffmpeg's compile beside the venv's downloads); cut
        # from the Dockerfile the secret steps left, which starts their stages from their results.
        stepped = {step.stage for step in plan.steps}
        stages = [stage for stage in plan.kept_stages if stage not in stepped]
        if stages:
            builds = stage_builds(dockerfile, stages)
            build_stages_at_once(client, context, builds, plan.stage_tag, build_args, progress, nocache)
            nocache = False  # the image's own build reuses what the stage builds just made
        build_image(client, context, tag=plan.tag, buildargs=build_args, progress=progress, nocache=nocache)
        return label_versions(client, plan.tag, progress, log)


def build_stages_at_once(
    client: docker.DockerClient,
    context: BuildContext,
    builds: list[StageBuild],
    tag_of: Callable[[str], str],
    build_args: dict[str, str],
    progress: Progress,
    nocache: bool,
) -> None:
    """Each stage build as soon as the ones it needs are done, each in a thread of its own (daemon: an
    interrupt in the main thread ends the process, which closes their connections and so their builds),
    tagged `tag_of(stage)`. `nocache` goes to the builds that need no other: the rest start from what
    those just made."""
    import queue
    import threading

    from curator_kit.ops.progress import stage_progress

    lock = threading.Lock()
    finished: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()

    def build(stage: StageBuild) -> None:
        try:
            build_image(
                client,
                with_dockerfile(context, stage.dockerfile),
                tag=tag_of(stage.stage),
                buildargs=build_args,
                progress=stage_progress(progress, stage.stage, lock),
                nocache=nocache and not stage.after,
                target=stage.stage,
            )
        except BaseException as error:  # handed to the main thread, which raises it
            finished.put((stage.stage, error))
            return
        finished.put((stage.stage, None))

    waiting, running, done = list(builds), 0, set()
    while waiting or running:
        for stage in [stage for stage in waiting if set(stage.after) <= done]:
            waiting.remove(stage)
            threading.Thread(target=build, args=(stage,), name=f"build-{stage.stage}", daemon=True).start()
            running += 1
        name, error = finished.get()
        running -= 1
        if error is not None:
            raise error
        done.add(name)


def label_versions(client: docker.DockerClient, tag: str, progress: Progress, log: Log) -> str:
    """Record what the image's own check found (torch, torchvision, ray, opencv, ffmpeg and its
    encoders, ...), its codecs and its SBOM's summary as labels: a label-only build on top, so the tag
    moves to an image that has them."""
    text = read_image_file(client, tag, BASE_VERSIONS_IN_IMAGE)
    try:
        versions = json.loads(text or "")
    except ValueError:
        raise CuratorKitError(
            f"{tag} has no readable {BASE_VERSIONS_IN_IMAGE}: its check step did not run",
            "build it again with `curator-kit base build --no-cache`",
        ) from None
    log("versions  " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    labels = {LABEL_BASE_VERSIONS: json.dumps(versions, sort_keys=True, separators=(",", ":"))}
    labels |= _codec_labels(client, tag, log)
    labels |= _sbom_labels(client, tag, log)
    return add_labels(client, tag, labels, progress)


def _codec_labels(client: docker.DockerClient, tag: str, log: Log) -> dict[str, str]:
    """The image's codecs (its probe, run in a container: the recipe does not carry the probe)."""
    from curator_kit.core.pipeline.codecs import describe_codecs
    from curator_kit.ops.imagecodecs import probe_codecs

    codecs = probe_codecs(client, tag)
    for line in describe_codecs(codecs):
        log(f"codecs    {line}")
    return {LABEL_CODECS: codecs.to_label()}


def _sbom_labels(client: docker.DockerClient, tag: str, log: Log) -> dict[str, str]:
    """The summary of the SBOM the recipe's last step wrote (ops.imagesbom), as the `curator-kit.sbom` label."""
    from curator_kit.core.build.sbom import sbom_text
    from curator_kit.ops.imagesbom import sbom_labels

    labels = sbom_labels(client, tag)
    log(f"sbom      {sbom_text(labels)}")
    return labels


def ensure_base(client: docker.DockerClient, plan: BaseBuildPlan, progress: Progress, log: Log) -> str:
    """The base image under `plan.tag`: reused when it was built from this recipe, else built.

    An image under the tag from an older recipe (say, one without libopenh264) is rebuilt rather
    than reused: the tag stays the same across curator-kit versions, the recipe does not."""
    if image_exists(client, plan.tag):
        labels = image_labels(client, plan.tag)
        if LABEL_BASE_VARIANT not in labels:
            log(f"{plan.tag} present, not built by `curator-kit base build`; reused as it is")
            return plan.tag
        reason = stale_reason(labels, plan.recipe)
        if reason is None:
            log(f"{plan.tag} present (recipe {plan.recipe}); reused")
            return plan.tag
        log(f"{plan.tag} is stale: {reason}; rebuilding it")
    else:
        log(f"{plan.tag} absent: building it once (a few minutes; later runs reuse it)")
    build_base(client, plan, progress, log)
    return plan.tag
