"""curator-kit build on the real engine: a scaffolded project with two stages and an env with
pip and apt packages, built on the cpu base image; labels, `curator-kit test`, cache reuse, push."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from curator_kit.core.buildlog import StepCached, StepStarted

TAG = "curator-kit-test/build-it:latest"


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", *args], cwd=cwd, capture_output=True, text=True, timeout=1800
    )
    if check and result.returncode != 0:
        raise AssertionError(f"curator-kit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("build")
    cli("init", "build-it", "--base-image", curator_base_image, cwd=root)
    project_dir = root / "build-it"
    cli("new-env", "tools", "--pip", "tabulate==0.9.0", "--apt", "jq", "--env", "TOOLS_MODE=on", cwd=project_dir)
    cli("new-stage", "brightness", "--env", "tools", "--cpus", "0.5", cwd=project_dir)
    cli("new-stage", "tagger", "--cpus", "0.25", "--nvdecs", "1", cwd=project_dir)
    (project_dir / "out").mkdir()
    (project_dir / "out" / "leftover.mp4").write_bytes(b"0" * 1024)
    return project_dir


@pytest.fixture(scope="module")
def built(project, docker_client) -> str:
    cli("build", "--tag", TAG, cwd=project)
    yield TAG
    docker_client.images.remove(TAG, force=True)


def test_labels_describe_the_stages(built, docker_client, project):
    labels = docker_client.images.get(built).labels
    stages = json.loads(labels["curator-kit.stages"])
    assert [s["name"] for s in stages] == ["brightness", "tagger"]
    assert stages[0]["env"] == "tools" and stages[0]["resources"]["cpus"] == 0.5
    assert json.loads(labels["curator-kit.codec-needs"]) == {"tagger": {"nvdecs": 1, "nvencs": 0}}
    assert labels["curator-kit.curator-version"] == "1.4.0"
    assert labels["curator-kit.project"] == "build-it"
    record = json.loads((project / ".curator-kit" / "last-build.json").read_text())
    assert record["image"] == TAG and record["image_id"] == docker_client.images.get(built).id
    inspected = cli("inspect", cwd=project).stdout
    assert "brightness" in inspected and "tagger" in inspected and "tools" in inspected


def test_image_has_env_packages_and_only_project_files(built, docker_client):
    script = "jq --version && python -c 'import tabulate; print(tabulate.__version__)' && echo $TOOLS_MODE && ls -A"
    out = docker_client.containers.run(built, ["sh", "-c", script], remove=True).decode().split()
    assert out[0].startswith("jq-1.") and out[1] == "0.9.0" and out[2] == "on"
    listing = set(out[3:])
    assert {"curator-kit.toml", "pipeline.py", "stages", "tests"} <= listing
    assert not listing & {"out", ".git", ".curator-kit", ".venv"}


def test_project_tests_pass_inside_the_image(built, project):
    result = cli("test", cwd=project, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_pytest_exit_code_passes_through(built, project):
    result = cli("test", "--", "-k", "nothing_matches_this", cwd=project, check=False)
    assert result.returncode == 5  # pytest's "no tests collected", passed through unchanged


def test_stage_edit_reuses_every_dependency_layer(built, project, docker_client):
    from curator_kit.core.manifest import load_manifest
    from curator_kit.engine.images import build_image
    from curator_kit.ops.build import plan_project_build

    stage = project / "stages" / "brightness.py"
    stage.write_text(stage.read_text() + "\n# edited\n")
    events: list = []

    class Recorder:
        def handle(self, event):
            events.append(event)

    plan = plan_project_build(project, load_manifest(project), tag=TAG)
    build_image(docker_client, plan.context, tag=TAG, progress=Recorder(), buildargs=plan.build_args)
    steps = {e.number: e.instruction for e in events if isinstance(e, StepStarted)}
    cached = {e.number for e in events if isinstance(e, StepCached)}
    code_step = next(n for n, text in steps.items() if text.startswith("COPY project/ /workspace/"))
    run_steps_before_code = {n for n, text in steps.items() if n < code_step and text.startswith(("RUN", "COPY"))}
    assert run_steps_before_code, steps
    assert run_steps_before_code <= cached, f"rebuilt: {sorted(run_steps_before_code - cached)} of {steps}"
    assert code_step not in cached


def test_failed_step_names_the_step_and_leaves_no_tag(project, docker_client, tmp_path):
    broken_tag = "curator-kit-test/broken:latest"
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    cli("new-env", "broken", "--apt", "no-such-package-curator-kit", cwd=broken)
    result = cli("build", "--tag", broken_tag, cwd=broken, check=False)
    assert result.returncode != 0
    error_line = result.stderr.strip().splitlines()[-1]
    assert error_line.startswith("error: build failed at step 2/") and "apt-get" in error_line
    assert "Unable to locate package no-such-package-curator-kit" in result.stderr
    assert not docker_client.images.list(name=broken_tag)


def test_push_to_a_local_registry(built, project, local_registry, docker_client):
    remote = f"{local_registry}/build-it:it"
    result = cli("build", "--tag", remote, "--push", cwd=project)
    assert "Pushed" in result.stderr or "pushed" in result.stderr.lower()
    import urllib.request

    with urllib.request.urlopen(f"http://{local_registry}/v2/build-it/tags/list", timeout=10) as response:
        assert json.loads(response.read())["tags"] == ["it"]
    docker_client.images.remove(remote, force=True)
