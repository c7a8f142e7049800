"""Where the shipped data (templates, base-image recipes) lives, installed or in a checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    """The directory holding `templates/`, `base-images/` and `Dockerfile.base`.

    A wheel carries them under `curator_kit/_data`; an editable install or a checkout
    finds them at the repository root, two levels above the package.
    """
    for candidate in (_PACKAGE_DIR / "_data", _PACKAGE_DIR.parents[1]):
        if (candidate / "templates").is_dir() and (candidate / "Dockerfile.base").is_file():
            return candidate
    raise FileNotFoundError(f"curator-kit data files not found next to {_PACKAGE_DIR}; reinstall curator-kit")


def templates_dir() -> Path:
    return data_root() / "templates"


def base_images_dir() -> Path:
    return data_root() / "base-images"


def dockerfile_base() -> Path:
    return data_root() / "Dockerfile.base"


def reference_stages_dir() -> Path:
    """The reference stages `curator-kit demo` builds its project from."""
    return data_root() / "stages"


def codec_probe_script() -> Path:
    """The in-image codec probe (`core.constants.CODEC_PROBE_SCRIPT`), shipped beside check-image.py."""
    from curator_kit.core.constants import CODEC_PROBE_SCRIPT

    return base_images_dir() / CODEC_PROBE_SCRIPT


def sbom_script() -> Path:
    """The in-image SBOM generator (`core.constants.SBOM_SCRIPT`), shipped beside check-image.py: base
    recipes run it as their last step; a project image's build can copy it in and run it the same way."""
    from curator_kit.core.constants import SBOM_SCRIPT

    return base_images_dir() / SBOM_SCRIPT


def available_variants() -> list[str]:
    """The base-image variants shipped: the folders of `base-images/` with a `variant.toml`."""
    return sorted(p.parent.name for p in base_images_dir().glob("*/variant.toml"))
