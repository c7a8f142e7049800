"""`--mount-code` for `run`, `test` and `shell`: check the image against the working tree, then list
the mounts of the project's code (the rules are `core.run.codemount`'s; the files are read here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

    from curator_kit.core.findings import Finding
    from curator_kit.core.parsers import Mount
    from curator_kit.core.project.manifest import Manifest


def code_mounts_for(
    client: docker.DockerClient | None, image: str, manifest: Manifest, project_dir: Path
) -> tuple[tuple[Mount, ...], list[Finding]]:
    """The read-only mounts of the project's code over `image`'s copy, and notes. Refuses (raises) when
    the image was built from something the mounts cannot carry. Without an engine or the image (a dry
    run) nothing can be compared: the mounts are planned and a note says so."""
    from curator_kit.core.findings import Code, note
    from curator_kit.core.pipeline.spec import resolve_spec, spec_in_labels
    from curator_kit.core.run.codemount import check_code_mountable, code_mounts
    from curator_kit.engine.images import image_exists, image_labels
    from curator_kit.ops.build import project_files

    notes: list[Finding] = []
    if client is None or not image_exists(client, image):
        why = "no engine answers" if client is None else f"{image} is not built"
        notes.append(note(Code.CODE_MOUNTED, f"--mount-code unchecked: {why}"))
    else:
        labels = image_labels(client, image)
        baked = spec_in_labels(labels, image)
        if baked is None:
            from curator_kit.core.run.codemount import BUILD_FIX
            from curator_kit.errors import CuratorKitError

            raise CuratorKitError(f"--mount-code needs an image built by curator-kit; {image} has no spec", BUILD_FIX)
        check_code_mountable(image, labels, baked, resolve_spec(manifest, project_dir), manifest)
    kept = project_files(project_dir, manifest.build.wheelhouse)
    return tuple(code_mounts(project_dir, kept, unkept_files(project_dir, kept))), notes


def unkept_files(project_dir: Path, kept: list[str]) -> list[str]:
    """Files below the top-level directories that hold kept files, which the build leaves out."""
    kept_set = set(kept)
    tops = {path.split("/", 1)[0] for path in kept if "/" in path}
    unkept = []
    for top in sorted(tops):
        for folder, _dirs, files in os.walk(project_dir / top):
            for name in files:
                relative = (Path(folder) / name).relative_to(project_dir).as_posix()
                if relative not in kept_set:
                    unkept.append(relative)
    return unkept
