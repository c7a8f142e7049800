"""Real VideoTasks for the reference stages: mp4 bytes encoded here with PyAV (H.264, yuv420p)."""

import io
import pathlib
import uuid
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
import pytest
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.tasks.video import Clip, Video, VideoTask

FPS = 24
WIDTH, HEIGHT = 160, 120


def black(t: int) -> np.ndarray:
    return np.zeros((HEIGHT, WIDTH), np.uint8)


def checkerboard(t: int) -> np.ndarray:
    """Bright 8-pixel checkerboard (160/255) moving right 2 px a frame: bright, contrasty, sharp."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.where(((x + 2 * t) // 8 + y // 8) % 2 == 0, 255, 160).astype(np.uint8)


def gradient(t: int) -> np.ndarray:
    """A smooth left-to-right ramp 60..200: bright enough, contrasty, but no edges at all."""
    ramp = np.linspace(60, 200, WIDTH)
    return np.broadcast_to(ramp, (HEIGHT, WIDTH)).round().astype(np.uint8)


PATTERNS: dict[str, Callable[[int], np.ndarray]] = {"black": black, "checkerboard": checkerboard, "gradient": gradient}


def encode(kinds: list[str], seconds_each: float = 1.0) -> bytes:
    """An mp4 of the given patterns one after another, each `seconds_each` long."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        per_kind = round(seconds_each * FPS)
        for index, kind in enumerate(kinds):
            for t in range(per_kind):
                frame = av.VideoFrame.from_ndarray(PATTERNS[kind](t), format="gray").reformat(format="yuv420p")
                frame.pts, frame.time_base = index * per_kind + t, Fraction(1, FPS)
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def make_task(directory: pathlib.Path, kinds: list[str]) -> VideoTask:
    """A VideoTask as ClipTranscodingStage hands it on: probed metadata, one 1-s clip per kind with
    its own mp4 in `clip.buffer`, and the source bytes already dropped."""
    source = directory / "video.mp4"
    source.write_bytes(encode(kinds))
    video = Video(input_video=source, source_bytes=source.read_bytes())
    video.populate_metadata()
    video.clips = [
        Clip(
            uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"{source}_{index}"),
            source_video=str(source),
            span=(float(index), index + 1.0),
            buffer=encode([kind]),
        )
        for index, kind in enumerate(kinds)
    ]
    video.num_total_clips = len(video.clips)
    video.source_bytes = None
    return VideoTask(dataset_name="test", data=video)


@pytest.fixture
def task(tmp_path: pathlib.Path) -> VideoTask:
    """Clips, in order: checkerboard (passes), black (filtered), gradient (filtered: not sharp)."""
    return make_task(tmp_path, ["checkerboard", "black", "gradient"])


def run_stage(stage: ProcessingStage[VideoTask, VideoTask], task: VideoTask) -> VideoTask:
    """What a Curator executor does with one task: validate, setup, process, teardown."""
    assert stage.validate_input(task)
    stage.setup_on_node()
    stage.setup()
    result = stage.process(task)
    stage.teardown()
    assert isinstance(result, VideoTask)
    return result
