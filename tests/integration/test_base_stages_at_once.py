"""A recipe's throwaway stages built side by side on the real engine (ops/base_build.build_stages_at_once):
stages that need nothing of each other run at once, and the image's own build then takes every one of
their steps from the cache, as if it had built them itself."""

from __future__ import annotations

import uuid

import pytest
from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.buildlog import StepCached, StepImages, StepStarted
from curator_kit.core.build.buildstages import stage_builds
from curator_kit.engine.images import build_image
from curator_kit.ops.base_build import build_stages_at_once
from curator_kit.ops.progress import QuietProgress

# Each slow stage writes when it started and ended (seconds since the epoch): overlapping spans are
# builds that ran at once. The shared stage writes a random token: a second run of it would differ.
RECIPE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS system
RUN python -c "import secrets; print(secrets.token_hex(8))" > /system-token

FROM system AS left
RUN python -c "import time; a = time.time(); time.sleep(4); print(a, time.time())" > /span

FROM system AS right
RUN python -c "import time; a = time.time(); time.sleep(4); print(a, time.time())" > /span

FROM system
COPY --from=left /span /left-span
COPY --from=right /span /right-span
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list = []

    def handle(self, event) -> None:
        self.events.append(event)


@pytest.fixture
def tags(docker_client):
    made: list[str] = []
    yield made
    for tag in made:
        docker_client.images.remove(tag, force=True)


def test_independent_stages_build_at_once_and_the_image_reuses_them(docker_client, curator_base_image, tags):
    run = uuid.uuid4().hex[:8]
    context = BuildContext()
    context.add_text("Dockerfile", RECIPE)
    args = {"BASE_IMAGE": curator_base_image}

    def tag_of(stage: str) -> str:
        tags.append(f"curator-kit-test/stages:{run}-{stage}")
        return tags[-1]

    builds = stage_builds(RECIPE, ["left", "right"])
    build_stages_at_once(docker_client, context, builds, tag_of, args, QuietProgress(), nocache=True)
    assert sorted(tags) == sorted(f"curator-kit-test/stages:{run}-{stage}" for stage in ("left", "right", "system"))

    recorder = Recorder()
    image = f"curator-kit-test/stages:{run}"
    tags.append(image)
    build_image(docker_client, context, tag=image, buildargs=args, progress=StepImages(recorder))
    started = {e.number: e.instruction for e in recorder.events if isinstance(e, StepStarted)}
    cached = {e.number for e in recorder.events if isinstance(e, StepCached)}
    runs = {number for number, instruction in started.items() if instruction.startswith("RUN")}
    assert runs and runs <= cached, f"ran again: {[started[n] for n in sorted(runs - cached)]}"

    out = docker_client.containers.run(image, ["sh", "-c", "cat /left-span /right-span"], remove=True)
    (left_start, left_end), (right_start, right_end) = (map(float, line.split()) for line in out.decode().splitlines())
    assert left_start < right_end and right_start < left_end, "the two stages ran one after the other"
