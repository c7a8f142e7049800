"""Sample videos: real H.264 mp4s that decode back, the same bytes every time."""

from pathlib import Path

import av
import pytest
from curator_kit.ops.samples import make_sample_videos


def mean_luma(frame: av.VideoFrame) -> float:
    """Mean of the Y plane, without numpy: rows cut out of the padded plane buffer."""
    plane = frame.planes[0]
    data = bytes(plane)
    rows = (data[row * plane.line_size : row * plane.line_size + plane.width] for row in range(plane.height))
    return sum(sum(row) for row in rows) / (plane.width * plane.height)


def decode(path: Path) -> tuple[str, str, list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return stream.codec_context.name, stream.codec_context.pix_fmt, frames


def test_three_kinds_decode_to_the_asked_size_and_length(tmp_path: Path) -> None:
    paths = make_sample_videos(tmp_path / "videos", seconds=2, size=(160, 96), fps=12)
    assert [path.name for path in paths] == ["sample_00_bright.mp4", "sample_01_dark.mp4", "sample_02_mid.mp4"]
    luma = {}
    for path in paths:
        codec, pix_fmt, frames = decode(path)
        assert (codec, pix_fmt) == ("h264", "yuv420p")
        assert len(frames) == 24
        assert {(frame.width, frame.height) for frame in frames} == {(160, 96)}
        assert 0 < path.stat().st_size < 1_000_000
        luma[path.name.split("_")[-1]] = mean_luma(frames[len(frames) // 2])
    # Limited-range luma: black is 16. Bright checkerboard, near-black, mid-gray bars.
    assert luma["bright.mp4"] > 180
    assert luma["dark.mp4"] < 25
    assert 100 < luma["mid.mp4"] < 140


def test_defaults_are_small_few_second_videos(tmp_path: Path) -> None:
    for path in make_sample_videos(tmp_path):
        _, _, frames = decode(path)
        assert len(frames) == 96  # 4 s at 24 fps
        assert (frames[0].width, frames[0].height) == (320, 240)
        assert path.stat().st_size < 100_000


def test_same_bytes_every_time(tmp_path: Path) -> None:
    first = make_sample_videos(tmp_path / "a", count=4, seconds=1)
    second = make_sample_videos(tmp_path / "b", count=4, seconds=1)
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
    # A repeated kind is shifted, not a copy.
    assert first[3].name == "sample_03_bright.mp4"
    assert first[3].read_bytes() != first[0].read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count"),
        ({"size": (321, 240)}, "even"),
        ({"size": (8, 8)}, "16x16"),
        ({"fps": 0}, "positive"),
        ({"seconds": 0}, "positive"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_sample_videos(tmp_path, **kwargs)
