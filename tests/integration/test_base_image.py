"""The cpu base image: built by curator-kit, holds the curator stack, leaks no wheelhouse,
and runs a real two-stage Xenna pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path

PIPELINES = Path(__file__).parent / "pipelines"


def run_in(client, image: str, command: list[str], **kwargs) -> str:
    output = client.containers.run(image, command, remove=True, stderr=True, **kwargs)
    return output.decode()


def test_curator_stack_imports(docker_client, curator_base_image):
    script = (
        "import importlib.metadata as m, nemo_curator, cosmos_xenna, ray, av, torch, tqdm;"
        "print(m.version('nemo-curator'), m.version('cosmos-xenna'), ray.__version__,"
        " av.__version__, torch.__version__)"
    )
    versions = run_in(docker_client, curator_base_image, ["python", "-c", script]).split()
    assert versions[0] == "1.4.0"
    assert versions[1] == "0.2.0"  # the version nemo-curator 1.4.0 pins
    assert tuple(int(p) for p in versions[2].split(".")[:2]) >= (2, 57)
    assert "+cpu" in versions[4] or "cpu" not in versions[4]


def test_ffmpeg_and_gpu_capabilities(docker_client, curator_base_image):
    out = run_in(docker_client, curator_base_image, ["sh", "-c", "ffmpeg -hide_banner -version | head -1"])
    assert out.startswith("ffmpeg version")
    env = docker_client.images.get(curator_base_image).attrs["Config"]["Env"]
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in env
    labels = docker_client.images.get(curator_base_image).labels
    assert labels["curator-kit.curator-version"] == "1.4.0"
    assert labels["curator-kit.base.variant"] == "cpu"
    assert labels["org.opencontainers.image.version"] == "1.4.0"


def test_no_wheelhouse_in_any_layer(docker_client, curator_base_image):
    history = docker_client.api.history(curator_base_image)
    assert not [layer for layer in history if "wheelhouse" in (layer.get("CreatedBy") or "")]
    found = run_in(
        docker_client,
        curator_base_image,
        # The wheelhouse held the torch wheel; the distro's and virtualenv's seed wheels are legitimate.
        ["sh", "-c", "find / -xdev \\( -name 'torch-*.whl' -o -name wheelhouse \\) -print 2>/dev/null; true"],
    )
    assert found.strip() == ""


def test_two_stage_xenna_pipeline(docker_client, curator_base_image, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    logs = run_in(
        docker_client,
        curator_base_image,
        ["python", "/pipelines/two_stage.py", "/out"],
        volumes={str(PIPELINES): {"bind": "/pipelines", "mode": "ro"}, str(output): {"bind": "/out", "mode": "rw"}},
        user=f"{os.getuid()}:{os.getgid()}",
        environment={"HOME": "/tmp"},
        shm_size="2g",
    )
    assert "pipeline finished: 3 tasks" in logs
    results = {p.name: json.loads(p.read_text()) for p in sorted(output.glob("*.json"))}
    assert results == {
        "part0.json": {"squares": [0, 1, 4, 9], "sum": 14},
        "part1.json": {"squares": [1, 4, 9, 16], "sum": 30},
        "part2.json": {"squares": [4, 9, 16, 25], "sum": 54},
    }
