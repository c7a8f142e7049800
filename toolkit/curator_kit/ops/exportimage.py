"""The image an export (`export kuberay`, `export slurm`, `submit --slurm`) is for, and its labels: one
home for what the KubeRay and the Slurm commands both ask before they plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.ops.launch import Say


def export_image(
    project_dir: Path, manifest: Manifest, image: str | None, say: Say, *, submitting: bool = False
) -> str:
    """The image an export is for: the one given, else the last push, else the last build, else the tag
    `build` would give (a plan before the first build, from the working tree), saying which. A job that
    is `submitting` now cannot run an image that was never built: that is refused."""
    from curator_kit.core.build.registry import last_push
    from curator_kit.core.project.state import LAST_BUILD, read_record
    from curator_kit.ops.build import planned_image

    if image is not None:
        return image
    pushed = last_push(project_dir)
    if pushed is not None:
        return str(pushed["image"])
    image = planned_image(project_dir, manifest)
    if read_record(project_dir, LAST_BUILD) is None:
        if submitting:
            from curator_kit.core.findings import Code, refuse

            raise refuse(
                Code.IMAGE_NOT_BUILT,
                f"{image} was never built or pushed: the job's nodes would have no image to run",
                "run `curator-kit build` and `curator-kit push --registry R`, or pass --image (or --image-file)",
            ).error()
        say(
            f"note: {image} is not built yet: planned from the working tree; `curator-kit build` and `push` it",
            "yellow",
        )
    else:
        say(f"note: {image} is a local image; `curator-kit push --registry R` first", "yellow")
    return image


def local_image_labels(image: str, say: Say) -> dict[str, str] | None:
    """The image's labels from the local engine (its Ray version, its base variant), or None, saying why."""
    from curator_kit.engine.client import connect
    from curator_kit.engine.images import image_labels

    try:
        return image_labels(connect(), image)
    except CuratorKitError as error:
        say(f"note: labels of {image} not read ({error.message})", "yellow")
        return None
