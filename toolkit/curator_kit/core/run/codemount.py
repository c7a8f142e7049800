"""`--mount-code`: the project's code bind-mounted read-only over the image's `/workspace` copy.

Editing a stage then needs no build. A mount carries files only: when the image was built from
anything else that differs now (the spec's stages, envs, models, base image, build settings), the
plan is refused with the fix, `curator-kit build`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from curator_kit.core.constants import LABEL_BUILD_INPUTS, MANIFEST_NAME, PROJECT_DIR_IN_IMAGE
from curator_kit.core.parsers import Mount
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from pathlib import Path

    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest

BUILD_FIX = "run `curator-kit build` (a build carries it), then --mount-code again for code edits"
# Python writes these beside the code; a directory that holds only kept files and these is mounted whole.
_BYTECODE_PARTS = ("__pycache__",)
_BYTECODE_SUFFIXES = (".pyc",)


def build_input_changes(image: str, labels: Mapping[str, str], manifest: Manifest) -> list[str]:
    """What the working tree's manifest changed, of what the image's layers below the code came from."""
    from curator_kit.core.build.dockerfile import build_inputs

    text = labels.get(LABEL_BUILD_INPUTS)
    if text is None:
        return [f"{image} does not record what it was built from (an older curator-kit built it)"]
    try:
        baked = json.loads(text)
    except ValueError:
        return [f"{image}'s label {LABEL_BUILD_INPUTS} cannot be read"]
    current = build_inputs(manifest)
    names = {"base_image": "base image", "envs": "[envs]", "models": "[[models]]", "build": "[build]"}
    return [f"{names.get(key, key)} changed" for key in current if baked.get(key) != current[key]]


def check_code_mountable(
    image: str, labels: Mapping[str, str], baked: PipelineSpec, tree: PipelineSpec, manifest: Manifest
) -> None:
    """Refuse when the image differs from the working tree in anything a code mount cannot carry."""
    changes = [*(f"pipeline: {change}" for change in baked.differences(tree))]
    changes += build_input_changes(image, labels, manifest)
    if changes:
        raise CuratorKitError(
            f"--mount-code cannot carry what changed since {image} was built: {'; '.join(changes)}", BUILD_FIX
        )


def code_mounts(project_dir: Path, kept: Iterable[str], unkept: Iterable[str]) -> list[Mount]:
    """Read-only bind mounts of the files a build context would carry, under `/workspace`.

    `kept`: the project's files the build copies (relative paths); `unkept`: the others below the same
    top-level directories. A top-level directory none of whose files is left out (bytecode aside) is
    mounted whole, so files added or replaced there (editors write by rename) are seen; the rest file by
    file. The manifest is not mounted: the image's copy has its credentials masked, and every part of it
    that matters to the pipeline is checked (`check_code_mountable`)."""
    kept = sorted(set(kept) - {MANIFEST_NAME})
    blocked = {PurePosixPath(path).parts[0] for path in unkept if not _bytecode(path)}
    whole: set[str] = set()
    mounts: list[Mount] = []
    for relative in kept:
        parts = PurePosixPath(relative).parts
        top = parts[0]
        if len(parts) > 1 and top not in blocked:
            if top not in whole:
                whole.add(top)
                mounts.append(_mount(project_dir, top))
            continue
        mounts.append(_mount(project_dir, relative))
    return mounts


def _bytecode(path: str) -> bool:
    pure = PurePosixPath(path)
    return pure.suffix in _BYTECODE_SUFFIXES or any(part in _BYTECODE_PARTS for part in pure.parts)


def _mount(project_dir: Path, relative: str) -> Mount:
    return Mount(str((project_dir / relative).resolve()), f"{PROJECT_DIR_IN_IMAGE}/{relative}", read_only=True)
