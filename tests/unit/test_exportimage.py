"""The image an export is for and its labels: one home (`ops.exportimage`) that `export kuberay`,
`export slurm` and `submit --slurm` all ask."""

import json

import pytest
from curator_kit.errors import CuratorKitError
from curator_kit.ops.exportimage import export_image, local_image_labels


def test_the_given_image_then_the_last_push_then_the_last_build_saying_so(tmp_path):
    said = []
    say = lambda *line: said.append(line)  # noqa: E731
    assert export_image(tmp_path, "reg.local/x:1", say) == "reg.local/x:1"
    with pytest.raises(CuratorKitError, match="no image yet"):
        export_image(tmp_path, None, say)
    state = tmp_path / ".curator-kit"
    state.mkdir()
    (state / "last-build.json").write_text(json.dumps({"image": "demo:latest"}))
    assert export_image(tmp_path, None, say) == "demo:latest"
    assert said == [("note: demo:latest is a local image; `curator-kit push --registry R` first", "yellow")]
    (state / "last-push.json").write_text(json.dumps({"image": "reg.local/demo:1"}))
    assert export_image(tmp_path, None, say) == "reg.local/demo:1" and len(said) == 1


def test_labels_not_read_are_none_and_said(monkeypatch):
    def no_engine():
        raise CuratorKitError("cannot connect to the Docker engine", "start it")

    monkeypatch.setattr("curator_kit.engine.client.connect", no_engine)
    said = []
    assert local_image_labels("demo:1", lambda *line: said.append(line)) is None
    assert said == [("note: labels of demo:1 not read (cannot connect to the Docker engine)", "yellow")]
