import pytest
from curator_kit.core.baseimage import BaseBuildOptions, load_variant, plan_base_build
from curator_kit.errors import CuratorKitError
from curator_kit.ops.pipconfig import PipSettings


@pytest.fixture
def wheelhouse(tmp_path):
    directory = tmp_path / "wheels"
    directory.mkdir()
    for name in (
        "torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.14.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "notes.txt",
    ):
        (directory / name).write_bytes(b"x")
    return directory


def test_variants_ship_with_the_package():
    cpu, cuda = load_variant("cpu"), load_variant("cuda")
    assert cpu.python_tag == "cp311" and cpu.bootstrap_suite == "bookworm"
    assert cuda.base_image.startswith("nvidia/cuda:") and not cuda.bootstrap_suite


def test_unknown_variant_names_the_choices():
    with pytest.raises(CuratorKitError, match="unknown base-image variant 'rocm'") as error:
        load_variant("rocm")
    assert "cpu" in error.value.fix and "cuda" in error.value.fix


def test_host_pip_is_forwarded(tmp_path, wheelhouse):
    cert = tmp_path / "proxy.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
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
    # Only wheelhouse-like files travel; the newest torch for the variant's Python is pinned.
    assert sorted(n for n in files if n.startswith("wheelhouse/")) == [
        "wheelhouse/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "wheelhouse/torch-2.14.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "wheelhouse/torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
    assert plan.build_args["TORCH_SPEC"] == "torch==2.13.0+cpu"
    assert "download.pytorch.org" not in plan.build_args.get("PIP_EXTRA_INDEX_URL", "")
    assert files["ca-certificates/00-proxy.crt"] == cert
    assert b"torch<=2.14.1" in files["pip-constraints.txt"]
    assert "PIP_INDEX_URL" not in plan.build_args  # a file:// index is invisible inside a build
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == "https://mirror.example/simple"
    assert plan.build_args["PIP_FIND_LINKS"] == "https://wheels.example/links"
    assert plan.tag == "curator-kit/base:1.4.0-cpu"
    assert any("skipped local index" in note for note in plan.notes)


def test_no_host_pip_uses_the_variant_torch_index():
    plan = plan_base_build(BaseBuildOptions(variant="cpu", use_host_pip=False), PipSettings(find_links=("/x",)))
    assert plan.build_args["TORCH_SPEC"] == "torch"
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert sorted(plan.context.files) == ["Dockerfile", "pip-constraints.txt"]
    assert plan.context.directories == {"ca-certificates", "wheelhouse"}


def test_explicit_options_win(tmp_path):
    cert = tmp_path / "corp.crt"
    cert.write_text("pem")
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
    assert plan.build_args["CURATOR_EXTRAS"] == "video_cuda12"
    assert plan.build_args["TORCH_SPEC"] == "torch==2.9.1"
    assert "ca-certificates/00-corp.crt" in plan.context.files


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(CuratorKitError, match=r"wheelhouse .* is not a directory"):
        plan_base_build(BaseBuildOptions(wheelhouses=(tmp_path / "nope",)), None)
    with pytest.raises(CuratorKitError, match=r"CA certificate .* not found"):
        plan_base_build(BaseBuildOptions(ca_certs=(tmp_path / "nope.pem",)), None)
