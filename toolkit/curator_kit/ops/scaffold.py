"""Writing what `core.project.scaffold` plans into a project: every file of a plan or none, and the manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.atomicfile import stage_text
from curator_kit.core.constants import MANIFEST_NAME
from curator_kit.core.project.editing import dump_manifest
from curator_kit.core.project.loading import parse_manifest
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.project.scaffold import ScaffoldPlan


def write_plan(plan: ScaffoldPlan, force: bool = False) -> list[str]:
    """Write every file of the plan or none; returns the paths written."""
    clashes = [w.path for w in plan.writes if not w.update and (plan.root / w.path).exists()]
    for path in clashes:
        if (plan.root / path).is_dir():
            raise CuratorKitError(f"{plan.root / path} is a directory", "move it away; --force replaces only files")
    if clashes and not force:
        listed = ", ".join(clashes[:3]) + (f" and {len(clashes) - 3} more" if len(clashes) > 3 else "")
        raise CuratorKitError(
            f"{listed} already exist{'s' if len(clashes) == 1 else ''} in {plan.root}",
            "pass --force to overwrite, or pick another name",
        )
    for write in plan.writes:
        if write.update and (plan.root / write.path).read_text(encoding="utf-8") != write.based_on:
            raise CuratorKitError(f"{plan.root / write.path} changed while curator-kit worked", "run the command again")
    umask = os.umask(0)
    os.umask(umask)
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for write in plan.writes:
            target = plan.root / write.path
            made += _make_dirs(target.parent)
            mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~umask
            staged.append((stage_text(target, write.content, mode), target))
    except OSError as error:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(made):
            directory.rmdir()
        raise CuratorKitError(
            f"could not write {error.filename or plan.root}: {error.strerror}", "check permissions and free space"
        ) from None
    for temp, target in staged:
        os.replace(temp, target)
    return [write.path for write in plan.writes]


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents; return those created, outermost first."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def save_manifest(manifest: Manifest, project_dir: Path | str) -> None:
    text = dump_manifest(manifest)
    parse_manifest(text, f"the {MANIFEST_NAME} to be saved")  # values built in code meet the parsers too
    (Path(project_dir) / MANIFEST_NAME).write_text(text, encoding="utf-8")
