"""`--mount-code`: which mounts carry the project's code, and when only a build can carry a change."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from curator_kit.core.build.dockerfile import build_inputs
from curator_kit.core.constants import LABEL_BUILD_INPUTS
from curator_kit.core.findings import Code, Severity
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import EnvSpec, Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.core.run.codemount import check_code_mountable, code_mounts
from curator_kit.core.run.runplan import HostFacts, plan_tests
from curator_kit.errors import CuratorKitError

HOST = HostFacts(cpus=4, memory_bytes=16 * 2**30, uid=1000, gid=1000)


def manifest(*stage_names: str) -> Manifest:
    stages = [StageSpec(n, f"stages.{n}", "Stage", resources=StageResources(cpus=1.0)) for n in stage_names]
    return Manifest(ProjectInfo("demo"), stages=stages)


def labels_of(built: Manifest) -> dict[str, str]:
    return {LABEL_BUILD_INPUTS: json.dumps(build_inputs(built))}


def test_whole_directories_where_nothing_is_left_out(tmp_path):
    kept = ["curator-kit.toml", "pipeline.py", "stages/__init__.py", "stages/blur.py", "tests/test_a.py", "tests/x"]
    unkept = ["stages/__pycache__/blur.cpython-312.pyc", "tests/secret.env"]
    mounts = code_mounts(tmp_path, kept, unkept)
    targets = [(m.target, m.read_only) for m in mounts]
    # The manifest stays the image's (credentials masked); tests/ holds a left-out file: file by file.
    assert targets == [
        ("/workspace/pipeline.py", True),
        ("/workspace/stages", True),
        ("/workspace/tests/test_a.py", True),
        ("/workspace/tests/x", True),
    ]
    assert mounts[1].source == str((tmp_path / "stages").resolve())


def test_same_build_inputs_and_spec_mount(tmp_path):
    built = manifest("blur")
    spec = resolve_spec(built, tmp_path)
    check_code_mountable("demo:1", labels_of(built), spec, spec, built)


def test_refused_with_the_build_fix(tmp_path):
    built = manifest("blur")
    spec = resolve_spec(built, tmp_path)
    changed = manifest("blur")
    changed.envs = {"cv": EnvSpec("cv", pip=["opencv-python-headless"])}
    with pytest.raises(CuratorKitError, match=r"\[envs\] changed") as caught:
        check_code_mountable("demo:1", labels_of(built), spec, spec, changed)
    assert "curator-kit build" in (caught.value.fix or "")
    grown = manifest("blur", "sharpen")
    with pytest.raises(CuratorKitError, match="pipeline: stage sharpen added"):
        check_code_mountable("demo:1", labels_of(built), spec, resolve_spec(grown, tmp_path), grown)
    with pytest.raises(CuratorKitError, match="does not record what it was built from"):
        check_code_mountable("demo:1", {}, spec, spec, built)


def test_tests_plan_carries_the_code_mounts(tmp_path: Path):
    built = manifest("blur")
    mounts = tuple(code_mounts(tmp_path, ["stages/blur.py"], []))
    plan = plan_tests(built, resolve_spec(built, tmp_path), tmp_path, "demo:1", (), HOST, code_mounts=mounts)
    assert [m.target for m in plan.mounts] == ["/workspace/stages"]
    mounted = [f for f in plan.findings if f.code is Code.CODE_MOUNTED]
    assert [f.severity for f in mounted] == [Severity.NOTE] and "--mount-code" in mounted[0].message


def test_shell_plan_is_the_run_container_with_a_terminal(tmp_path: Path):
    from curator_kit.core.run.runplan import RunOptions, plan_shell

    built = manifest("blur")
    (tmp_path / "in").mkdir()
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1", run_id="r1", gpus=None)
    mounts = tuple(code_mounts(tmp_path, ["stages/blur.py"], []))
    plan = plan_shell(built, resolve_spec(built, tmp_path), tmp_path, replace(options, code_mounts=mounts), HOST)
    assert plan.interactive and plan.command == ["bash"] and not plan.runs_pipeline
    assert plan.name == "demo-shell-r1"
    assert plan.create_kwargs()["tty"] and plan.create_kwargs()["stdin_open"]
    assert plan.docker_run_argv()[:4] == ["docker", "run", "--rm", "-it"]
    assert [m.target for m in plan.mounts] == ["/data/input", "/data/output", "/workspace/stages"]
    assert plan.shm_size_bytes and any(name == "memlock" for name, _, _ in plan.ulimits)
    checked = plan_shell(built, resolve_spec(built, tmp_path), tmp_path, replace(options, command=("true",)), HOST)
    assert not checked.interactive and checked.command == ["true"] and "tty" not in checked.create_kwargs()


def test_cli_shell_dry_run_prints_the_interactive_docker_line(tmp_path: Path):
    from click.testing import CliRunner
    from curator_kit.cli import main

    project = tmp_path / "proj"
    (project / "stages").mkdir(parents=True)
    (project / "stages" / "blur.py").write_text("")
    (project / "curator-kit.toml").write_text(
        '[project]\nname = "demo"\n[[stages]]\nname = "blur"\nmodule = "stages.blur"\nclass = "Blur"\n'
    )
    result = CliRunner().invoke(main, ["shell", "--project", str(project), "--image", "demo:never-built", "--dry-run"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("docker run --rm -it --name demo-shell-") and line.endswith("demo:never-built bash")
    assert f"source={project / 'stages'},target=/workspace/stages,readonly" in line
    assert "/data/input" not in line  # no PROJECT/input: no data mounted


def test_capture_and_replay_plans(tmp_path: Path):
    from curator_kit.core.run.runplan import ReplayChoice, RunOptions, plan_replay, plan_run

    built = manifest("blur", "sharpen")
    spec = resolve_spec(built, tmp_path)
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1", run_id="r1")
    captured = plan_run(built, spec, tmp_path, replace(options, capture="sharpen"), HOST)
    assert captured.command[-2:] == ["--capture", "sharpen"]
    with pytest.raises(CuratorKitError, match="--capture VideoReader: the pipeline has no such stage after its reader"):
        plan_run(built, spec, tmp_path, replace(options, capture="VideoReader"), HOST)
    replay = plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("sharpen", 2))
    assert replay.command[-4:] == ["--replay", "sharpen", "--replay-limit", "2"]
    assert not replay.runs_pipeline and replay.name == "demo-replay-r1"
    assert [(m.target, m.read_only) for m in replay.mounts] == [("/data/output", True)]
    assert replay.write_dirs == []
    with pytest.raises(CuratorKitError, match="replay nope"):
        plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("nope"))


def test_golden_and_profile_replay_plans(tmp_path: Path):
    """--save-golden mounts the stage's goldens writable; --compare the golden read-only (no capture) and
    a writable report folder; --profile a writable profile folder. Each writable source is made first."""
    from curator_kit.core.run.runplan import ReplayChoice, RunOptions, plan_replay

    built = manifest("blur", "sharpen")
    spec = resolve_spec(built, tmp_path)
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1", run_id="r1")
    saved = plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("sharpen", save_golden="v2", profile=True))
    goldens, profiles = tmp_path / "tests" / "golden" / "sharpen", tmp_path / "out" / "curator-kit-profile"
    assert [(m.source, m.target, m.read_only) for m in saved.mounts[:3]] == [
        (str(tmp_path / "out"), "/data/output", True),
        (str(goldens), "/data/golden", False),
        (str(profiles), "/data/profile", False),
    ]
    assert saved.write_dirs == [str(goldens), str(profiles)]
    assert saved.command[-6:] == [
        "--save-golden",
        "/data/golden/v2",
        "--profile",
        "sharpen",
        "--profile-dir",
        "/data/profile",
    ]

    with pytest.raises(CuratorKitError, match=r"no golden 'default' for sharpen at \S+sharpen.default$"):
        plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("sharpen", compare="default"))
    golden = goldens / "default"
    golden.mkdir(parents=True)
    (golden / "golden.json").write_text("{}")
    compared = plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("sharpen", compare="default", rtol=0.02))
    reports = tmp_path / ".curator-kit" / "golden-reports" / "sharpen"
    assert [(m.source, m.target, m.read_only) for m in compared.mounts[:2]] == [
        (str(golden), "/data/golden", True),
        (str(reports), "/data/golden-report", False),
    ]
    assert "/data/output" not in [m.target for m in compared.mounts]  # a golden carries its own tasks
    assert compared.command[-8:] == [
        "--compare",
        "/data/golden",
        "--rtol",
        "0.02",
        "--atol",
        "1e-08",
        "--report",
        "/data/golden-report/default.json",
    ]
    with pytest.raises(CuratorKitError, match="--save-golden and --compare at once"):
        plan_replay(built, spec, tmp_path, options, HOST, ReplayChoice("sharpen", save_golden="a", compare="default"))


def test_run_profile_reaches_pipeline_py(tmp_path: Path):
    from curator_kit.core.run.runplan import RunOptions, plan_run

    built = manifest("blur", "sharpen")
    spec = resolve_spec(built, tmp_path)
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1", run_id="r1", profile=("blur", "sharpen"))
    plan = plan_run(built, spec, tmp_path, options, HOST)
    assert plan.command[-4:] == ["--profile", "blur", "--profile", "sharpen"]
    with pytest.raises(CuratorKitError, match="--profile nope: the pipeline has no such stage"):
        plan_run(built, spec, tmp_path, replace(options, profile=("nope",)), HOST)
