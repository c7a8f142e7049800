"""Build, pull, import and look up images through the Docker SDK."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.buildcontext import BuildContext
from curator_kit.core.buildlog import BuildFailed, BuildLogParser, BuildSucceeded
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.ops.progress import Progress


def image_exists(client: docker.DockerClient, reference: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(reference)
    except ImageNotFound:
        return False
    return True


def try_pull(client: docker.DockerClient, reference: str) -> str | None:
    """Pull `reference`; None on success, else the engine's reason (e.g. no registry reachable)."""
    from docker.errors import APIError

    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    try:
        client.images.pull(repository, tag=tag)
    except APIError as error:
        return str(error.explanation or error)
    return None


def build_image(
    client: docker.DockerClient,
    context: BuildContext,
    *,
    tag: str,
    progress: Progress,
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    nocache: bool = False,
    target: str | None = None,
) -> str:
    """Build with the classic builder, streaming events to `progress`; return the image id.

    The engine tags only on success and `forcerm` removes intermediate containers, so a
    failed build leaves no tagged half-built image behind.
    """
    parser = BuildLogParser()
    with context.write_tar() as archive:
        stream = client.api.build(
            fileobj=archive,
            custom_context=True,
            tag=tag,
            buildargs=buildargs or {},
            labels=labels or {},
            nocache=nocache,
            rm=True,
            forcerm=True,
            target=target,
            decode=True,
        )
        for chunk in stream:
            for event in parser.feed(chunk):
                progress.handle(event)
                if isinstance(event, BuildFailed):
                    raise build_error(event)
    for event in parser.finish():
        progress.handle(event)
        if isinstance(event, BuildSucceeded):
            return event.image_id
    raise CuratorKitError("the engine finished the build without reporting an image id", "run again with --no-cache")


def build_error(event: BuildFailed) -> CuratorKitError:
    where = f"step {event.step.number}/{event.step.total} `{event.step.instruction}`" if event.step else "the build"
    return CuratorKitError(
        f"build failed at {where}: {event.message}",
        "fix that step (its last output lines are above) and build again",
        details=event.tail,
    )


def import_rootfs(client: docker.DockerClient, tar_path: Path, reference: str, changes: list[str]) -> str:
    """`docker import` a root filesystem tarball; returns the new image id."""
    import json

    repository, _, tag = reference.rpartition(":")
    result = client.api.import_image_from_file(str(tar_path), repository=repository, tag=tag, changes=changes)
    # The engine answers with JSON lines; the last carries the id under "status".
    lines = [json.loads(line) for line in str(result).splitlines() if line.strip().startswith("{")]
    for line in reversed(lines):
        if "error" in line:
            raise CuratorKitError(f"docker import failed: {line['error']}", "check the root filesystem tarball")
        if "status" in line:
            return str(line["status"])
    return client.images.get(reference).id


def push_image(client: docker.DockerClient, reference: str, log) -> None:
    """Push with per-layer progress lines; an error in the stream becomes a CuratorKitError."""
    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    last_status: dict[str, str] = {}
    for event in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise CuratorKitError(
                f"push of {reference} failed: {event['error']}",
                "check the registry is reachable and you are logged in (`docker login REGISTRY`)",
            )
        layer, status = event.get("id", ""), event.get("status", "")
        # Layer events repeat "Pushing" with byte counts; report each change of state once.
        if status and last_status.get(layer) != status:
            last_status[layer] = status
            log(f"  {layer + ': ' if layer else ''}{status}")
