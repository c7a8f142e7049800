"""QualityFilterStage on stats FrameStatsStage measured on real clips."""

import uuid

from nemo_curator.tasks.video import Clip, VideoTask

from stages.frame_stats import FrameStatsStage
from stages.quality_filter import QualityFilterStage

from .conftest import run_stage


def test_moves_dark_and_blurry_clips_to_filtered_clips(task: VideoTask) -> None:
    checkerboard, black, gradient = task.data.clips
    out = run_stage(QualityFilterStage(), run_stage(FrameStatsStage(), task))
    assert out.data.clips == [checkerboard]
    assert out.data.filtered_clips == [black, gradient]
    assert checkerboard.errors == {}
    reason = black.errors["quality_filter"]
    assert reason.startswith("brightness 0 < 16") and "contrast 0 < 4" in reason and "sharpness 0 < 10" in reason
    assert gradient.errors["quality_filter"].startswith("sharpness ")
    assert "brightness" not in gradient.errors["quality_filter"]


def test_thresholds_are_arguments(task: VideoTask) -> None:
    measured = run_stage(FrameStatsStage(), task)
    out = run_stage(QualityFilterStage(min_brightness=0, min_contrast=0, min_sharpness=0), measured)
    assert len(out.data.clips) == 3 and out.data.filtered_clips == []
    assert QualityFilterStage(min_brightness=250).reasons(out.data.clips[0]) == ["brightness 207.5 < 250"]


def test_keeps_clips_without_stats(task: VideoTask) -> None:
    unmeasured = Clip(uuid=uuid.uuid4(), source_video="v.mp4", span=(0.0, 1.0))
    task.data.clips = [unmeasured]
    out = run_stage(QualityFilterStage(), task)
    assert out.data.clips == [unmeasured] and out.data.filtered_clips == []
