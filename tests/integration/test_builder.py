"""The builder on both engines (the `engine` fixture: Docker's classic builder, then Podman's buildah behind
its Docker-compatible API): after a stage edit every dependency layer comes from the cache and a code-only
`build` runs one step and no label-only build; a failed step is named with its log and leaves no tag.
The project is test_build.py's (buildproject), built once per engine."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from buildproject import scaffold_build_project
from curator_kit.core.build.buildlog import StepCached, StepStarted
from engines import has_image
from kitcli import cli, ok

TAG = "curator-kit-test/builder:latest"


@pytest.fixture(scope="module")
def project(tmp_path_factory, engine, curator_base_image) -> Path:
    return scaffold_build_project(tmp_path_factory.mktemp(f"builder-{engine.name}"), curator_base_image)


@pytest.fixture(scope="module")
def built(project, engine) -> str:
    ok(cli("build", "--tag", TAG, cwd=project, env=engine.env))
    yield TAG
    engine.client.images.remove(TAG, force=True)


def test_stage_edit_reuses_every_dependency_layer(built, project, engine):
    from curator_kit.core.project.loading import load_manifest
    from curator_kit.engine.images import build_image
    from curator_kit.ops.build import plan_project_build

    stage = project / "stages" / "brightness.py"
    # A new text each run: the engine keeps the layers of earlier runs' (now untagged) images, and an edit
    # it has seen before would come from the cache.
    stage.write_text(stage.read_text() + f"\n# edited {secrets.token_hex(8)}\n")
    events: list = []

    class Recorder:
        def handle(self, event):
            events.append(event)

    plan = plan_project_build(project, load_manifest(project), tag=TAG)
    build_image(engine.client, plan.context, tag=TAG, progress=Recorder(), buildargs=plan.build_args)
    steps = {e.number: e.instruction for e in events if isinstance(e, StepStarted)}
    cached = {e.number for e in events if isinstance(e, StepCached)}
    code_step = next(n for n, text in steps.items() if text.startswith("COPY project/ /workspace/"))
    run_steps_before_code = {n for n, text in steps.items() if n < code_step and text.startswith(("RUN", "COPY"))}
    assert run_steps_before_code, steps
    assert run_steps_before_code <= cached, f"rebuilt: {sorted(run_steps_before_code - cached)} of {steps}"
    assert code_step not in cached


def test_code_only_rebuild_runs_one_step_and_keeps_every_label(built, project, engine, curator_base_image):
    """`build` after a stage edit: only the code's COPY runs, with no label-only build after it, and the
    codecs label is still the image's probe answer; the base image is recorded by id."""
    from curator_kit.core.constants import LABEL_BASE_ID, LABEL_CODECS
    from curator_kit.core.pipeline.codecs import codecs_in_labels

    ok(cli("build", "--tag", TAG, cwd=project, env=engine.env))  # settles the edits of the tests before
    before = engine.client.images.get(TAG).labels
    stage = project / "stages" / "tagger.py"
    stage.write_text(stage.read_text() + f"\n# a code-only change {secrets.token_hex(8)}\n")  # new each run
    result = ok(cli("build", "--tag", TAG, cwd=project, env=engine.env))
    progress = result.stderr.splitlines()
    steps = [
        (line.split("] ", 1)[1], after)
        for line, after in zip(progress, [*progress[1:], ""], strict=True)
        if line.startswith("[")
    ]
    ran = [step for step, after in steps if after != "  (cached)" and not step.startswith("FROM ")]
    assert ran == ["COPY project/ /workspace/"], result.stderr
    assert sum(line.startswith("built ") for line in progress) == 1, result.stderr
    labels = engine.client.images.get(TAG).labels
    assert labels[LABEL_CODECS] == before[LABEL_CODECS] and codecs_in_labels(labels).ffmpeg is not None
    assert labels[LABEL_BASE_ID] == engine.client.images.get(curator_base_image).id
    assert f"base built on    {labels[LABEL_BASE_ID]}" in ok(cli("inspect", cwd=project, env=engine.env)).stdout


def test_failed_step_names_the_step_and_leaves_no_tag(project, engine, tmp_path):
    broken_tag = "curator-kit-test/broken:latest"
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    ok(cli("new-env", "broken", "--apt", "no-such-package-curator-kit", cwd=broken))
    result = cli("build", "--tag", broken_tag, cwd=broken, env=engine.env)
    assert result.returncode != 0
    error_line = result.stderr.strip().splitlines()[-1]
    assert error_line.startswith("error: build failed at step 2/") and "apt-get" in error_line, result.stderr
    assert "Unable to locate package no-such-package-curator-kit" in result.stderr
    assert not has_image(engine.client, broken_tag)
