"""FrameStatsStage on real clips: known patterns give known numbers."""

import pathlib
import pickle
import uuid

import pytest
import torch
from nemo_curator.stages.resources import Resources
from nemo_curator.tasks.video import Clip, Video, VideoTask

from stages.frame_stats import FrameStatsStage, evenly_spaced, frame_stats_of

from .conftest import run_stage


def test_stats_of_known_patterns(task: VideoTask) -> None:
    checkerboard, black, gradient = (frame_stats_of(clip) for clip in run_stage(FrameStatsStage(), task).data.clips)
    # Half the pixels 255, half 160: mean 207.5, std 47.5; edges every 8 px.
    assert checkerboard["brightness"] == pytest.approx(207.5, abs=2)
    assert checkerboard["contrast"] == pytest.approx(47.5, abs=2)
    assert checkerboard["sharpness"] > 1000
    assert black["brightness"] < 1 and black["contrast"] < 1 and black["sharpness"] < 1
    # A linear ramp 60..200: mean 130, std 140/sqrt(12) = 40.4, Laplacian ~0 everywhere.
    assert gradient["brightness"] == pytest.approx(130, abs=2)
    assert gradient["contrast"] == pytest.approx(40.4, abs=2)
    assert gradient["sharpness"] < 5
    for stats in (checkerboard, black, gradient):
        assert stats["frames_sampled"] == 8 and stats["device"] == "cpu"
    assert not any(clip.errors for clip in task.data.clips)


def test_samples_the_requested_number_of_frames(task: VideoTask) -> None:
    clip = run_stage(FrameStatsStage(frames_per_clip=3), task).data.clips[0]
    assert frame_stats_of(clip)["frames_sampled"] == 3
    with pytest.raises(ValueError, match="frames_per_clip"):
        FrameStatsStage(frames_per_clip=0)


def test_evenly_spaced() -> None:
    assert evenly_spaced(24, 3) == [0, 12, 23]
    assert evenly_spaced(24, 1) == [12]
    assert evenly_spaced(2, 8) == [0, 1]
    assert evenly_spaced(0, 8) == []


def test_stats_survive_pickling_as_ray_moves_tasks(task: VideoTask) -> None:
    out = run_stage(FrameStatsStage(), task)
    copy = pickle.loads(pickle.dumps(out))
    assert [frame_stats_of(clip) for clip in copy.data.clips] == [frame_stats_of(clip) for clip in out.data.clips]


def test_passes_on_a_video_it_could_not_probe(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "broken.mp4"
    source.write_bytes(b"not a video")
    task = VideoTask(dataset_name="test", data=Video(input_video=source, source_bytes=source.read_bytes()))
    out = run_stage(FrameStatsStage(), task)
    assert out is task and out.data.clips == [] and out.data.errors == {}


def test_clips_without_usable_bytes_get_an_error_not_a_crash(task: VideoTask) -> None:
    no_bytes = Clip(uuid=uuid.uuid4(), source_video="v.mp4", span=(0.0, 1.0))
    garbage = Clip(uuid=uuid.uuid4(), source_video="v.mp4", span=(1.0, 2.0), buffer=b"\x00" * 64)
    task.data.clips += [no_bytes, garbage]
    out = run_stage(FrameStatsStage(), task)
    assert frame_stats_of(no_bytes) is None and "no clip bytes" in no_bytes.errors["frame_stats"]
    assert frame_stats_of(garbage) is None and "decode failed" in garbage.errors["frame_stats"]
    assert frame_stats_of(out.data.clips[0])["brightness"] > 200  # the good clips still got theirs


def test_runs_on_cuda_only_when_given_a_gpu(task: VideoTask) -> None:
    cpu_stage = FrameStatsStage()
    gpu_stage = FrameStatsStage().with_(resources=Resources(cpus=1.0, gpus=0.5))
    assert frame_stats_of(run_stage(cpu_stage, task).data.clips[0])["device"] == "cpu"
    stats = frame_stats_of(run_stage(gpu_stage, task).data.clips[0])
    assert stats["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert stats["brightness"] == pytest.approx(207.5, abs=2)
