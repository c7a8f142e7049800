"""Small deterministic sample videos for demos and tests.

Three kinds, in this order, repeated when more are asked for: a bright moving checkerboard (passes
the reference quality filter), a near-black one (filtered for brightness, contrast and sharpness)
and a mid-gray one with moving bars (passes). H.264 in mp4, yuv420p, built from plane bytes so no
numpy is needed; one encoder thread, so the bytes do not depend on the machine's core count.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

KINDS = ("bright", "dark", "mid")

# Limited-range luma (16 black .. 235 white), what yuv420p H.264 carries.
_NEUTRAL_CHROMA = 128


def _bars(width: int, period: int, low: int, high: int) -> bytes:
    """One row of vertical bars, `period` pixels per low+high pair, one period longer than `width`
    so a moving pattern is a slice of it."""
    half = period // 2
    return bytes(low if (x // half) % 2 == 0 else high for x in range(width + period))


def _bright(width: int, height: int, index: int) -> Callable[[int], list[bytes]]:
    # 16-pixel checkerboard moving diagonally 2 px a frame: bright, high contrast, sharp edges.
    period = 32
    rows = (_bars(width, period, 150, 235), _bars(width, period, 235, 150))

    def frame(t: int) -> list[bytes]:
        shift = 2 * t + 5 * index
        x = shift % period
        return [rows[((y + shift) // (period // 2)) % 2][x : x + width] for y in range(height)]

    return frame


def _dark(width: int, height: int, index: int) -> Callable[[int], list[bytes]]:
    # Near black with a faint bar drifting down: still "a video", but nothing to see.
    black, bar = bytes([18]) * width, bytes([22]) * width

    def frame(t: int) -> list[bytes]:
        top = (t + 7 * index) % height
        return [bar if 0 <= y - top < 8 else black for y in range(height)]

    return frame


def _mid(width: int, height: int, index: int) -> Callable[[int], list[bytes]]:
    # Mid-gray vertical bars moving 1 px a frame: moderate brightness and contrast.
    period = 24
    row = _bars(width, period, 95, 145)

    def frame(t: int) -> list[bytes]:
        x = (t + 3 * index) % period
        line = row[x : x + width]
        return [line] * height

    return frame


_PATTERNS = {"bright": _bright, "dark": _dark, "mid": _mid}


def _plane_bytes(rows: list[bytes], line_size: int) -> bytes:
    """Rows padded to the plane's line size (PyAV may align lines beyond the width)."""
    pad = bytes(line_size - len(rows[0]))
    return b"".join(row + pad for row in rows)


def make_sample_videos(
    directory: str | Path,
    count: int = 3,
    seconds: float = 4.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 24,
) -> list[Path]:
    """Write `count` sample mp4 files into `directory` (created if needed) and return their paths.

    Names are `sample_NN_KIND.mp4`; the same arguments always give the same bytes with the same PyAV.
    """
    import av  # lazy: only demos and tests need it, and it is a large import

    width, height = size
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"size must be even and at least 16x16 for yuv420p, got {width}x{height}")
    if fps < 1 or seconds <= 0:
        raise ValueError(f"fps and seconds must be positive, got fps={fps} seconds={seconds}")
    num_frames = max(1, round(seconds * fps))
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    chroma = bytes([_NEUTRAL_CHROMA]) * (width // 2)

    paths = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        path = out_dir / f"sample_{index:02d}_{kind}.mp4"
        luma = _PATTERNS[kind](width, height, index)
        with av.open(str(path), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, fps)
            stream.codec_context.gop_size = fps  # a keyframe a second keeps clip seeks cheap
            stream.codec_context.thread_count = 1  # x264 output depends on its thread count; "threads" below too
            # asm=0: x264's SIMD paths gave different bytes for the same frames within one process
            # (1 in 3 runs here); plain C is deterministic and machine-independent, and fast enough.
            stream.options = {"preset": "veryfast", "crf": "26", "threads": "1", "x264-params": "asm=0"}
            for t in range(num_frames):
                frame = av.VideoFrame(width, height, "yuv420p")
                y_plane, u_plane, v_plane = frame.planes
                y_plane.update(_plane_bytes(luma(t), y_plane.line_size))
                for plane in (u_plane, v_plane):
                    plane.update(_plane_bytes([chroma] * (height // 2), plane.line_size))
                frame.pts = t
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        paths.append(path)
    return paths
