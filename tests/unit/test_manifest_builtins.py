"""[[stages]] entries naming Curator built-ins: `builtin`, `[stages.params]` checked at load with the
line they are on, and edits that place an entry anywhere in the pipeline while keeping comments."""

from __future__ import annotations

import pytest
from curator_kit.core.project.editing import clipping_to_stages, place_stage, stage_toml
from curator_kit.core.project.loading import load_manifest, parse_manifest
from curator_kit.core.project.manifest import StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from curator_kit.ops.scaffold import save_manifest

HEAD = '[project]\nname = "demo"\ncurator_version = "1.4.0"\n'
SPLIT = (
    HEAD
    + """
# cut and encode
[[stages]]
name = "fixed_stride"
builtin = "fixed_stride"

[[stages]]
name = "transcoding"
builtin = "transcoding"  # on the CPU
[stages.params]
encoder = "libopenh264"
num_cpus_per_worker = 2

# score motion
[[stages]]
name = "motion_filter"
builtin = "motion_filter"
"""
)
CLIPPING = (
    HEAD
    + """
# clips from the start
[clipping]
method = "fixed-stride"
clip_len_s = 4.0
encoder = "libopenh264"  # H.264

[build]
wheelhouse = ""

[[stages]]
name = "mine"
module = "stages.mine"
class = "MineStage"
"""
)


def error_of(text: str) -> CuratorKitError:
    with pytest.raises(CuratorKitError) as raised:
        parse_manifest(text)
    return raised.value


def test_builtin_entries_load_typed():
    manifest = parse_manifest(SPLIT)
    fixed, transcoding, motion = manifest.stages
    assert (fixed.builtin, fixed.module, fixed.class_name, fixed.resources, fixed.params) == (
        "fixed_stride",
        "",
        "",
        None,
        {},
    )
    assert transcoding.params == {"num_cpus_per_worker": 2.0, "encoder": "libopenh264"}  # a float field: 2.0
    assert transcoding.line == 10 and transcoding.class_path == "builtin:transcoding"
    assert motion.batch_size is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('builtin = "motion_filter"', 'builtin = "motion"'),
            "curator-kit.toml:20: stages[2].builtin = 'motion' is not a built-in stage of nemo-curator 1.4",
        ),
        (
            ("num_cpus_per_worker = 2", "threads = 2"),
            "curator-kit.toml:15: stages[1].params.threads: 'threads' is not one of the parameters of transcoding",
        ),
        (
            ("num_cpus_per_worker = 2", 'num_cpus_per_worker = "two"'),
            "curator-kit.toml:15: stages[1].params.num_cpus_per_worker = 'two' is not a number",
        ),
        (
            ('encoder = "libopenh264"', 'encoder = "x264"'),
            "curator-kit.toml:14: stages[1].params.encoder = 'x264' is not one of",
        ),
        (
            ('builtin = "motion_filter"', 'builtin = "motion_filter"\nmodule = "stages.m"'),
            "curator-kit.toml:18: stage 'motion_filter' is the built-in 'motion_filter' and also sets module",
        ),
        (
            ('builtin = "motion_filter"', 'builtin = "motion_filter"\nbatch_size = 2'),
            "curator-kit.toml:18: stage 'motion_filter': the built-in motion_filter is 2 Curator stages",
        ),
        (
            ('curator_version = "1.4.0"', 'curator_version = "1.1.0"'),
            "curator-kit.toml:8: curator-kit has no catalogue of built-in stages for nemo-curator 1.1.0",
        ),
    ],
)
def test_builtin_mistakes_name_their_line(edit, message):
    assert error_of(SPLIT.replace(*edit, 1)).message.startswith(message)


def test_clipping_and_clipping_builtins_cannot_both_cut():
    text = SPLIT.replace("# cut and encode", '[clipping]\nmethod = "fixed-stride"\n\n# cut and encode')
    assert "[clipping] and the [[stages]] entries fixed_stride, transcoding both cut and transcode clips" in (
        error_of(text).message
    )


def test_project_stage_params_are_any_json_value():
    text = CLIPPING + '[stages.params]\nlabel = "x"\nsizes = [1, 2]\nextra = { a = 1.5 }\n'
    assert parse_manifest(text).stages[0].params == {"label": "x", "sizes": [1, 2], "extra": {"a": 1.5}}
    assert "is not a value" in error_of(CLIPPING + "[stages.params]\nwhen = 1979-05-27\n").message


def test_builtin_entries_round_trip(tmp_path):
    manifest = parse_manifest(SPLIT)
    save_manifest(manifest, tmp_path)
    assert load_manifest(tmp_path) == manifest
    assert "resources" not in (tmp_path / "curator-kit.toml").read_text()  # a built-in's own Resources


def test_place_before_and_after_keeps_comments():
    stage = StageSpec("mine", "stages.mine", "MineStage", resources=StageResources(cpus=0.5), batch_size=1)
    before = place_stage(SPLIT, stage, before="motion_filter")
    assert [s.name for s in parse_manifest(before).stages] == ["fixed_stride", "transcoding", "mine", "motion_filter"]
    assert '# score motion\n[[stages]]\nname = "motion_filter"' in before  # the comment stays with its entry
    assert before.replace(stage_toml(stage) + "\n", "") == SPLIT
    after = place_stage(SPLIT, stage, after="fixed_stride")
    assert [s.name for s in parse_manifest(after).stages] == ["fixed_stride", "mine", "transcoding", "motion_filter"]
    last = place_stage(SPLIT, StageSpec("previews", builtin="previews", resources=None, params={"quality": 80}))
    assert last.startswith(SPLIT) and last.endswith("[stages.params]\nquality = 80\n")
    with pytest.raises(CuratorKitError, match="no \\[\\[stages\\]\\] entry is named 'nope'"):
        place_stage(SPLIT, stage, after="nope")


def test_clipping_becomes_stages_in_place():
    text = clipping_to_stages(CLIPPING)
    manifest = parse_manifest(text)
    assert not manifest.clipping.enabled
    assert [(s.name, s.builtin) for s in manifest.stages] == [
        ("fixed_stride", "fixed_stride"),
        ("transcoding", "transcoding"),
        ("mine", ""),
    ]
    assert manifest.stages[0].params["clip_len_s"] == 4.0 and manifest.stages[1].params["encoder"] == "libopenh264"
    assert "[clipping]" not in text and "# clips from the start" in text and '[build]\nwheelhouse = ""' in text
    assert clipping_to_stages(text) == text  # nothing left to move
