"""Open the run's input videos on the host with PyAV (a sample when there are many): container format,
codec, pixel format, resolution. `core.pipeline.codecs` judges the answers against the image's codecs."""

from __future__ import annotations

from pathlib import Path

from curator_kit.core.pipeline.codecs import PROBE_LIMIT, InputProbe, InputSample, sample_paths

# The extensions the generated pipeline.py's reader keeps (templates/pipeline.py.j2: VIDEO_EXTENSIONS).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def input_videos(input_dir: Path) -> list[str]:
    """The files the reader would pick up, relative to `input_dir` (sub-directories included)."""
    return [
        str(path.relative_to(input_dir))
        for path in input_dir.rglob("*")
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()
    ]


def probe_file(input_dir: Path, relative: str) -> InputProbe:
    import av

    try:
        with av.open(str(input_dir / relative), metadata_errors="ignore") as container:
            video = next(iter(container.streams.video), None)
            fmt = container.format.name.split(",")[0]
            if video is None:
                return InputProbe(relative, container=fmt)
            context = video.codec_context
            return InputProbe(
                relative,
                container=fmt,
                # The codec, not the decoder PyAV picked (libdav1d decodes av1).
                codec=context.codec.canonical_name if context.codec else "",
                pix_fmt=context.format.name if context.format else "",
                width=context.width,
                height=context.height,
            )
    except av.FFmpegError as error:
        return InputProbe(relative, error=error.strerror or type(error).__name__)
    except (OSError, ValueError) as error:
        return InputProbe(relative, error=getattr(error, "strerror", None) or str(error) or type(error).__name__)


def probe_inputs(input_dir: Path, limit: int = PROBE_LIMIT) -> InputSample:
    found = input_videos(input_dir)
    return InputSample(tuple(probe_file(input_dir, path) for path in sample_paths(found, limit)), len(found))
