"""The cpu base image: built by curator-kit, holds the curator stack (torch and torchvision from one
build, OpenCV, the Ray Curator supports, an ffmpeg with libopenh264), records it in labels, leaks no
wheelhouse or compiler, runs a real two-stage Xenna pipeline, and gives real motion scores to the
H.264 clips its ffmpeg writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nonroot import check_nonroot_user

PIPELINES = Path(__file__).parent / "pipelines"


def test_the_non_root_user_its_home_and_caches(docker_client, curator_base_image):
    """curator (uid 1000) and an arbitrary uid in group 0 (OpenShift) both get its name and home, and
    write every cache there (nonroot.check_nonroot_user)."""
    check_nonroot_user(docker_client, curator_base_image)


def run_in(client, image: str, command: list[str], **kwargs) -> str:
    output = client.containers.run(image, command, remove=True, stderr=True, **kwargs)
    return output.decode()


def test_curator_stack_imports(docker_client, curator_base_image):
    script = (
        "import importlib.metadata as m, json, nemo_curator, cosmos_xenna, ray, av, torch, torchvision, cv2, tqdm;"
        "from nemo_curator.backends.ray_data.diagnostics import _SUPPORTED_RAY_VERSION;"
        "boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]);"
        "kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist();"
        "print(json.dumps({'curator': m.version('nemo-curator'), 'xenna': m.version('cosmos-xenna'),"
        " 'ray': ray.__version__, 'supported_ray': _SUPPORTED_RAY_VERSION, 'torch': torch.__version__,"
        " 'torchvision': torchvision.__version__, 'cv2': cv2.__version__, 'nms': kept}))"
    )
    found = json.loads(run_in(docker_client, curator_base_image, ["python", "-c", script]).splitlines()[-1])
    assert found["curator"] == "1.4.0"
    assert found["xenna"] == "0.2.0"  # the version nemo-curator 1.4.0 pins
    assert found["ray"] == found["supported_ray"] == "2.57.0"  # Curator 1.4's _SUPPORTED_RAY_VERSION
    # torchvision's C++ ops load beside this torch: they come from one build.
    assert found["nms"] == [0]
    assert found["torch"].split("+")[0] == "2.14.1" and found["torchvision"].split("+")[0] == "0.29.1"
    assert found["cv2"].split(".")[0] in {"4", "5"}


def test_ffmpeg_and_gpu_capabilities(docker_client, curator_base_image):
    out = run_in(docker_client, curator_base_image, ["sh", "-c", "ffmpeg -hide_banner -version | head -1"])
    assert out.startswith("ffmpeg version")
    encoders = run_in(docker_client, curator_base_image, ["ffmpeg", "-hide_banner", "-encoders"])
    names = {line.split()[1] for line in encoders.splitlines() if line.startswith(" V")}
    # Curator's software encoders, both; libx264 for ffmpeg's own mp4 default (windowing).
    assert {"libopenh264", "libvpx-vp9", "libx264"} <= names
    env = docker_client.images.get(curator_base_image).attrs["Config"]["Env"]
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in env
    labels = docker_client.images.get(curator_base_image).labels
    assert labels["curator-kit.curator-version"] == "1.4.0"
    assert labels["curator-kit.base.variant"] == "cpu"
    assert labels["org.opencontainers.image.version"] == "1.4.0"


def test_labels_record_the_recipe_and_the_stack(docker_client, curator_base_image):
    from curator_kit.core.build.baseimage import recipe_digest
    from curator_kit.core.build.imagelabels import base_versions_text

    labels = docker_client.images.get(curator_base_image).labels
    # conftest reuses the image only when it was built from this checkout's recipe.
    assert labels["curator-kit.base.recipe"] == recipe_digest("cpu", "1.4.0")
    versions = json.loads(labels["curator-kit.base.versions"])
    assert versions["ray"] == "2.57.0" and versions["torch"].startswith("2.14.1")
    assert versions["torchvision"].startswith("0.29.1") and versions["opencv"]
    assert {"libopenh264", "libvpx-vp9"} <= set(versions["ffmpeg-encoders"].split(","))
    # What the label says is what the image holds.
    script = "import importlib.metadata as m; print(m.version('torch'), m.version('opencv-python-headless'))"
    torch_version, opencv_version = run_in(docker_client, curator_base_image, ["python", "-c", script]).split()
    assert (versions["torch"], versions["opencv"]) == (torch_version, opencv_version)
    text = base_versions_text(labels)
    assert "ray 2.57.0" in text and "ffmpeg " in text and "libopenh264" in text


def test_no_compiler_or_headers_in_the_image(docker_client, curator_base_image):
    """ffmpeg is compiled in a throwaway stage: only its binaries and runtime libraries remain."""
    found = run_in(
        docker_client,
        curator_base_image,
        ["sh", "-c", "command -v gcc cc nasm; ls -d /usr/include/wels /usr/include/vpx /usr/src/* 2>/dev/null; true"],
    )
    assert found.strip() == ""


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


def test_libopenh264_clips_get_real_motion_scores(docker_client, curator_base_image, tmp_path):
    """ClipTranscodingStage(libopenh264) writes H.264, and the motion filter reads its motion vectors."""
    from curator_kit.ops.samples import make_sample_videos

    videos, output = tmp_path / "videos", tmp_path / "out"
    output.mkdir()
    # Curator decodes motion only from clips at least 256 pixels on each side.
    make_sample_videos(videos, count=2, seconds=4.0, size=(320, 256))
    logs = run_in(
        docker_client,
        curator_base_image,
        ["python", "/pipelines/motion_filter.py", "/videos", "/out"],
        volumes={
            str(PIPELINES): {"bind": "/pipelines", "mode": "ro"},
            str(videos): {"bind": "/videos", "mode": "ro"},
            str(output): {"bind": "/out", "mode": "rw"},
        },
        user=f"{os.getuid()}:{os.getgid()}",
        environment={"HOME": "/tmp"},
        shm_size="2g",
    )
    assert "pipeline finished: 2 tasks" in logs, logs[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(output.glob("*.json"))]
    assert len(records) == 4  # two 4 s videos, 2 s clips
    assert {r["codec"] for r in records} == {"h264"}
    assert all("motion_decode" not in r["errors"] for r in records), records
    # Real scores: -1.0 is what the filter gives a clip it could read no motion vectors from.
    assert all(r["global_mean"] >= 0 and r["per_patch_min_256"] >= 0 for r in records), records
    moving = [r for r in records if "bright" in r["video"]]
    assert moving and all(r["global_mean"] > 0 for r in moving), records


def test_the_sbom_lists_the_stack_with_versions_and_licences(docker_client, curator_base_image, tmp_path):
    """`curator-kit sbom` writes a CycloneDX 1.5 document the CycloneDX library validates and parses:
    every venv distribution and Debian package, and nemo-curator, cosmos-xenna, ray, torch and ffmpeg with
    versions and licences; `inspect` shows its label's summary (sbomcheck.check_image_sbom)."""
    from sbomcheck import check_image_sbom

    named = check_image_sbom(docker_client, curator_base_image, tmp_path)
    assert named["torch"][0].startswith("2.14.1") and named["ray"][0] == "2.57.0"
    assert named["cosmos-xenna"] == ("0.2.0", ["Apache-2.0"])  # its licence file: no licence metadata
