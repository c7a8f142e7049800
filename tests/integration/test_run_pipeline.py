"""The real CPU run: a scaffolded project with a filled-in stage and writer, built on the cpu base
image, run with a plain `curator-kit run` on sample videos.

VideoReader -> FixedStrideExtractorStage -> ClipTranscodingStage (libopenh264, from [clipping])
    -> luma_probe (decodes each clip with PyAV) -> probe_writer (ClipWriterStage + one JSON per clip)

Nothing here caps memlock: `run` must notice by itself an engine that cannot grant memlock=-1.
The module runs on Docker, then on Podman (the `engine` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from kitcli import cli, ok

SAMPLES = 3  # bright, dark, mid
SECONDS = 4.0
FPS = 24
CLIP_LEN_S = 2.0  # two clips per 4-second sample

# The stage's work, appended to the generated `_process_clip` (the last method, a docstring only).
PROBE_BODY = """
        import io

        import av

        try:
            with av.open(io.BytesIO(clip.buffer)) as container:
                codec = container.streams.video[0].codec_context.name
                lumas = [frame.to_ndarray(format="gray").mean() for frame in container.decode(video=0)]
        except (av.FFmpegError, IndexError) as error:
            clip.errors[self.name] = f"decode failed: {error}"
            return
        clip.luma_probe = {
            "frames": len(lumas),
            "mean_luma": round(float(sum(lumas) / max(len(lumas), 1)), 3),
            "codec": codec,
            "pid": os.getpid(),
        }
"""


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer has {old!r}: the template changed"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def project(tmp_path_factory, engine, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp(f"run-{engine.name}")
    ok(cli("init", "run-it", "--base-image", curator_base_image, cwd=root))
    project_dir = root / "run-it"
    ok(cli("new-stage", "luma_probe", "--cpus", "0.5", cwd=project_dir))
    ok(cli("new-writer", "probe_writer", cwd=project_dir))

    manifest = project_dir / "curator-kit.toml"
    replace_once(manifest, "clip_len_s = 10.0", f"clip_len_s = {CLIP_LEN_S}")
    replace_once(manifest, "clip_stride_s = 10.0", f"clip_stride_s = {CLIP_LEN_S}")
    replace_once(manifest, "min_clip_length_s = 2.0", "min_clip_length_s = 1.0")

    stage = project_dir / "stages" / "luma_probe.py"
    replace_once(stage, "from nemo_curator.backends.base", "import os\n\nfrom nemo_curator.backends.base")
    stage.write_text(stage.read_text().rstrip("\n") + "\n" + PROBE_BODY)
    writer = project_dir / "stages" / "probe_writer.py"
    replace_once(
        writer,
        '"errors": dict(clip.errors),\n',
        '"errors": dict(clip.errors),\n            "luma_probe": getattr(clip, "luma_probe", None),\n',
    )
    return project_dir


@pytest.fixture(scope="module")
def image(project, engine) -> str:
    tag = f"curator-kit-test/run-it:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    yield tag
    engine.client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def run(project, image, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    from curator_kit.ops.samples import make_sample_videos

    data = tmp_path_factory.mktemp("data")
    make_sample_videos(data / "videos", count=SAMPLES, seconds=SECONDS, fps=FPS)
    output = data / "out"  # missing: `run` creates it as the invoking user
    result = cli("run", "--input", str(data / "videos"), "--output", str(output), cwd=project, timeout=900)
    return result, output


def test_run_exits_zero(run) -> None:
    result, _ = run
    ok(result)
    plan = result.stderr
    assert f"clipping   fixed-stride: {CLIP_LEN_S:g} s clips every {CLIP_LEN_S:g} s" in plan
    if "execution  batch:" in plan:  # small hosts: the sum of every stage's cpus did not fit streaming
        assert "FixedStrideExtractorStage 1 + ClipTranscodingStage 1 + luma_probe 0.5 + probe_writer 0.25" in plan
    assert "ClipWriterStage" not in plan  # probe_writer replaces it
    assert f"summary    {SAMPLES} video(s) found: {SAMPLES} processed, 0 unreadable, 0 failed" in result.stderr
    assert f"clips      {SAMPLES * round(SECONDS / CLIP_LEN_S)} written, 0 filtered" in result.stderr


def test_clips_and_metadata_are_written(run) -> None:
    result, output = run
    ok(result)
    clips = sorted((output / "clips").glob("*.mp4"))
    metas = sorted((output / "metas" / "v0").glob("*.json"))
    expected = SAMPLES * round(SECONDS / CLIP_LEN_S)
    assert len(clips) == expected, sorted(p.relative_to(output) for p in output.rglob("*"))
    assert {p.stem for p in metas} == {p.stem for p in clips}
    for meta in metas:
        data = json.loads(meta.read_text())
        assert data["span_uuid"] == meta.stem
        assert data["duration_span"][1] - data["duration_span"][0] == pytest.approx(CLIP_LEN_S)
        assert data["width_source"] == 320 and data["framerate_source"] == pytest.approx(FPS)
    with clips[0].open("rb") as first:
        assert first.read(12)[4:8] == b"ftyp"  # an mp4 container


def test_the_custom_stage_did_its_work(run) -> None:
    result, output = run
    ok(result)
    records = [json.loads(p.read_text()) for p in sorted((output / "probe_writer").glob("*.json"))]
    assert len(records) == SAMPLES * round(SECONDS / CLIP_LEN_S)
    by_kind: dict[str, list[float]] = {}
    for record in records:
        probe = record["luma_probe"]
        assert probe is not None, record
        assert record["errors"] == {}
        assert probe["codec"] == "h264"  # libopenh264, the encoder `init` writes into [clipping]
        assert abs(probe["frames"] - CLIP_LEN_S * FPS) <= 2
        assert probe["pid"] != 1  # in a Ray worker, not the init process
        by_kind.setdefault(Path(record["source_video"]).stem.rsplit("_", 1)[-1], []).append(probe["mean_luma"])
    assert set(by_kind) == {"bright", "dark", "mid"}
    assert min(by_kind["bright"]) > max(by_kind["mid"]) and min(by_kind["mid"]) > max(by_kind["dark"])


def test_every_output_file_belongs_to_the_user(run) -> None:
    _, output = run
    foreign = [
        (str(path.relative_to(output)), path.stat().st_uid)
        for path in [output, *output.rglob("*")]
        if path.stat().st_uid != os.getuid()
    ]
    assert foreign == []
    assert sum(1 for p in output.rglob("*") if p.is_file()) > 0
