"""What `build` gives the labels that only the engine knows (ops/build.execute_project_build): the base
image's identity, and the codecs and SBOM labels, taken from the last build when this build's facts step
left the same image, else read from the image (a label-only build only when they moved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.build.dockerfile import BASE_ID_ARG, CODECS_ARG, SBOM_ARG, facts_step
from curator_kit.core.constants import LABEL_CODECS, LABEL_SBOM
from curator_kit.core.pipeline.codecs import codecs_from_json
from curator_kit.core.project import state

H264 = json.dumps({"ffmpeg": {"version": "5.1", "decoders": ["h264"], "encoders": ["libopenh264"], "hwaccels": []}})
SBOM = '{"components":{"deb":1,"other":0,"python":2},"format":"CycloneDX","spec":"1.5"}'
VP9 = json.dumps({"ffmpeg": {"version": "5.1", "decoders": ["vp9"], "encoders": ["libvpx-vp9"], "hwaccels": []}})


class FakeEngine:
    """Just enough of docker.DockerClient: a base image with an id; each build streams a probe step that
    leaves `probe_layer` and finishes as `sha256:built<n>`; the requests are kept."""

    def __init__(self, base_id: str, probe_layer: str, stale_label_steps: bool = False) -> None:
        self.images = self
        self.api = self
        self.base_id = base_id
        self.probe_layer = probe_layer
        self.requests: list[dict] = []
        self.labels: dict[str, dict[str, str]] = {}  # image id -> its labels
        # Podman's builder: a cached `LABEL k="${ARG}"` step keeps the value of the build that made it.
        self.stale_label_steps = stale_label_steps
        self.first_args: dict[str, str] | None = None

    def version(self) -> dict:  # a Docker engine (engine.identity)
        return {"Version": "20.10.24", "ApiVersion": "1.41"}

    def info(self) -> dict:
        return {}

    def get(self, reference: str) -> object:
        built = reference.startswith("sha256:built") or reference == "labelled:latest"
        image_id = (
            (f"sha256:built{len(self.requests)}" if reference == "labelled:latest" else reference)
            if built
            else self.base_id
        )
        labels = self.labels.get(image_id, {})
        return type("Image", (), {"id": image_id, "attrs": {"RepoDigests": []}, "labels": labels})()

    def build(self, **kwargs):
        self.requests.append(kwargs)
        args = kwargs.get("buildargs") or {}
        if self.first_args is None and CODECS_ARG in args:
            self.first_args = dict(args)
        given = self.first_args if self.stale_label_steps and self.first_args else args
        labels = {LABEL_CODECS: given.get(CODECS_ARG, ""), LABEL_SBOM: given.get(SBOM_ARG, "")}
        previous = self.labels.get(f"sha256:built{len(self.requests) - 1}", {}) if kwargs.get("labels") else {}
        self.labels[f"sha256:built{len(self.requests)}"] = {**labels, **previous, **(kwargs.get("labels") or {})}
        yield {"stream": f"Step 1/2 : {facts_step('labelled')}\n ---> Using cache\n ---> {self.probe_layer}\n"}
        yield {"stream": "Step 2/2 : COPY project/ /workspace/\n ---> 0000000000ff\n"}
        yield {"aux": {"ID": f"sha256:built{len(self.requests)}"}}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from curator_kit.core.build.baselayout import PIP_LAYOUT

    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["init", "labelled"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "labelled")
    monkeypatch.setattr("curator_kit.ops.baselayout.read_base_layout", lambda client, image: PIP_LAYOUT)
    return tmp_path / "labelled"


def build(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, probed: str) -> tuple[str, list[str]]:
    """Run `build` against `engine`, the image's probe answering `probed`; (output, images read)."""
    reads: list[str] = []

    def read(client, image):
        reads.append(image)
        return {LABEL_CODECS: codecs_from_json(probed).to_label(), LABEL_SBOM: SBOM}

    monkeypatch.setattr("curator_kit.engine.client.connect", lambda: engine)
    monkeypatch.setattr("curator_kit.ops.imagefacts.read_image_facts", read)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    return result.output, reads


def labels_added(engine: FakeEngine) -> list[dict]:
    """The label-only builds among the requests (their context is a Dockerfile `FROM tag`)."""
    return [request["labels"] for request in engine.requests if request["labels"]]


def test_a_code_only_rebuild_takes_the_facts_from_the_last_build_with_no_second_build(project, monkeypatch):
    engine = FakeEngine("sha256:base1", probe_layer="00000000abcd")
    build(engine, monkeypatch, H264)  # the first build: the probe's answer is read and labelled
    first_args = engine.requests[0]["buildargs"]
    assert first_args[BASE_ID_ARG] == "sha256:base1" and first_args[CODECS_ARG] == ""
    assert labels_added(engine) == [{LABEL_CODECS: codecs_from_json(H264).to_label(), LABEL_SBOM: SBOM}]
    engine.requests.clear()
    output, probes = build(engine, monkeypatch, H264)
    assert probes == [] and len(engine.requests) == 1 and labels_added(engine) == []
    given = engine.requests[0]["buildargs"]
    assert given[CODECS_ARG] == codecs_from_json(H264).to_label() and given[SBOM_ARG] == SBOM
    assert "codecs    ffmpeg 5.1: decodes h264" in output
    record = state.read_record(project, state.LAST_BUILD)
    assert record["image_id"] == "sha256:built1" and record["facts_step"] == "00000000abcd"


def test_a_facts_step_that_ran_again_is_read_and_relabelled_only_when_its_answer_moved(project, monkeypatch):
    engine = FakeEngine("sha256:base1", probe_layer="00000000abcd")
    build(engine, monkeypatch, H264)
    engine.requests.clear()
    engine.probe_layer = "00000000beef"  # the dependencies changed: the probe ran again, same answer
    _, probes = build(engine, monkeypatch, H264)
    assert probes == ["labelled:latest"] and labels_added(engine) == []
    engine.requests.clear()
    engine.probe_layer = "00000000f00d"  # and again, with another answer: one label-only build
    _, probes = build(engine, monkeypatch, VP9)
    assert labels_added(engine) == [{LABEL_CODECS: codecs_from_json(VP9).to_label(), LABEL_SBOM: SBOM}]
    assert state.read_record(project, state.LAST_BUILD)["facts"][LABEL_CODECS] == codecs_from_json(VP9).to_label()


def test_build_says_when_the_base_tag_points_at_another_image_than_the_last_build_used(project, monkeypatch):
    engine = FakeEngine("sha256:" + "1" * 64, probe_layer="00000000abcd")
    first, _ = build(engine, monkeypatch, H264)
    assert "is another image than the last build used" not in first
    engine.base_id = "sha256:" + "2" * 64
    output, _ = build(engine, monkeypatch, H264)
    assert (
        "note      curator-kit/base:1.4.0-cpu is another image than the last build used "
        "(sha256:111111111111 -> sha256:222222222222): every layer rebuilds"
    ) in output


def test_labels_kept_by_a_cached_label_step_of_an_older_build_are_put_right(project, monkeypatch):
    """Podman's builder reuses a `LABEL k="${ARG}"` step after the argument changed: the build is held
    against the labels the image has, so a label-only build puts them right."""
    engine = FakeEngine("sha256:base1", probe_layer="00000000abcd", stale_label_steps=True)
    build(engine, monkeypatch, H264)  # the first build is given no facts: a label-only build adds them
    engine.requests.clear()
    _, probes = build(engine, monkeypatch, H264)  # the facts step is the same: no probe read
    assert probes == []
    assert labels_added(engine) == [{LABEL_CODECS: codecs_from_json(H264).to_label(), LABEL_SBOM: SBOM}]
