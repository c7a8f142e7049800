"""`run --capture` then `replay` on the demo's frame_stats, on the real engine: the replayed stage
computes the statistics the run wrote, and a stage that raises shows the user's traceback.

Uses the cpu base image, built once per machine by the shared fixture."""

from __future__ import annotations

import json
import re

import pytest
from kitcli import cli, ok


@pytest.fixture(scope="module")
def captured(tmp_path_factory, docker_client, curator_base_image):
    """The demo, then a run that captures what enters frame_stats."""
    root = tmp_path_factory.mktemp("capture")
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
