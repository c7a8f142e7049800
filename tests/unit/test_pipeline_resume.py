"""The generated pipeline.py's resume and summary, run here against stand-ins for nemo-curator.

What it reads is what ClipWriterStage 1.4.0 writes (processed_videos/, processed_clip_chunks/, files
named by clip uuid); the real thing runs in tests/integration/test_resume.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from curator_kit.core.constants import EXIT_NOTHING_WRITTEN, RUN_ID_ENV, SUMMARY_FILE_NAME
from curator_kit.core.project.scaffold import plan_init
from curator_kit.core.run.runsummary import RunSummary, read_summary
from curator_kit.ops.scaffold import write_plan

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def list_files(path: str, recurse_subdirectories: bool, keep_extensions: list[str], **_: object) -> list:
    """nemo_curator.utils.file_utils.get_all_file_paths_and_size_under, for local folders."""
    found = Path(path).rglob("*") if recurse_subdirectories else Path(path).iterdir()
    kept = {e.casefold() for e in keep_extensions}
    return sorted((str(p), p.stat().st_size) for p in found if p.is_file() and p.suffix.casefold() in kept)


STUBS = {
    "nemo_curator.backends.xenna": ["XennaExecutor"],
    "nemo_curator.pipeline": ["Pipeline"],
    "nemo_curator.stages.base": ["CompositeStage", "ProcessingStage"],
    "nemo_curator.stages.resources": ["Resources"],
    "nemo_curator.stages.video.io.clip_writer": ["ClipWriterStage"],
    "nemo_curator.tasks.video": ["VideoTask"],
}


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    return load_generated_pipeline(tmp_path, monkeypatch)


def load_generated_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A new project's pipeline.py, imported with nemo-curator's modules stood in (restored after the test)."""
    write_plan(plan_init(tmp_path / "demo", "demo", "1.4.0"))
    for module, names in [*STUBS.items(), ("nemo_curator.utils.file_utils", [])]:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in sys.modules or depth == len(parts):
                monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        for attribute in names:
            setattr(sys.modules[module], attribute, type(attribute, (), {}))
    sys.modules["nemo_curator.utils.file_utils"].get_all_file_paths_and_size_under = list_files
    spec = importlib.util.spec_from_file_location("generated_pipeline", tmp_path / "demo" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(VIDEO_EXTENSIONS) == module.VIDEO_EXTENSIONS  # the reader's own list
    return module


def clip_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def chunk(video: str, index: int, clips: list[str], filtered: list[str] = ()) -> str:
    return json.dumps({"video": video, "clip_chunk_index": index, "clips": clips, "filtered_clips": list(filtered)})


@pytest.fixture
def interrupted(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """An output as a run stopped mid-way leaves it: a, finished; b, half-written; sub/c, one chunk of two."""
    videos, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.mp4", "b.MOV", "sub/c.mp4", "notes.txt"):
        write(videos / name, "video")
    ids = {name: clip_id(name) for name in ("a1", "a2", "b1", "c1")}
    write(out / "processed_videos" / "a.mp4.json", json.dumps({"num_clip_chunks": 1}))
    write(out / "processed_clip_chunks" / "a.mp4_0.json", chunk(f"{videos}/a.mp4", 0, [ids["a1"]], [ids["a2"]]))
    write(out / "processed_videos" / "b.MOV.json", '{"video": "/data/inp')  # the writer stopped inside it
    write(out / "processed_videos" / "sub" / "c.mp4.json", json.dumps({"num_clip_chunks": 2}))
    write(out / "processed_clip_chunks" / "sub" / "c.mp4_0.json", chunk(f"{videos}/sub/c.mp4", 0, [ids["c1"]]))
    for key in ("a1", "b1", "c1"):
        write(out / "clips" / f"{ids[key]}.mp4", "mp4")
        write(out / "metas" / "v0" / f"{ids[key]}.json", "{}")
        write(out / "probe_writer" / f"{ids[key]}.json", "{}")  # a project writer's own folder
        write(out / "previews" / ids[key] / "0_10.webp", "webp")
    write(out / "filtered_clips" / f"{ids['a2']}.mp4", "mp4")
    write(out / "report" / "index.html", "<html>")  # not the writer's: never touched
    return videos, out, ids


def test_resume_finds_what_the_writer_finished(pipeline, interrupted):
    videos, out, _ = interrupted
    listed = pipeline.list_videos(str(videos))
    assert listed == [f"{videos}/a.mp4", f"{videos}/b.MOV", f"{videos}/sub/c.mp4"]
    # b's record is half-written; c has one of its two chunks
    assert pipeline.finished_videos(out, str(videos), listed) == {f"{videos}/a.mp4"}


def test_resume_removes_half_written_files_and_keeps_finished_ones(pipeline, interrupted):
    _, out, ids = interrupted
    before = {p for p in out.rglob("*") if p.is_file()}
    removed = pipeline.remove_partial_outputs(out)
    gone = {p.relative_to(out).as_posix() for p in before if not p.exists()}
    # b1 belongs to no finished chunk: its clip may be half-written, and the writer would skip it
    b1 = ids["b1"]
    assert gone == {
        "processed_videos/b.MOV.json",
        f"clips/{b1}.mp4",
        f"metas/v0/{b1}.json",
        f"probe_writer/{b1}.json",
        f"previews/{b1}/0_10.webp",
    }
    assert removed == 5  # the previews folder counts once
    assert (out / "report" / "index.html").exists() and (out / "clips" / f"{ids['c1']}.mp4").exists()


def run_main(pipeline, tmp_path: Path, videos: Path, out: Path, *extra: str) -> int:
    document = {"format": pipeline.SPEC_FORMAT, "project": "demo", "stages": [], "executor": {}}
    spec = write(tmp_path / "spec.json", json.dumps(document))
    args = ["--input", str(videos), "--output", str(out), "--spec", str(spec), *extra]
    return pipeline.main(args)


def test_a_resumed_run_with_nothing_left_exits_0_and_says_so(pipeline, interrupted, tmp_path, monkeypatch, capsys):
    videos, out, _ = interrupted
    for name in ("b.MOV", "sub/c.mp4"):
        (videos / name).unlink()
    monkeypatch.setenv(RUN_ID_ENV, "run-7")
    assert run_main(pipeline, tmp_path, videos, out, "--resume") == 0
    assert "resume: 1 of 1 videos finished earlier, skipped; 5 partial files removed" in capsys.readouterr().out
    summary = read_summary(out, "run-7")  # what `curator-kit run` prints after the container
    assert (summary.status, summary.videos_found, summary.videos_skipped) == ("nothing-to-do", 1, 1)
    assert summary.partial_files_removed == 5


def test_an_input_without_videos_exits_3_with_a_summary(pipeline, tmp_path, monkeypatch):
    write(tmp_path / "empty" / "readme.txt", "no videos")
    monkeypatch.setenv(RUN_ID_ENV, "run-8")
    assert run_main(pipeline, tmp_path, tmp_path / "empty", tmp_path / "out") == EXIT_NOTHING_WRITTEN
    summary = json.loads((tmp_path / "out" / SUMMARY_FILE_NAME).read_text())
    assert summary["status"] == "no-videos" and summary["exit_code"] == EXIT_NOTHING_WRITTEN


@dataclass
class FakeClip:
    uuid: str
    errors: dict[str, str] = field(default_factory=dict)  # Curator's Clip.errors: stage key -> text


@dataclass
class FakeVideo:
    input_video: Path
    readable: bool
    clips: list[FakeClip] = field(default_factory=list)
    filtered_clips: list[FakeClip] = field(default_factory=list)

    def has_metadata(self) -> bool:
        return self.readable


@dataclass
class FakeTask:
    data: FakeVideo


def summary_of(pipeline, tmp_path: Path, results: list[FakeTask], videos: list[str], skipped=()):
    args = types.SimpleNamespace(input=str(tmp_path / "in"), output=str(tmp_path / "out"))
    return pipeline.summarize(results, videos, set(skipped), args)


def test_only_corrupt_videos_is_nothing_written(pipeline, tmp_path):
    # Old main printed "3 tasks reached the writer" and exited 0 with nothing written.
    names = [str(tmp_path / "in" / f"{n}.mp4") for n in ("x", "y", "z")]
    results = [FakeTask(FakeVideo(Path(name), readable=False)) for name in names]
    summary = summary_of(pipeline, tmp_path, results, names)
    assert (summary["status"], summary["exit_code"]) == ("nothing-written", EXIT_NOTHING_WRITTEN)
    assert summary["videos_unreadable"] == 3 and summary["unreadable"] == ["x.mp4", "y.mp4", "z.mp4"]


def test_clips_written_are_the_files_on_disk_and_dropped_tasks_are_failed(pipeline, tmp_path):
    names = [str(tmp_path / "in" / f"{n}.mp4") for n in ("good", "bad", "dropped", "done")]
    written, missing, filtered = clip_id("w"), clip_id("m"), clip_id("f")
    write(tmp_path / "out" / "clips" / f"{written}.mp4", "mp4")
    results = [
        FakeTask(FakeVideo(Path(names[0]), True, [FakeClip(written), FakeClip(missing)], [FakeClip(filtered)])),
        FakeTask(FakeVideo(Path(names[1]), False)),
    ]
    summary = summary_of(pipeline, tmp_path, results, names, skipped=[names[3]])
    assert summary["exit_code"] == 0 and summary["status"] == "ok"
    assert (summary["videos_processed"], summary["videos_unreadable"], summary["videos_failed"]) == (1, 1, 1)
    assert (summary["clips_written"], summary["clips_filtered"], summary["videos_skipped"]) == (1, 1, 1)
    assert summary["failed"] == ["dropped.mp4"]


def test_the_summary_counts_why_clips_were_filtered_by_the_keys_stages_left(pipeline, tmp_path):
    # 320x240 inputs: Curator's motion decode refuses every clip and the motion filter drops it.
    names = [str(tmp_path / "in" / f"{n}.mp4") for n in ("a", "b")]
    dropped = [FakeClip(clip_id(f"d{i}"), {"motion_decode": "frame too small"}) for i in range(3)]
    results = [
        FakeTask(FakeVideo(Path(names[0]), True, [], dropped[:2])),
        FakeTask(FakeVideo(Path(names[1]), True, [], [dropped[2], FakeClip(clip_id("quiet"))])),
    ]
    summary = summary_of(pipeline, tmp_path, results, names)
    assert summary["clips_filtered"] == 4 and summary["drop_reasons"] == {"motion_decode": 3}
    shown = RunSummary.from_dict(summary).lines()
    assert "dropped    3 of 4 dropped clip(s) for motion_decode: Curator's motion-vector decode" in shown[2]
