"""Building a base recipe's throwaway stages side by side (core/build/buildstages.stage_builds): which
builds, after which, from which cut of the Dockerfile; and the lines their progress writes."""

from __future__ import annotations

import io
import threading

from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
from curator_kit.core.build.buildlog import BuildSucceeded, StepCached, StepStarted
from curator_kit.core.build.buildstages import logical_lines, stage_builds
from curator_kit.core.build.pipconfig import PipSettings
from curator_kit.ops.progress import StageLines

RECIPE = """\
ARG BASE_IMAGE=debian
# the shared root
FROM ${BASE_IMAGE} AS system
RUN apt-get update \\
 && apt-get install -y python3

FROM system AS tools
RUN make tools

FROM system AS venv
COPY --from=tools /opt/tools /opt/tools
RUN python3 -m venv /opt/venv

FROM system AS docs
RUN make docs

FROM system
COPY --from=venv /opt/venv /opt/venv
COPY --from=docs /docs /docs
"""


def froms(text: str) -> list[str]:
    return [line for line in logical_lines(text) if line.startswith("FROM ")]


def test_a_stage_two_targets_share_is_built_first_and_each_target_after_what_it_needs():
    builds = {build.stage: build for build in stage_builds(RECIPE, ["venv", "docs", "tools"])}
    assert list(builds) == ["system", "tools", "venv", "docs"]
    assert builds["system"].after == () and builds["docs"].after == ("system",)
    assert builds["venv"].after == ("system", "tools")  # it copies from tools
    assert froms(builds["docs"].dockerfile) == ["FROM ${BASE_IMAGE} AS system", "FROM system AS docs"]
    # the ARG before the first FROM and every line of the stages kept, as written (the cache keys)
    venv = builds["venv"].dockerfile
    assert venv.startswith(RECIPE[: RECIPE.index("FROM system AS tools")])
    assert "RUN make docs" not in venv and "COPY --from=tools /opt/tools /opt/tools\n" in venv


def test_both_recipes_build_ffmpeg_beside_the_python_stages():
    cpu = plan_base_build(BaseBuildOptions(variant="cpu"), PipSettings())
    assert [(b.stage, b.after) for b in stage_builds(cpu.dockerfile, list(cpu.kept_stages))] == [
        ("system", ()),
        ("ffmpeg", ("system",)),
        ("venv", ("system",)),
    ]
    cuda = plan_base_build(BaseBuildOptions(variant="cuda"), PipSettings())
    after = {b.stage: b.after for b in stage_builds(cuda.dockerfile, list(cuda.kept_stages))}
    assert after["ffmpeg"] == ("system",) and "ffmpeg" not in after["venv"] and "ffmpeg" not in after["pycuda"]


def test_stage_lines_name_the_stage_and_time_only_the_steps_that_ran():
    stream = io.StringIO()
    lines = StageLines("ffmpeg", stream, threading.Lock())
    for event in [
        StepStarted(1, 3, "FROM system AS ffmpeg"),
        StepStarted(2, 3, "COPY build-ffmpeg.sh /tmp/build-ffmpeg.sh"),
        StepCached(2),
        StepStarted(3, 3, "RUN sh /tmp/build-ffmpeg.sh"),
        BuildSucceeded("sha256:" + "a" * 64),
    ]:
        lines.handle(event)
    written = stream.getvalue().splitlines()
    assert [line[:11] for line in written] == ["ffmpeg     "] * len(written)
    assert [line[11:].split(" done in ")[0] for line in written[:-1]] == [
        "[1/3] FROM system AS ffmpeg",
        "[2/3] COPY build-ffmpeg.sh /tmp/build-ffmpeg.sh",
        "[3/3] RUN sh /tmp/build-ffmpeg.sh",
        "[3/3]",
    ]
    assert written[-1].startswith("ffmpeg     built sha256:aaaaaaaaaaaa in ")
