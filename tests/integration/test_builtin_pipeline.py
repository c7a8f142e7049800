"""Curator's built-ins and the project's stages in one pipeline, for real on CPU, made with the CLI:

    VideoReader -> fixed_stride -> transcoding (libopenh264) -> motion_filter (MotionVectorDecodeStage +
    MotionFilterStage) -> windows (a stage of the project) -> previews (PreviewStage) -> ClipWriterStage

Transcoding, motion decoding and previews keep Curator's CPU defaults (6, 6, 4): `run` sizes them to
this host. The writer is told by the spec to write previews; static clips go to filtered_clips/ with
their motion scores. Needs the cpu base image with libopenh264, libwebp and OpenCV: without them this
fails, it is not skipped.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from fractions import Fraction
from pathlib import Path

import pytest
from kitcli import cli, ok

SECONDS = 4.0
FPS = 24
CLIP_LEN_S = 2.0
SIZE = (320, 256)  # Curator decodes motion vectors only from clips at least 256 pixels on each side

# The project stage: one caption-less window per clip, carrying the clip's mp4, which is what
# PreviewStage turns into a webp (captioning makes such windows in Curator's own pipeline).
WINDOWS_PROCESS = """
    def process(self, task: VideoTask) -> VideoTask | list[VideoTask]:
        from nemo_curator.tasks.video import _Window

        video = task.data
        if not video.metadata.framerate:
            return task
        for clip in video.clips:
            if clip.buffer:
                frames = int((clip.span[1] - clip.span[0]) * video.metadata.framerate)
                clip.windows = [_Window(0, frames, mp4_bytes=clip.buffer)]
        return task
"""


def replace_process(stage_file: Path, body: str) -> None:
    """The generated stage with its `process` (and what follows) replaced by `body`."""
    text = stage_file.read_text()
    start = text.index("    def process(")
    stage_file.write_text(text[:start] + body.lstrip("\n"))


def static_video(path: Path) -> None:
    """A video whose frames never change: no motion, so the motion filter filters its clips."""
    import av

    width, height = SIZE
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"preset": "veryfast", "threads": "1", "x264-params": "asm=0"}
        for t in range(int(SECONDS * FPS)):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, value in zip(frame.planes, (120, 128, 128), strict=True):
                plane.update(bytes([value]) * (plane.line_size * plane.height))
            frame.pts, frame.time_base = t, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("builtins")
    ok(cli("init", "builtins-it", "--preset", "bare", "--base-image", curator_base_image, cwd=root))
    project_dir = root / "builtins-it"
    clip = f"--param=clip_len_s={CLIP_LEN_S}", f"--param=clip_stride_s={CLIP_LEN_S}", "--param=min_clip_length_s=1"
    ok(cli("add", "fixed_stride", *clip, cwd=project_dir))
    ok(cli("add", "transcoding", "--param", "encoder=libopenh264", cwd=project_dir))
    ok(cli("add", "motion_filter", cwd=project_dir))
    ok(cli("new-stage", "windows", "--cpus", "0.5", cwd=project_dir))
    ok(cli("add", "previews", "--param", "target_height=128", cwd=project_dir))
    replace_process(project_dir / "stages" / "windows.py", WINDOWS_PROCESS)
    return project_dir


@pytest.fixture(scope="module")
def image(project, docker_client) -> str:
    tag = f"curator-kit-test/builtins-it:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def run(project, image, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    from curator_kit.ops.samples import make_sample_videos

    data = tmp_path_factory.mktemp("data")
    make_sample_videos(data / "videos", count=1, seconds=SECONDS, size=SIZE, fps=FPS)  # sample_00_bright: moving
    static_video(data / "videos" / "still.mp4")
    output = data / "out"
    result = cli(
        "run", "--image", image, "--input", str(data / "videos"), "--output", str(output), cwd=project, timeout=900
    )
    return result, output


def metas(output: Path) -> dict[str, list[dict]]:
    """Clip metadata by source video (its file name)."""
    found: dict[str, list[dict]] = {}
    for path in sorted((output / "metas" / "v0").glob("*.json")):
        data = json.loads(path.read_text())
        found.setdefault(Path(data["source_video"]).name, []).append(data)
    return found


def test_the_spec_has_every_stage_and_tells_the_writer(project):
    described = ok(cli("spec", cwd=project)).stderr + ok(cli("spec", cwd=project)).stdout
    for name in ("FixedStrideExtractorStage", "ClipTranscodingStage", "MotionVectorDecodeStage", "MotionFilterStage"):
        assert name in described
    assert "PreviewStage" in described and "windows: stages.windows.WindowsStage" in described
    assert "the writer is told: generate_previews=True" in described


def test_the_run_sizes_curators_cpus_to_the_host(run):
    result, _ = run
    ok(result)
    assert "CPUs sized to this host" in result.stderr, result.stderr
    for stage in ("ClipTranscodingStage 6 ->", "MotionVectorDecodeStage 6 ->"):
        assert stage in result.stderr


def test_moving_clips_pass_with_motion_scores_and_previews(run):
    result, output = run
    ok(result)
    moving = metas(output)["sample_00_bright.mp4"]
    assert len(moving) == round(SECONDS / CLIP_LEN_S), sorted(str(p.relative_to(output)) for p in output.rglob("*"))
    for meta in moving:
        assert meta["clip_location"].endswith(f"/clips/{meta['span_uuid']}.mp4")
        assert meta["motion_score"]["global_mean"] > 0.00098  # MotionFilterStage's default threshold
        assert meta["windows"] and meta["valid"]
        previews = list((output / "previews" / meta["span_uuid"]).glob("*.webp"))
        assert len(previews) == 1, meta
        assert previews[0].read_bytes()[8:12] == b"WEBP"
        assert (output / "clips" / f"{meta['span_uuid']}.mp4").is_file()


def test_static_clips_are_filtered_where_the_filter_puts_them(run):
    result, output = run
    ok(result)
    still = metas(output)["still.mp4"]
    assert len(still) == round(SECONDS / CLIP_LEN_S)
    for meta in still:
        assert meta["clip_location"].endswith(f"/filtered_clips/{meta['span_uuid']}.mp4")
        assert meta["motion_score"]["global_mean"] < 0.00098
        assert (output / "filtered_clips" / f"{meta['span_uuid']}.mp4").is_file()
        assert not (output / "previews" / meta["span_uuid"]).exists()  # filtered before previews ran
    processed = json.loads((output / "processed_videos" / "still.mp4.json").read_text())
    assert processed["num_total_clips"] == round(SECONDS / CLIP_LEN_S)
