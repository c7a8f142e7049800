"""What the base image offers the project's Dockerfile: the installer its venv has, its Python, ffmpeg.

Base images differ where it matters to `build`. curator-kit's base has pip in the venv. NVIDIA's NeMo
Curator container makes the venv with uv (its pyvenv.cfg has a `uv = X` line) and has uv on its
PATH; its older releases have no pip in the venv (`uv venv` without `--seed`), and its newer ones
have no ffmpeg. So `build` first reads the base image's layout (`ops/baselayout.py`: files and ENV
only, no container is started), and `core/build/dockerfile.py` renders the install commands for it.
This module is the decision, pure: facts in, `BaseLayout` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from curator_kit.core.constants import NONROOT_UID, NONROOT_USER, VENV_IN_IMAGE
from curator_kit.errors import CuratorKitError

Installer = Literal["pip", "uv"]

PYVENV_CFG = f"{VENV_IN_IMAGE}/pyvenv.cfg"
PASSWD = "/etc/passwd"
VENV_PIP = f"{VENV_IN_IMAGE}/bin/pip"
# When the image's ENV has no PATH: what a container gets then.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BaseLayout:
    """`installer`: what installs `[envs] pip` requirements into `venv` (None: nothing can; refused
    only when there are requirements). `read_from`: the image it was read from; "" when assumed."""

    installer: Installer | None
    python: str = ""  # e.g. "3.13.5", from pyvenv.cfg; "" when unknown
    venv: str = VENV_IN_IMAGE
    uv_managed: bool = False  # pyvenv.cfg says uv made the venv
    ffmpeg: bool = True  # an ffmpeg on the image's PATH
    nonroot_user: bool = True  # /etc/passwd has curator-kit's non-root user (NONROOT_USER, uid NONROOT_UID)
    read_from: str = ""

    @property
    def venv_python(self) -> str:
        return f"{self.venv}/bin/python"

    def describe(self) -> str:
        """One line for plans: `venv /opt/venv (Python 3.13.5, uv-managed): uv installs; no ffmpeg on PATH`."""
        if not self.read_from:
            return f"venv {self.venv}: {self.installer} installs (assumed: the base image was not read)"
        facts = [f"Python {self.python}"] if self.python else []
        facts += ["uv-managed"] if self.uv_managed else []
        where = f"venv {self.venv}" + (f" ({', '.join(facts)})" if facts else "")
        installs = f"{self.installer} installs" if self.installer else "no pip or uv to install with"
        return f"{where}: {installs}" + ("" if self.ffmpeg else "; no ffmpeg on PATH")


# The curator-kit base's layout: what `dockerfile` and `build --dry-run` assume without an engine.
PIP_LAYOUT = BaseLayout(installer="pip")


def parse_pyvenv_cfg(text: str) -> dict[str, str]:
    """`key = value` lines, as `site` reads them (the first `=` splits; keys lower-cased)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def path_dirs(environment: list[str]) -> tuple[str, ...]:
    """The directories of PATH in an image's ENV entries (`KEY=value`), in order."""
    path = next((entry.partition("=")[2] for entry in environment if entry.startswith("PATH=")), DEFAULT_PATH)
    return tuple(dict.fromkeys(part.rstrip("/") or "/" for part in path.split(":") if part.startswith("/")))


def paths_to_check(dirs: tuple[str, ...]) -> list[str]:
    """Every path whose existence decides the layout: the venv's pip, and pip, uv and ffmpeg on PATH."""
    return [VENV_PIP, *(f"{directory}/{tool}" for tool in ("pip", "uv", "ffmpeg") for directory in dirs)]


def decide_layout(
    image: str, pyvenv_cfg: str | None, dirs: tuple[str, ...], existing: frozenset[str], passwd: str | None = None
) -> BaseLayout:
    """The layout of `image` from its pyvenv.cfg (None: no venv at VENV_IN_IMAGE), its PATH
    directories, which of `paths_to_check(dirs)` exist and its /etc/passwd (PASSWD; None: absent).

    pip when the venv has it (what `pip` finds first on PATH then, as in curator-kit's base); else uv,
    when the image has a venv and uv on PATH (`uv pip install --python VENV/bin/python`); else pip
    on PATH, for an image with no venv at all, as before this module; else nothing."""

    def on_path(tool: str) -> bool:
        return any(f"{directory}/{tool}" in existing for directory in dirs)

    config = parse_pyvenv_cfg(pyvenv_cfg) if pyvenv_cfg is not None else {}
    installer: Installer | None = None
    if VENV_PIP in existing:
        installer = "pip"
    elif pyvenv_cfg is not None and on_path("uv"):
        installer = "uv"
    elif pyvenv_cfg is None and on_path("pip"):
        installer = "pip"
    return BaseLayout(
        installer=installer,
        python=config.get("version_info") or config.get("version", ""),
        uv_managed="uv" in config,
        ffmpeg=on_path("ffmpeg"),
        nonroot_user=has_nonroot_user(passwd or ""),
        read_from=image,
    )


def has_nonroot_user(passwd: str) -> bool:
    """Whether /etc/passwd's text has curator-kit's non-root user under its uid."""
    wanted = (NONROOT_USER, str(NONROOT_UID))
    return any(tuple(line.split(":")[0:3:2]) == wanted for line in passwd.splitlines())


def require_installer(layout: BaseLayout, image: str) -> Installer:
    """The installer for `[envs] pip` requirements, or one line saying how to give the image one."""
    if layout.installer is None:
        raise CuratorKitError(
            f"base image {image} cannot install [envs] pip requirements: "
            f"{layout.venv} has no pip and no uv is on its PATH",
            f"use a base image with pip in {layout.venv} or uv on its PATH (e.g. add "
            f"`RUN {layout.venv_python} -m ensurepip` to it), or move the requirements into the base image",
        )
    return layout.installer
