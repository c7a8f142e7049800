"""Bad input through the CLI, table-driven: options and hand-edited manifests meet the same parsers.

Every case must end with a non-zero exit, exactly one `error:` line, no traceback, and nothing
written: the whole temp tree (project, manifest bytes included) is compared before and after.
The injection cases are the hardening issue's reproductions: a value with a newline that, rendered
into a Dockerfile, would have become an instruction of its own.
"""

from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main

INJECTED_REVISION = "main\nRUN echo INJECTED > /injected #"
IMAGE = ("--image", "demo:never-built")  # plans need an image name; none is built or asked for here


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "demo"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "demo")
    (tmp_path / "demo" / "stages-link").symlink_to("stages")  # the same directory under another name
    return tmp_path / "demo"


def assert_refused(root: Path, args: list[str], message: str) -> None:
    before = snapshot(root)
    result = CliRunner().invoke(main, args)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not raised
    assert "Traceback" not in result.output
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"error: {message}"), errors[0]
    assert " -- " in errors[0]  # and says how to fix it
    assert snapshot(root) == before


CLI_CASES = [
    # init
    (["init", "x", "--base-image", "img\nRUN touch /pwned"], "--base-image 'img\\nRUN touch /pwned' is not an image"),
    (["init", "x", "--base-image", "Curator/Base"], "--base-image 'Curator/Base' is not an image reference"),
    (["init", "x", "--base-image", "base:"], "--base-image 'base:' is not an image reference: tag ''"),
    # new-model
    (
        ["new-model", "m", "--hf-repo", "a/b", "--revision", INJECTED_REVISION, "--bake"],
        f"--revision {INJECTED_REVISION!r} is not a revision: it contains the control character '\\n'",
    ),
    (["new-model", "m", "--hf-repo", "a/b\nRUN touch /pwned"], "--hf-repo 'a/b\\nRUN touch /pwned' is not a Hugging"),
    (["new-model", "m", "--hf-repo", "clip"], "--hf-repo 'clip' is not a Hugging Face repository id"),
    (["new-model", "m", "--hf-repo", "a/b", "--revision", "a b"], "--revision 'a b' is not a revision"),
    (["new-model", "m", "--hf-repo", "a/b", "--file", "../../etc/passwd"], "--file '../../etc/passwd' is not a"),
    (["new-model", "m", "--hf-repo", "a/b", "--file", "/etc/passwd"], "--file '/etc/passwd' is not a repository file"),
    # new-env
    (["new-env", "e", "--pip", "x\nRUN touch /pwned #"], "--pip 'x\\nRUN touch /pwned #' is not a pip requirement"),
    (["new-env", "e", "--pip=--index-url=https://evil.example/simple"], "--pip '--index-url=https://evil.example/"),
    (["new-env", "e", "--pip=-r requirements.txt"], "--pip '-r requirements.txt' is not a pip requirement"),
    (["new-env", "e", "--pip", ""], "--pip '' is not a pip requirement: it is empty"),
    (["new-env", "e", "--apt", "Bad Pkg"], "--apt 'Bad Pkg' is not a Debian package"),
    (["new-env", "e", "--apt", "libgl1\nRUN touch /pwned"], "--apt 'libgl1\\nRUN touch /pwned' is not a Debian"),
    (["new-env", "e", "--env", "NOVALUE"], "--env 'NOVALUE' is not KEY=VALUE"),
    (["new-env", "e", "--env", "A=1\nRUN touch /pwned"], "--env '1\\nRUN touch /pwned' is not an environment"),
    (["new-env", "e", "--env", "1X=2"], "--env '1X' is not an environment variable name"),
    # new-stage numbers
    (["new-stage", "s", "--cpus", "inf"], "--cpus 'inf' is not a number of CPUs: nan and infinity are not allowed"),
    (["new-stage", "s", "--cpus", "nan"], "--cpus 'nan' is not a number of CPUs: nan and infinity are not allowed"),
    (["new-stage", "s", "--cpus=-1"], "--cpus '-1' is not a number of CPUs: it is negative"),
    (["new-stage", "s", "--cpus", "2000"], "--cpus '2000' is not a number of CPUs: it is above 1024"),
    (["new-stage", "s", "--gpus", "1e9"], "--gpus '1e9' is not a number of GPUs: it is above 64"),
    (["new-stage", "s", "--gpu-memory-gb", "1e6"], "--gpu-memory-gb '1e6' is not an amount of GPU memory in GB"),
    (["new-stage", "s", "--nvdecs", "1e20"], "--nvdecs '1e20' is not a number of NVDEC engines: it is above 64"),
    (["new-stage", "s", "--nvencs", "1.5"], "--nvencs '1.5' is not a number of NVENC engines: it is not a whole"),
    # run
    (["run", "--dry-run", "--gpus", "0"], "--gpus '0' is not a GPU request: a count of 0 asks for no GPU"),
    (["run", "--dry-run", "--gpus", "1e9"], "--gpus '1e9' is not a GPU request"),
    (["run", "--dry-run", "--gpus", "device=0,0"], "--gpus 'device=0,0' is not a GPU request: a device is named twice"),
    (["run", "--dry-run", "--gpus", "device=0\nx"], "--gpus 'device=0\\nx' is not a GPU request"),
    (["run", "--dry-run", "--shm-size", "0"], "--shm-size '0' is not a size: it is 0 bytes"),
    (["run", "--dry-run", "--shm-size=-1"], "--shm-size '-1' is not a size"),
    (["run", "--dry-run", "--shm-size", "nan"], "--shm-size 'nan' is not a size"),
    (["run", "--dry-run", "--ulimit", "nofile=10:5"], "--ulimit 'nofile=10:5' is not a ulimit: nofile's soft limit"),
    (["run", "--dry-run", "--ulimit", "bogus=1"], "--ulimit 'bogus=1' is not a ulimit"),
    (["run", "--dry-run", "--env", "A=x\ny"], "--env 'x\\ny' is not an environment variable value"),
    (["shell", *IMAGE, "--dry-run", "--shm-size", "0"], "--shm-size '0' is not a size: it is 0 bytes"),
    (["shell", *IMAGE, "--dry-run", "--command", "'unclosed"], '"\'unclosed" is not a command line'),
    (["replay", "x", *IMAGE, "--dry-run", "--limit", "0"], "--limit '0' is not a count: it takes nothing"),
    (["run", *IMAGE, "--dry-run", "--capture", "nope"], "--capture nope: the pipeline has no such stage"),
    (
        ["run", "--dry-run", "--mount-code", "--image", "x:1", "--ray-address", "head"],
        "--mount-code with --ray-address",
    ),
    (["run", "--dry-run", "--limit", "0"], "--limit '0' is not a count: it takes nothing"),
    (
        ["base", "build", "--variant", "cuda", "--dry-run", "--leave-out", "vllm\nRUN touch /pwned"],
        "--leave-out 'vllm\\nRUN touch /pwned' is not a comma-separated list of package names",
    ),
    (["base", "build", "--variant", "cuda", "--dry-run", "--leave-out", "vllm,x y"], "--leave-out 'vllm,x y' is not a"),
    (["run", "--dry-run", "--limit", "two"], "--limit 'two' is not a count: it is not a whole number"),
    (["run", "--dry-run", "--mount", "data"], "--mount 'data' is not a mount: it is not HOST:CONTAINER[:ro|rw]"),
    (["models", "pull", "nope"], "no model named nope in curator-kit.toml"),
    # run: input and output never overlap (the output is mounted writable), symlinks resolved
    (["run", *IMAGE, "--dry-run", "--input", "stages", "--output", "stages"], "--input stages and --output stages"),
    (["run", *IMAGE, "--dry-run", "--input", "stages", "--output", "stages/out"], "--output stages/out is inside"),
    (["run", *IMAGE, "--dry-run", "--input", "stages", "--output", "."], "--input stages is inside --output ."),
    (["run", *IMAGE, "--input", "stages", "--output", "stages-link"], "--input stages and --output stages-link are"),
    # run: paths and numbers the host cannot give; mounts that open the host
    (["run", *IMAGE, "--input", "stages", "--output", "/proc/x"], "cannot create the output directory /proc/x"),
    (["run", *IMAGE, "--dry-run", "--shm-size", "1p"], "--shm-size 1048576.00 GiB is more than the"),
    (["run", *IMAGE, "--dry-run", "--mount", "/:/host:ro"], "mount / -> /host hands the container the host's whole"),
    (["run", *IMAGE, "--dry-run", "--mount", "/var/run:/r"], "mount /run -> /r hands the container the Docker"),
    (["run", *IMAGE, "--dry-run", "--mount", "models:/data/input"], "mount /"),  # .../models -> /data/input covers
    (["run", *IMAGE, "--dry-run", "--mount", ".:/project"], "mount /"),  # writable, and it holds the input
    (["run", *IMAGE, "--dry-run", "--resume", "--command", "true"], "--resume with --command"),
    (["run", *IMAGE, "--dry-run", "--ray-token-file", "curator-kit.toml"], "--network and --ray-token-file are for"),
    # cluster up
    (["cluster", "up", "--dry-run", "--gpus-per-worker", "device=0"], "--gpus-per-worker 'device=0' is not a number"),
    (["cluster", "up", "--dry-run", "--gpus-per-worker", "1e9"], "--gpus-per-worker '1e9' is not a number of GPUs"),
    (["cluster", "up", "--dry-run", "--shm-size", "0"], "--shm-size '0' is not a size: it is 0 bytes"),
    (
        ["cluster", "up", *IMAGE, "--dry-run", "--input", "stages", "--output", "stages/o"],
        "--output stages/o is inside",
    ),
    # new-stage / new-writer / new-model: names whose files are the project's own, --force or not
    (["new-stage", "__init__", "--force"], "stage name '__init__' is reserved: stages/__init__.py and models/"),
    (["new-stage", "pipeline", "--force"], "stage name 'pipeline' is reserved: tests/test_pipeline.py is the"),
    (["new-stage", "conftest", "--force"], "stage name 'conftest' is reserved: pytest reads conftest.py"),
    (["new-writer", "setup", "--force"], "writer name 'setup' is reserved"),
    (["new-model", "__init__", "--hf-repo", "a/b", "--force"], "model name '__init__' is reserved"),
]


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(args[:2]) for args, _ in CLI_CASES])
def test_bad_option_values(project: Path, args: list[str], message: str) -> None:
    assert_refused(project.parent, args, message)


BASE = 'project.name = "demo"\n'
STAGE = '[[stages]]\nname = "evil"\nmodule = "stages.evil"\nclass = "EvilStage"\n'
MODEL = '[[models]]\nname = "m"\nmodule = "models.m"\nclass = "M"\nhf_repo = "a/b"\n'

# (manifest text, the line the error names, what it says there); TOML basic strings carry "\n" escapes.
MANIFEST_CASES = [
    ('[project]\nname = "demo"\nbase_image = "img\\nRUN touch /pwned"\n', 3, "project.base_image = 'img\\nRUN"),
    (
        BASE + STAGE.replace('"stages.evil"', '"stages.evil\\nRUN touch /pwned"'),
        4,
        "stages[0].module = 'stages.evil\\n",
    ),
    (BASE + STAGE.replace('"EvilStage"', '"EvilStage\\nRUN touch /pwned"'), 5, "stages[0].class = 'EvilStage\\nRUN"),
    (BASE + STAGE.replace('"stages.evil"', '"..evil"'), 4, "stages[0].module = '..evil' is not a module path"),
    (BASE + '[envs.e]\nenv = { A = "x\\nRUN touch /pwned" }\n', 3, "envs.e.env.A = 'x\\nRUN touch /pwned' is not"),
    (BASE + '[envs.e]\npip = ["x\\nRUN touch /pwned #"]\n', 3, "envs.e.pip[0] = 'x\\nRUN touch /pwned #' is not"),
    (BASE + '[envs.e]\npip = ["--index-url=https://x/simple"]\n', 3, "envs.e.pip[0] = '--index-url=https://x/simple'"),
    (BASE + '[run]\nenv = { A = "x\\ny" }\n', 3, "run.env.A = 'x\\ny' is not an environment variable value"),
    (BASE + '[run]\ngpus = "0"\n', 3, "run.gpus = '0' is not a GPU request: a count of 0 asks for no GPU"),
    (BASE + '[run]\nshm_size = "0"\n', 3, "run.shm_size = '0' is not a size: it is 0 bytes"),
    (BASE + '[run]\nmounts = ["data"]\n', 3, "run.mounts[0] = 'data' is not a mount"),
    (BASE + '[run]\nmodel_cache = "w\\nRUN x"\n', 3, "run.model_cache = 'w\\nRUN x' is not one line of text"),
    (BASE + STAGE + "[stages.resources]\ncpus = nan\n", 7, "stages[0].resources.cpus = nan is not a number of CPUs"),
    (BASE + STAGE + "[stages.resources]\ngpus = 1e9\n", 7, "stages[0].resources.gpus = 1000000000.0 is not a"),
    (BASE + MODEL + f'revision = "{INJECTED_REVISION.encode("unicode_escape").decode()}"\n', 7, "models[0].revision"),
    (BASE + MODEL + 'files = ["../x"]\n', 7, "models[0].files[0] = '../x' is not a repository file"),
    (BASE + '[build]\npip_index_url = "https://x/simple\\n--trusted-host evil"\n', 3, "build.pip_index_url = "),
]


@pytest.mark.parametrize(("text", "line", "message"), MANIFEST_CASES)
@pytest.mark.parametrize("command", [["new-stage", "probe"], ["stages"]])
def test_hand_edited_manifest(project: Path, command: list[str], text: str, line: int, message: str) -> None:
    (project / "curator-kit.toml").write_text(text)
    assert_refused(project.parent, command, f"curator-kit.toml:{line}: {message}")


@pytest.mark.parametrize(
    ("mount", "why"),
    [
        ("/:/host", "hands the container the host's whole filesystem"),
        ("/var/run/docker.sock:/var/run/docker.sock", "hands the container the Docker engine's socket"),
        ("models:/data", "covers the run's /data/input"),
        ("input:/elsewhere", "makes the input"),
    ],
)
@pytest.mark.parametrize("command", [["run", *IMAGE, "--dry-run"], ["cluster", "up", *IMAGE, "--dry-run"]])
def test_manifest_mounts_that_open_the_host(project: Path, command: list[str], mount: str, why: str) -> None:
    (project / "curator-kit.toml").write_text(f'project.name = "demo"\n[run]\nmounts = ["{mount}"]\n')
    before = snapshot(project.parent)
    result = CliRunner().invoke(main, command)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert why in errors[0] and errors[0].endswith("or pass --allow-host-mount if that is what you mean")
    assert snapshot(project.parent) == before
    allowed = CliRunner().invoke(main, [*command, "--allow-host-mount"])
    assert allowed.exit_code == 0, allowed.output
    assert f"{why}" in allowed.output and "(allowed by --allow-host-mount)" in allowed.output


def test_new_env_refuses_a_manifest_it_could_only_rewrite(project: Path) -> None:
    # Old main rewrote the whole file here (dump_manifest), and the team's comment was gone.
    (project / "curator-kit.toml").write_text('# the team\'s notes\nenvs = {}\n[project]\nname = "demo"\n')
    assert_refused(project.parent, ["new-env", "torch", "--pip", "torch"], "curator-kit.toml writes `envs` in a shape")
