"""Read the base image's layout (`core.build.baselayout`) through the engine, before the Dockerfile is rendered.

Only the image's ENV and files are read, from one created container that never starts: 60 ms on an
idle engine, 0.5-1.5 s on one at load 20, next to a build's minutes, so the answer is not cached.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.build.baselayout import (
    PASSWD,
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

    from curator_kit.engine.images import ImageIdentity

LAYOUT_CACHE_FORMAT = 2

# What `dockerfile` and `build --dry-run` say when they render for the assumed layout.
ASSUMED_NOTE = (
    "note: the base image was not read ({reason}): the Dockerfile assumes pip in its venv, as in "
    "curator-kit's base; `build` reads the image (pass --layout uv for a uv-managed venv without pip)"
)


def require_base_image(client: docker.DockerClient, image: str) -> ImageIdentity:
    from curator_kit.engine.images import image_identity

    identity = image_identity(client, image)
    if identity is None:
        raise CuratorKitError(
            f"base image {image} is not in the engine",
            "build it with `curator-kit base build` (or set project.base_image in curator-kit.toml)",
        )
    return identity


def read_base_layout(client: docker.DockerClient, image: str) -> BaseLayout:
    """The layout of `image`, which the engine must have (one line naming the fix otherwise). An image id
    names fixed content, so a layout read once is kept under the user's cache by that id: a rebuild asks
    the engine for the id only, not for a container."""
    from curator_kit.engine.images import image_environment, probe_image_files

    identity = require_base_image(client, image)
    known = _cached_layout(identity.image_id)
    if known is not None:
        return dataclasses.replace(known, read_from=image)
    dirs = path_dirs(image_environment(client, image))
    texts, existing = probe_image_files(client, image, read=[PYVENV_CFG, PASSWD], check=paths_to_check(dirs))
    layout = decide_layout(image, texts[PYVENV_CFG], dirs, existing, texts[PASSWD])
    _keep_layout(identity.image_id, layout)
    return layout


def layout_cache_dir() -> Path:
    from curator_kit.ops.usercache import user_cache_home

    # Versioned: a layout kept by an older curator-kit lacks what a newer one reads (its passwd's user).
    return user_cache_home() / "curator-kit" / "base-layouts" / f"v{LAYOUT_CACHE_FORMAT}"


def _layout_file(image_id: str) -> Path:
    return layout_cache_dir() / f"{image_id.removeprefix('sha256:')}.json"


def _cached_layout(image_id: str) -> BaseLayout | None:
    """The layout kept for `image_id`; None when there is none or it does not read as one."""
    try:
        data = json.loads(_layout_file(image_id).read_text())
        return BaseLayout(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _keep_layout(image_id: str, layout: BaseLayout) -> None:
    """Best effort: an unwritable cache costs the next build one read of the image, nothing else."""
    from curator_kit.core.atomicfile import write_text_atomically

    target = _layout_file(image_id)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(target, json.dumps(dataclasses.asdict(layout), sort_keys=True), 0o644)
    except OSError:
        pass


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
