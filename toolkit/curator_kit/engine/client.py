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


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def explain_connection_error(error: Exception) -> CuratorKitError:
    text = str(error)
    address = engine_address()
    if "Permission denied" in text or "PermissionError" in text:
        return CuratorKitError(
            f"permission denied on the Docker engine at {address}",
            "add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root",
        )
    return CuratorKitError(f"Docker engine not reachable at {address}", ENSURE_HINT)


def connect(timeout: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client whose engine has answered a ping, or a CuratorKitError saying how to get one."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.api.timeout = PING_TIMEOUT_S
        client.ping()
        client.api.timeout = timeout
    except DockerException as error:
        raise explain_connection_error(error) from None
    return client
