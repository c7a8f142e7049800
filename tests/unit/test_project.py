import re
import textwrap
from pathlib import Path

import pytest
from curator_kit.cli.params import GPUS, MOUNT, SIZE
from curator_kit.core.parsers import Mount
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest
from curator_kit.core.project import manifest as project
from curator_kit.core.project.editing import append_entry, dump_manifest
from curator_kit.core.project.loading import find_project_dir, load_manifest, parse_manifest
from curator_kit.core.project.manifest import EnvSpec, ModelSpec, StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from curator_kit.ops.scaffold import save_manifest

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
        parse_manifest(text)
    return caught.value


def test_the_documented_example_parses() -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    manifest = parse_manifest(example.group(1))
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
    manifest = parse_manifest(MINIMAL)
    assert manifest.project.curator_version == "1.4.0"
    assert manifest.stages == [] and manifest.models == [] and manifest.envs == {}
    assert manifest.run.gpus == NO_GPU and manifest.run.shm_size is None and manifest.run.mounts == []


def test_numbers_become_floats_and_order_is_kept() -> None:
    manifest = parse_manifest(FULL)
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
        (('curator_version = "1.4.0"', 'curator_version = "latest"'), "curator_version 'latest' is not a version"),
        (('name = "demo"', 'name = "Demo"'), "project name 'Demo' is not docker-safe"),
        (("cpus = 2\ngpu_memory_gb = 8", "cpus = 0"), "stage 'second' asks for no CPU and no GPU"),
    ],
)
def test_validation(edit: tuple[str, str], message: str) -> None:
    assert error_of(FULL.replace(*edit, 1)).message.endswith(message)


def write_modules(root: Path, manifest: project.Manifest) -> None:
    """The files the manifest's modules name: load_manifest refuses a module without one."""
    for entry in [*manifest.stages, *manifest.models]:
        if entry.module:
            path = root.joinpath(*entry.module.split(".")).with_suffix(".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


def test_round_trip_through_tomli_w(tmp_path: Path) -> None:
    manifest = parse_manifest(FULL)
    save_manifest(manifest, tmp_path)
    write_modules(tmp_path, manifest)
    assert load_manifest(tmp_path) == manifest


def test_a_module_without_its_file_is_refused_at_load(tmp_path: Path) -> None:
    manifest = parse_manifest(FULL)
    save_manifest(manifest, tmp_path)
    write_modules(tmp_path, manifest)
    (tmp_path / "stages" / "second.py").unlink()
    (tmp_path / "stages" / "second").mkdir()
    with pytest.raises(CuratorKitError, match=r"stages\[1\]\.module = 'stages.second' names no file") as error:
        load_manifest(tmp_path)
    assert "neither stages/second.py nor stages/second/__init__.py exists" in error.value.message
    (tmp_path / "stages" / "second" / "__init__.py").touch()  # a package is a module too
    assert load_manifest(tmp_path) == manifest


def test_append_keeps_the_users_comments() -> None:
    stage = StageSpec("third", "stages.third", "ThirdStage", resources=StageResources(nvdecs=1))
    text = append_entry(FULL, stage)
    assert text.startswith(FULL)
    assert [s.name for s in parse_manifest(text).stages] == ["first", "second", "third"]
    model = ModelSpec("clip", "models.clip", "ClipModel", "org/clip", files=["a.bin"])
    text = append_entry(text, model)
    text = append_entry(text, EnvSpec("torch", pip=["torch"]))
    manifest = parse_manifest(text)
    assert manifest.models == [model]
    assert list(manifest.envs) == ["opencv", "torch"]
    assert "# a comment the user wrote" in text


@pytest.mark.parametrize(
    ("shape", "entry", "table"),
    [
        ("envs = {}\n", EnvSpec("torch", pip=["torch"]), "[envs.NAME]"),  # an inline table gains no [envs.x]
        ("stages = []\n", StageSpec("third", "stages.third", "ThirdStage"), "[[stages]]"),
        ("models = []\n", ModelSpec("clip", "models.clip", "ClipModel", "org/clip"), "[[models]]"),
    ],
)
def test_append_refuses_rather_than_rewriting_away_the_comments(shape: str, entry: object, table: str) -> None:
    # Old main fell back to dump_manifest here, and the comment below was gone from the file.
    text = "# the team's notes on this pipeline\n" + MINIMAL + shape
    parse_manifest(text)  # a valid manifest, just shaped so that appending cannot extend it
    with pytest.raises(CuratorKitError) as raised:
        append_entry(text, entry)
    assert "rewriting the whole file would drop its comments" in raised.value.message
    assert f"as its own {table} table, then run the command again" in raised.value.fix


def test_find_project_dir_walks_up(tmp_path: Path) -> None:
    (tmp_path / "curator-kit.toml").write_text(MINIMAL)
    (tmp_path / "stages" / "deep").mkdir(parents=True)
    assert find_project_dir(tmp_path / "stages" / "deep") == tmp_path
    with pytest.raises(CuratorKitError, match=r"no curator-kit\.toml in"):
        find_project_dir(tmp_path.parent)


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
    clipping = parse_manifest(CLIPPING).clipping
    assert clipping == project.ClippingSettings("fixed-stride", 5.0, 4.0, 1.0, "h264_nvenc", 2.0, 2, 8)
    assert clipping.enabled and clipping.uses_gpu
    old = parse_manifest(MINIMAL).clipping  # a project made before [clipping] existed
    assert old.method == "none" and not old.enabled and not old.uses_gpu
    partial = parse_manifest(MINIMAL + '[clipping]\nmethod = "fixed-stride"\n').clipping
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
    manifest = parse_manifest(CLIPPING)
    save_manifest(manifest, tmp_path)
    assert load_manifest(tmp_path) == manifest
    assert "[clipping]" not in dump_manifest(parse_manifest(MINIMAL))
    appended = append_entry(CLIPPING, StageSpec("third", "stages.third", "ThirdStage"))
    assert appended.startswith(CLIPPING) and parse_manifest(appended).clipping == manifest.clipping


# ---------------------------------------------------------------- values parsed at load, as the CLI parses them


def run_table(line: str) -> str:
    """FULL with `line` in [run] (line 25), instead of execution_mode."""
    return FULL.replace('execution_mode = "batch"', line, 1)


def cli_error(param_type, text: str, option: str) -> str:
    """What the CLI says of the same value (cli/params.py over core/parsers.py), minus the option name."""
    import click

    with pytest.raises(CuratorKitError) as caught:
        param_type.convert(text, click.Option([option]), None)
    return caught.value.one_line().removeprefix(f"{option} ")


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("all", GpuRequest(count=-1)),
        ("2", GpuRequest(count=2)),
        ("count=2", GpuRequest(count=2)),
        ("device=0,2", GpuRequest(device_ids=("0", "2"))),
        ("device=GPU-1234", GpuRequest(device_ids=("GPU-1234",))),
        ("device=MIG-5a6b,GPU-1234", GpuRequest(device_ids=("MIG-5a6b", "GPU-1234"))),
        ("none", NO_GPU),
    ],
)
def test_run_gpus_take_what_the_cli_takes(text: str, request_: GpuRequest) -> None:
    # count=2 and device=GPU-... worked on the command line but were refused in the manifest.
    assert parse_manifest(run_table(f'gpus = "{text}"')).run.gpus == request_
    assert GPUS.convert(text, None, None) == request_


def test_run_gpus_zero_is_refused_at_load_with_the_clis_words() -> None:
    # `gpus = "0"` used to load and only `run` refused it.
    error = error_of(run_table('gpus = "0"'))
    assert error.one_line() == "curator-kit.toml:25: run.gpus = " + cli_error(GPUS, "0", "--gpus")
    assert "a count of 0 asks for no GPU" in error.message


@pytest.mark.parametrize(("text", "size"), [("8g", 8 * 2**30), ("1t", 2**40), ("8gib", 8 * 2**30), ("512 MiB", 2**29)])
def test_shm_size_takes_what_the_cli_takes(text: str, size: int) -> None:
    assert parse_manifest(run_table(f'shm_size = "{text}"')).run.shm_size == size == SIZE.convert(text, None, None)


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "0.1b", "8x"])
def test_shm_size_refusals_are_the_clis(text: str) -> None:
    error = error_of(run_table(f'shm_size = "{text}"'))
    assert error.one_line() == "curator-kit.toml:25: run.shm_size = " + cli_error(SIZE, text, "--shm-size")


@pytest.mark.parametrize("text", ["data", "data:relative", "a:/b:rx", "a,b:/c"])
def test_mount_messages_are_the_clis(text: str) -> None:
    error = error_of(run_table(f'mounts = ["{text}"]'))
    assert error.one_line() == "curator-kit.toml:25: run.mounts[0] = " + cli_error(MOUNT, text, "--mount")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("cpus = 2", "cpus = nan"), "curator-kit.toml:17: stages[1].resources.cpus = nan is not a number of CPUs"),
        (("cpus = 2", "cpus = inf"), "curator-kit.toml:17: stages[1].resources.cpus = inf is not a number of CPUs"),
        (("cpus = 2", "cpus = -1"), "stages[1].resources.cpus = -1.0 is not a number of CPUs: it is negative"),
        (("cpus = 2", "cpus = 2000"), "cpus = 2000.0 is not a number of CPUs: it is above 1024"),
        (("gpu_memory_gb = 8", "gpus = 1e9"), "gpus = 1000000000.0 is not a number of GPUs: it is above 64"),
        (("gpu_memory_gb = 8", "gpu_memory_gb = 1e6"), "is not an amount of GPU memory in GB: it is above 1024"),
        (("gpu_memory_gb = 8", "nvdecs = 100"), "nvdecs = 100 is not a number of NVDEC engines: it is above 64"),
        (("gpu_memory_gb = 8", "nvencs = -1"), "nvencs = -1 is not a number of NVENC engines: it is negative"),
    ],
)
def test_non_finite_negative_and_absurd_resources_are_refused(edit: tuple[str, str], message: str) -> None:
    assert message in error_of(FULL.replace(*edit, 1)).message


def test_every_float_is_finite() -> None:
    error = error_of(CLIPPING.replace("clip_len_s = 5", "clip_len_s = nan"))
    assert (
        error.message
        == "curator-kit.toml:6: clipping.clip_len_s = nan is not a number: nan and infinity are not allowed"
    )


def test_new_entries_with_nan_are_refused_not_rewritten() -> None:
    # nan != nan made append_entry believe appending changed the meaning, and rewrite the whole file.
    stage = StageSpec("third", "stages.third", "ThirdStage", resources=StageResources(cpus=float("nan")))
    with pytest.raises(CuratorKitError, match=r"stages\.resources\.cpus = nan is not a number of CPUs"):
        append_entry(FULL, stage)


INJECTIONS = [
    ('name = "demo"', 'name = "demo"\nbase_image = "img\\nRUN touch /pwned"', 4, "project.base_image"),
    ('module = "stages.first"', 'module = "stages.first\\nRUN touch /pwned"', 8, "stages[0].module"),
    ('class = "FirstStage"', 'class = "FirstStage\\nRUN touch /pwned"', 9, "stages[0].class"),
    ('env = { A = "1" }', 'env = { A = "1\\nRUN touch /pwned" }', 22, "envs.opencv.env.A"),
    ('env = { A = "1" }', 'env = { "A\\nB" = "1" }', 22, 'envs.opencv.env."A\\nB"'),
    ('pip = ["opencv-python-headless"]', 'pip = ["x\\nRUN touch /pwned #"]', 21, "envs.opencv.pip[0]"),
    ('pip = ["opencv-python-headless"]', 'apt = ["libgl1\\nRUN touch /pwned"]', 21, "envs.opencv.apt[0]"),
    ('execution_mode = "batch"', 'env = { A = "x\\ny" }', 25, "run.env.A"),
]


@pytest.mark.parametrize(("old", "new", "line", "key"), INJECTIONS)
def test_no_control_character_gets_in(old: str, new: str, line: int, key: str) -> None:
    error = error_of(FULL.replace(old, new, 1))
    assert error.message.startswith(f"curator-kit.toml:{line}: {key} = ")
    assert "control character '\\n'" in error.message or "is not [A-Za-z_][A-Za-z0-9_]*" in error.message
    assert "\n" not in error.one_line()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[envs.opencv]\npip = ["--index-url=https://evil/simple"]', "pip options (-r, --index-url, ...) are not"),
        ('[envs.opencv]\npip = ["-r requirements.txt"]', "pip options"),
        ('[envs.opencv]\npip = [""]', "envs.opencv.pip[0] = '' is not a pip requirement: it is empty"),
        ('[envs.opencv]\napt = ["Bad Pkg"]', "envs.opencv.apt[0] = 'Bad Pkg' is not a Debian package"),
        ('[envs."open\\ncv"]\npip = []', "env name 'open\\ncv' is not valid"),
        ("[[models]]\nname='m'\nmodule='models..m'\nclass='M'\nhf_repo='o/r'", "models[0].module = 'models..m'"),
        ("[[models]]\nname='m'\nmodule='.m'\nclass='M'\nhf_repo='o/r'", "(leading '.') can leave the project"),
        ("[[models]]\nname='m'\nmodule='m'\nclass='a.M'\nhf_repo='o/r'", "models[0].class = 'a.M' is not a class"),
        ("[[models]]\nname='m'\nmodule='m'\nclass='M'\nhf_repo='o/r/x'", "is not a Hugging Face repository id"),
        ("[[models]]\nname='m'\nmodule='m'\nclass='M'\nhf_repo='o/r'\nrevision='a b'", "contains whitespace"),
        ("[[models]]\nname='m'\nmodule='m'\nclass='M'\nhf_repo='o/r'\nfiles=['../x']", "would leave the model's"),
        ("[[models]]\nname='m'\nmodule='m'\nclass='M'\nhf_repo='o/r'\nfiles=['/etc/x']", "it must be relative"),
        ('[build]\npip_index_url = "ftp://x/simple"', "build.pip_index_url = 'ftp://x/simple' is not an index URL"),
        ('[build]\npip_extra_index_urls = ["https://x/ s"]', "contains whitespace"),
        ('[project]\nname = "demo"\nbase_image = "Img:latest"', "'Img' is not lowercase"),
        (
            '[project]\nname = "demo"\ncurator_version = "1.4.0\\n"',
            "project.curator_version = '1.4.0\\n' is not one line",
        ),
    ],
)
def test_hand_edited_values_are_parsed(table: str, message: str) -> None:
    text = table if table.startswith("[project]") else MINIMAL + table + "\n"
    error = error_of(text)
    assert message in error.message
    assert error.message.startswith("curator-kit.toml") and error.fix


def test_typed_run_defaults_round_trip(tmp_path: Path) -> None:
    text = run_table('gpus = "device=GPU-1234,1"\nshm_size = "7.5g"\nmounts = ["models:/opt/models:ro", "/srv:/srv"]')
    manifest = parse_manifest(text)
    assert manifest.run.mounts == [Mount("models", "/opt/models", True), Mount("/srv", "/srv", False)]
    assert manifest.run.shm_size == int(7.5 * 2**30)
    save_manifest(manifest, tmp_path)
    write_modules(tmp_path, manifest)
    assert load_manifest(tmp_path) == manifest
    appended = append_entry(text, EnvSpec("torch", pip=["torch>=2"]))
    assert appended.startswith(text) and parse_manifest(appended).run == manifest.run
