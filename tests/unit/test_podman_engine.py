"""engine/ on Podman: image names as Docker shows them; buildah's build lines as the classic builder's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from curator_kit.core.build.buildlog import (
    BuildFailed,
    BuildSucceeded,
    StepCached,
    StepImage,
    StepImages,
    StepOutput,
    StepStarted,
    parse_build_stream,
)
from curator_kit.engine.identity import DOCKER, PODMAN, EngineIdentity
from curator_kit.engine.images import local_images
from curator_kit.engine.podman import classic_build_stream, docker_style_name


@pytest.mark.parametrize(
    ("listed", "shown"),
    [
        ("localhost/curator-kit/base:1.4.0-cpu", "curator-kit/base:1.4.0-cpu"),
        ("docker.io/library/curator-kit-demo:latest", "curator-kit-demo:latest"),
        ("docker.io/nvidia/cuda:12.8.0-base", "nvidia/cuda:12.8.0-base"),
        ("curator-kit/base:1.4.0-cpu", "curator-kit/base:1.4.0-cpu"),
        ("nvcr.io/nvidia/nemo-curator:25.09", "nvcr.io/nvidia/nemo-curator:25.09"),
        ("localhost:5000/curator-kit/base:1.4.0-cpu", "localhost:5000/curator-kit/base:1.4.0-cpu"),
        ("localhost/", "localhost/"),
    ],
)
def test_podman_names_are_shown_as_docker_names_them(listed: str, shown: str) -> None:
    assert docker_style_name(listed) == shown


class _Images:
    def __init__(self, tags: list[str]) -> None:
        self._image = SimpleNamespace(id="sha256:abc", tags=tags, labels={"k": "v"}, attrs={"Size": 2**30})
        self.asked: dict[str, Any] = {}

    def list(self, **kwargs: Any) -> list[SimpleNamespace]:
        self.asked = kwargs
        return [self._image]


def _client(name: str, tags: list[str]) -> SimpleNamespace:
    client = SimpleNamespace(images=_Images(tags))
    client._curator_kit_identity = EngineIdentity(name, "1", "1.41", False, False)
    return client


def test_local_images_on_podman_use_docker_names() -> None:
    client = _client(PODMAN, ["localhost/curator-kit/base:1.4.0-cpu", "docker.io/library/curator-kit/base:1.4.0-cpu"])
    [image] = local_images(client, "curator-kit/base")  # type: ignore[arg-type]
    assert image.tags == ("curator-kit/base:1.4.0-cpu",)
    assert (image.image_id, image.labels, image.size) == ("sha256:abc", {"k": "v"}, 2**30)
    assert client.images.asked == {"name": "curator-kit/base"}


def test_local_images_on_docker_keep_the_engine_names() -> None:
    client = _client(DOCKER, ["localhost/curator-kit/base:1.4.0-cpu"])  # a registry called localhost, on Docker
    [image] = local_images(client, "curator-kit/base")  # type: ignore[arg-type]
    assert image.tags == ("localhost/curator-kit/base:1.4.0-cpu",)


# A Podman 4.3 build as its compat /build streams it: the first run, then the same build from the cache.
_FULL = {
    "86f42454e39": "86f42454e39268c90485a843a43ffd09bbbcf0619b8f1873c37d3c09002b634f",
    "68afd7b3fb9": "68afd7b3fb9eea3a5e0c5e43d2fa4cd2741048456b9b7eae4916d35928fe6024",
    "d37229b7894": "d37229b7894fcd766791e8c8bcbad33a15e7ab18f604d6ad03d8c3566792f986",
}
_PODMAN_RUN = [
    {"stream": "STEP 1/4: FROM curator-kit/bootstrap:bookworm\n"},
    {"stream": "STEP 2/4: RUN echo hello\n"},
    {"stream": "hel"},
    {"stream": "lo\n"},
    {"stream": "--> 86f42454e39\n"},
    {"stream": "STEP 3/4: LABEL a=b\n--> 68afd7b3fb9\n"},
    {"stream": 'STEP 4/4: LABEL "x"="y"\n'},
    {"stream": "COMMIT docker.io/library/ck-probe:1\n"},
    {"stream": "--> d37229b7894\n"},
    {"stream": "Successfully tagged docker.io/library/ck-probe:1\n"},
    {"stream": f"{_FULL['d37229b7894']}\n"},
    {"aux": {"ID": f"sha256:{_FULL['d37229b7894']}"}},
    {"stream": "Successfully built d37229b7894f\n"},
]
_PODMAN_CACHED = [
    {"stream": "STEP 1/3: FROM curator-kit/bootstrap:bookworm\n"},
    {"stream": "STEP 2/3: RUN echo hello\n"},
    {"stream": f"--> Using cache {_FULL['86f42454e39']}\n"},
    {"stream": "--> 86f42454e39\n"},
    {"stream": "STEP 3/3: RUN echo out; exit 3\n"},
    {"stream": "out"},
    {"error": 'building at STEP "RUN echo out; exit 3": while running runtime: exit status 3\n'},
]


# A multi-stage build (the base recipe): buildah prefixes each step with its stage and numbers steps per stage.
_PODMAN_STAGES = [
    {"stream": "[1/2] STEP 1/2: FROM curator-kit/bootstrap:bookworm AS system\n"},
    {"stream": "[1/2] STEP 2/2: RUN echo hello\n"},
    {"stream": "hello\n--> 86f42454e39\n"},
    {"stream": "[2/2] STEP 1/2: FROM 86f42454e392\n"},
    {"stream": "[2/2] STEP 2/2: COPY --from=system /opt/venv /opt/venv\n"},
    {"error": "committing container for step: no space left on device\n"},
]


def _events(chunks: list[dict[str, Any]], full_id: Any = _FULL.get) -> list[Any]:
    return list(parse_build_stream(classic_build_stream(chunks, full_id)))


def test_a_failed_stage_of_a_multi_stage_build_names_its_step() -> None:
    events = _events(_PODMAN_STAGES)
    copy = StepStarted(2, 2, "COPY --from=system /opt/venv /opt/venv")
    assert [e for e in events if isinstance(e, StepStarted)][-1] == copy
    assert isinstance(events[-1], BuildFailed) and events[-1].step == copy


def test_podman_build_lines_read_as_the_classic_builders() -> None:
    events = _events(_PODMAN_RUN)
    assert [e for e in events if isinstance(e, StepStarted)] == [
        StepStarted(1, 4, "FROM curator-kit/bootstrap:bookworm"),
        StepStarted(2, 4, "RUN echo hello"),
        StepStarted(3, 4, "LABEL a=b"),
        StepStarted(4, 4, 'LABEL "x"="y"'),
    ]
    assert [e for e in events if isinstance(e, StepOutput)] == [StepOutput(2, "hello")]
    assert [e for e in events if isinstance(e, StepImage)] == [
        StepImage(2, "86f42454e392"),
        StepImage(3, "68afd7b3fb9e"),
        StepImage(4, "d37229b7894f"),
    ]
    assert events[-1] == BuildSucceeded(f"sha256:{_FULL['d37229b7894']}")
    steps = StepImages(display=SimpleNamespace(handle=lambda _event: None))
    for event in events:
        steps.handle(event)
    assert steps.by_instruction["RUN echo hello"] == "86f42454e392"


def test_a_cached_podman_step_has_the_same_image_and_a_failure_names_its_step() -> None:
    events = _events(_PODMAN_CACHED, full_id=lambda _short: None)  # the cache line carries the full id
    assert StepCached(2) in events
    assert [e for e in events if isinstance(e, StepImage)] == [StepImage(2, "86f42454e392")]
    failed = events[-1]
    assert isinstance(failed, BuildFailed)
    assert failed.step is not None and (failed.step.number, failed.step.instruction) == (3, "RUN echo out; exit 3")
    assert failed.tail == ("out",)


def test_a_step_image_the_engine_cannot_expand_is_left_out() -> None:
    events = _events(_PODMAN_RUN, full_id=lambda _short: None)
    assert [e for e in events if isinstance(e, StepImage)] == []
    assert not [e for e in events if isinstance(e, StepOutput) and "-->" in e.line]


def test_helper_containers_name_a_local_podmans_limits(monkeypatch) -> None:
    """A probe or a build step run outside the builder starts on Podman only with nofile and nproc named."""
    from curator_kit.core.parsers import Ulimit
    from curator_kit.ops import dockerd_limits

    monkeypatch.setattr(
        dockerd_limits, "local_podman_limits", lambda _socket: (None, {"nofile": 20000, "nproc": 32768})
    )
    podman = SimpleNamespace(_curator_kit_identity=EngineIdentity(PODMAN, "4.3.1", "1.41", False, False))
    assert dockerd_limits.helper_ulimits(podman) == [Ulimit("nofile", 20000, 20000), Ulimit("nproc", 32768, 32768)]
    docker = SimpleNamespace(_curator_kit_identity=EngineIdentity(DOCKER, "20.10.24", "1.41", False, False))
    assert dockerd_limits.helper_ulimits(docker) == []
