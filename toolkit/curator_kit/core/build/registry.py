"""Image references for `curator-kit push` (pure): where a local image goes in a registry, and the
record of the last push (`ops.publish` writes it) that `export kuberay` uses as its image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.parsers import IMAGE_TAG, parse_image_reference
from curator_kit.core.project import state
from curator_kit.errors import CuratorKitError

_REGISTRY_RE = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+:\d+)(:\d+)?$")


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
    """docker's `[REGISTRY/]REPOSITORY[:TAG]` (core.parsers' image grammar) with a tag to push: no digest."""
    parsed = parse_image_reference(reference)
    if parsed.digest:
        raise CuratorKitError(f"image reference {reference!r} names a digest", "push a tag: REPOSITORY[:TAG]")
    return ImageRef(parsed.registry, parsed.repository, parsed.tag or "latest")


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
        if not IMAGE_TAG.fullmatch(tag):
            raise CuratorKitError(f"--tag {tag!r} is not a valid tag", "letters, digits, '_', '.', '-'; at most 128")
        ref = ImageRef(ref.registry, ref.repository, tag)
    if not ref.registry:
        raise CuratorKitError(
            f"{image} names no registry, and pushing to Docker Hub is not what you want here",
            "pass --registry HOST[:PORT]",
        )
    return ref


def last_push(project_dir: Path) -> dict[str, str] | None:
    return state.read_record(project_dir, state.LAST_PUSH, required=("image",))
