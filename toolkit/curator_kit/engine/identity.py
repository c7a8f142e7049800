"""Which engine answers on the Docker API socket (Docker or Podman), and what it can do with devices.

Podman serves a Docker-compatible API (`podman system service`); its `/version` names it among the
components ("Podman Engine"). Podman injects CDI devices (4.1+); Docker does from API 1.44 (Engine 25)
when CDI is enabled, and then lists its spec directories as `CDISpecDirs` in `/info`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curator_kit.core.pipeline.cdi import SPEC_DIRS

if TYPE_CHECKING:
    import docker

DOCKER, PODMAN = "Docker", "Podman"
DOCKER_CDI_API = (1, 44)  # Engine 25: CDI devices through DeviceRequests with the "cdi" driver
PODMAN_CDI_VERSION = (4, 1)  # `--device vendor/class=name` resolved through CDI


@dataclass(frozen=True)
class EngineIdentity:
    name: str  # DOCKER | PODMAN
    version: str
    api_version: str  # the Docker API version it serves
    rootless: bool
    cdi: bool  # it injects CDI devices
    cdi_spec_dirs: tuple[str, ...] = ()  # where it reads CDI specs (empty without CDI)

    @property
    def podman(self) -> bool:
        return self.name == PODMAN

    def describe(self) -> str:
        return f"{self.name} {self.version} (API {self.api_version}, {'rootless' if self.rootless else 'rootful'})"


def _numbers(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _components(version: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("Name", ""): c for c in version.get("Components") or [] if isinstance(c, dict)}


def podman_answers(version: dict[str, Any]) -> bool:
    """Whether a `/version` answer is Podman's (pure)."""
    platform = str((version.get("Platform") or {}).get("Name", ""))
    return "Podman Engine" in _components(version) or "podman" in platform.lower()


def identify(version: dict[str, Any], info: dict[str, Any]) -> EngineIdentity:
    """The engine from its `/version` and `/info` answers (pure)."""
    components = _components(version)
    podman = podman_answers(version)
    api = str(version.get("ApiVersion", "?"))
    # Docker says so among its security options (`name=rootless`); Podman's compat /info (4.x) does not, but
    # answers a top-level `Rootless: true` (its own /libpod/info's host.security.rootless).
    rootless = info.get("Rootless") is True or any("rootless" in str(o) for o in info.get("SecurityOptions") or [])
    spec_dirs = tuple(info.get("CDISpecDirs") or ())
    if podman:
        number = str(components.get("Podman Engine", {}).get("Version") or version.get("Version", "?"))
        cdi = _numbers(number) >= PODMAN_CDI_VERSION
        # Podman's compat /info (4.x) does not list them; it reads CDI's default directories.
        return EngineIdentity(PODMAN, number, api, rootless, cdi, (spec_dirs or SPEC_DIRS) if cdi else ())
    cdi = _numbers(api) >= DOCKER_CDI_API and bool(spec_dirs)
    return EngineIdentity(DOCKER, str(version.get("Version", "?")), api, rootless, cdi, spec_dirs if cdi else ())


def engine_identity(client: docker.DockerClient, info: dict[str, Any] | None = None) -> EngineIdentity:
    """The engine behind `client`, asked once per client (cached on it)."""
    known = getattr(client, "_curator_kit_identity", None)
    if known is None:
        known = identify(client.version(), info if info is not None else client.info())
        client._curator_kit_identity = known  # type: ignore[attr-defined]
    return known


def engine_is_podman(client: docker.DockerClient) -> bool:
    """Whether Podman answers, from `/version` alone (every build asks; `/info` would double the cost)."""
    known = getattr(client, "_curator_kit_identity", None)
    if known is not None:
        return bool(known.podman)
    podman = getattr(client, "_curator_kit_podman", None)
    if podman is None:
        podman = podman_answers(client.version())
        client._curator_kit_podman = podman  # type: ignore[attr-defined]
    return bool(podman)
