"""`curator-kit demo` on Podman's Docker-compatible API, end to end: the base image as Docker has it
(loaded into Podman once per machine), the project built by Podman's builder, the pipeline run by Podman,
and every clip, filtered clip, metadata and stats file byte-identical to Docker's run of the same project
on the same videos. Rootful Podman, as scripts/test starts it (`scripts/ensure-podman`)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from kitcli import cli, ok

PODMAN_HOST = os.environ.get("CURATOR_KIT_TEST_PODMAN_HOST", "unix:///run/podman/podman.sock")
PODMAN = {"DOCKER_HOST": PODMAN_HOST}
COMPARED = ("clips", "filtered_clips", "metas", "stats")


@pytest.fixture(scope="module")
def podman_base(docker_client, curator_base_image) -> str:
    """The cpu base image in Podman's store: Docker's image, the same id, `docker save | podman load`d
    when Podman lacks it (about 3 minutes for 7 GB here)."""
    import docker

    try:
        client = docker.DockerClient(base_url=PODMAN_HOST, timeout=600)
        client.ping()
    except docker.errors.DockerException as error:
        if os.environ.get("CURATOR_KIT_REQUIRE_PODMAN") == "1":
            pytest.fail(f"Podman's service is required here ({PODMAN_HOST}): {error}")
        pytest.skip(f"no Podman service at {PODMAN_HOST}: {error}")
    wanted = docker_client.images.get(curator_base_image).id
    try:
        present = client.images.get(curator_base_image).id
    except docker.errors.ImageNotFound:
        present = None
    if present != wanted:
        loaded = subprocess.run(
            f"docker save {curator_base_image} | podman --url {PODMAN_HOST} load",
            shell=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert client.images.get(curator_base_image).id == wanted
    client.close()
    return curator_base_image


def digests(results: Path) -> dict[str, str]:
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in COMPARED
        for path in sorted((results / folder).rglob("*"))
        if path.is_file()
    }


def test_the_demo_on_podman_writes_dockers_bytes(podman_base, tmp_path):
    doctor = ok(cli("doctor", cwd=tmp_path, env=PODMAN, timeout=300))
    assert "Podman " in doctor.stdout and "absent" not in next(
        line for line in doctor.stdout.splitlines() if podman_base in line
    )

    demo = tmp_path / "demo"
    made = ok(cli("demo", "--output", str(demo), "--base-image", podman_base, cwd=tmp_path, env=PODMAN))
    assert "Podman 4" in made.stdout + made.stderr  # the engine that answered, named as such
    on_podman = digests(demo / "results")
    assert sum(name.startswith("clips/") for name in on_podman) == 4
    assert sum(name.startswith("filtered_clips/") for name in on_podman) == 2
    assert sum(name.startswith("stats/") for name in on_podman) == 6
    summary = json.loads((demo / "results" / "curator-kit-summary.json").read_text())
    assert (summary["clips_written"], summary["clips_filtered"], summary["exit_code"]) == (4, 2, 0)

    # Podman's builder keeps a cached LABEL step's old build argument; build puts the labels right.
    project = demo / "project"
    ok(cli("build", cwd=project, env=PODMAN))
    labels = json.loads(ok(cli("inspect", "--json", cwd=project, env=PODMAN)).stdout)
    assert labels.get("curator-kit.codecs") and labels.get("curator-kit.sbom"), sorted(labels)

    # The same project and videos on Docker: the same bytes.
    ok(cli("build", cwd=project))
    on_docker = tmp_path / "on-docker"
    ok(cli("run", "--input", str(demo / "videos"), "--output", str(on_docker), cwd=project))
    assert digests(on_docker) == on_podman
