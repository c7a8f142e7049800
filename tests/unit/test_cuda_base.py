"""The cuda base variant as a plan: its own recipe sharing the cpu stages, the extras it leaves out
and why, the path a build takes, and the script that expands Curator's extras."""

import importlib.util

import pytest
from curator_kit.core.build.baseimage import (
    BaseBuildOptions,
    from_image_path,
    load_variant,
    plan_base_build,
    recipe_digest,
    recipe_files,
    render_recipe,
)
from curator_kit.ops.doctor import DoctorFacts, diagnose
from curator_kit.resources import base_images_dir, dockerfile_base

CUDA_TAG = "curator-kit/base:1.4.0-cuda"


def stages(text: str) -> dict[str, str]:
    """Stage name (or "final") -> its instructions, comment lines dropped."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("FROM "):
            words = line.split()
            current = words[3] if len(words) > 3 else "final"
            found[current] = []
        if current and line.strip() and not line.startswith("#"):
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def test_the_cuda_recipe_shares_the_cpu_stages_word_for_word():
    """Same FROM + same steps = the engine's cache reuses the cpu base's layers (ffmpeg's compile)."""
    cpu, cuda = stages(dockerfile_base().read_text()), stages((base_images_dir() / "cuda/Dockerfile").read_text())
    assert cuda["system"] == cpu["system"] and cuda["ffmpeg"] == cpu["ffmpeg"]
    shared_head = cpu["final"].split("COPY --from=venv")[0]
    assert cuda["final"].startswith(shared_head)


def test_the_cuda_plan_sends_its_own_recipe_and_leaves_vllm_out_with_the_reason():
    plan = plan_base_build(BaseBuildOptions(variant="cuda"), None)
    assert plan.context.files["Dockerfile"] == render_recipe(base_images_dir() / "cuda/Dockerfile").encode()
    assert {"check-image.py", "check-cuda.py", "build-pycuda.sh", "curator-requirements.py", "sbom.py"} <= set(
        plan.context.files
    )
    args = plan.build_args
    assert args["LEAVE_OUT"] == "vllm" and "cupy-cuda12x" in args["CUDA_PACKAGES"]
    # video_cuda12 caps torch at 2.11.0; PyPI's 2.11.0 is CUDA 13, so the CUDA 12 pair below it.
    assert (args["TORCH_SPEC"], args["TORCHVISION_SPEC"]) == ("torch==2.10.0", "torchvision==0.25.0")
    assert any("vllm" in n and "PyPI does not serve" in n for n in plan.notes)
    kept = plan_base_build(BaseBuildOptions(variant="cuda", leave_out=""), None)
    assert kept.build_args["LEAVE_OUT"] == "" and not any("left out of" in n for n in kept.notes)


def test_the_cpu_plan_is_untouched_by_the_cuda_recipe():
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), None)
    assert plan.context.files["Dockerfile"] == render_recipe(dockerfile_base()).encode()
    assert "check-cuda.py" not in plan.context.files
    assert not {"LEAVE_OUT", "CUDA_PACKAGES"} & set(plan.build_args)
    assert [name for name, _ in recipe_files("cpu")] == [
        "Dockerfile",
        "build-ffmpeg.sh",
        "supported-ray.py",
        "check-image.py",
        "sbom.py",
    ]


def test_throwaway_stages_are_kept_under_tags_of_their_own():
    """Tagged, a stage cannot be pruned mid-build as a dangling image; another repository than the
    base's, so `doctor` does not list them as base images."""
    cuda = plan_base_build(BaseBuildOptions(variant="cuda"), None)
    assert cuda.kept_stages == ("ffmpeg", "cudastack", "pycuda", "venv")
    assert cuda.stage_tag("venv") == "curator-kit/base-stages:1.4.0-cuda-venv"
    assert plan_base_build(BaseBuildOptions(variant="cpu"), None).kept_stages == ("ffmpeg", "venv")


def test_each_variant_has_its_own_recipe_digest():
    assert recipe_digest("cpu", "1.4.0") != recipe_digest("cuda", "1.4.0")


@pytest.mark.parametrize(
    ("from_image", "explicit", "expected"),
    [
        ("curator-kit/bootstrap:bookworm", False, "registry-free path, a debootstrapped Debian bookworm root"),
        ("nvidia/cuda:12.8.1-base-ubuntu24.04", False, "the variant's image (Python 3.12)"),
        ("mirror.example/cuda:12.8", True, "as --from asked"),
    ],
)
def test_the_build_says_which_path_it_took(from_image, explicit, expected):
    line = from_image_path(load_variant("cuda"), from_image, explicit)
    assert expected in line and "CUDA user space from wheels" in line
    assert "CUDA" not in from_image_path(load_variant("cpu"), "curator-kit/bootstrap:bookworm", False)


@pytest.fixture
def curator_requirements(monkeypatch):
    """base-images/cuda/curator-requirements.py over a nemo-curator whose extras nest like 1.4.0's."""
    spec = importlib.util.spec_from_file_location(
        "curator_requirements", base_images_dir() / "cuda/curator-requirements.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    requires = [
        "loguru",
        'av==17.1.0; extra == "video-cpu"',
        'torchvision; extra == "video-cpu"',
        'nvidia-ml-py; extra == "cuda12"',
        'vllm[flashinfer]==0.22.0+cu129; platform_system == "Linux" and extra == "vllm"',
        'quack-kernels>=0.4.1; extra == "vllm"',
        'nemo_curator[video_cpu]; extra == "video-cuda12"',
        'nemo_curator[cuda12]; extra == "video-cuda12"',
        'nemo_curator[vllm]; extra == "video-cuda12"',
        'pycuda; extra == "video-cuda12"',
        'torch<=2.11.0; extra == "video-cuda12"',
        'opencv-python-headless; extra == "cv2"',
    ]
    extras = ["video-cpu", "cuda12", "vllm", "video-cuda12", "cv2"]
    fake = type("M", (), {})()
    fake.requires = lambda _name: requires
    fake.version = lambda _name: "1.4.0"
    fake.metadata = lambda _name: type("H", (), {"get_all": lambda _self, _key: extras})()
    monkeypatch.setattr(module, "metadata", fake)
    return module


def test_curator_requirements_expand_nested_extras_less_the_left_out_one(curator_requirements, capsys):
    assert curator_requirements.main(["video_cuda12,cv2", "--leave-out", "vllm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "nemo-curator==1.4.0"
    kept = {"pycuda", "torch<=2.11.0", "av==17.1.0", "torchvision", "nvidia-ml-py", "opencv-python-headless"}
    assert set(lines[1:]) - kept == {
        "# left out with vllm: vllm[flashinfer]==0.22.0+cu129",
        "# left out with vllm: quack-kernels>=0.4.1",
    }


def test_curator_requirements_refuse_an_unknown_extra(curator_requirements, capsys):
    assert curator_requirements.main(["video_cuda12", "--leave-out", "vlm"]) == 2
    assert "has no extra vlm" in capsys.readouterr().err


def test_doctor_shows_the_cuda_check():
    facts = DoctorFacts(server_version="20.10", api_version="1.41", base_images={CUDA_TAG: "14.0 GB"})
    facts.wanted_base = CUDA_TAG
    facts.base_gpu_check = (True, "cuda base check passed (no GPU used); left to the NVIDIA runtime: libcuda.so.1")
    checks = {c.name: c for c in diagnose(facts)}
    assert checks["base gpu"].status == "ok"
    facts.base_gpu_check = (False, "python /opt/curator-kit/check-cuda.py failed in x: cupy does not import")
    checks = {c.name: c for c in diagnose(facts)}
    assert checks["base gpu"].status == "fail" and "--no-cache" in checks["base gpu"].detail


def test_the_cuda_check_leaves_only_the_driver_libraries_to_the_runtime(monkeypatch):
    spec = importlib.util.spec_from_file_location("check_cuda", base_images_dir() / "cuda/check-cuda.py")
    check_cuda = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_cuda)
    missing = {"libcuda.so.1": {"pycuda/_driver.so", "cupy/x.so"}, "libnvcuvid.so.1": {"cvcuda/y.so"}}
    monkeypatch.setattr(check_cuda, "unresolved_libraries", lambda: missing)
    problems: list[str] = []
    notes = check_cuda.check_libraries(problems)
    assert problems == [] and len(notes) == 2
    assert all("injected by the NVIDIA runtime" in n for n in notes)
    missing["libcublas.so.12"] = {"torch/lib/libtorch_cuda.so"}
    check_cuda.check_libraries(problems)
    assert problems == ["libcublas.so.12 is needed by torch/lib/libtorch_cuda.so and is not in the image"]
