"""The image an export is for and its labels: one home (`ops.exportimage`) that `export kuberay`,
`export slurm` and `submit --slurm` all ask."""

import json

from curator_kit.core.project.manifest import Manifest, ProjectInfo
from curator_kit.errors import CuratorKitError
from curator_kit.ops.exportimage import export_image, local_image_labels

MANIFEST = Manifest(ProjectInfo("demo"))


def test_the_given_image_then_the_last_push_then_the_last_build_then_the_planned_tag(tmp_path):
    said = []
    say = lambda *line: said.append(line)  # noqa: E731
    assert export_image(tmp_path, MANIFEST, "reg.local/x:1", say) == "reg.local/x:1"
    # Before the first build: the tag `build` would give, planned from the working tree, said so.
    assert export_image(tmp_path, MANIFEST, None, say) == "demo:latest"
    assert said.pop()[0].startswith("note: demo:latest is not built yet: planned from the working tree")
    state = tmp_path / ".curator-kit"
    state.mkdir()
    (state / "last-build.json").write_text(json.dumps({"image": "demo:1"}))
    assert export_image(tmp_path, MANIFEST, None, say) == "demo:1"
    assert said == [("note: demo:1 is a local image; `curator-kit push --registry R` first", "yellow")]
    (state / "last-push.json").write_text(json.dumps({"image": "reg.local/demo:1"}))
    assert export_image(tmp_path, MANIFEST, None, say) == "reg.local/demo:1" and len(said) == 1


def test_labels_not_read_are_none_and_said(monkeypatch):
    def no_engine():
        raise CuratorKitError("cannot connect to the Docker engine", "start it")

    monkeypatch.setattr("curator_kit.engine.client.connect", no_engine)
    said = []
    assert local_image_labels("demo:1", lambda *line: said.append(line)) is None
    assert said == [("note: labels of demo:1 not read (cannot connect to the Docker engine)", "yellow")]
