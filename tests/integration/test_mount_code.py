"""`--mount-code` on the real engine: a stage edit is seen by `run` and `test` without a build, and a
manifest change only a build carries (an env) is refused with that fix.

Uses the cpu base image, built once per machine by the shared fixture; the module runs on Docker, then on
Podman (the `engine` fixture): `run`, `test`, `shell --command` and a cluster's `up`, driver and `down`."""

from __future__ import annotations

import uuid

import pytest
from kitcli import cli, ok

MARKER = "mount-code-marker"


@pytest.fixture(scope="module")
def built(tmp_path_factory, engine, curator_base_image):
    """A project built once per engine; the tests edit its working tree afterwards."""
    root = tmp_path_factory.mktemp(f"mount-code-{engine.name}")
    ok(cli("init", "mc", "--base-image", curator_base_image, cwd=root))
    project = root / "mc"
    ok(cli("new-stage", "touch", "--cpus", "0.5", cwd=project))
    tag = f"curator-kit-test/mc:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project, timeout=1800))
    yield project, tag
    engine.client.images.remove(tag, force=True)


def test_stage_edit_is_seen_by_run_and_test_without_a_build(built, tmp_path):
    from curator_kit.ops.samples import make_sample_videos

    project, tag = built
    stage = project / "stages" / "touch.py"
    # The edit: importing the stage (the driver and every actor do) leaves a marker in the output.
    stage.write_text(
        stage.read_text()
        + "\nfrom pathlib import Path as _Path\n\nEDITED = True\n"
        + f'if _Path("/data/output").is_dir():\n    _Path("/data/output/{MARKER}").write_text("seen")\n'
    )
    (project / "tests" / "test_edit.py").write_text(
        "def test_edit_seen():\n    from stages import touch\n\n    assert touch.EDITED\n"
    )
    make_sample_videos(tmp_path / "videos", count=2, seconds=2.0, fps=12)
    output = tmp_path / "out"
    run = ok(
        cli(
            "run",
            "--image",
            tag,
            "--mount-code",
            "--limit",
            "1",
            "--input",
            str(tmp_path / "videos"),
            "--output",
            str(output),
            cwd=project,
        )
    )
    assert (output / MARKER).read_text() == "seen"
    assert "--video-limit 1" in run.stderr + run.stdout
    assert "1 video(s) found" in run.stderr + run.stdout

    tested = ok(cli("test", "--image", tag, "--mount-code", "--", "-k", "edit_seen", cwd=project))
    assert "1 passed" in tested.stdout + tested.stderr
    # Without the mount the image's copy runs: it has neither the edit nor the new test.
    assert cli("test", "--image", tag, "--", "-k", "edit_seen", cwd=project).returncode != 0


def test_an_env_change_is_refused_with_the_build_fix(built, tmp_path):
    project, tag = built
    manifest = project / "curator-kit.toml"
    original = manifest.read_text()
    manifest.write_text(original + '\n[envs.extra]\npip = ["tqdm"]\n')
    try:
        (tmp_path / "videos").mkdir()
        for command in ("run", "test"):
            extra = ("--input", str(tmp_path / "videos"), "--output", str(tmp_path / "out")) if command == "run" else ()
            result = cli(command, "--image", tag, "--mount-code", *extra, cwd=project)
            assert result.returncode == 1, result.stdout + result.stderr
            assert "--mount-code cannot carry what changed" in result.stderr and "[envs] changed" in result.stderr
            assert "curator-kit build" in result.stderr
    finally:
        manifest.write_text(original)


def test_shell_command_sees_the_working_tree(built):
    project, tag = built
    stage = project / "stages" / "touch.py"
    stage.write_text(stage.read_text() + "\n# shell-check-edit\n")
    result = ok(cli("shell", "--image", tag, "--command", "grep -c shell-check-edit stages/touch.py", cwd=project))
    assert result.stdout.strip().endswith("1")
    assert "--mount-code" in result.stderr  # the plan's note: the code is the working tree's


def test_a_cluster_up_with_mounted_code_runs_the_edit_without_a_build(built, tmp_path, engine):
    from curator_kit.ops.samples import make_sample_videos

    project, tag = built
    stage = project / "stages" / "touch.py"
    edit = (
        "\nfrom pathlib import Path as _Path\n\n"
        'if _Path("/data/output").is_dir():\n    _Path("/data/output/cluster-edit").write_text("seen")\n'
    )
    stage.write_text(stage.read_text() + edit)
    make_sample_videos(tmp_path / "videos", count=1, seconds=2.0, fps=12)
    output = tmp_path / "out"
    data = ("--input", str(tmp_path / "videos"), "--output", str(output))
    up = ok(cli("cluster", "up", "--image", tag, "--workers", "1", "--mount-code", *data, cwd=project, timeout=300))
    try:
        assert "code mounted read-only" in up.stdout + up.stderr
        head = engine.client.containers.get("mc-ray-head")
        assert head.labels["curator-kit.cluster-code"] == "mounted"
        assert any(m["Destination"] == "/workspace/stages" and not m["RW"] for m in head.attrs["Mounts"])
        ok(cli("run", "--cluster", "--limit", "1", cwd=project, timeout=600))
        assert (output / "cluster-edit").read_text() == "seen"
    finally:
        ok(cli("cluster", "down", cwd=project))
