import json

from curator_kit.core.imagelabels import describe_labels
from curator_kit.core.projectcontext import project_files


def test_inspect_shows_codec_needs():
    labels = {
        "curator-kit.project": "p",
        "curator-kit.stages": "[]",
        "curator-kit.codec-needs": json.dumps({"clipping (h264_nvenc)": {"nvdecs": 1, "nvencs": 1}}),
    }
    lines = describe_labels("p:latest", labels)
    assert "codec needs      clipping (h264_nvenc): 1 NVDEC, 1 NVENC" in lines


def test_inputs_outputs_and_state_never_enter_the_context(tmp_path):
    for relative in ("pipeline.py", "stages/a.py", "input/v.mp4", "output/c.mp4", ".curator-kit/last-build.json"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert project_files(tmp_path) == ["pipeline.py", "stages/a.py"]
