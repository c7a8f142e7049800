"""Image references for `curator-kit push` (pure): where a local image goes in a registry, and the
record of the last push that `export kuberay` uses as its image."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.constants import STATE_DIR
from curator_kit.errors import CuratorKitError

LAST_PUSH_FILE = "last-push.json"
_REGISTRY_RE = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+:\d+)(:\d+)?$")
_REPOSITORY_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "" = none named (Docker Hub)
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry + '/' if self.registry else ''}{self.repository}:{self.tag}"

    @property
    def repository_with_registry(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository


def parse_ref(reference: str) -> ImageRef:
    """docker's `[REGISTRY/]REPOSITORY[:TAG]`: the first part is a registry when it has a dot, a port,
    or is localhost (docker's own rule)."""
    name, tag = reference, "latest"
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = reference.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and (first == "localhost" or "." in first or ":" in first):
        registry, repository = first, rest
    else:
        registry, repository = "", name
    if not _REPOSITORY_RE.match(repository) or not _TAG_RE.match(tag) or "@" in reference:
        raise CuratorKitError(f"image reference {reference!r} is not REPOSITORY[:TAG]", "e.g. my-pipeline:latest")
    return ImageRef(registry, repository, tag)


def push_target(image: str, registry: str | None, tag: str | None = None) -> ImageRef:
    """Where `push` puts `image`: in `registry` (replacing the registry it names, if any), with `tag`."""
    ref = parse_ref(image)
    if registry is not None:
        registry = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not _REGISTRY_RE.match(registry):
            raise CuratorKitError(
                f"--registry {registry!r} is not HOST[:PORT]", "e.g. --registry registry.example.com:5000"
            )
        ref = ImageRef(registry, ref.repository, ref.tag)
    if tag is not None:
        if not _TAG_RE.match(tag):
            raise CuratorKitError(f"--tag {tag!r} is not a valid tag", "letters, digits, '_', '.', '-'; at most 128")
        ref = ImageRef(ref.registry, ref.repository, tag)
    if not ref.registry:
        raise CuratorKitError(
            f"{image} names no registry, and pushing to Docker Hub is not what you want here",
            "pass --registry HOST[:PORT]",
        )
    return ref


def record_push(project_dir: Path, reference: str, source: str, image_id: str, digest: str | None) -> Path:
    state = project_dir / STATE_DIR
    state.mkdir(exist_ok=True)
    path = state / LAST_PUSH_FILE
    record = {
        "image": reference,
        "digest": digest,
        "source": source,
        "image_id": image_id,
        "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def last_push(project_dir: Path) -> dict[str, str] | None:
    try:
        record = json.loads((project_dir / STATE_DIR / LAST_PUSH_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "image" in record else None


def publish(client, project_dir: Path, source: str, target: ImageRef, log) -> str | None:
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
