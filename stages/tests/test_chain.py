"""The reference stages after Curator's own reader, splitter and CPU transcoder, without an executor."""

import json
import pathlib
import shutil
import subprocess

import pytest
from nemo_curator.stages.video.clipping.clip_extraction_stages import ClipTranscodingStage, FixedStrideExtractorStage
from nemo_curator.stages.video.io.video_reader import VideoReaderStage
from nemo_curator.tasks.file_group import FileGroupTask
from nemo_curator.tasks.video import VideoTask

from stages.frame_stats import FrameStatsStage
from stages.quality_filter import QualityFilterStage
from stages.stats_writer import StatsWriterStage

from .conftest import encode, run_stage


def has_vp9_encoder() -> bool:
    if not shutil.which("ffmpeg"):
        return False
    encoders = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return "libvpx-vp9" in encoders


# Curator 1.4's CPU encoders are libvpx-vp9 and libopenh264; Debian's ffmpeg has only the first.
@pytest.mark.skipif(not has_vp9_encoder(), reason="needs ffmpeg with libvpx-vp9 on PATH")
def test_split_transcode_measure_filter_write(tmp_path: pathlib.Path) -> None:
    videos, output = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    source = videos / "mixed.mp4"
    source.write_bytes(encode(["checkerboard", "checkerboard", "black", "black"]))

    reader = VideoReaderStage(input_path=str(videos))
    reader.setup()
    task = reader.process(FileGroupTask(dataset_name="test", data=[str(source)]))
    assert task.data.metadata.num_frames == 96
    splitter = FixedStrideExtractorStage(clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.5, limit_clips=0)
    task = run_stage(splitter, task)
    transcoder = ClipTranscodingStage(encoder="libvpx-vp9", num_cpus_per_worker=1.0)
    transcoder.setup()
    [task] = transcoder.process(task)
    assert isinstance(task, VideoTask) and all(clip.buffer for clip in task.data.clips)
    for stage in (FrameStatsStage(), QualityFilterStage()):
        task = run_stage(stage, task)
    writer = StatsWriterStage(
        output_path=str(output),
        input_path=str(videos),
        upload_clips=True,
        dry_run=False,
        generate_embeddings=False,
        generate_previews=False,
        generate_captions=False,
        caption_models=[],
        enhanced_caption_models=[],
    )
    run_stage(writer, task)

    stats = sorted(
        (json.loads(path.read_text()) for path in (output / "stats").glob("*.json")),
        key=lambda entry: entry["duration_span"],
    )
    assert [entry["duration_span"] for entry in stats] == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    assert [entry["filtered"] for entry in stats] == [False, False, True, True]
    assert all(entry["frame_stats"]["brightness"] > 190 for entry in stats[:2])
    assert all(entry["frame_stats"]["brightness"] < 5 for entry in stats[2:])
    assert len(list((output / "clips").glob("*.mp4"))) == 2
    assert len(list((output / "filtered_clips").glob("*.mp4"))) == 2
