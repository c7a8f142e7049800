"""The build context of a project image: exactly what the generated Dockerfile reads.

Layout inside the context: `Dockerfile`; `project/` the project's files (honouring
`.dockerignore`, never VCS data, venvs, caches or outputs); `.curator-kit/ca-certificates/`
and `.curator-kit/wheelhouse/`, read by early build steps and never copied into /workspace. Never a
secret: those reach only the containers of secret steps (`core.build.secretsteps`). The manifest's copy has
the credentials of its URLs masked: the image keeps none.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.constants import CODEC_PROBE_SCRIPT, MANIFEST_NAME, SBOM_SCRIPT, SPEC_FILE_NAME, STATE_DIR
from curator_kit.core.redact import mask_credentials
from curator_kit.resources import codec_probe_script, sbom_script

if TYPE_CHECKING:
    from curator_kit.core.project.manifest import Manifest

# Never part of an image, whatever .dockerignore says: they are large, private or machine-specific.
ALWAYS_EXCLUDED = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    STATE_DIR,
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
# The context's layout, which the Dockerfile template reads (through `core.build.dockerfile`).
PROJECT_IN_CONTEXT = "project"
CA_CERTS_IN_CONTEXT = f"{STATE_DIR}/ca-certificates"
WHEELHOUSE_IN_CONTEXT = f"{STATE_DIR}/wheelhouse"
SPEC_IN_CONTEXT = f"{STATE_DIR}/{SPEC_FILE_NAME}"
# The image's codec probe (base-images/probe-codecs.py), run by a build step before the project's code.
CODEC_PROBE_IN_CONTEXT = f"{STATE_DIR}/{CODEC_PROBE_SCRIPT}"
SBOM_SCRIPT_IN_CONTEXT = f"{STATE_DIR}/{SBOM_SCRIPT}"


def dockerignore_patterns(project_dir: Path) -> list[str]:
    path = project_dir / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def excluded_patterns(project_dir: Path, wheelhouse: str = "") -> tuple[list[str], list[str]]:
    """(patterns always left out, the project's .dockerignore patterns) for the `project/` tree.

    A wheelhouse inside the project is left out too: it reaches the build once, as the wheelhouse."""
    always = list(ALWAYS_EXCLUDED)
    wheelhouse_inside = _relative_inside(project_dir, wheelhouse)
    if wheelhouse_inside:
        always.append(wheelhouse_inside)
    return always, dockerignore_patterns(project_dir)


def build_project_context(
    project_dir: Path,
    manifest: Manifest,
    dockerfile_text: str,
    files: list[str],
    spec_json: str,
) -> BuildContext:
    """The context: `files` (relative to the project, as `excluded_patterns` keeps them), the pipeline
    spec and what the Dockerfile's early steps read. No secret: the builder never sees one."""
    context = BuildContext()
    context.add_text("Dockerfile", dockerfile_text)
    context.add_text(SPEC_IN_CONTEXT, spec_json)
    context.add_file(CODEC_PROBE_IN_CONTEXT, codec_probe_script())
    context.add_file(SBOM_SCRIPT_IN_CONTEXT, sbom_script())
    for relative in files:
        if relative == MANIFEST_NAME:
            # The image's copy of the manifest: its index URLs' credentials were for the build alone.
            masked = mask_credentials((project_dir / relative).read_text(encoding="utf-8"))
            context.add_text(f"{PROJECT_IN_CONTEXT}/{relative}", masked)
        else:
            context.add_file(f"{PROJECT_IN_CONTEXT}/{relative}", project_dir / relative)
    if manifest.build.ca_certs:
        origin = f"build.ca_certs in {MANIFEST_NAME}"
        certificates = [(_in_project(project_dir, cert), origin) for cert in manifest.build.ca_certs]
        context.add_ca_certificates(CA_CERTS_IN_CONTEXT, certificates)
    if manifest.build.wheelhouse:
        wheelhouse = _in_project(project_dir, manifest.build.wheelhouse)
        context.add_wheelhouse(WHEELHOUSE_IN_CONTEXT, wheelhouse, f"build.wheelhouse in {MANIFEST_NAME}")
    return context


def _relative_inside(project_dir: Path, location: str) -> str | None:
    """`location` relative to the project when it lies inside it (so it is not copied twice)."""
    if not location:
        return None
    try:
        return str(_in_project(project_dir, location).resolve().relative_to(project_dir.resolve()))
    except ValueError:
        return None


def _in_project(project_dir: Path, location: str) -> Path:
    """A manifest path: `~` expanded, relative ones from the project directory."""
    return project_dir / Path(location).expanduser()
