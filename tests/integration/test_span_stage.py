"""A stage of the project placed before transcoding (`new-stage NAME --before transcoding`) makes its
own spans; Curator's ClipTranscodingStage encodes exactly those and the writer writes them.

    VideoReader -> fixed_stride -> scene_spans (ours: replaces the spans) -> transcoding -> ClipWriterStage

`init` writes [clipping]; placing a stage inside it turns it into the [[stages]] entries it stands for.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from kitcli import cli, ok

SPANS = [(0.0, 1.5), (1.5, 3.0)]  # seconds; the sample videos last 4 s
SPANS_PROCESS = f'''
    def process(self, task: VideoTask) -> VideoTask | list[VideoTask]:
        """Replace whatever spans came before with this stage's own (before transcoding the video's
        bytes are still there, and clips have none yet)."""
        import uuid

        video = task.data
        if not video.metadata.framerate or video.source_bytes is None:
            return task
        video.clips = [
            Clip(uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"{{video.input_video}}_{{start}}_{{end}}"),
                 source_video=str(video.input_video), span=(start, end))
            for start, end in {SPANS!r}
        ]
        return task
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("spans")
    ok(cli("init", "spans-it", "--base-image", curator_base_image, cwd=root))
    project_dir = root / "spans-it"
    placed = ok(cli("new-stage", "scene_spans", "--before", "transcoding", cwd=project_dir))
    assert "pipeline: VideoReader -> fixed_stride -> scene_spans -> transcoding -> clip writer" in placed.stdout
    stage = project_dir / "stages" / "scene_spans.py"
    text = stage.read_text()
    stage.write_text(text[: text.index("    def process(")] + SPANS_PROCESS.lstrip("\n"))
    return project_dir


@pytest.fixture(scope="module")
def run(project, docker_client, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    from curator_kit.ops.samples import make_sample_videos

    tag = f"curator-kit-test/spans-it:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    data = tmp_path_factory.mktemp("data")
    make_sample_videos(data / "videos", count=2, seconds=4.0)
    output = data / "out"
    try:
        result = cli("run", "--image", tag, "--input", str(data / "videos"), "--output", str(output), cwd=project)
    finally:
        docker_client.images.remove(tag, force=True)
    return result, output


def test_the_stage_sits_between_clipping_and_transcoding(project):
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project.loading import load_manifest

    spec = resolve_spec(load_manifest(project), project)
    assert [s.name for s in spec.stages] == [
        "VideoReader",
        "FixedStrideExtractorStage",
        "scene_spans",
        "ClipTranscodingStage",
        "ClipWriterStage",
    ]


def test_its_spans_are_transcoded_and_written(run):
    result, output = run
    ok(result)
    metas = [json.loads(p.read_text()) for p in sorted((output / "metas" / "v0").glob("*.json"))]
    assert len(metas) == 2 * len(SPANS), sorted(str(p.relative_to(output)) for p in output.rglob("*"))
    assert sorted(tuple(meta["duration_span"]) for meta in metas) == sorted(SPANS * 2)
    for meta in metas:
        clip = output / "clips" / f"{meta['span_uuid']}.mp4"
        assert clip.is_file()
        with clip.open("rb") as file:
            assert file.read(12)[4:8] == b"ftyp"
