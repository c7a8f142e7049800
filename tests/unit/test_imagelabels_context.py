import json

from curator_kit.core.build.imagelabels import base_versions_text, describe_labels
from curator_kit.ops.build import project_files


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


def test_inspect_shows_the_base_stack_inherited_by_project_images():
    versions = {
        "ffmpeg": "5.1.9-0+deb12u1",
        "ffmpeg-encoders": "libopenh264,libvpx-vp9",
        "ray": "2.57.0",
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "opencv": "4.13.0.92",
    }
    labels = {
        "curator-kit.project": "p",
        "curator-kit.base.variant": "cpu",
        "curator-kit.base.recipe": "0123456789ab",
        "curator-kit.base.versions": json.dumps(versions),
    }
    lines = describe_labels("p:latest", labels)
    assert "base variant     cpu (recipe 0123456789ab)" in lines
    assert (
        "base stack       torch 2.14.1, torchvision 0.29.1, ray 2.57.0, opencv 4.13.0.92, "
        "ffmpeg 5.1.9-0+deb12u1 (libopenh264, libvpx-vp9)"
    ) in lines
    assert base_versions_text({}) is None
    assert "base stack       -" in describe_labels("q:latest", {"curator-kit.project": "q"})
