"""`push` and `build --push`: tag the image into a registry, push it, record where it went."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.build.registry import ImageRef
from curator_kit.core.project import state
from curator_kit.ops.state import write_record

if TYPE_CHECKING:
    import docker


def publish(
    client: docker.DockerClient, project_dir: Path, source: str, target: ImageRef, log: Callable[[str], None]
) -> str | None:
    """Tag `source` as `target`, push it with progress, record it for `export kuberay`; the digest."""
    from curator_kit.engine.images import push_image

    if str(target) != source:
        client.images.get(source).tag(target.repository_with_registry, target.tag)
        log(f"tagged {source} as {target}")
    log(f"pushing {target}")
    push_image(client, str(target), log)
    pushed = client.images.get(str(target))
    prefix = target.repository_with_registry + "@"
    digest = next((d for d in pushed.attrs.get("RepoDigests") or [] if d.startswith(prefix)), None)
    record_push(project_dir, str(target), source, pushed.id, digest)
    return digest


def record_push(project_dir: Path, reference: str, source: str, image_id: str, digest: str | None) -> Path:
    """Where the push went, for `export` (`core.build.registry.last_push` reads it back)."""
    record = {
        "image": reference,
        "digest": digest,
        "source": source,
        "image_id": image_id,
        "pushed_at": state.utc_timestamp(),
    }
    return write_record(project_dir, state.LAST_PUSH, record)
