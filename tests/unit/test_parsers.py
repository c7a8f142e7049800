"""core/parsers.py: one grammar per kind of value, shared by the manifest and the CLI."""

import pytest
from curator_kit.core import parsers
from curator_kit.core.parsers import ImageReference, Mount, ParseError, Ulimit
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest

GIB = 2**30


def refusal(parse, *args) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(*args)
    assert "\n" not in caught.value.one_line() and caught.value.fix
    return caught.value


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8g", 8 * GIB),
        ("512m", 512 * 2**20),
        ("7.62gb", int(7.62 * GIB)),
        ("1073741824", GIB),
        ("64MB", 64 * 2**20),
        ("1t", 2**40),
        ("8gib", 8 * GIB),
        ("8 GiB", 8 * GIB),
        ("2k", 2048),
    ],
)
def test_sizes_are_dockers_binary_units(text, size):
    assert parsers.parse_size(text) == size
    assert parsers.parse_size(parsers.format_size(size)) == size


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "it is 0 bytes"),
        ("0g", "it is 0 bytes"),
        ("0.1b", "it is 0 bytes"),
        ("-1", "a number with an optional unit"),
        ("nan", "a number with an optional unit"),
        ("inf", "a number with an optional unit"),
        ("lots", "a number with an optional unit"),
        ("8 g\n", "control character"),
        ("9" * 400, "more bytes than the engine can hold"),
        ("99999999p", "more bytes than the engine can hold"),
    ],
)
def test_size_refusals(text, why):
    error = refusal(parsers.parse_size, text)
    assert error.message.startswith(f"{text!r} is not a size: ") and why in error.message


def test_ulimits():
    assert parsers.parse_ulimit("nofile=1024:65536") == Ulimit("nofile", 1024, 65536)
    assert parsers.parse_ulimit("memlock=-1") == Ulimit("memlock", -1, -1)
    assert parsers.parse_ulimit("memlock=unlimited") == ("memlock", -1, -1)
    assert parsers.parse_ulimit("core=0:-1") == Ulimit("core", 0, -1)
    assert "nofile's soft limit 10 is above its hard limit 5" in refusal(parsers.parse_ulimit, "nofile=10:5").message
    assert "soft limit unlimited is above its hard limit 5" in refusal(parsers.parse_ulimit, "nofile=-1:5").message
    assert "'bogus' is not a limit docker knows" in refusal(parsers.parse_ulimit, "bogus=1").message
    assert "'-2' is not a whole number" in refusal(parsers.parse_ulimit, "nofile=-2").message
    assert "has no '='" in refusal(parsers.parse_ulimit, "nofile").message


def test_env_assignments():
    assert parsers.parse_env_assignment("X=1=2") == ("X", "1=2")
    assert parsers.parse_env_assignment("Y=") == ("Y", "")
    assert parsers.parse_env_assignment("TOKEN", {"TOKEN": "s3cret"}) == ("TOKEN", "s3cret")
    assert "this shell does not set it" in refusal(parsers.parse_env_assignment, "TOKEN", {}).message
    assert "has no '='" in refusal(parsers.parse_env_assignment, "TOKEN").message
    assert "'1X' is not an environment variable name" in refusal(parsers.parse_env_assignment, "1X=2").message
    error = refusal(parsers.parse_env_assignment, "A=x\ny")
    assert error.message == "'x\\ny' is not an environment variable value: it contains the control character '\\n'"
    # A host variable holding a newline is refused too: it would reach a shell line.
    assert "control character" in refusal(parsers.parse_env_assignment, "BAD", {"BAD": "a\rb"}).message


def test_mounts():
    assert parsers.parse_mount("models:/opt/models:ro") == Mount("models", "/opt/models", True)
    assert parsers.parse_mount("/abs:/x") == Mount("/abs", "/x", False)
    assert parsers.parse_mount("/abs:/x:rw") == Mount("/abs", "/x", False)
    assert parsers.format_mount(Mount("models", "/opt/models", True)) == "models:/opt/models:ro"
    assert "not HOST:CONTAINER" in refusal(parsers.parse_mount, "models").message
    assert "'x' is not absolute" in refusal(parsers.parse_mount, "models:x").message
    assert "'rx' is neither ro nor rw" in refusal(parsers.parse_mount, "a:/b:rx").message
    assert "comma" in refusal(parsers.parse_mount, "a,b:/c").message


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("demo", ImageReference("", "demo")),
        ("curator-kit/base:1.4.0-cpu", ImageReference("", "curator-kit/base", "1.4.0-cpu")),
        ("localhost:5000/team/demo:t", ImageReference("localhost:5000", "team/demo", "t")),
        ("registry.example.com/a__b/c-d", ImageReference("registry.example.com", "a__b/c-d")),
        ("demo@sha256:" + "a" * 64, ImageReference("", "demo", "", "sha256:" + "a" * 64)),
        ("r.io/x:1@sha256:" + "0" * 64, ImageReference("r.io", "x", "1", "sha256:" + "0" * 64)),
    ],
)
def test_image_references(text, parsed):
    assert parsers.parse_image_reference(text) == parsed
    assert str(parsed) == text == parsers.parse_image_text(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("img\nRUN touch /pwned", "control character"),
        ("Img", "'Img' is not lowercase"),
        ("a//b", "'' is not lowercase"),
        ("demo:", "tag ''"),
        ("demo:-x", "tag '-x'"),
        ("demo@sha256:abc", "is not a digest"),
        ("bad_host:99/x", "registry 'bad_host:99' is not HOST[:PORT]"),
        ("x y", "'x y' is not lowercase"),
        ("", "the repository is empty"),
    ],
)
def test_image_reference_refusals(text, why):
    assert why in refusal(parsers.parse_image_reference, text).message


def test_python_names():
    assert parsers.parse_module_path("stages.blur_filter") == "stages.blur_filter"
    for text, why in [
        (".stages", "leading '.'"),
        ("stages..x", "'' is not a Python identifier"),
        ("stages.class", "'class' is not a Python identifier"),
        ("stages.x\nimport os", "control character"),
    ]:
        assert why in refusal(parsers.parse_module_path, text).message
    assert parsers.parse_class_name("BlurFilterStage") == "BlurFilterStage"
    for text in ("a.B", "1B", "class", "B;x", "B\n"):
        refusal(parsers.parse_class_name, text)


def test_requirements_and_apt_packages():
    for good in ("opencv-python-headless>=4.9", "torch==2.4.0; python_version>'3'", "pkg @ https://x/p.whl", "a[b]"):
        assert parsers.parse_requirement(good) == good
    assert "pip options" in refusal(parsers.parse_requirement, "--index-url=https://x/simple").message
    assert "pip options" in refusal(parsers.parse_requirement, "-r requirements.txt").message
    assert "it is empty" in refusal(parsers.parse_requirement, " ").message
    assert "control character" in refusal(parsers.parse_requirement, "x\nRUN touch /pwned #").message
    assert "Expected" in refusal(parsers.parse_requirement, "x y").message
    for good in ("libgl1", "g++", "libc6:amd64", "jq=1.6-2.1", "python3.11"):
        assert parsers.parse_apt_package(good) == good
    for bad in ("Bad Pkg", "a", "-x", "libgl1;rm", "libgl1\n"):
        refusal(parsers.parse_apt_package, bad)


def test_hugging_face_values():
    assert parsers.parse_hf_repo("openai/clip-vit-base-patch32") == "openai/clip-vit-base-patch32"
    for bad in ("clip", "a/b/c", "a/-b", "a--b/c", "a/b..c", "a/" + "x" * 97, "a/b.git", "a/b\n"):
        refusal(parsers.parse_hf_repo, bad)
    for good in ("main", "v1.0", "refs/pr/1", "0" * 40):
        assert parsers.parse_revision(good) == good
    for bad in ("", "main\nRUN echo INJECTED", "a b", "-x", "a..b", "x/"):
        refusal(parsers.parse_revision, bad)
    for good in ("model.safetensors", "weights/part-1.bin", "a file.json"):
        assert parsers.parse_hf_file(good) == good
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "a\\b", "x\r"):
        refusal(parsers.parse_hf_file, bad)


def test_index_urls():
    assert parsers.parse_index_url("https://pypi.example.com/simple") == "https://pypi.example.com/simple"
    for bad in ("ftp://x/simple", "https://", "pypi.org/simple", "https://x/ y", "https://x/\n--trusted-host x"):
        refusal(parsers.parse_index_url, bad)
    error = refusal(parsers.parse_index_url, "https://user:s3cret@x/ y")
    assert "s3cret" not in error.one_line() and "'https://user:****@x/ y' is not an index URL" in error.message
    # A password with an unencoded `@`, in a URL refused for a line break: still masked whole.
    error = refusal(parsers.parse_index_url, "https://ci:s3c@ret@x/\n--trusted-host evil")
    assert "s3c" not in error.one_line() and "ret@" not in error.one_line()


def test_gpus_per_worker():
    assert parsers.parse_gpus_per_worker("none") == parsers.parse_gpus_per_worker("0") == NO_GPU
    assert parsers.parse_gpus_per_worker("all") == GpuRequest(count=-1)
    assert parsers.parse_gpus_per_worker("2") == GpuRequest(count=2)
    for bad in ("device=0", "1e9", "65", "-1", "two"):
        assert "is not a number of GPUs per worker" in refusal(parsers.parse_gpus_per_worker, bad).message


def test_gpus_round_trip_through_their_manifest_text():
    for text in ("none", "all", "3", "device=0,2", "device=GPU-1234"):
        request = parsers.parse_gpus(text)
        assert parsers.parse_gpus(parsers.format_gpus(request)) == request


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("cpus", "inf", "nan and infinity are not allowed"),
        ("cpus", "nan", "nan and infinity are not allowed"),
        ("cpus", float("nan"), "nan and infinity are not allowed"),
        ("cpus", "-0.5", "it is negative"),
        ("cpus", "1025", "it is above 1024"),
        ("gpus", "1e9", "it is above 64"),
        ("gpu_memory_gb", "1025", "it is above 1024"),
        ("nvdecs", "1e20", "it is above 64"),
        ("nvencs", "1.5", "it is not a whole number"),
        ("nvdecs", "two", "it is not a number"),
    ],
)
def test_resource_refusals_name_the_bound(name, value, why):
    error = refusal(parsers.parse_resource, name, value)
    assert why in error.message
    assert str(parsers.RESOURCE_LIMITS[name]) in error.fix


def test_resources():
    assert parsers.parse_resource("cpus", "0.5") == 0.5
    assert parsers.parse_resource("cpus", 1024) == 1024.0
    assert parsers.parse_resource("nvdecs", "2") == 2 and isinstance(parsers.parse_resource("nvdecs", 2.0), int)


def test_package_names_are_pep_508_names():
    from curator_kit.core.parsers import parse_package_names

    assert parse_package_names("vllm, cvcuda-cu12,") == ("vllm", "cvcuda-cu12")
    assert parse_package_names("") == ()
    for bad in ("vllm\nRUN x", "a b", "-x", "torch>=2"):
        with pytest.raises(ParseError):
            parse_package_names(bad)


@pytest.mark.parametrize(
    ("text", "version"),
    [("1.4.0", (1, 4, 0)), ("1.4", (1, 4, 0)), ("1.5.0rc1", (1, 5, 0)), ("2.0.1+local", (2, 0, 1))],
)
def test_a_curator_version_is_read_once_here_for_the_manifest_the_catalogue_and_the_spec(text, version):
    from curator_kit.core.pipeline.catalogue import catalogue_for

    assert parsers.parse_version(text) == version
    assert catalogue_for("1.4.0").curator.startswith("1.4")  # the catalogue keys its releases with it


@pytest.mark.parametrize("text", ["latest", "1", "1.4.0\n", " 1.4.0"])
def test_what_is_not_a_version_is_one_error(text):
    from curator_kit.errors import CuratorKitError

    with pytest.raises(CuratorKitError, match="is not a version") as caught:
        parsers.parse_version(text)
    assert caught.value.fix == 'use e.g. "1.4.0"'
