"""StatsWriterStage: ClipWriterStage's outputs plus stats/<clip uuid>.json."""

import json
import pathlib

from nemo_curator.tasks.video import VideoTask

from stages.frame_stats import FrameStatsStage, frame_stats_of
from stages.quality_filter import QualityFilterStage
from stages.stats_writer import StatsWriterStage

from .conftest import run_stage


def writer(output: pathlib.Path, input_path: pathlib.Path, *, dry_run: bool = False) -> StatsWriterStage:
    # The arguments pipeline.py passes to the writer.
    return StatsWriterStage(
        output_path=str(output),
        input_path=str(input_path),
        upload_clips=True,
        dry_run=dry_run,
        generate_embeddings=False,
        generate_previews=False,
        generate_captions=False,
        caption_models=[],
        enhanced_caption_models=[],
    )


def test_writes_stats_beside_clips_and_metadata(task: VideoTask, tmp_path: pathlib.Path) -> None:
    checkerboard, black, gradient = task.data.clips
    measured = run_stage(QualityFilterStage(), run_stage(FrameStatsStage(), task))
    expected = {str(clip.uuid): frame_stats_of(clip) for clip in (checkerboard, black, gradient)}
    output = tmp_path / "out"
    run_stage(writer(output, tmp_path), measured)

    stats = {path.stem: json.loads(path.read_text()) for path in (output / "stats").glob("*.json")}
    assert {key: value["frame_stats"] for key, value in stats.items()} == expected
    kept = stats[str(checkerboard.uuid)]
    assert kept["filtered"] is False and kept["errors"] == {}
    assert kept["clip_location"] == str(output / "clips" / f"{checkerboard.uuid}.mp4")
    assert kept["frame_stats"]["brightness"] > 200
    dark = stats[str(black.uuid)]
    assert dark["filtered"] is True and dark["frame_stats"]["brightness"] < 1
    assert dark["errors"]["quality_filter"].startswith("brightness 0 < 16")
    assert dark["clip_location"] == str(output / "filtered_clips" / f"{black.uuid}.mp4")

    # ClipWriterStage's own outputs are all still there.
    assert (output / "clips" / f"{checkerboard.uuid}.mp4").stat().st_size > 0
    assert {p.stem for p in (output / "filtered_clips").glob("*.mp4")} == {str(black.uuid), str(gradient.uuid)}
    meta = json.loads((output / "metas" / "v0" / f"{black.uuid}.json").read_text())
    assert meta["errors"] == ["quality_filter"]
    assert json.loads((output / "processed_videos" / "video.mp4.json").read_text())["num_frames"] == 72
    chunk = json.loads((output / "processed_clip_chunks" / "video.mp4_0.json").read_text())
    assert chunk["clips"] == [str(checkerboard.uuid)]
    assert chunk["filtered_clips"] == [str(black.uuid), str(gradient.uuid)]


def test_skips_clips_without_stats(task: VideoTask, tmp_path: pathlib.Path) -> None:
    run_stage(writer(tmp_path / "out", tmp_path), task)  # FrameStatsStage never ran
    assert not (tmp_path / "out" / "stats").exists()
    assert len(list((tmp_path / "out" / "clips").glob("*.mp4"))) == 3


def test_dry_run_writes_no_stats(task: VideoTask, tmp_path: pathlib.Path) -> None:
    measured = run_stage(FrameStatsStage(), task)
    assert all(frame_stats_of(clip) for clip in measured.data.clips)
    run_stage(writer(tmp_path / "out", tmp_path, dry_run=True), measured)
    assert not (tmp_path / "out" / "stats").exists()


def test_is_a_clip_writer_with_its_own_name_and_resources(tmp_path: pathlib.Path) -> None:
    stage = writer(tmp_path / "out", tmp_path)
    assert stage.name == "stats_writer"
    assert stage.resources.cpus == 0.25 and not stage.resources.requires_gpu
    assert StatsWriterStage.get_output_path_stats("s3://bucket/out/") == "s3://bucket/out/stats"
