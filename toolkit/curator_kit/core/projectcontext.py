"""The build context of a project image: exactly what the generated Dockerfile reads.

Layout inside the context: `Dockerfile`; `project/` the project's files (honouring
`.dockerignore`, never VCS data, venvs, caches or outputs); `.curator-kit/ca-certificates/`
and `.curator-kit/wheelhouse/`, read by early build steps and never copied into /workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.buildcontext import BuildContext
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.manifest import Manifest

# Never part of an image, whatever .dockerignore says: they are large, private or machine-specific.
ALWAYS_EXCLUDED = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    ".curator-kit",
    "**/__pycache__",
    "**/*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "input",  # `run`'s default --input: videos belong in mounts, not in the image
    "out",
    "output",
    "outputs",
    "Dockerfile",
)
WHEEL_SUFFIXES = (".whl", ".tar.gz", ".zip")


def dockerignore_patterns(project_dir: Path) -> list[str]:
    path = project_dir / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def project_files(project_dir: Path, also_excluded: tuple[str, ...] = ()) -> list[str]:
    """Relative paths of the project's regular files that belong in the image, sorted."""
    from docker.utils.build import exclude_paths

    always = [*ALWAYS_EXCLUDED, *also_excluded]
    # A user's `!pattern` may re-include what .dockerignore drops, never what `always` forbids.
    included = exclude_paths(str(project_dir), [*always, *dockerignore_patterns(project_dir)])
    allowed = exclude_paths(str(project_dir), always)
    return sorted(
        p for p in included if p in allowed and (project_dir / p).is_file() and not (project_dir / p).is_symlink()
    )


def build_project_context(project_dir: Path, manifest: Manifest, dockerfile_text: str) -> BuildContext:
    context = BuildContext()
    context.add_text("Dockerfile", dockerfile_text)
    wheelhouse_inside = _relative_inside(project_dir, manifest.build.wheelhouse)
    for relative in project_files(project_dir, (wheelhouse_inside,) if wheelhouse_inside else ()):
        context.add_file(f"project/{relative}", project_dir / relative)
    if manifest.build.ca_certs:
        context.add_directory(".curator-kit/ca-certificates")
        for index, cert in enumerate(manifest.build.ca_certs):
            path = (project_dir / cert).expanduser()
            if not path.is_file():
                raise CuratorKitError(
                    f"CA certificate {cert} (build.ca_certs) not found", "fix the path in curator-kit.toml"
                )
            context.add_file(f".curator-kit/ca-certificates/{index:02d}-{path.stem}.crt", path)
    if manifest.build.wheelhouse:
        wheelhouse = (project_dir / manifest.build.wheelhouse).expanduser()
        if not wheelhouse.is_dir():
            raise CuratorKitError(
                f"wheelhouse {manifest.build.wheelhouse} (build.wheelhouse) is not a directory",
                "fix the path in curator-kit.toml",
            )
        context.add_directory(".curator-kit/wheelhouse")
        for wheel in sorted(wheelhouse.iterdir()):
            if wheel.is_file() and wheel.name.endswith(WHEEL_SUFFIXES):
                context.add_file(f".curator-kit/wheelhouse/{wheel.name}", wheel)
    return context


def _relative_inside(project_dir: Path, location: str) -> str | None:
    """`location` relative to the project when it lies inside it (so it is not copied twice)."""
    if not location:
        return None
    try:
        return str((project_dir / location).expanduser().resolve().relative_to(project_dir.resolve()))
    except ValueError:
        return None
