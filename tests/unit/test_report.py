"""core/report/report.py, core/run/runlog.py and core/report/reportpage.py on small fabricated results trees
(no engine, no decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curator_kit.core.report.flamegraph import StageProfile, WorkerRaw, parse_collapsed, stage_profile
from curator_kit.core.report.report import (
    AESTHETIC_FILTER,
    FAILED,
    FILTERED,
    KEPT,
    MOTION_FILTER,
    flatten,
    read_results,
    report_location,
)
from curator_kit.core.report.reportpage import (
    image_jobs,
    page_data,
    profile_blocks,
    profile_image_name,
    script_json,
    strip_name,
    summary,
)
from curator_kit.core.run.runlog import Threshold, log_thresholds, relevant_lines, stage_times
from curator_kit.errors import CuratorKitError

VIDEO = "/data/input/cam/a.mp4"
OTHER = "/data/input/b.mp4"
KEEP_1 = "11111111-1111-5111-8111-111111111111"
KEEP_2 = "22222222-2222-5222-8222-222222222222"
DARK = "33333333-3333-5333-8333-333333333333"
BROKEN = "44444444-4444-5444-8444-444444444444"


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def meta(uuid: str, video: str, span: tuple[float, float], *, filtered: bool = False, **extra: object) -> dict:
    folder = "filtered_clips" if filtered else "clips"
    return {
        "span_uuid": uuid,
        "source_video": video,
        "duration_span": list(span),
        "width_source": 320,
        "clip_location": f"/data/output/{folder}/{uuid}.mp4",
        "width": 320,
        "num_bytes": 4000,
        "video_codec": "vp9",
        "windows": [],
        "valid": False,
        **extra,
    }


def stats(uuid: str, brightness: float, *, filtered: bool = False, errors: dict | None = None) -> dict:
    return {
        "span_uuid": uuid,
        "filtered": filtered,
        "frame_stats": {"brightness": brightness, "contrast": 30.0, "device": "cpu"},
        "errors": errors or {},
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two videos as the demo's writer lays them out: two kept clips (out of order on disk), one dark
    clip filtered by the project's quality filter, one kept clip whose stats stage failed."""
    root = tmp_path / "results"
    write(
        root / "processed_videos/cam/a.mp4.json",
        {"video": VIDEO, "duration": 6.0, "width": 320, "height": 240, "framerate": 24.0, "num_clip_chunks": 1},
    )
    write(root / "processed_videos/b.mp4.json", {"video": OTHER, "duration": 2.0, "num_clip_chunks": 1})
    write(
        root / "processed_clip_chunks/cam/a.mp4_0.json",
        {"video": VIDEO, "clips": [KEEP_2, KEEP_1, BROKEN], "filtered_clips": [DARK], "all_windows": {}},
    )
    write(root / "processed_clip_chunks/b.mp4_0.json", {"video": OTHER, "clips": [], "filtered_clips": []})
    write(root / f"metas/v0/{KEEP_1}.json", meta(KEEP_1, VIDEO, (0.0, 2.0)))
    write(root / f"metas/v0/{KEEP_2}.json", meta(KEEP_2, VIDEO, (2.0, 4.0)))
    write(root / f"metas/v0/{BROKEN}.json", meta(BROKEN, VIDEO, (4.0, 6.0), errors=["frame_stats"]))
    write(
        root / f"metas/v0/{DARK}.json",
        meta(DARK, VIDEO, (6.0, 8.0), filtered=True, errors=["quality_filter"]),
    )
    write(root / f"stats/{KEEP_1}.json", stats(KEEP_1, 180.25))
    write(root / f"stats/{KEEP_2}.json", stats(KEEP_2, 120.0))
    reason = "brightness 2.163 < 16; contrast 0.796 < 4"
    write(root / f"stats/{DARK}.json", stats(DARK, 2.163, filtered=True, errors={"quality_filter": reason}))
    (root / "stats/notes.json").write_text("{}")  # not a clip's file: ignored
    for uuid in (KEEP_1, KEEP_2, BROKEN):
        (root / "clips").mkdir(exist_ok=True)
        (root / f"clips/{uuid}.mp4").write_bytes(b"")
    (root / "filtered_clips").mkdir()
    (root / f"filtered_clips/{DARK}.mp4").write_bytes(b"")
    return root


def by_uuid(run) -> dict:
    return {clip.uuid: clip for clip in run.clips}


def test_videos_and_clips_in_order_with_status_stage_and_scores(results):
    run = read_results(results)
    assert [v.name for v in run.videos] == ["b.mp4", "cam/a.mp4"]
    video = run.videos[1]
    assert [c.uuid for c in video.clips] == [KEEP_1, KEEP_2, BROKEN, DARK]  # by span, not by file name
    assert run.videos[0].notes == ["no clips: shorter than one clip, or not decodable"]
    clips = by_uuid(run)
    assert clips[KEEP_1].status == KEPT and clips[KEEP_1].filtered_by == []
    dark = clips[DARK]
    assert dark.status == FILTERED and dark.filtered_by == ["quality_filter"]
    assert dark.errors == {"quality_filter": "brightness 2.163 < 16; contrast 0.796 < 4"}
    assert dark.scores == {"frame_stats.brightness": 2.163, "frame_stats.contrast": 30.0}
    assert dark.details["frame_stats.device"] == "cpu" and dark.details["video_codec"] == "vp9"
    assert dark.clip_file == f"filtered_clips/{DARK}.mp4" and dark.span == (6.0, 8.0)
    assert clips[BROKEN].status == FAILED and clips[BROKEN].errors == {"frame_stats": ""}
    assert run.counts() == {KEPT: 2, FILTERED: 1, FAILED: 1}
    assert run.filtered_by_stage() == {"quality_filter": 1}
    assert run.score_names == ["frame_stats.brightness", "frame_stats.contrast"]
    assert run.custom_outputs == ["stats"]
    assert run.missing == [] and run.problems == []


def test_threshold_read_from_the_filters_reason(results):
    run = read_results(results)
    assert Threshold("frame_stats.brightness", 16.0, "above", "quality_filter") in run.thresholds
    # contrast 0.796 in the reason is not this clip's contrast (30): still the only contrast score
    assert Threshold("frame_stats.contrast", 4.0, "above", "quality_filter") in run.thresholds


def test_curator_filters_named_from_chunk_counts_and_scores(tmp_path):
    root = tmp_path / "r"
    moved, ugly = "55555555-5555-5555-8555-555555555555", "66666666-6666-5666-8666-666666666666"
    write(
        root / "processed_clip_chunks/a.mp4_0.json",
        {
            "video": VIDEO,
            "clips": [],
            "filtered_clips": [moved, ugly],
            "num_clips_filtered_by_motion": 1,
            "num_clips_filtered_by_aesthetic": 1,
        },
    )
    motion = {"global_mean": -1.0, "per_patch_min_256": -1.0}
    write(
        root / f"metas/v0/{moved}.json",
        meta(moved, VIDEO, (0, 2), filtered=True, motion_score=motion, errors=["motion_decode"]),
    )
    write(
        root / f"metas/v0/{ugly}.json",
        meta(ugly, VIDEO, (2, 4), filtered=True, motion_score={"global_mean": 0.5}, aesthetic_score=0.2),
    )
    clips = by_uuid(read_results(root))
    assert clips[moved].filtered_by == [MOTION_FILTER]  # a decode diagnostic names no filter
    assert clips[ugly].filtered_by == [AESTHETIC_FILTER]
    assert clips[ugly].scores == {"motion_score.global_mean": 0.5, "aesthetic_score": 0.2}


def test_captions_from_metadata_windows(tmp_path):
    root = tmp_path / "r"
    windows = [{"start_frame": 0, "end_frame": 47, "qwen_caption": "a cat", "qwen_enhanced_caption": "a grey cat"}]
    write(root / f"metas/v0/{KEEP_1}.json", meta(KEEP_1, VIDEO, (0, 2), windows=windows))
    (clip,) = read_results(root).clips
    assert [(c.window, c.model, c.text, c.enhanced) for c in clip.captions] == [
        ("0_47", "qwen", "a cat", False),
        ("0_47", "qwen", "a grey cat", True),
    ]


def test_partial_results_say_what_is_missing(results):
    for path in (results / "metas/v0").iterdir():
        if path.stem != KEEP_1:
            path.unlink()
    (results / f"clips/{KEEP_1}.mp4").unlink()
    (results / f"metas/v0/{KEEP_2}.json").write_text("{truncated")
    write(results / "processed_videos/cam/a.mp4.json", {"video": VIDEO, "num_clip_chunks": 3})
    run = read_results(results)
    assert run.missing == [
        "3 clips without metadata in metas/v0/ (an interrupted run, or an incomplete copy)",
        "1 clip without an mp4 in clips/ or filtered_clips/",
    ]
    assert run.problems == [f"metas/v0/{KEEP_2}.json: unreadable (JSONDecodeError); left out"]
    assert "1 of 3 clip chunks reached the writer" in run.videos[1].notes
    # What the stats still say is kept: the dark clip is still filtered, by the stage its reason names.
    assert by_uuid(run)[DARK].filtered_by == ["quality_filter"]


def test_without_metadata_folders_the_report_says_so(results):
    for folder in ("metas", "processed_videos"):
        for path in sorted((results / folder).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (results / folder).rmdir()
    run = read_results(results)
    assert run.missing[:2] == [
        "metas/v0/ is absent: spans, scores and captions come only from the other files",
        "processed_videos/ is absent: video durations and sizes are unknown",
    ]
    assert len(run.clips) == 4 and by_uuid(run)[DARK].status == FILTERED
    assert [v.name for v in run.videos] == ["a.mp4"]  # below the folder the videos share


def test_a_directory_that_is_no_result_is_one_error_with_a_fix(tmp_path):
    with pytest.raises(CuratorKitError) as missing:
        read_results(tmp_path / "nope")
    assert "does not exist" in missing.value.message
    (tmp_path / "demo" / "results" / "clips").mkdir(parents=True)
    with pytest.raises(CuratorKitError) as wrong:
        read_results(tmp_path / "demo")
    assert "is not a NeMo Curator result" in wrong.value.message
    assert wrong.value.fix == f"did you mean {tmp_path / 'demo' / 'results'}? pass that directory"


def test_flatten_splits_numbers_from_texts():
    numbers, texts = flatten(
        {"a": {"b": 1, "c": "x", "d": True, "e": [1, 2], "f": list(range(100)), "g": float("nan")}, "skip": 3},
        skip=frozenset({"skip"}),
    )
    assert numbers == {"a.b": 1.0}
    assert texts == {"a.c": "x", "a.d": "true", "a.e": "1, 2", "a.g": "nan"}


XENNA = "| INFO     | cosmos_xenna.pipelines.private.batch:run_pipeline:137 -"
BATCH_LOG = f"""\
2026-11-25 20:11:02.758 {XENNA} Starting stage=Stage 03 - ClipTranscodingStage
\x1b[36m(Stage 03 - ClipTranscodingStage pid=740)\x1b[0m 2026-11-25 20:11:05.964 | INFO | video has 2 clips
2026-11-25 20:11:07.320 {XENNA} stage=Stage 03 - ClipTranscodingStage finished. Stopping workers.
2026-11-25 20:11:07.321 {XENNA} Starting stage=Stage 04 - FrameStatsStage
2026-11-25 20:11:13.338 {XENNA} stage=Stage 04 - FrameStatsStage finished. Stopping workers.
Clip x has aesthetic score 0.412 below threshold 3.5, skipped.
Clip y has motion score global mean 0.00012<0.00098 or per-patch min 256 0.000000<1e-06, skipped.
"""


def test_stage_times_and_thresholds_from_the_log():
    lines = relevant_lines(BATCH_LOG.splitlines())
    assert len(lines) == 6  # the worker's line about clips is dropped while reading
    assert [(t.name, t.seconds) for t in stage_times(lines)] == [
        ("ClipTranscodingStage", 4.562),
        ("FrameStatsStage", 6.017),
    ]
    assert log_thresholds(lines) == [
        Threshold("aesthetic_score", 3.5, "above", "clip_aesthetic_filter"),
        Threshold("motion_score.global_mean", 0.00098, "above", "motion_filter"),
        Threshold("motion_score.per_patch_min_256", 1e-06, "above", "motion_filter"),
    ]
    assert stage_times(["2026-11-25 20:11:02 | INFO | a log without stage lines"]) == []


STREAMING = "| INFO     | cosmos_xenna.pipelines.private.streaming:run_pipeline:811 -"
STREAMING_LOG = f"""\
2026-11-25 23:08:49.317 | INFO | xenna:485 - Created/connected to cluster with resources: PoolOfResources(cpus=1)
\x1b[36m(Stage 02 - FixedStrideExtractorStage pid=579)\x1b[0m 2026-11-25 23:08:52.950 | INFO | worker lines are not read
\u2502 Stage 00 - FilePartitioningStage     \u2502       0 \u2502
2026-11-25 23:08:52.997 {STREAMING} Stopping stages 0
2026-11-25 23:08:54.000 {STREAMING} Stopping stages 1
\u2502 Stage 01 - VideoReaderStage          \u2502       0 \u2502
2026-11-25 23:08:55.500 {STREAMING} Stopping stages 2
"""


def test_streaming_stage_times_add_up_to_the_pipeline():
    # Streaming runs every stage at once; each stops when its input ends, in order.
    times = stage_times(relevant_lines(STREAMING_LOG.splitlines()))
    assert [(t.name, t.seconds, t.mode) for t in times] == [
        ("FilePartitioningStage", 3.68, "streaming"),
        ("VideoReaderStage", 1.003, "streaming"),
        ("stage 2", 1.5, "streaming"),  # named only in a worker's line, which the reader skips
    ]
    assert round(sum(t.seconds for t in times), 3) == 6.183  # 23:08:49.317 -> 23:08:55.500


def test_page_data_images_and_summary(results):
    run = read_results(results, BATCH_LOG.splitlines())
    jobs = image_jobs(run, 4)
    assert [job.source for job in jobs][:2] == [f"clips/{KEEP_1}.mp4", f"clips/{KEEP_2}.mp4"]
    assert {job.frames for job in jobs} == {4} and image_jobs(run, 0) == []
    made = {strip_name(KEEP_1, 4)}
    data = page_data(run, made, "..", 4)
    assert [s["name"] for s in data["scores"]] == ["frame_stats.brightness", "frame_stats.contrast"]
    assert data["scores"][0]["thresholds"] == [{"value": 16.0, "keeps": "above", "source": "quality_filter"}]
    clips = {c["id"]: c for c in data["clips"]}
    assert clips[KEEP_1]["thumb"] == f"images/{KEEP_1}.f4.jpg" and clips[KEEP_2]["thumb"] is None
    assert clips[DARK]["href"] == f"../filtered_clips/{DARK}.mp4" and clips[DARK]["by"] == ["quality_filter"]
    assert data["videos"][1]["info"] == "6.0 s \u00b7 320\u00d7240 \u00b7 24 fps"
    numbers = summary(run)
    assert (numbers["videos"], numbers["clips"], numbers["kept"], numbers["filtered"], numbers["failed"]) == (
        2,
        4,
        2,
        1,
        1,
    )
    assert numbers["kept_seconds"] == 4.0 and numbers["total_seconds"] == 10.6
    assert [t["name"] for t in numbers["stage_times"]] == ["ClipTranscodingStage", "FrameStatsStage"]


def test_previews_are_used_instead_of_frame_strips(results):
    (results / "previews" / KEEP_1).mkdir(parents=True)
    (results / "previews" / KEEP_1 / "0_47.webp").write_bytes(b"")
    jobs = {job.source: job for job in image_jobs(read_results(results), 4)}
    assert jobs[f"previews/{KEEP_1}/0_47.webp"].target == f"images/{KEEP_1}/0_47.webp"
    assert jobs[f"previews/{KEEP_1}/0_47.webp"].frames == 0 and f"clips/{KEEP_1}.mp4" not in jobs


def test_script_json_cannot_end_its_script_block():
    text = script_json({"caption": "</script><script>alert(1)</script><!-- & -->"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"caption": "</script><script>alert(1)</script><!-- & -->"}


def test_report_location_never_over_the_results(tmp_path):
    results = tmp_path / "results"
    assert report_location(results, None) == results / "report"
    assert report_location(results, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert report_location(results, results / "my-report") == results / "my-report"
    for bad in (results, results / "clips" / "r", results / "stats", tmp_path):
        with pytest.raises(CuratorKitError):
            report_location(results, bad, ["stats"])


def test_profile_blocks_for_the_page():
    stacks = parse_collapsed("<module> (p.py:8);process (/app/stages/s.py:72) 999\n<module> (p.py:8);tiny (t.py:1) 1\n")
    facts = {"rate": 100, "peak_rss_bytes": 3 * 2**30, "tasks": 4, "process_seconds": 2.5}
    profile, _ = stage_profile("frame stats#2", [WorkerRaw("1", stacks, facts)])
    empty = StageProfile("idle", 0, 0, None, None, None, None, [], notes=["no samples: nothing"])
    block, idle = profile_blocks([profile, empty], {profile_image_name("frame stats#2"), profile_image_name("idle")})
    assert block["anchor"] == "profile-frame-stats-2" and block["stage"] == "frame stats#2"
    assert block["flame"] == "images/profiles/frame%20stats%232.svg"  # a URL, whatever the folder's name
    assert (block["workers"], block["samples"], block["rate"], block["peak"]) == (1, 1000, 100, "3.00 GiB")
    assert (block["tasks"], block["process_seconds"]) == (4, 2.5)
    assert block["facts"] == [
        "1 worker",
        "1000 samples at 100 Hz",
        "peak memory 3.00 GiB",
        "4 tasks",
        "2.5 s in process_batch",
    ]
    rows = block["top"]
    assert [(r["function"], r["location"], r["self"], r["total"]) for r in rows] == [
        ("process", "/app/stages/s.py:72", "99.9%", "99.9%"),
        ("tiny", "t.py:1", "0.1%", "0.1%"),
        ("<module>", "p.py:8", "0.0%", "100.0%"),
    ]
    assert idle["flame"] is None and idle["peak"] == "" and idle["notes"] == ["no samples: nothing"]
    assert profile_blocks([profile], set())[0]["flame"] is None  # no image made: the table alone
