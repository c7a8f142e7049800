"""The cluster, push and export commands through click's runner: dry runs and refusals, no engine."""

import json
import shlex
from pathlib import Path

from click.testing import CliRunner
from curator_kit.cli import main

STAGE = '[[stages]]\nname = "probe"\nmodule = "stages.probe"\nclass = "ProbeStage"\n'


def project(tmp_path: Path, built: str | None = "demo:latest") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "curator-kit.toml").write_text('[project]\nname = "demo"\n' + STAGE)
    (root / "stages").mkdir()
    (root / "stages" / "probe.py").write_text("")  # the module STAGE names: load_manifest looks for it
    (root / "input").mkdir()  # plans refuse an input directory that is not there (input-missing)
    if built:
        (root / ".curator-kit").mkdir()
        (root / ".curator-kit" / "last-build.json").write_text(json.dumps({"image": built, "image_id": "sha256:1"}))
    return root


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_cluster_up_dry_run(tmp_path):
    root = project(tmp_path)
    result = invoke("cluster", "up", "--project", str(root), "--workers", "3", "--cpus-per-worker", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "cluster    demo: head + 3 worker(s) on network demo-ray"
    assert "ray        demo-ray-head:6379; logical CPUs per node [1, 2, 2, 2]" in lines
    docker = [line for line in lines if line.startswith("docker ")]
    assert len(docker) == 5 and docker[0].startswith("docker network create") and docker[0].endswith(" demo-ray")
    assert all("-e RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1" in line for line in docker[1:])
    assert shlex.split(docker[-1])[-5:-3] == ["--address=demo-ray-head:6379", "--num-cpus=2"]


def test_cluster_up_plans_before_the_first_build(tmp_path):
    """The dry run plans the tag `build` would give, from the working tree; the engine's check says
    the image is not built (a warning in the dry run, the refusal of the real command)."""
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = invoke("cluster", "up", "--project", str(project(tmp_path, built=None)), "--dry-run", env=env)
    assert result.exit_code == 0, result.output
    assert "image      demo:latest" in result.output
    assert "planned from the working tree: no engine answers" in result.output


def test_cluster_commands_say_when_no_engine_answers(tmp_path):
    root = project(tmp_path)
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    for args in (["up"], ["down"], ["status"]):
        result = invoke("cluster", *args, "--project", str(root), env=env)
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1].startswith("error: Docker engine not reachable"), args


def test_run_on_an_external_cluster_dry_run(tmp_path):
    root = project(tmp_path)
    result = invoke("run", "--project", str(root), "--ray-address", "10.1.2.3", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "network    host network" in lines
    assert "execution  batch: the cluster's size is not known here; batch runs on any size" in result.output
    start = next(i for i, line in enumerate(lines) if line.startswith("docker run"))
    argv = shlex.split("\n".join(lines[start:]))  # the driver's script spans lines
    assert argv[argv.index("--network") + 1] == "host"
    assert "RAY_ADDRESS=10.1.2.3:6379" in argv
    assert f"--input {root / 'input'} --output {root / 'output'}" in argv[-1]


def test_run_on_ray_refusals(tmp_path):
    root = project(tmp_path)
    cases = [
        (["--cluster", "--ray-address", "h"], "error: --cluster and --ray-address both given"),
        (["--network", "n"], "error: --network and --ray-token-file are for a driver that joins a Ray cluster"),
        (["--ray-address", "ray://h:10001"], "error: --ray-address ray://h:10001 is a Ray Client address"),
        (["--ray-address", "h", "--ipc", "host"], "error: --runtime and --ipc are for single-container runs"),
    ]
    for args, error in cases:
        result = invoke("run", "--project", str(root), *args, "--dry-run")
        assert result.exit_code == 1 and result.output.strip().splitlines()[-1].startswith(error), (args, result.output)


def test_push_dry_run(tmp_path):
    root = project(tmp_path, built="curator-kit-test/demo:7")
    result = invoke("push", "--project", str(root), "--registry", "127.0.0.1:5000", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "docker tag curator-kit-test/demo:7 127.0.0.1:5000/curator-kit-test/demo:7",
        "docker push 127.0.0.1:5000/curator-kit-test/demo:7",
    ]
    result = invoke("push", "--project", str(root), "--dry-run")
    assert result.exit_code == 1 and "pass --registry HOST[:PORT]" in result.output


def test_export_kuberay_prefers_the_pushed_image(tmp_path):
    root = project(tmp_path)
    result = invoke("export", "kuberay", "--project", str(root))
    assert result.exit_code == 0, result.output
    assert "image: demo:latest" in result.output and "`curator-kit push --registry R` first" in result.output
    (root / ".curator-kit" / "last-push.json").write_text(json.dumps({"image": "reg.local/demo:latest"}))
    out = tmp_path / "job.yaml"
    result = invoke("export", "kuberay", "--project", str(root), "-o", str(out), "--gpus-per-worker", "1")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count("image: reg.local/demo:latest") == 3 and "nvidia.com/gpu: 1" in text  # + submitter
    assert "kind: RayJob" in text and "entrypoint: python /workspace/pipeline.py" in text
