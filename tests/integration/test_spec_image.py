"""The pipeline spec on a real engine: baked into the image by `build`, the plan `run` makes comes from
the image (not the working tree), a stale image is said, and pipeline.py in the image reads the same file."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import kitcli
import pytest
from curator_kit.core.constants import LABEL_SPEC, SPEC_IN_IMAGE
from curator_kit.core.pipeline.spec import PipelineSpec, resolve_spec
from curator_kit.core.project.loading import load_manifest

# Every call here must succeed unless it says check=False.
cli = partial(kitcli.cli, check=True)


TAG = "curator-kit-test/spec-it:latest"


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("spec")
    cli("init", "spec-it", "--base-image", curator_base_image, cwd=root)
    project_dir = root / "spec-it"
    cli("new-stage", "first", "--cpus", "0.5", cwd=project_dir)
    (project_dir / "input").mkdir()
    return project_dir


@pytest.fixture(scope="module")
def built(project, docker_client) -> str:
    cli("build", "--tag", TAG, cwd=project)
    yield TAG
    docker_client.images.remove(TAG, force=True)


def test_the_image_carries_the_spec_as_label_and_file(built, project, docker_client):
    label = docker_client.images.get(built).labels[LABEL_SPEC]
    baked = PipelineSpec.from_json(label)
    assert baked == resolve_spec(load_manifest(project), project)
    # `; echo`: a whole last line (the engine's log driver may hold back an unterminated one).
    in_file = docker_client.containers.run(built, ["sh", "-c", f"cat {SPEC_IN_IMAGE}; echo"], remove=True).decode()
    assert json.loads(in_file) == json.loads(label)
    assert [s.role for s in baked.stages] == ["reader", "clipping", "clipping", "custom", "writer"]


def test_pipeline_py_in_the_image_builds_what_the_spec_says(built, docker_client):
    described = docker_client.containers.run(
        built,
        # VideoReader wants at least one video file to exist, even to describe the pipeline.
        [
            "sh",
            "-c",
            "mkdir /tmp/in && : >/tmp/in/v.mp4 && python /workspace/pipeline.py --input /tmp/in "
            "--output /tmp/out --describe",
        ],
        remove=True,
    ).decode()
    for name in ("VideoReader", "FixedStrideExtractorStage", "ClipTranscodingStage", "ClipWriterStage"):
        assert name in described
    assert "'execution_mode': 'batch'" in described or "'execution_mode': 'streaming'" in described


def test_run_plans_from_the_image_and_says_when_the_tree_moved_on(built, project):
    fresh = cli("run", "--dry-run", "--image", built, cwd=project)
    assert "stale image" not in fresh.stdout + fresh.stderr
    manifest = project / "curator-kit.toml"
    original = manifest.read_text()
    try:
        cli("new-stage", "second", "--cpus", "4", cwd=project)
        stale = cli("run", "--dry-run", "--image", built, cwd=project)
        # A warning on every target (core.findings.Code.IMAGE_STALE), said on stderr beside the plan.
        assert (
            "warning: stale image: curator-kit-test/spec-it:latest runs its own pipeline (stage second added since)"
            in (stale.stderr)
        )
        # The plan counts the image's stages: without `second` (4 CPUs) the sum stays what it was.
        assert (
            fresh.stdout.split("execution  ")[1].splitlines()[0] == stale.stdout.split("execution  ")[1].splitlines()[0]
        )
    finally:
        manifest.write_text(original)
        (project / "stages" / "second.py").unlink(missing_ok=True)


def test_inspect_shows_the_pipeline(built, project):
    shown = cli("inspect", built, cwd=project).stdout
    assert "pipeline         5 stages" in shown
    assert "custom   first: stages.first.FirstStage (0.5 CPU)" in shown
