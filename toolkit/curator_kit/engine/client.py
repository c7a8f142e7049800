"""Connect to the Docker engine and turn connection failures into one-line errors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

# Long enough for a busy daemon, short enough that a dead socket fails fast.
PING_TIMEOUT_S = 10
# Builds and imports stream for minutes; the SDK default of 60 s would cut them off.
API_TIMEOUT_S = 3600

ENSURE_HINT = "start the daemon (scripts/ensure-docker as root, or `sudo systemctl start docker`) or set DOCKER_HOST"
DOCKER_SOCKET = "unix:///var/run/docker.sock"


def chosen_engine() -> str:
    """docker or podman: `--engine`, CURATOR_KIT_ENGINE or the project's `[run] engine` (all land in the
    environment variable; constants.ENGINE_ENV); Docker when none chose. A value set by hand that names no
    engine is refused, not taken for Docker."""
    from curator_kit.core.constants import ENGINE_DOCKER, ENGINE_ENV
    from curator_kit.core.parsers import ParseError, parse_engine

    chosen = os.environ.get(ENGINE_ENV) or ENGINE_DOCKER
    try:
        return parse_engine(chosen)
    except ParseError as error:
        raise error.at(ENGINE_ENV) from None


def podman_socket(uid: int | None = None) -> str:
    """Where Podman's own service listens by default: /run/podman for root, the user's runtime dir otherwise."""
    uid = os.getuid() if uid is None else uid
    if uid == 0:
        return "/run/podman/podman.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    return f"{runtime}/podman/podman.sock"


def engine_address() -> str:
    """DOCKER_HOST when set (wherever the chosen engine answers); else the chosen engine's own socket."""
    from curator_kit.core.constants import ENGINE_PODMAN

    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    return f"unix://{podman_socket()}" if chosen_engine() == ENGINE_PODMAN else DOCKER_SOCKET


def podman_cli_url() -> str | None:
    """Where the podman CLI must be told the service is (`podman --url`): DOCKER_HOST when set, which that CLI
    does not read; None when curator-kit uses Podman's own socket, which the CLI finds itself."""
    return os.environ.get("DOCKER_HOST") or None


def explain_connection_error(error: Exception) -> CuratorKitError:
    from curator_kit.core.constants import ENGINE_PODMAN

    text = str(error)
    address = engine_address()
    podman = chosen_engine() == ENGINE_PODMAN
    denied = "Permission denied" in text or "PermissionError" in text
    if denied and podman:
        return CuratorKitError(
            f"permission denied on Podman's service at {address}",
            "use your own (rootless) Podman: unset DOCKER_HOST and pass --engine podman; or run as root",
        )
    if denied:
        return CuratorKitError(
            f"permission denied on the Docker engine at {address}",
            "add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root",
        )
    if podman:
        return CuratorKitError(
            f"Podman's service not reachable at {address}",
            f"install podman, or start its service: `podman system service --time=0 {address} &`",
        )
    return CuratorKitError(f"Docker engine not reachable at {address}", ENSURE_HINT)


def connect(timeout: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client whose engine has answered a ping, or a CuratorKitError saying how to get one. Podman chosen
    without DOCKER_HOST: its own socket, and its service started there when none answers (`podman` on PATH)."""
    import docker
    from docker.errors import DockerException

    from curator_kit.core.constants import ENGINE_PODMAN

    own_podman = chosen_engine() == ENGINE_PODMAN and not os.environ.get("DOCKER_HOST")
    try:
        client = docker.DockerClient(base_url=engine_address()) if own_podman else docker.from_env()
        client.api.timeout = PING_TIMEOUT_S
        client.ping()
    except DockerException as error:
        if not own_podman:
            raise explain_connection_error(error) from None
        from curator_kit.engine.podman import start_service

        if not start_service(podman_socket()):
            raise explain_connection_error(error) from None
        client = docker.DockerClient(base_url=engine_address())
    client.api.timeout = timeout
    return client
