"""The cuda base image, built with no registry and no GPU (the cuda_base_image fixture builds it once
per machine): its no-GPU check, what it must not carry, a start under the stand-in NVIDIA engine with
`--gpus all`, and a project built on it running its tests on CPU."""

from __future__ import annotations

import io
import json
import time
from functools import partial
from pathlib import Path

import kitcli
import pytest
from curator_kit.core.constants import BASE_GPU_CHECK_IN_IMAGE, LABEL_BASE_VERSIONS, NONROOT_GID, NONROOT_UID
from curator_kit.engine.images import run_in_image
from nonroot import check_nonroot_user
from test_gpu_standin import plan_for, standin  # noqa: F401 -- the stand-in NVIDIA engine fixture

cli = partial(kitcli.cli, check=True)
DRIVER_LIBRARIES = ("libcuda.so.1", "libnvcuvid.so.1", "libnvidia-encode.so.1", "libnvidia-ml.so.1")

# What only the throwaway stages may hold: compilers, Python's headers, wheels, the nvcc and profiler
# wheels pycuda was built with, the stage outputs. Printed by path when present. (The nvidia-* runtime
# wheels torch installs carry include/ folders of their own: part of those packages, not build tools.)
LEFTOVERS = """
import glob, shutil, sysconfig
site = sysconfig.get_paths()["purelib"]
found = [shutil.which(tool) for tool in ("gcc", "cc", "g++", "c++", "nvcc", "make")]
found += glob.glob("/usr/include/python3*/Python.h") + glob.glob("/usr/lib/gcc/*")
found += glob.glob(site + "/nvidia/cuda_nvcc") + glob.glob(site + "/nvidia/cuda_profiler_api")
for root in ("/tmp", "/opt", "/root", "/usr/local", "/workspace"):
    found += glob.glob(root + "/**/*.whl", recursive=True)
found += glob.glob("/tmp/wheelhouse") + glob.glob("/opt/pycuda") + glob.glob("/opt/curator-layer")
# virtualenv (a Ray dependency) ships pip and setuptools wheels as data of its own: not a wheelhouse.
print("\\n".join(f for f in found if f and "/virtualenv/seed/wheels/" not in f))
"""


def test_the_non_root_user_its_home_and_caches(docker_client, cuda_base_image):
    """As on the cpu base, Triton's cache (torch's CUDA wheels bring Triton) included."""
    check_nonroot_user(docker_client, cuda_base_image)


@pytest.fixture(scope="module")
def check_output(docker_client, cuda_base_image) -> str:
    """The image's no-GPU check as a pod runs it: the non-root user, no capability, no privilege gain."""
    output = docker_client.containers.run(
        cuda_base_image,
        ["python", BASE_GPU_CHECK_IN_IMAGE],
        user=f"{NONROOT_UID}:{NONROOT_GID}",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        network_disabled=True,
        remove=True,
    )
    return output.decode()


def test_the_no_gpu_check_passes_and_names_the_driver_libraries(check_output):
    assert "cuda base check passed (no GPU used)" in check_output
    driver_lines = [line for line in check_output.splitlines() if line.startswith("driver ")]
    assert driver_lines and all("injected by the NVIDIA runtime" in line for line in driver_lines)
    assert {line.split()[1].rstrip(":") for line in driver_lines} <= set(DRIVER_LIBRARIES)
    assert "libcuda.so.1" in check_output
    # Only vLLM's modules may be left out, and each is named.
    left_out = [line for line in check_output.splitlines() if line.startswith("left out ")]
    assert all("vllm" in line for line in left_out)


def test_the_versions_label_records_a_cuda_torch_and_the_gpu_codecs(docker_client, cuda_base_image):
    versions = json.loads(docker_client.images.get(cuda_base_image).labels[LABEL_BASE_VERSIONS])
    assert versions["torch-cuda"].startswith("12.") and versions["torch"].startswith("2.10.")
    assert versions["left-out"] == "vllm"
    assert {"cupy", "cvcuda", "pycuda", "torchaudio"} <= set(versions)
    assert "h264_nvenc" in versions["ffmpeg-encoders"] and "h264_cuvid" in versions["ffmpeg-decoders-gpu"]


def test_no_compiler_headers_or_wheels_reach_the_image(docker_client, cuda_base_image):
    leftovers = run_in_image(docker_client, cuda_base_image, ["python", "-c", LEFTOVERS]).split()
    assert leftovers == []
    # Nor any layer below: the wheelhouse and pycuda's wheel were copied in throwaway stages only.
    history = [layer.get("CreatedBy") or "" for layer in docker_client.api.history(cuda_base_image)]
    assert not [step for step in history if "wheelhouse" in step or "pycuda-wheels" in step]


def test_the_cuda_stack_is_a_layer_below_curator(docker_client, cuda_base_image):
    """A Curator upgrade rebuilds the layer above; the CUDA wheels' layer (the big one) stays."""
    history = [h for h in docker_client.images.get(cuda_base_image).history() if h.get("Size")]
    sizes = {h["CreatedBy"]: h["Size"] for h in history}
    venv_copies = [cmd for cmd in sizes if "COPY dir:" in cmd and "/opt/venv" in cmd]
    assert len(venv_copies) == 2, venv_copies
    cuda_layer, curator_layer = sorted(venv_copies, key=lambda cmd: sizes[cmd], reverse=True)
    assert sizes[cuda_layer] > 3 * 2**30 and sizes[curator_layer] < sizes[cuda_layer]


def test_the_image_starts_under_the_stand_in_nvidia_engine(standin, docker_client, cuda_base_image, tmp_path):  # noqa: F811
    from curator_kit.engine.containers import run_plan

    started = time.monotonic()
    standin.client.images.load(docker_client.images.get(cuda_base_image).save(named=True))
    print(f"loaded {cuda_base_image} into the stand-in engine in {time.monotonic() - started:.0f} s")
    calls_before = len(standin.hook_calls())
    plan = plan_for(tmp_path, cuda_base_image, standin.ulimits, gpus="all")
    out = io.BytesIO()
    assert run_plan(standin.client, plan, out=out) == 0
    env = out.getvalue().decode().splitlines()
    assert "NVIDIA_VISIBLE_DEVICES=all" in env
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in env
    assert standin.hook_calls()[calls_before:] == ["prestart"]


def test_a_project_on_the_cuda_base_runs_its_tests_on_cpu(cuda_base_image, tmp_path: Path, docker_client):
    cli("init", "on-cuda", "--base-image", cuda_base_image, cwd=tmp_path)
    project = tmp_path / "on-cuda"
    cli("new-stage", "gpu_tagger", "--gpu-memory-gb", "4", "--nvdecs", "1", cwd=project)
    tag = "curator-kit-test/on-cuda:latest"
    try:
        cli("build", "--tag", tag, cwd=project)
        result = cli("test", "--image", tag, cwd=project, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " passed" in result.stdout
        check_nonroot_user(docker_client, tag)  # a project image keeps its base's user, home and caches
    finally:
        docker_client.images.remove(tag, force=True)


def test_the_sbom_lists_the_cuda_stack_with_versions_and_licences(docker_client, cuda_base_image, tmp_path):
    """As on the cpu base: a CycloneDX 1.5 SBOM of the venv (the CUDA wheels included), the Debian or Ubuntu
    packages and ffmpeg (sbomcheck.check_image_sbom)."""
    from sbomcheck import check_image_sbom

    named = check_image_sbom(docker_client, cuda_base_image, tmp_path)
    assert named["torch"][0].startswith("2.10.")
