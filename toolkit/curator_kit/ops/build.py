"""`curator-kit build` as a plan (Dockerfile, context, tag, args), then its execution."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.buildcontext import BuildContext, human_size
from curator_kit.core.constants import STATE_DIR
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.manifest import Manifest
    from curator_kit.ops.progress import Progress

LAST_BUILD_FILE = "last-build.json"


@dataclass
class ProjectBuildPlan:
    project_dir: Path
    manifest: Manifest
    dockerfile: str
    context: BuildContext
    tag: str
    build_args: dict[str, str] = field(default_factory=dict)
    nocache: bool = False

    def describe(self) -> list[str]:
        return [
            f"project   {self.manifest.project.name} ({len(self.manifest.stages)} stages)",
            f"from      {self.manifest.project.base_image}",
            f"tag       {self.tag}",
            f"context   {len(self.context.files)} files, {human_size(self.context.size_bytes)}",
        ]


def git_revision(project_dir: Path) -> str:
    """Short commit of the project, `-dirty` when it has uncommitted changes; `unknown` outside git."""
    try:
        revision = subprocess.run(
            ["git", "-C", str(project_dir), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(project_dir), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown"
    return f"{revision}-dirty" if dirty else revision


def default_image_tag(manifest: Manifest) -> str:
    return f"{manifest.project.name}:latest"


def parse_build_args(pairs: tuple[str, ...]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CuratorKitError(f"--build-arg {pair!r} is not KEY=VALUE", "write it as --build-arg KEY=VALUE")
        args[key] = value
    return args


def plan_project_build(
    project_dir: Path,
    manifest: Manifest,
    tag: str | None = None,
    build_args: tuple[str, ...] = (),
    nocache: bool = False,
    template_dirs: tuple[Path, ...] = (),
) -> ProjectBuildPlan:
    from curator_kit.core.dockerfile import render_dockerfile
    from curator_kit.core.projectcontext import build_project_context

    dockerfile = render_dockerfile(manifest, template_dirs)
    context = build_project_context(project_dir, manifest, dockerfile)
    args = {"GIT_REVISION": git_revision(project_dir), **parse_build_args(build_args)}
    return ProjectBuildPlan(
        project_dir, manifest, dockerfile, context, tag or default_image_tag(manifest), args, nocache
    )


def record_last_build(project_dir: Path, tag: str, image_id: str) -> Path:
    state = project_dir / STATE_DIR
    state.mkdir(exist_ok=True)
    path = state / LAST_BUILD_FILE
    record = {"image": tag, "image_id": image_id, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def last_built_image(project_dir: Path) -> str:
    path = project_dir / STATE_DIR / LAST_BUILD_FILE
    try:
        return str(json.loads(path.read_text())["image"])
    except (OSError, ValueError, KeyError):
        raise CuratorKitError(
            "this project has no image yet", "run `curator-kit build` first, or pass --image IMAGE"
        ) from None


def execute_project_build(
    client: docker.DockerClient, plan: ProjectBuildPlan, progress: Progress, log: Callable[[str], None]
) -> str:
    from curator_kit.engine.images import build_image, image_exists

    if not image_exists(client, plan.manifest.project.base_image):
        raise CuratorKitError(
            f"base image {plan.manifest.project.base_image} is not in the engine",
            "build it with `curator-kit base build` (or set project.base_image in curator-kit.toml)",
        )
    log(f"building {plan.tag} (context {len(plan.context.files)} files, {human_size(plan.context.size_bytes)})")
    image_id = build_image(
        client, plan.context, tag=plan.tag, progress=progress, buildargs=plan.build_args, nocache=plan.nocache
    )
    record_last_build(plan.project_dir, plan.tag, image_id)
    return image_id
