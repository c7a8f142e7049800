"""Read the base image's layout (`core.build.baselayout`) through the engine, before the Dockerfile is rendered.

Only the image's ENV and files are read, from one created container that never starts: 60 ms on an
idle engine, 0.5-1.5 s on one at load 20, next to a build's minutes, so the answer is not cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curator_kit.core.build.baselayout import (
    PIP_LAYOUT,
    PYVENV_CFG,
    BaseLayout,
    decide_layout,
    path_dirs,
    paths_to_check,
)
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

# What `dockerfile` and `build --dry-run` say when they render for the assumed layout.
ASSUMED_NOTE = (
    "note: the base image was not read ({reason}): the Dockerfile assumes pip in its venv, as in "
    "curator-kit's base; `build` reads the image (pass --layout uv for a uv-managed venv without pip)"
)


def require_base_image(client: docker.DockerClient, image: str) -> None:
    from curator_kit.engine.images import image_exists

    if not image_exists(client, image):
        raise CuratorKitError(
            f"base image {image} is not in the engine",
            "build it with `curator-kit base build` (or set project.base_image in curator-kit.toml)",
        )


def read_base_layout(client: docker.DockerClient, image: str) -> BaseLayout:
    """The layout of `image`, which the engine must have (one line naming the fix otherwise)."""
    from curator_kit.engine.images import image_environment, probe_image_files

    require_base_image(client, image)
    dirs = path_dirs(image_environment(client, image))
    texts, existing = probe_image_files(client, image, read=[PYVENV_CFG], check=paths_to_check(dirs))
    return decide_layout(image, texts[PYVENV_CFG], dirs, existing)


def layout_for_preview(image: str, choice: str) -> tuple[BaseLayout, str]:
    """The layout `dockerfile` and `build --dry-run` render for, and a note when it is assumed:
    `choice` "pip" or "uv" is taken as given; "auto" reads the image when an engine answers and has it."""
    from curator_kit.engine.client import connect

    if choice == "pip":
        return PIP_LAYOUT, ""
    if choice == "uv":
        return BaseLayout(installer="uv", uv_managed=True), ""
    try:
        return read_base_layout(connect(), image), ""
    except CuratorKitError as error:
        return PIP_LAYOUT, ASSUMED_NOTE.format(reason=error.message)
