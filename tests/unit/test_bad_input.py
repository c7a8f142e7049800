"""Bad input through the CLI, table-driven: options and hand-edited manifests meet the same parsers.

Every case must end with a non-zero exit, exactly one `error:` line, no traceback, and nothing
written: the whole temp tree (project, manifest bytes included) is compared before and after.
The injection cases are the hardening issue's reproductions: a value with a newline that, rendered
into a Dockerfile, would have become an instruction of its own.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.run.dropreasons import REASONS, DominantDrop, dominant_drop
from curator_kit.core.run.runsummary import RunSummary
from curator_kit.errors import CuratorKitError

INJECTED_REVISION = "main\nRUN echo INJECTED > /injected #"
IMAGE = ("--image", "demo:never-built")  # plans need an image name; none is built or asked for here
SLURM = ["export", "slurm", *IMAGE, "--input", "/shared/in", "--output", "/shared/out"]
MISSING_FOLDER = "the folder missing does not exist"
RAY_NODES = "not a number of Ray nodes: it is above 4096, twice the 2,000 nodes of Ray's published scalability"
LOCAL_WORKERS = "not a number of workers: it is above 1000, the most one host's Docker network holds"
POD_PATH = "not a path in the pods: pod paths must be absolute"


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "demo"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "demo")
    (tmp_path / "demo" / "stages-link").symlink_to("stages")  # the same directory under another name
    (tmp_path / "demo" / "input").mkdir()  # runs refuse an input that is not there before anything else
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
    (["replay", "x", *IMAGE, "--save-golden", "../up"], "--save-golden '../up' is not a golden's name"),
    (["replay", "x", *IMAGE, "--compare", ".hidden"], "--compare '.hidden' is not a golden's name"),
    (["replay", "x", *IMAGE, "--compare", "a\nb"], "--compare 'a\\nb' is not a golden's name"),
    (["replay", "x", *IMAGE, "--compare", "--rtol", "-1"], "--rtol '-1' is not a tolerance: it is negative"),
    (["replay", "x", *IMAGE, "--compare", "--atol", "nan"], "--atol 'nan' is not a tolerance: nan and infinity"),
    (["replay", "x", *IMAGE, "--compare", "--rtol", "much"], "--rtol 'much' is not a tolerance: it is not a number"),
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
    # Every check comes before the output directory is made: the image that is not built is refused first.
    (["run", *IMAGE, "--input", "stages", "--output", "/proc/x"], "image demo:never-built is not in the Docker"),
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
    # issue 25: -o into a missing folder (one check, cli.output), refused before any work
    (["dockerfile", "-o", "missing/Dockerfile"], f"cannot write missing/Dockerfile: {MISSING_FOLDER}"),
    (["spec", "-o", "missing/spec.json"], f"cannot write missing/spec.json: {MISSING_FOLDER}"),
    (["export", "kuberay", *IMAGE, "-o", "missing/job.yaml"], f"cannot write missing/job.yaml: {MISSING_FOLDER}"),
    # issue 26: the Ray auth Secret, the SBOM's image and file, inspect's image
    (["export", "kuberay", *IMAGE, "--auth-secret", "Bad_Name"], "--auth-secret (a Secret name) 'Bad_Name' is not"),
    (["export", "kuberay", *IMAGE, "--auth-secret", "ok\nkind: Pod"], "--auth-secret (a Secret name) 'ok\\nkind"),
    (["export", "kuberay", *IMAGE, "--auth-secret", "ok", "--no-auth"], "--no-auth and --auth-secret contradict"),
    (["sbom", "img\nRUN touch /pwned"], "IMAGE 'img\\nRUN touch /pwned' is not an image reference"),
    (["sbom", "-o", "missing/sbom.json", "demo:never-built"], f"cannot write missing/sbom.json: {MISSING_FOLDER}"),
    (["inspect", "img\nRUN touch /pwned"], "IMAGE 'img\\nRUN touch /pwned' is not an image reference"),
    ([*SLURM, "-o", "missing/job.sbatch"], f"cannot write missing/job.sbatch: {MISSING_FOLDER}"),
    # issue 25: cluster sizes bounded when parsed (core.constants says why), whatever the digits
    (["export", "kuberay", *IMAGE, "--workers", "99999999999"], f"--workers '99999999999' is {RAY_NODES}"),
    (["cluster", "up", "--image", "x:1", "--workers", "99999999999", "--dry-run"], "--workers '99999999999' is not"),
    (["cluster", "up", "--workers", "100000", "--dry-run"], f"--workers '100000' is {LOCAL_WORKERS}"),
    ([*SLURM, "--nodes", "10000000"], f"--nodes '10000000' is {RAY_NODES}"),
    ([*SLURM, "--nodes", "100000000"], f"--nodes '100000000' is {RAY_NODES}"),
    ([*SLURM, "--nodes", "9" * 5000], "--nodes '9999"),  # more digits than int() converts
    (["export", "kuberay", *IMAGE, "--workers", "0"], "--workers '0' is not a number of Ray nodes: it is less than 1"),
    # issue 25: integers a manifest cannot hold (TOML's signed 64 bits; one rule, core.parsers)
    (["new-stage", "beta", "--batch-size", "99999999999999999999"], "--batch-size '99999999999999999999' is not a"),
    (["new-stage", "beta", "--batch-size", "0"], "--batch-size '0' is not a batch size: it is less than 1"),
    (
        ["add", "fixed_stride", "--param", "limit_clips=99999999999999999999999"],
        "--param 'limit_clips=99999999999999999999999' is not a parameter: 99999999999999999999999 is beyond TOML's",
    ),
    (["add", "motion_filter", "--param", "score_only=[1, -9223372036854775809]"], "--param 'score_only=[1, -92"),
    # issue 25: a project stage may not take a built-in's name (core.project.names, also at manifest load)
    (["new-stage", "transcoding"], "stage name 'transcoding' is the name of Curator's built-in stage 'transcoding'"),
    (["new-stage", "fixed_stride"], "stage name 'fixed_stride' is the name of Curator's built-in stage"),
    (["new-writer", "previews"], "writer name 'previews' is the name of Curator's built-in stage 'previews'"),
    (["add", "motion_filter", "--name", "previews"], "curator-kit.toml: stage name 'previews' is the name of"),
    # issue 25: the suggestion for an invalid name is a valid one
    (["new-stage", "blür"], "stage name 'blür' is not lowercase snake_case of ASCII letters -- use 'blur' instead"),
    (["new-stage", "Ünïcödé_Stage"], "stage name 'Ünïcödé_Stage' is not lowercase snake_case of ASCII letters -- use"),
    # issue 25: pods have no working directory of ours: their paths are absolute (or URLs)
    (["export", "kuberay", *IMAGE, "--output", "rayjob.yaml"], f"--output 'rayjob.yaml' is {POD_PATH}"),
    (["export", "kuberay", *IMAGE, "--input", "in"], f"--input 'in' is {POD_PATH}"),
    # issue 25: a release curator-kit does not support is refused at init, naming those it does
    (["init", "ok", "--curator-version", "9.9.9"], "nemo-curator 9.9.9 is not a release curator-kit supports: it"),
    (["init", "ok", "--curator-version", "1.0.0"], "nemo-curator 1.0.0 is not a release curator-kit supports"),
    # issue 25: one list of variants (base-images/*/variant.toml) for doctor and base build
    (["doctor", "--variant", "foo"], "--variant 'foo' is not one of cpu, cuda"),
    (["base", "build", "--variant", "foo", "--dry-run"], "--variant 'foo' is not one of cpu, cuda"),
    # a node's CPUs and GPUs: the bounds a stage's own resources have
    (
        ["cluster", "up", *IMAGE, "--dry-run", "--head-cpus", "99999999999999999999"],
        "--head-cpus '99999999999999999999' is not a number of CPUs: it is above 1024",
    ),
    (
        ["cluster", "up", *IMAGE, "--dry-run", "--cpus-per-worker", "0"],
        "--cpus-per-worker '0' is not a number of CPUs: it is less than 1",
    ),
    (
        ["export", "kuberay", *IMAGE, "--gpus-per-worker", "99999999999999999999"],
        "--gpus-per-worker '99999999999999999999' is not a number of GPUs: it is above 64",
    ),
    (
        ["export", "slurm", *IMAGE, "--input", "/a", "--output", "/b", "--cpus-per-node", "99999999999999999999"],
        "--cpus-per-node '99999999999999999999' is not a number of CPUs",
    ),
    (
        ["export", "slurm", *IMAGE, "--input", "/a", "--output", "/b", "--gpus-per-node", "-1"],
        "--gpus-per-node '-1' is not a number of GPUs",
    ),
]


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(args[:2]) for args, _ in CLI_CASES])
def test_bad_option_values(project: Path, args: list[str], message: str) -> None:
    assert_refused(project.parent, args, message)


@pytest.mark.parametrize("command", [["run", *IMAGE, "--dry-run"], ["cluster", "up", *IMAGE, "--dry-run"], ["doctor"]])
def test_an_engine_chosen_in_the_environment_that_is_none(project: Path, monkeypatch, command: list[str]) -> None:
    # Refused where it is read, dry runs included: not taken for Docker, nor for an engine that does not answer.
    monkeypatch.setenv("CURATOR_KIT_ENGINE", "lxc")
    assert_refused(project.parent, command, "CURATOR_KIT_ENGINE 'lxc' is not an engine: curator-kit drives docker")


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
    (BASE + '[run]\nengine = "lxc"\n', 3, "run.engine = 'lxc' is not an engine: curator-kit drives docker and podman"),
    (BASE + '[run]\nmodel_cache = "w\\nRUN x"\n', 3, "run.model_cache = 'w\\nRUN x' is not one line of text"),
    (BASE + STAGE + "[stages.resources]\ncpus = nan\n", 7, "stages[0].resources.cpus = nan is not a number of CPUs"),
    (BASE + STAGE + "[stages.resources]\ngpus = 1e9\n", 7, "stages[0].resources.gpus = 1000000000.0 is not a"),
    (BASE + MODEL + f'revision = "{INJECTED_REVISION.encode("unicode_escape").decode()}"\n', 7, "models[0].revision"),
    (BASE + MODEL + 'files = ["../x"]\n', 7, "models[0].files[0] = '../x' is not a repository file"),
    (BASE + '[build]\npip_index_url = "https://x/simple\\n--trusted-host evil"\n', 3, "build.pip_index_url = "),
    # issue 25: integers beyond TOML's signed 64 bits (tomllib reads them; other readers do not), anywhere
    (BASE + STAGE + "batch_size = 99999999999999999999\n", 6, "stages[0].batch_size = 99999999999999999999 is not a"),
    (
        BASE + '[[stages]]\nname = "fixed_stride"\nbuiltin = "fixed_stride"\n[stages.params]\nlimit_clips = 2e0\n'
        "clip_len_s = -99999999999999999999\n",
        7,
        "stages[0].params.clip_len_s = -99999999999999999999 is not a TOML integer: it is beyond TOML's signed",
    ),
    # issue 25: a project stage may not take a built-in's name, in the file as on the command line
    (BASE + STAGE.replace('"evil"', '"transcoding"', 1), 2, "stage name 'transcoding' is the name of Curator's"),
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
    assert why in errors[0] and errors[0].endswith("or pass --allow-host-mount if that is what you mean [host-mount]")
    assert snapshot(project.parent) == before
    allowed = CliRunner().invoke(main, [*command, "--allow-host-mount"])
    assert allowed.exit_code == 0, allowed.output
    assert f"{why}" in allowed.output and "(allowed by --allow-host-mount)" in allowed.output


def test_new_env_refuses_a_manifest_it_could_only_rewrite(project: Path) -> None:
    # Old main rewrote the whole file here (dump_manifest), and the team's comment was gone.
    (project / "curator-kit.toml").write_text('# the team\'s notes\nenvs = {}\n[project]\nname = "demo"\n')
    assert_refused(project.parent, ["new-env", "torch", "--pip", "torch"], "curator-kit.toml writes `envs` in a shape")


def test_a_second_writer_is_refused_naming_the_first(project: Path) -> None:
    first = CliRunner().invoke(main, ["new-writer", "shards"])
    assert first.exit_code == 0, first.output
    message = "the project already has a writer, shards (stages/shards.py), and a pipeline runs one -- edit shards"
    assert_refused(project.parent, ["new-writer", "catalog"], message)


@pytest.mark.parametrize("command", [["stages"], ["spec"], ["build", "--dry-run"]])
def test_a_stage_module_without_its_file(project: Path, command: list[str]) -> None:
    manifest = project / "curator-kit.toml"
    text = manifest.read_text().rstrip("\n") + "\n\n"
    line = text.count("\n") + 3  # [[stages]], name, then module
    manifest.write_text(text + '[[stages]]\nname = "ghost"\nmodule = "stages.nosuch"\nclass = "GhostStage"\n')
    message = (
        f"curator-kit.toml:{line}: stages[0].module = 'stages.nosuch' names no file of the project: "
        "neither stages/nosuch.py nor stages/nosuch/__init__.py exists -- create stages/nosuch.py"
    )
    assert_refused(project.parent, command, message)


def test_replay_without_a_capture_says_where_it_looked(project: Path) -> None:
    looked = project.resolve() / "output" / "curator-kit-capture" / "transcoding"
    message = f"no capture at {looked} -- pass the --output of the run that captured"
    assert_refused(project.parent, ["replay", "transcoding", *IMAGE, "--dry-run"], message)
    elsewhere = project.parent / "elsewhere"
    assert_refused(project.parent, ["replay", "transcoding", "--output", str(elsewhere), *IMAGE], "no capture at")


def test_replay_compare_without_a_golden_says_how_to_make_one(project: Path) -> None:
    message = "no golden 'default' for ClipTranscodingStage at "
    assert_refused(project.parent, ["replay", "ClipTranscodingStage", *IMAGE, "--compare", "--dry-run"], message)


def test_replay_save_and_compare_at_once_is_refused(project: Path) -> None:
    args = ["replay", "ClipTranscodingStage", *IMAGE, "--compare", "--save-golden", "next", "--dry-run"]
    assert_refused(project.parent, args, "replay: --save-golden and --compare at once")


def test_run_profile_of_no_such_stage(project: Path) -> None:
    message = "--profile nope: the pipeline has no such stage after its reader"
    assert_refused(project.parent, ["run", *IMAGE, "--profile", "nope", "--dry-run"], message)
    message = "--profile is for single-container runs"
    args = ["run", *IMAGE, "--profile", "ClipTranscodingStage", "--cluster", "--dry-run"]
    assert_refused(project.parent, args, message)


def test_replay_without_output_reads_the_last_capture(project: Path) -> None:
    from curator_kit.core.pipeline.capture import replay_output
    from curator_kit.ops.capture import remember_capture

    elsewhere = project.parent / "elsewhere"
    (elsewhere / "curator-kit-capture" / "transcoding").mkdir(parents=True)
    remember_capture(project, elsewhere, "transcoding")
    assert replay_output(project, None, "transcoding") == (
        elsewhere.resolve(),
        f"no --output: replaying the last capture, in {elsewhere.resolve()}",
    )
    assert replay_output(project, elsewhere, "transcoding") == (elsewhere, "")  # named: no note
    with pytest.raises(CuratorKitError, match=r"no capture at .*/output/curator-kit-capture/fixed_stride"):
        replay_output(project, None, "fixed_stride")  # the last capture holds another stage only


# issue 25: every clip dropped for one reason. Not a refusal: `run`'s summary and `report` name the
# reason behind most dropped clips, by its code (the error key the stage left), and its fix.


def test_the_run_summary_names_the_dominant_drop_reason_and_its_fix() -> None:
    summary = RunSummary(videos_found=3, videos_processed=3, clips_filtered=15, drop_reasons={"motion_decode": 15})
    lines = summary.lines()
    assert lines[2].startswith("dropped    all 15 dropped clip(s) for motion_decode: Curator's motion-vector decode")
    assert lines[3].startswith("fix        feed inputs at least 256 px on each side")
    mixed = RunSummary(clips_filtered=10, drop_reasons={"motion_decode": 5, "my_filter": 5})
    assert not any(line.startswith("dropped") for line in mixed.lines())  # no reason behind most of them
    own = RunSummary(clips_filtered=4, drop_reasons={"my_filter": 3, "buffer": 1})
    assert own.lines()[2:4] == [
        "dropped    3 of 4 dropped clip(s) for my_filter",
        "fix        see what the stage my_filter checks",
    ]
    assert RunSummary.from_dict({"format": 1, "drop_reasons": ["motion_decode"]}) == RunSummary()  # not counts


def test_the_report_names_the_dominant_drop_reason_and_its_fix(tmp_path: Path) -> None:
    results = tmp_path / "results"
    uuids = [f"{i:08d}-0000-5000-8000-000000000000" for i in range(15)]
    for uuid in uuids:  # 320x240 inputs: Curator's motion decode refuses every clip, the motion filter drops it
        meta = {"span_uuid": uuid, "source_video": "/data/input/a.mp4", "duration_span": [0, 2], "valid": False}
        meta.update(clip_location=f"/data/output/filtered_clips/{uuid}.mp4", errors=["motion_decode"])
        path = results / "metas" / "v0" / f"{uuid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(meta))
    chunk = results / "processed_clip_chunks" / "a.mp4_0.json"
    chunk.parent.mkdir(parents=True)
    chunk.write_text(json.dumps({"video": "/data/input/a.mp4", "clips": [], "filtered_clips": uuids}))
    result = CliRunner().invoke(main, ["report", str(results), "--frames", "0"])
    assert result.exit_code == 0, result.output
    assert "dropped: all 15 dropped clip(s) for motion_decode: Curator's motion-vector decode" in result.output
    assert "-- fix: feed inputs at least 256 px on each side" in result.output
    page = (results / "report" / "index.html").read_text()
    assert 'id="dominant-drop" data-code="motion_decode"' in page and "Fix: feed inputs at least 256 px" in page


def test_dominant_drop_needs_more_than_half() -> None:
    assert dominant_drop({}, 0) is None and dominant_drop({"buffer": 1}, 2) is None
    assert dominant_drop({"buffer": 2, "motion_decode": 2}, 3) == DominantDrop("buffer", 2, 3, REASONS["buffer"])
