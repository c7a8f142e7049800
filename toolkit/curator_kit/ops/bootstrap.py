"""A registry-free starting image: a minimal Debian root made with debootstrap from the
host's configured Debian mirror, imported into the engine as a local image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.constants import bootstrap_image_tag
from curator_kit.errors import CuratorKitError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
IMAGE_CHANGES = ('CMD ["/bin/bash"]', "ENV LANG=C.UTF-8")


@dataclass(frozen=True)
class BootstrapPlan:
    suite: str
    mirror: str
    tag: str
    variant: str = "minbase"

    def debootstrap_command(self, target: Path) -> list[str]:
        return ["debootstrap", f"--variant={self.variant}", self.suite, str(target), self.mirror]


def bootstrap_tag(suite: str) -> str:
    return bootstrap_image_tag(suite)


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The first main Debian archive URI in the host's apt sources (one-line or deb822 format)."""
    texts: list[str] = []
    for source in sources:
        if source.is_dir():
            listed = sorted(source.glob("*.list")) + sorted(source.glob("*.sources"))
            texts += [p.read_text(errors="replace") for p in listed]
        elif source.is_file():
            texts.append(source.read_text(errors="replace"))
    for text in texts:
        for uri in _uris(text):
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def _uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.strip()
        one_line = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
        if one_line:
            uris.append(one_line[1])
        elif line.lower().startswith("uris:"):
            uris += line.split(":", 1)[1].split()
    return uris


def plan_bootstrap(suite: str = "bookworm", mirror: str | None = None, tag: str | None = None) -> BootstrapPlan:
    return BootstrapPlan(suite=suite, mirror=mirror or debian_mirror(), tag=tag or bootstrap_tag(suite))


def check_can_bootstrap() -> None:
    if os.geteuid() != 0:
        raise CuratorKitError("debootstrap needs root", "run `sudo curator-kit base bootstrap`, or load a base image")
    if shutil.which("debootstrap") is None:
        raise CuratorKitError("debootstrap is not installed", "install it: `apt-get install debootstrap`")


def run_bootstrap(plan: BootstrapPlan, log) -> Path:
    """Make the root and pack it; returns the tarball (the caller imports and deletes it)."""
    check_can_bootstrap()
    workdir = Path(tempfile.mkdtemp(prefix="curator-kit-bootstrap-", dir="/var/tmp"))
    root = workdir / "root"
    try:
        log(f"debootstrap {plan.suite} from {plan.mirror} (about a minute)")
        _stream(plan.debootstrap_command(root), log, "debootstrap")
        tarball = workdir / "root.tar"
        log("packing the root filesystem")
        _stream(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], log, "tar")
        shutil.rmtree(root)
        return tarball
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _stream(command: list[str], log, what: str) -> None:
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail = [*tail[-29:], line]
            if line.startswith(("I: Retrieving", "I: Validating")):
                continue  # hundreds of lines; the rest are milestones
            log(f"  {line}")
    if process.returncode != 0:
        raise CuratorKitError(
            f"{what} failed with exit code {process.returncode}",
            "check the Debian mirror is reachable (`--mirror URL`)",
            details=tuple(tail),
        )
