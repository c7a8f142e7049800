"""The generated pipeline.py's goldens as pure logic, against stand-ins for nemo-curator: what a stage
set on a task, kept as JSON and arrays, read back and compared within tolerances. The real stage, the
real capture and the container run in tests/integration/test_capture_replay.py."""

from __future__ import annotations

import enum
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from test_pipeline_resume import load_generated_pipeline

CLIP_A, CLIP_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    return load_generated_pipeline(tmp_path, monkeypatch)


class Kind(enum.Enum):
    FAST = 1


@dataclass
class Clip:
    uuid: uuid.UUID
    buffer: bytes = b""
    stats: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


@dataclass
class Video:
    input_video: Path
    clips: list = field(default_factory=list)


@dataclass
class Task:
    task_id: str
    data: Video


def task() -> Task:
    return Task("t0", Video(Path("/data/input/a.mp4"), [Clip(CLIP_A, b"mp4-a"), Clip(CLIP_B, b"mp4-b")]))


def processed(brightness: float = 120.5, embedding: np.ndarray | None = None) -> Task:
    done = task()
    done.data.clips[0].stats = {"brightness": brightness, "frames": 8, "kind": Kind.FAST}
    done.data.clips[0].buffer = b"re-encoded"
    done.data.clips[1].stats = {"embedding": np.arange(4, dtype=np.float32) if embedding is None else embedding}
    done.data.clips[1].errors = {"nan": math.nan}
    return done


def test_observe_names_leaves_and_clips(pipeline):
    leaves, clips = pipeline.observe(processed())
    assert clips == {"data.clips[0]": str(CLIP_A), "data.clips[1]": str(CLIP_B)}
    assert leaves["data.clips[0].stats['brightness']"] == 120.5
    assert leaves["data.clips[0].stats['kind']"] == pipeline.Text("Kind.FAST")
    assert leaves["data.clips[0].buffer"].size == len(b"re-encoded")
    assert isinstance(leaves["data.clips[1].stats['embedding']"], np.ndarray)
    assert leaves["data.input_video"] == pipeline.Text("PosixPath('/data/input/a.mp4')")
    assert leaves["data.clips[0].errors"] == pipeline.Text("{}")


def test_changed_fields_are_what_process_set_changed_or_removed(pipeline):
    before, _ = pipeline.observe(task())
    after, _ = pipeline.observe(processed())
    del after["data.clips[1].buffer"]
    fields = pipeline.changed_fields(before, after)
    assert set(fields) == {
        "data.clips[0].buffer",
        "data.clips[0].stats['brightness']",
        "data.clips[0].stats['frames']",
        "data.clips[0].stats['kind']",
        "data.clips[1].stats['embedding']",
        "data.clips[1].errors['nan']",
        "data.clips[0].stats",  # was the empty dict, now holds fields: that text is gone
        "data.clips[1].stats",
        "data.clips[1].errors",
        "data.clips[1].buffer",
    }
    assert fields["data.clips[1].buffer"] is pipeline.REMOVED
    lines = pipeline.change_lines(before, fields)
    assert "  + data.clips[0].stats['brightness'] = 120.5" in lines
    assert "  - data.clips[1].buffer" in lines
    assert any(line.startswith("  ~ data.clips[0].buffer: <5 bytes ") for line in lines)


def replayed(pipeline, brightness: float = 120.5, embedding: np.ndarray | None = None, outputs: int = 1):
    before, _ = pipeline.observe(task())
    after, clips = pipeline.observe(processed(brightness, embedding))
    item = (pipeline.changed_fields(before, after), clips)
    return [pipeline.Replayed("1-aa", "a.mp4", [item] * outputs, 0.01)]


def saved(pipeline, tmp_path: Path) -> dict:
    capture = tmp_path / "capture.pkl"
    capture.write_bytes(b"tasks")
    golden = tmp_path / "goldens" / "default"
    golden.parent.mkdir()
    pipeline.save_golden(golden, "frame_stats", [capture], replayed(pipeline))
    assert (golden / "capture" / "capture.pkl").read_bytes() == b"tasks"
    assert not list(golden.parent.glob(".*"))  # the partial copy was moved into place
    return pipeline.load_golden(golden)


def test_a_golden_round_trips_through_json_and_arrays(pipeline, tmp_path):
    golden = saved(pipeline, tmp_path)
    stored = json.loads((tmp_path / "goldens" / "default" / "golden.json").read_text())
    assert stored["format"] == pipeline.GOLDEN_FORMAT and stored["name"] == "default"
    fields = stored["tasks"][0]["outputs"][0]["fields"]
    assert fields["data.clips[0].stats['brightness']"] == 120.5
    assert fields["data.clips[0].buffer"] == {
        "bytes": 10,
        "sha256": __import__("hashlib").sha256(b"re-encoded").hexdigest(),
    }
    assert fields["data.clips[1].errors['nan']"] == {"float": "nan"}
    assert fields["data.clips[1].stats['embedding']"]["file"].startswith("arrays/")
    report = pipeline.compare_golden(golden, replayed(pipeline), pipeline.DEFAULT_RTOL, pipeline.DEFAULT_ATOL)
    assert report["passed"] and report["differences"] == [] and report["fields_compared"] == 9


def test_a_drift_beyond_tolerance_names_the_clip_and_the_field(pipeline, tmp_path):
    golden = saved(pipeline, tmp_path)
    now = replayed(pipeline, brightness=120.5 * 1.01, embedding=np.arange(4, dtype=np.float32) + 0.5)
    report = pipeline.compare_golden(golden, now, 1e-05, 1e-08)
    rows = {row["field"]: row for row in report["differences"]}
    assert set(rows) == {"stats['brightness']", "stats['embedding']"} and not report["passed"]
    assert rows["stats['brightness']"]["clip"] == str(CLIP_A) and rows["stats['brightness']"]["task"] == "a.mp4"
    assert rows["stats['brightness']"]["difference"] == "+1.205 (+1.00%)"
    assert rows["stats['embedding']"]["clip"] == str(CLIP_B)
    assert rows["stats['embedding']"]["difference"] == "max |difference| 0.5"
    assert pipeline.compare_golden(golden, now, 0.02, 0.5)["passed"]  # both within the wider tolerance
    lines = pipeline.report_lines(report)
    assert lines[0].split() == ["task", "clip", "field", "golden", "now", "difference"]
    assert (
        lines[-1] == "golden frame_stats/default: 2 field(s) differ (9 field(s) of 1 task(s); rtol 1e-05, atol 1e-08)"
    )


def test_fields_missing_new_and_tasks_out_are_differences(pipeline, tmp_path):
    golden = saved(pipeline, tmp_path)
    now = replayed(pipeline, outputs=2)
    report = pipeline.compare_golden(golden, now, 1e-05, 1e-08)
    assert [(row["field"], row["difference"]) for row in report["differences"]] == [("(tasks out)", "differs")]
    fields, clips = now[0].outputs[0]
    fields = {key: value for key, value in fields.items() if "brightness" not in key} | {"data.new": 1}
    now[0].outputs = [(fields, clips)]
    report = pipeline.compare_golden(golden, now, 1e-05, 1e-08)
    assert sorted((row["field"], row["difference"]) for row in report["differences"]) == [
        ("data.new", "new field"),
        ("stats['brightness']", "missing"),
    ]
    report = pipeline.compare_golden(golden, [], 1e-05, 1e-08)
    assert report["differences"][0]["difference"] == "missing"  # a captured task no longer replayed
