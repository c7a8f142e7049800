"""The host's pip configuration, read the way pip reads it, so a build inside a container
can use the same wheels, indexes and certificates that make `pip install` work on the host.

Precedence (later wins), as pip documents it: global files, user files, the site file,
PIP_CONFIG_FILE, then PIP_* environment variables; within a file [install] overrides [global].
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KEYS = ("find-links", "index-url", "extra-index-url", "cert", "constraint")


@dataclass(frozen=True)
class PipSettings:
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    cert: str | None = None
    constraints: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)


def config_files(environ: Mapping[str, str], home: Path, prefix: Path, etc: Path = Path("/etc")) -> list[Path]:
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    files.append(etc / "pip.conf")
    files += [home / ".pip" / "pip.conf", Path(environ.get("XDG_CONFIG_HOME", home / ".config")) / "pip" / "pip.conf"]
    files.append(prefix / "pip.conf")
    if environ.get("PIP_CONFIG_FILE") and environ["PIP_CONFIG_FILE"] != os.devnull:
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return files


def _split(value: str) -> tuple[str, ...]:
    return tuple(part for part in value.split() if part)


def read_pip_settings(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    prefix: Path | None = None,
    etc: Path = Path("/etc"),
) -> PipSettings:
    environ = os.environ if environ is None else environ
    if environ.get("PIP_CONFIG_FILE") == os.devnull:
        files: list[Path] = []
    else:
        files = config_files(environ, home or Path.home(), prefix or Path(sys.prefix), etc)
    values: dict[str, str] = {}
    sources: list[str] = []
    for path in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            if not parser.read(path):
                continue
        except configparser.Error:
            continue
        sources.append(str(path))
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k: v for k, v in parser.items(section) if k in KEYS})
    for key in KEYS:
        env_value = environ.get("PIP_" + key.upper().replace("-", "_"))
        if env_value:
            values[key] = env_value
            sources.append(f"PIP_{key.upper().replace('-', '_')}")
    return PipSettings(
        find_links=_split(values.get("find-links", "")),
        index_url=values.get("index-url") or None,
        extra_index_urls=_split(values.get("extra-index-url", "")),
        cert=values.get("cert") or None,
        constraints=_split(values.get("constraint", "")),
        sources=tuple(dict.fromkeys(sources)),
    )


def local_path(location: str) -> Path | None:
    """The filesystem path of a local find-links/index location, or None for a remote URL."""
    if location.startswith("file://"):
        return Path(location[len("file://") :])
    if "://" in location:
        return None
    return Path(location)
