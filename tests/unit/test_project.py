import re
import textwrap
from pathlib import Path

import pytest
from curator_kit.core import manifest as project
from curator_kit.core.manifest import EnvSpec, ModelSpec, StageResources, StageSpec
from curator_kit.errors import CuratorKitError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manifest.md"

MINIMAL = 'project.name = "demo"\n'

FULL = textwrap.dedent(
    """\
    # a comment the user wrote
    [project]
    name = "demo"
    curator_version = "1.4.0"

    [[stages]]
    name = "first"
    module = "stages.first"
    class = "FirstStage"

    [[stages]]
    name = "second"
    module = "stages.second"
    class = "SecondStage"
    env = "opencv"
    [stages.resources]
    cpus = 2
    gpu_memory_gb = 8

    [envs.opencv]
    pip = ["opencv-python-headless"]
    env = { A = "1" }

    [run]
    execution_mode = "batch"
    """
)


def error_of(text: str) -> CuratorKitError:
    with pytest.raises(CuratorKitError) as caught:
        project.parse_manifest(text)
    return caught.value


def test_the_documented_example_parses() -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    manifest = project.parse_manifest(example.group(1))
    [stage] = manifest.stages
    assert (stage.name, stage.class_name, stage.env, stage.model) == (
        "blur_filter",
        "BlurFilterStage",
        "opencv",
        "clip_model",
    )
    assert manifest.envs["opencv"] == EnvSpec(
        "opencv", ["opencv-python-headless>=4.9"], ["libgl1"], {"OPENCV_LOG_LEVEL": "ERROR"}
    )
    assert manifest.models[0].hf_repo == "org/repo"
    assert manifest.run.execution_mode == "auto"


def test_defaults_fill_what_is_left_out() -> None:
    manifest = project.parse_manifest(MINIMAL)
    assert manifest.project.curator_version == "1.4.0"
    assert manifest.stages == [] and manifest.models == [] and manifest.envs == {}
    assert manifest.run.gpus == "none"


def test_numbers_become_floats_and_order_is_kept() -> None:
    manifest = project.parse_manifest(FULL)
    assert [s.name for s in manifest.stages] == ["first", "second"]
    assert manifest.stages[1].resources == StageResources(cpus=2.0, gpu_memory_gb=8.0)
    assert isinstance(manifest.stages[1].resources.cpus, float)


@pytest.mark.parametrize(
    ("edit", "where", "key"),
    [
        (("[run]", "[run]\nmode = 1"), 25, "'mode' in [run]"),
        (('class = "SecondStage"', 'class = "SecondStage"\nenvironment = "x"'), 15, "'environment' in [stages[1]]"),
        (("gpu_memory_gb = 8", "gpu_memory_gb = 8\nnvdec = 1"), 19, "'nvdec' in [stages[1].resources]"),
        (("pip = [", "apk = []\npip = ["), 21, "'apk' in [envs.opencv]"),
        (('curator_version = "1.4.0"', 'curator_version = "1.4.0"\nversion = "2"'), 5, "'version' in [project]"),
        (("# a comment the user wrote", "stage = 1"), 1, "'stage' in the top level"),
    ],
)
def test_unknown_keys_name_the_key_and_line(edit: tuple[str, str], where: int, key: str) -> None:
    error = error_of(FULL.replace(*edit, 1))
    assert error.message == f"curator-kit.toml:{where}: unknown key {key}"
    assert error.fix.startswith("allowed keys: ")


def test_wrong_types_name_the_key_and_line() -> None:
    error = error_of(FULL.replace("cpus = 2", 'cpus = "two"'))
    assert error.message == "curator-kit.toml:17: 'stages[1].resources.cpus' must be a number, not 'two'"
    error = error_of(FULL.replace('execution_mode = "batch"', "execution_mode = true"))
    assert error.message.startswith("curator-kit.toml:25: 'run.execution_mode' must be a string")
    error = error_of(MINIMAL + "[[stages]]\nname='x'\nmodule='m'\nclass='C'\nbatch_size = true\n")
    assert "must be an integer" in error.message


def test_missing_required_key() -> None:
    error = error_of(MINIMAL + "[[stages]]\nname = 'x'\nmodule = 'stages.x'\n")
    assert error.message == "curator-kit.toml:2: [stages[0]] is missing 'class'"


def test_toml_syntax_errors_are_one_line() -> None:
    error = error_of("[project\nname = 1")
    assert error.message.startswith("curator-kit.toml is not valid TOML:") and "line 1" in error.message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("gpu_memory_gb = 8", "gpu_memory_gb = 8\ngpus = 1"), "stage 'second' sets both gpus and gpu_memory_gb"),
        (('env = "opencv"', 'env = "torch"'), "stage 'second' uses unknown env 'torch'"),
        (('env = "opencv"', 'model = "clip"'), "stage 'second' uses unknown model 'clip'"),
        (('name = "second"', 'name = "first"'), "stage 'first' is listed twice"),
        (('execution_mode = "batch"', 'execution_mode = "fast"'), "[run] execution_mode = 'fast' is unknown"),
        (('execution_mode = "batch"', 'gpus = "some"'), "[run] gpus = 'some' is not docker syntax"),
        (('execution_mode = "batch"', 'mounts = ["data"]'), "[run] mount 'data' is not host:/container[:ro]"),
        (('curator_version = "1.4.0"', 'curator_version = "latest"'), "curator_version 'latest' is not a version"),
        (('name = "demo"', 'name = "Demo"'), "project name 'Demo' is not docker-safe"),
        (("cpus = 2", "cpus = -1"), "stage 'second': resources cannot be negative"),
        (("cpus = 2\ngpu_memory_gb = 8", "cpus = 0"), "stage 'second' asks for no CPU and no GPU"),
    ],
)
def test_validation(edit: tuple[str, str], message: str) -> None:
    assert error_of(FULL.replace(*edit, 1)).message.endswith(message)


def test_round_trip_through_tomli_w(tmp_path: Path) -> None:
    manifest = project.parse_manifest(FULL)
    project.save_manifest(manifest, tmp_path)
    assert project.load_manifest(tmp_path) == manifest


def test_append_keeps_the_users_comments() -> None:
    stage = StageSpec("third", "stages.third", "ThirdStage", resources=StageResources(nvdecs=1))
    text = project.append_entry(FULL, stage)
    assert text.startswith(FULL)
    assert [s.name for s in project.parse_manifest(text).stages] == ["first", "second", "third"]
    model = ModelSpec("clip", "models.clip", "ClipModel", "org/clip", files=["a.bin"])
    text = project.append_entry(text, model)
    text = project.append_entry(text, EnvSpec("torch", pip=["torch"]))
    manifest = project.parse_manifest(text)
    assert manifest.models == [model]
    assert list(manifest.envs) == ["opencv", "torch"]
    assert "# a comment the user wrote" in text


def test_append_rewrites_when_appending_would_change_meaning() -> None:
    text = MINIMAL + "envs = {}\n"  # an inline table cannot gain [envs.x] below it
    appended = project.append_entry(text, EnvSpec("torch", pip=["torch"]))
    assert project.parse_manifest(appended).envs == {"torch": EnvSpec("torch", pip=["torch"])}


def test_find_project_dir_walks_up(tmp_path: Path) -> None:
    (tmp_path / "curator-kit.toml").write_text(MINIMAL)
    (tmp_path / "stages" / "deep").mkdir(parents=True)
    assert project.find_project_dir(tmp_path / "stages" / "deep") == tmp_path
    with pytest.raises(CuratorKitError, match=r"no curator-kit\.toml in"):
        project.find_project_dir(tmp_path.parent)


CLIPPING = textwrap.dedent(
    """\
    [project]
    name = "demo"

    [clipping]
    method = "fixed-stride"
    clip_len_s = 5
    clip_stride_s = 4.0
    min_clip_length_s = 1.0
    encoder = "h264_nvenc"
    encoder_cpus = 2
    encoder_threads = 2
    encode_batch_size = 8
    """
)


def test_clipping_is_read_and_absent_means_none() -> None:
    clipping = project.parse_manifest(CLIPPING).clipping
    assert clipping == project.ClippingSettings("fixed-stride", 5.0, 4.0, 1.0, "h264_nvenc", 2.0, 2, 8)
    assert clipping.enabled and clipping.uses_gpu
    old = project.parse_manifest(MINIMAL).clipping  # a project made before [clipping] existed
    assert old.method == "none" and not old.enabled and not old.uses_gpu
    partial = project.parse_manifest(MINIMAL + '[clipping]\nmethod = "fixed-stride"\n').clipping
    assert partial == project.ClippingSettings(method="fixed-stride")
    assert (partial.clip_len_s, partial.encoder, partial.encoder_cpus) == (10.0, "libvpx-vp9", 1.0)


def test_clipping_unknown_keys_and_types_name_the_line() -> None:
    error = error_of(CLIPPING.replace("encoder_threads = 2", "encoder_threads = 2\nthreads = 4"))
    assert error.message == "curator-kit.toml:12: unknown key 'threads' in [clipping]"
    assert "encode_batch_size" in error.fix
    error = error_of(CLIPPING.replace("encoder_threads = 2", "encoder_threads = 1.5"))
    assert error.message == "curator-kit.toml:11: 'clipping.encoder_threads' must be an integer, not 1.5"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('method = "fixed-stride"', 'method = "scenes"'), "[clipping] method = 'scenes' is unknown"),
        (('encoder = "h264_nvenc"', 'encoder = "libx264"'), "[clipping] encoder = 'libx264' is unknown"),
        (("clip_len_s = 5", "clip_len_s = 0"), "[clipping] clip_len_s must be greater than 0"),
        (("clip_stride_s = 4.0", "clip_stride_s = -1"), "[clipping] clip_stride_s must be greater than 0"),
        (("encoder_cpus = 2", "encoder_cpus = 0"), "[clipping] encoder_cpus must be greater than 0"),
        (("min_clip_length_s = 1.0", "min_clip_length_s = 6"), "min_clip_length_s = 6 is not between 0 and"),
        (("encode_batch_size = 8", "encode_batch_size = 0"), "[clipping] encode_batch_size must be at least 1"),
    ],
)
def test_clipping_validation(edit: tuple[str, str], message: str) -> None:
    assert message in error_of(CLIPPING.replace(*edit, 1)).message


def test_clipping_round_trips_and_stays_out_when_default(tmp_path: Path) -> None:
    manifest = project.parse_manifest(CLIPPING)
    project.save_manifest(manifest, tmp_path)
    assert project.load_manifest(tmp_path) == manifest
    assert "[clipping]" not in project.dump_manifest(project.parse_manifest(MINIMAL))
    appended = project.append_entry(CLIPPING, StageSpec("third", "stages.third", "ThirdStage"))
    assert appended.startswith(CLIPPING) and project.parse_manifest(appended).clipping == manifest.clipping
