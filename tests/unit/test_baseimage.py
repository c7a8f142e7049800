import zipfile

import pytest
from curator_kit.core.build.baseimage import (
    BaseBuildOptions,
    load_variant,
    plan_base_build,
    recipe_digest,
    stale_reason,
)
from curator_kit.core.build.pipconfig import PipSettings
from curator_kit.errors import CuratorKitError

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# A CA certificate as update-ca-certificates reads it (base64 of a DER SEQUENCE between PEM markers).
PEM = "-----BEGIN CERTIFICATE-----\nMIIBsample0certificate0body0AAAA\n-----END CERTIFICATE-----\n"


def write_wheel(directory, filename, requires=()):
    """A wheel with just enough METADATA for the planner to read its requirements."""
    name, version = filename.split("-")[:2]
    with zipfile.ZipFile(directory / filename, "w") as archive:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        archive.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")


@pytest.fixture
def wheelhouse(tmp_path):
    """torch 2.13.0+cpu with its own torchvision, and wheels the planner must not pair with it."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    write_wheel(directory, "torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    write_wheel(directory, "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    write_wheel(directory, "torch-2.14.0-cp312-cp312-manylinux_2_28_x86_64.whl")
    write_wheel(directory, "torchvision-0.28.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", ["numpy", "torch==2.13.0"])
    # PyPI's torchvision for the same torch release: another build (CUDA), so no pair with +cpu torch.
    write_wheel(directory, "torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl", ["torch==2.13.0"])
    (directory / "notes.txt").write_text("not a wheel")
    return directory


def test_variants_ship_with_the_package():
    cpu, cuda = load_variant("cpu"), load_variant("cuda")
    assert cpu.python_tag == "cp311" and cpu.bootstrap_suite == "bookworm"
    assert cuda.base_image.startswith("nvidia/cuda:") and cuda.bootstrap_suite == "bookworm"
    # Each variant names torch and torchvision from one release train, and asks for OpenCV (cv2).
    assert (cpu.torch_spec, cpu.torchvision_spec) == ("torch==2.14.1", "torchvision==0.29.1")
    assert "cv2" in cpu.curator_extras.split(",") and "cv2" in cuda.curator_extras.split(",")


def test_unknown_variant_names_the_choices():
    with pytest.raises(CuratorKitError, match="unknown base-image variant 'rocm'") as error:
        load_variant("rocm")
    assert "cpu" in error.value.fix and "cuda" in error.value.fix


def test_host_pip_is_forwarded(tmp_path, wheelhouse):
    cert = tmp_path / "proxy.pem"
    cert.write_text(PEM)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<=2.14.1\n")
    host = PipSettings(
        find_links=(str(wheelhouse), "https://wheels.example/links"),
        index_url="file:///opt/pypi/simple",
        extra_index_urls=("https://mirror.example/simple",),
        cert=str(cert),
        constraints=(str(constraints),),
    )
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), host)
    files = plan.context.files
    # The newest torch with a torchvision of its own build is pinned; torch wheels it rules out stay home.
    assert plan.build_args["TORCH_SPEC"] == "torch==2.13.0+cpu"
    assert plan.build_args["TORCHVISION_SPEC"] == "torchvision==0.28.0+cpu"
    assert sorted(n for n in files if n.startswith("wheelhouse/")) == [
        "wheelhouse/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "wheelhouse/torchvision-0.28.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
    assert plan.wheel_count == 2
    assert CPU_INDEX not in plan.build_args.get("PIP_EXTRA_INDEX_URL", "") and plan.torch_index_url is None
    assert files["ca-certificates/00-proxy.crt"] == cert
    assert b"torch<=2.14.1" in files["pip-constraints.txt"]
    assert "PIP_INDEX_URL" not in plan.build_args  # a file:// index is invisible inside a build
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == "https://mirror.example/simple"
    assert plan.build_args["PIP_FIND_LINKS"] == "https://wheels.example/links"
    assert plan.tag == "curator-kit/base:1.4.0-cpu"
    assert any("skipped local index" in note for note in plan.notes)


def test_a_torch_without_its_torchvision_is_not_used(tmp_path):
    """A CPU torch beside PyPI's torchvision is the pair that imports no torchvision ops."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    write_wheel(directory, "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    write_wheel(directory, "torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl", ["torch==2.13.0"])
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), PipSettings(find_links=(str(directory),)))
    assert (plan.build_args["TORCH_SPEC"], plan.build_args["TORCHVISION_SPEC"]) == (
        "torch==2.14.1",
        "torchvision==0.29.1",
    )
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == CPU_INDEX and plan.torch_index_url == CPU_INDEX
    assert not [n for n in plan.context.files if n.startswith("wheelhouse/")]
    assert any("torch 2.13.0+cpu has no torchvision of its build" in note for note in plan.notes)


def test_an_unreachable_torch_index_is_dropped():
    host = PipSettings(extra_index_urls=("https://mirror.example/simple",))
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), host)
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == f"https://mirror.example/simple {CPU_INDEX}"
    without = plan.without_torch_index("does not answer")
    assert without.build_args["PIP_EXTRA_INDEX_URL"] == "https://mirror.example/simple"
    assert without.torch_index_url is None
    assert without.notes[-1] == (f"{CPU_INDEX} does not answer: torch==2.14.1 and its torchvision come from PyPI")
    alone = plan_base_build(BaseBuildOptions(variant="cpu"), None).without_torch_index("does not answer")
    assert "PIP_EXTRA_INDEX_URL" not in alone.build_args


def test_no_host_pip_uses_the_variant_torch_index():
    plan = plan_base_build(BaseBuildOptions(variant="cpu", use_host_pip=False), PipSettings(find_links=("/x",)))
    assert plan.build_args["TORCH_SPEC"] == "torch==2.14.1"
    assert plan.build_args["TORCHVISION_SPEC"] == "torchvision==0.29.1"
    assert plan.build_args["CURATOR_EXTRAS"] == "video_cpu,cv2"
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == CPU_INDEX
    # The recipe's scripts travel with the Dockerfile: the ffmpeg build, the image's own check and its SBOM.
    assert sorted(plan.context.files) == [
        "Dockerfile",
        "build-ffmpeg.sh",
        "check-image.py",
        "pip-constraints.txt",
        "sbom.py",
        "supported-ray.py",
    ]
    assert plan.context.directories == {"ca-certificates", "wheelhouse"}


def test_explicit_options_win(tmp_path):
    cert = tmp_path / "corp.crt"
    cert.write_text(PEM)
    options = BaseBuildOptions(
        variant="cuda",
        tag="me/base:dev",
        curator_version="1.1.0",
        ca_certs=(cert,),
        pip_index_url="https://idx.example/simple",
        torch_spec="torch==2.9.1",
    )
    plan = plan_base_build(options, PipSettings(index_url="https://host.example/simple"))
    assert plan.tag == "me/base:dev"
    assert plan.build_args["PIP_INDEX_URL"] == "https://idx.example/simple"
    assert plan.build_args["CURATOR_VERSION"] == "1.1.0"
    assert plan.build_args["CURATOR_EXTRAS"] == "video_cuda12,cv2"
    # An explicit torch gets the torchvision pip finds for it (each torchvision pins its torch).
    assert (plan.build_args["TORCH_SPEC"], plan.build_args["TORCHVISION_SPEC"]) == ("torch==2.9.1", "torchvision")
    assert "PIP_EXTRA_INDEX_URL" not in plan.build_args  # cuda's CUDA 12 torch builds are PyPI's own
    assert "ca-certificates/00-corp.crt" in plan.context.files


def test_recipe_digest_marks_stale_images():
    recipe = recipe_digest("cpu", "1.4.0")
    assert len(recipe) == 12 and recipe == recipe_digest("cpu", "1.4.0")
    assert recipe != recipe_digest("cuda", "1.4.0") and recipe != recipe_digest("cpu", "1.3.0")
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), None)
    assert plan.recipe == plan.build_args["RECIPE"] == recipe
    assert stale_reason({"curator-kit.base.recipe": recipe}, recipe) is None
    assert "older curator-kit" in stale_reason({"curator-kit.base.variant": "cpu"}, recipe)
    assert "built from recipe 0123456789ab" in stale_reason({"curator-kit.base.recipe": "0123456789ab"}, recipe)


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(CuratorKitError, match=r"wheelhouse .* is not a directory"):
        plan_base_build(BaseBuildOptions(wheelhouses=(tmp_path / "nope",)), None)
    with pytest.raises(CuratorKitError, match=r"CA certificate .* not found"):
        plan_base_build(BaseBuildOptions(ca_certs=(tmp_path / "nope.pem",)), None)
