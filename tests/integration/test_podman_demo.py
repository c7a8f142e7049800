"""`curator-kit demo` on Podman's Docker-compatible API, end to end: the base image as Docker has it
(loaded into Podman once per machine), the project built by Podman's builder, the pipeline run by Podman,
and every clip, filtered clip, metadata and stats file byte-identical to Docker's run of the same project
on the same videos. Rootful Podman, as scripts/test starts it (`scripts/ensure-podman`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from engines import PODMAN_HOST, copy_image, podman_client
from kitcli import cli, ok

PODMAN = {"DOCKER_HOST": PODMAN_HOST}
COMPARED = ("clips", "filtered_clips", "metas", "stats")


@pytest.fixture(scope="module")
def podman_base(docker_client, curator_base_image) -> str:
    """The cpu base image in Podman's store: Docker's image, the same id (engines.copy_image)."""
    client = podman_client(timeout=600)
    copy_image(docker_client, client, curator_base_image)
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
