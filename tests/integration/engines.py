"""The engines the integration tests run on: Docker, and Podman's Docker-compatible service beside it.

Podman's service is started by scripts/test as root (scripts/ensure-podman: the rootful socket below, and a
throwaway user's rootless one). Without it the Podman tests skip, unless CURATOR_KIT_REQUIRE_PODMAN=1 (set
by scripts/test when it started them), where a Podman that does not answer is a failure.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

PODMAN_HOST = os.environ.get("CURATOR_KIT_TEST_PODMAN_HOST", "unix:///run/podman/podman.sock")
DOCKER = "docker"
PODMAN = "podman"
LOAD_TIMEOUT_S = 1800  # `docker save | podman load` of the 7 GB cpu base: about 3 minutes here


def podman_required() -> bool:
    return os.environ.get("CURATOR_KIT_REQUIRE_PODMAN") == "1"


def skip_or_fail(message: str) -> None:
    """A Podman test that cannot run: a failure where Podman is required, a skip with the reason elsewhere."""
    pytest.fail(message) if podman_required() else pytest.skip(message)


def podman_client(host: str = PODMAN_HOST, timeout: float = 300) -> Any:
    """docker-py's client on Podman's socket `host`, answering; skips or fails (`skip_or_fail`) otherwise."""
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
        client.ping()
    except docker.errors.DockerException as error:
        skip_or_fail(f"no Podman service at {host}: {error}")
    return client


def has_image(client: Any, reference: str) -> bool:
    """Whether the engine lists `reference` (Podman lists `localhost/NAME` and `docker.io/library/NAME`)."""
    names = {tag for image in client.images.list() for tag in image.tags}
    return any(name == reference or name.endswith(f"/{reference}") for name in names)


def copy_image(docker_client: Any, client: Any, reference: str, host: str = PODMAN_HOST) -> None:
    """Docker's `reference` into the Podman behind `client` (at `host`), the same image id, when it lacks it;
    the CLIs' pipe (`docker save | podman load`) streams 7 GB where the SDK would hold it in memory."""
    import docker

    wanted = docker_client.images.get(reference).id
    try:
        present = client.images.get(reference).id
    except docker.errors.ImageNotFound:
        present = None
    if present == wanted:
        return
    loaded = subprocess.run(
        f"docker save {reference} | podman --url {host} load",
        shell=True,
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT_S,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert client.images.get(reference).id == wanted


@dataclass
class Engine:
    """One engine a module's tests run on: its name, docker-py's client on it, and the environment that points
    curator-kit at it (DOCKER_HOST; empty for Docker, the tests' default)."""

    name: str
    client: Any
    env: dict[str, str] = field(default_factory=dict)

    @property
    def podman(self) -> bool:
        return self.name == PODMAN
