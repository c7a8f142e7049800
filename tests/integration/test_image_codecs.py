"""Codec readiness on the real engine: images record what they decode and encode, and `run` judges
its input videos against that before any container starts.

One project (the scaffold's default: VideoReader, fixed-stride clips transcoded with libopenh264, no
[envs] pip requirements) is built twice: on the cpu base, and on the stand-in for NVIDIA's Curator
image layout (its ffmpeg decodes H.264 only with NVDEC). One pipeline runs, on the cpu base."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from curator_kit.core.constants import LABEL_CODECS, SUMMARY_FILE_NAME
from curator_kit.core.pipeline.codecs import codecs_in_labels
from kitcli import cli, ok

H264_NAME = "sample_00_bright.mp4"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """An H.264 mp4 (PyAV on the host), a VP9 webm and a file no reader can open."""
    import av
    from curator_kit.ops.samples import make_sample_videos

    folder = tmp_path_factory.mktemp("codec-inputs")
    make_sample_videos(folder, count=1, seconds=3.0, fps=12)
    with av.open(str(folder / "clip.webm"), mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(36):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane, value in zip(frame.planes, (16 + index * 6, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return folder


def _built(root: Path, kind: str, base: str) -> tuple[Path, str, str]:
    """(project dir, image tag, build output) of the scaffold's default project on `base`."""
    ok(cli("init", f"cx-{kind}", "--base-image", base, cwd=root))
    project = root / f"cx-{kind}"
    tag = f"curator-kit-test/cx-{kind}:{uuid.uuid4().hex[:8]}"
    result = ok(cli("build", "--tag", tag, cwd=project, timeout=1800))
    return project, tag, result.stdout + result.stderr


@pytest.fixture(scope="module")
def on_cpu_base(tmp_path_factory, docker_client, curator_base_image):
    built = _built(tmp_path_factory.mktemp("codecs"), "cpu", curator_base_image)
    yield built
    docker_client.images.remove(built[1], force=True)


@pytest.fixture(scope="module")
def on_official_layout(tmp_path_factory, docker_client, official_layout_image):
    built = _built(tmp_path_factory.mktemp("codecs"), "official", official_layout_image)
    yield built
    docker_client.images.remove(built[1], force=True)


def test_base_image_codecs_are_probed_in_a_container(docker_client, curator_base_image) -> None:
    """What `base build` records on the base: the probe run in a container, nothing built or changed."""
    from curator_kit.ops.imagecodecs import codec_labels

    codecs = codecs_in_labels(codec_labels(docker_client, curator_base_image))
    assert codecs is not None and codecs.ffmpeg is not None and codecs.pyav is not None
    assert {"h264", "hevc", "vp9", "h264_cuvid"} <= codecs.ffmpeg.decoders
    assert {"libopenh264", "libvpx-vp9", "h264_nvenc"} <= codecs.ffmpeg.encoders
    assert {"h264", "vp9"} <= codecs.pyav.decoders


def test_build_labels_the_codecs_and_inspect_shows_them(on_cpu_base, docker_client) -> None:
    from curator_kit.engine.images import image_labels

    project, tag, output = on_cpu_base
    codecs = codecs_in_labels(image_labels(docker_client, tag))
    assert codecs is not None and "h264" in codecs.ffmpeg.decoders and "libopenh264" in codecs.ffmpeg.encoders
    assert "note " not in output  # the cpu base lacks nothing the pipeline uses
    shown = ok(cli("inspect", tag, cwd=project)).stdout
    (line,) = [line for line in shown.splitlines() if line.startswith("codecs ")]
    assert "ffmpeg 5.1" in line and "decodes h264 hevc vp9" in line and "libopenh264" in line
    assert "PyAV " in shown
    assert json.loads(ok(cli("inspect", tag, "--json", cwd=project)).stdout)[LABEL_CODECS]


def test_build_on_the_official_layout_says_what_it_lacks(on_official_layout) -> None:
    _project, _tag, output = on_official_layout
    assert "ffmpeg has no software h264 decoder, only h264_cuvid (NVDEC): h264 inputs need --gpus" in output


def test_h264_is_refused_on_the_nvdec_only_image_before_any_container(
    on_official_layout, inputs, docker_client, tmp_path
):
    project, tag, _output = on_official_layout
    result = cli("run", "--image", tag, "--input", str(inputs), "--output", str(tmp_path / "out"), cwd=project)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert f"1 input(s) in h264 ({H264_NAME})" in text and "h264_cuvid (NVDEC)" in text and "no GPU" in text
    assert "--gpus all" in text and "--force to run anyway" in text
    assert "vp9" not in text.split("error")[-1]  # the VP9 input decodes in software: not refused
    assert "probed 3 of 3 videos" in text
    assert "the reader will skip 1 unreadable input(s): broken.mp4" in text
    assert docker_client.containers.list(all=True, filters={"ancestor": tag}) == []
    assert not (tmp_path / "out" / SUMMARY_FILE_NAME).exists()


def test_the_same_inputs_run_on_the_cpu_base(on_cpu_base, inputs, tmp_path) -> None:
    project, tag, _output = on_cpu_base
    output = tmp_path / "out"
    result = ok(cli("run", "--image", tag, "--input", str(inputs), "--output", str(output), cwd=project))
    text = result.stdout + result.stderr
    assert "probed 3 of 3 videos: " in text and " h264 yuv420p 320x240 (mov)" in text and " vp9 yuv420p 64x48" in text
    assert "warning: the reader will skip 1 unreadable input(s): broken.mp4" in text
    summary = json.loads((output / SUMMARY_FILE_NAME).read_text())
    assert summary["unreadable"] == ["broken.mp4"] and summary["clips_written"] == 2, summary
    shutil.rmtree(output, ignore_errors=True)
