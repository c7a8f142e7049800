"""`run --capture` then `replay` on the demo's frame_stats, on the real engine: the replayed stage
computes the statistics the run wrote, and a stage that raises shows the user's traceback.

Uses the cpu base image, built once per machine by the shared fixture; the module runs on Docker, then on
Podman (the `engine` fixture): capture, replay, goldens and profiles on both."""

from __future__ import annotations

import json
import re

import pytest
from kitcli import cli, ok


@pytest.fixture(scope="module")
def captured(tmp_path_factory, engine, curator_base_image):
    """The demo, then a run that captures what enters frame_stats."""
    root = tmp_path_factory.mktemp(f"capture-{engine.name}")
    ok(cli("demo", "--output", str(root), "--base-image", curator_base_image, cwd=root))
    project, results = root / "project", root / "captured"
    data = ("--input", str(root / "videos"), "--output", str(results))
    ok(cli("run", "--capture", "frame_stats", *data, cwd=project))
    return project, results


def test_replay_gives_the_runs_statistics(captured):
    project, results = captured
    assert sorted((results / "curator-kit-capture" / "frame_stats").glob("*.pkl"))
    replay = ok(cli("replay", "frame_stats", "--output", str(results), cwd=project))
    text = replay.stdout
    assert re.search(r"\.pkl: [0-9.]+ ms, 1 task\(s\) out", text), text
    replayed = sorted(float(v) for v in re.findall(r"\.frame_stats\['brightness'\] = ([0-9.]+)", text))
    records = [json.loads(path.read_text()) for path in (results / "stats").glob("*.json")]
    written = sorted(float(record["frame_stats"]["brightness"]) for record in records)
    assert replayed and replayed == written


def test_a_stage_that_raises_shows_the_users_traceback(captured):
    project, results = captured
    stage = project / "stages" / "frame_stats.py"
    original = stage.read_text()
    marker = "def process(self, task: VideoTask) -> VideoTask | list[VideoTask]:\n"
    assert original.count(marker) == 1
    stage.write_text(original.replace(marker, marker + '        raise RuntimeError("boom from the stage")\n'))
    try:
        result = cli("replay", "frame_stats", "--mount-code", "--limit", "1", "--output", str(results), cwd=project)
    finally:
        stage.write_text(original)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" in output and "RuntimeError: boom from the stage" in output
    assert "stages/frame_stats.py" in output


def edited_stage(project, old: str, new: str):
    """The demo's frame_stats with OLD replaced by NEW, as a context: the original comes back after."""
    import contextlib

    @contextlib.contextmanager
    def edit():
        stage = project / "stages" / "frame_stats.py"
        original = stage.read_text()
        assert original.count(old) == 1
        stage.write_text(original.replace(old, new))
        try:
            yield
        finally:
            stage.write_text(original)

    return edit()


BRIGHTNESS = '"brightness": luma.mean(dim=(1, 2, 3)),'


def test_a_golden_pins_the_stage_and_names_what_moved(captured):
    """save-golden, then --compare: unchanged passes; a 1 % brightness change fails naming the field
    and the clips, within --rtol 0.02 it passes; a stage that raises shows its traceback and fails;
    the project's own tests (`curator-kit test`) run the same comparison."""
    project, results = captured
    saved = ok(cli("replay", "frame_stats", "--output", str(results), "--save-golden", cwd=project))
    golden = project / "tests" / "golden" / "frame_stats" / "default"
    assert "golden frame_stats/default saved: 3 task(s), 30 field(s)" in saved.stdout
    assert len(list((golden / "capture").glob("*.pkl"))) == 3
    record = json.loads((golden / "golden.json").read_text())
    stats = {
        record["span_uuid"]: record["frame_stats"]["brightness"]
        for record in (json.loads(path.read_text()) for path in (results / "stats").glob("*.json"))
    }
    kept = {
        clips[path.split("]")[0] + "]"]: value
        for task in record["tasks"]
        for output in task["outputs"]
        for clips in [output["clips"]]
        for path, value in output["fields"].items()
        if path.endswith("frame_stats['brightness']")
    }
    assert kept == stats  # the golden holds what the run wrote, clip by clip

    same = ok(cli("replay", "frame_stats", "--compare", cwd=project))
    assert "golden frame_stats/default: matches (30 field(s) of 3 task(s); rtol 1e-05, atol 1e-08)" in same.stdout
    report = project / ".curator-kit" / "golden-reports" / "frame_stats" / "default.json"
    assert json.loads(report.read_text())["passed"] is True

    with edited_stage(project, BRIGHTNESS, BRIGHTNESS.replace("),", ") * 1.01,")):
        moved = cli("replay", "frame_stats", "--mount-code", "--compare", cwd=project)
        assert moved.returncode == 4, moved.stdout + moved.stderr
        rows = [line.split() for line in moved.stdout.splitlines() if "frame_stats['brightness']" in line]
        assert len(rows) == 6 and all(row[2] == "frame_stats['brightness']" for row in rows)
        assert {row[1] for row in rows} == {uuid[:8] for uuid in stats}
        assert all(row[-1].startswith("(+") for row in rows)  # the relative difference, about +1 %
        assert "6 field(s) differ" in moved.stdout
        differences = json.loads(report.read_text())["differences"]
        assert {row["clip"] for row in differences} == set(stats) and not json.loads(report.read_text())["passed"]
        ok(cli("replay", "frame_stats", "--mount-code", "--compare", "--rtol", "0.02", cwd=project))
        tested = cli("test", "--mount-code", "--", "-k", "golden", cwd=project)
        assert tested.returncode == 1 and "frame_stats['brightness']" in tested.stdout + tested.stderr
    tested = ok(cli("test", "--mount-code", "--", "-k", "golden", cwd=project))
    assert "1 passed" in tested.stdout

    marker = "def process(self, task: VideoTask) -> VideoTask | list[VideoTask]:\n"
    with edited_stage(project, marker, marker + '        raise RuntimeError("boom in the golden")\n'):
        raised = cli("replay", "frame_stats", "--mount-code", "--compare", cwd=project)
    output = raised.stdout + raised.stderr
    assert raised.returncode not in (0, 4)
    assert "Traceback" in output and "RuntimeError: boom in the golden" in output


def test_replay_profile_names_the_stages_own_functions(captured):
    project, results = captured
    replayed = ok(cli("replay", "frame_stats", "--output", str(results), "--profile", cwd=project))
    profile = json.loads((results / "curator-kit-profile" / "frame_stats" / "profile.json").read_text())
    assert profile["workers"] == 1 and profile["tasks"] == 3 and profile["samples"] > 0
    ours = [row for row in profile["top"] if row["file"].endswith("stages/frame_stats.py")]
    assert ours, profile["top"]
    assert f"profile frame_stats: 1 worker, {profile['samples']} samples" in replayed.stdout
