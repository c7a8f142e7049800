"""Built-in stages in the pipeline spec: classes, parameters, order rules, what the writer is told,
sizing to the host and the weights rule. The spec-derived description is compared with what
`pipeline.py --describe` printed in the cpu base image (golden/every-builtin.describe)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from curator_kit.core.findings import Code, Severity
from curator_kit.core.pipeline.spec import (
    PipelineSpec,
    choose_execution_mode,
    describe_construction,
    fit_cpus,
    missing_weights,
    resolve_spec,
)
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.project.manifest import ClippingSettings, Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError

GOLDEN = Path(__file__).parent / "golden"
NOWHERE = Path("/nonexistent")


def builtin(name: str, key: str | None = None, **params) -> StageSpec:
    return StageSpec(name, builtin=key or name, resources=None, params=params)


def custom(name: str, cpus: float = 0.5) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "Stage", resources=StageResources(cpus=cpus))


def spec_of(*stages: StageSpec, clipping: ClippingSettings | None = None) -> PipelineSpec:
    manifest = Manifest(ProjectInfo("demo"), stages=list(stages), clipping=clipping or ClippingSettings())
    return resolve_spec(manifest, NOWHERE)


CLIPS = (builtin("fixed_stride"), builtin("transcoding", encoder="libopenh264", num_cpus_per_worker=1.0))


def test_the_spec_describes_what_pipeline_py_built_in_the_image():
    manifest = parse_manifest((GOLDEN / "every-builtin.toml").read_text())
    described = describe_construction(resolve_spec(manifest, NOWHERE))
    assert described == (GOLDEN / "every-builtin.describe").read_text().splitlines()


def test_composites_are_one_entry_and_their_classes_in_order():
    spec = spec_of(*CLIPS, builtin("motion_filter"), custom("mine"), builtin("previews_after", "previews"))
    assert [(s.role, s.name, s.entry) for s in spec.stages] == [
        ("reader", "VideoReader", ""),
        ("clipping", "FixedStrideExtractorStage", "fixed_stride"),
        ("clipping", "ClipTranscodingStage", "transcoding"),
        ("builtin", "MotionVectorDecodeStage", "motion_filter"),
        ("builtin", "MotionFilterStage", "motion_filter"),
        ("custom", "mine", "mine"),
        ("builtin", "PreviewStage", "previews_after"),
        ("writer", "ClipWriterStage", ""),
    ]
    decode = spec.stages[3]
    assert decode.params == {} and decode.cpus == 6.0 and decode.cpus_param == "num_cpus_per_worker"
    assert decode.runtime == {"verbose": "verbose"}
    # Required fields Curator leaves without defaults get Curator's example values.
    assert spec.stages[1].params == {
        "clip_len_s": 10.0,
        "clip_stride_s": 10.0,
        "min_clip_length_s": 2.0,
        "limit_clips": 0,
    }


def test_clipping_table_is_the_two_builtins_it_stands_for():
    legacy = spec_of(clipping=ClippingSettings("fixed-stride", encoder="libopenh264"))
    explicit = spec_of(
        builtin("fixed_stride"),
        builtin(
            "transcoding",
            encoder="libopenh264",
            num_cpus_per_worker=1.0,
            encoder_threads=1,
            encode_batch_size=16,
            use_hwaccel=False,
        ),
    )
    strip = lambda spec: [replace(s, entry="", label="") for s in spec.stages]  # noqa: E731
    assert strip(legacy) == strip(explicit)
    assert [s.entry for s in legacy.by_role("clipping")] == ["clipping", "clipping"]
    nvenc = spec_of(clipping=ClippingSettings("fixed-stride", encoder="h264_nvenc"))
    assert [need.who for need in nvenc.codec_needs] == ["clipping (h264_nvenc)"]


def test_the_writer_is_told_what_the_stages_make():
    assert spec_of(*CLIPS).writer.params == {
        "generate_embeddings": False,
        "generate_previews": False,
        "generate_captions": False,
        "caption_models": [],
        "enhanced_caption_models": [],
    }
    full = spec_of(
        *CLIPS,
        builtin("clip_frames"),
        builtin("cosmos_embed1", variant="448p"),
        builtin("captioning", model_variant="nemotron-fp8"),
        builtin("previews"),
        builtin("caption_enhancement"),
    )
    assert full.writer.params == {
        "generate_embeddings": True,
        "generate_previews": True,
        "generate_captions": True,
        "caption_models": ["nemotron-fp8"],
        "enhanced_caption_models": ["qwen_lm"],
        "embedding_algorithm": "cosmos-embed1-448p",
    }
    by_name = {s.name: s for s in full.stages}
    assert by_name["CaptionPreparationStage"].params["generate_previews"] is True  # previews come later
    assert by_name["CaptionEnhancementStage"].params["captioning_model_variant"] == "nemotron-fp8"
    assert by_name["ClipFrameExtractionStage"].params["target_fps"] == [2.0]  # what Cosmos-Embed1 reads
    no_previews = spec_of(*CLIPS, builtin("captioning"))
    assert no_previews.stages[3].params == {"generate_previews": False}


def test_a_project_writer_is_told_too(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "w.py").write_text("class W(ClipWriterStage): ...\n")
    writer = StageSpec("w", "stages.w", "W", resources=StageResources(cpus=0.25), params={"max_workers": 2})
    manifest = Manifest(ProjectInfo("demo"), stages=[*CLIPS, builtin("previews_maker", "previews"), writer])
    with pytest.raises(CuratorKitError, match="needs caption windows"):
        resolve_spec(manifest, tmp_path)
    manifest.stages.insert(2, custom("windows"))
    spec = resolve_spec(manifest, tmp_path)
    assert spec.writer.name == "w"
    assert spec.writer.params["generate_previews"] is True and spec.writer.params["max_workers"] == 2
    assert spec.writer.runtime["output_path"] == "output"


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ((builtin("transcoding"),), r"stage 'transcoding' \(transcoding\) needs clip spans"),
        ((*CLIPS, builtin("fixed_stride_late", "fixed_stride")), "which transcoding has freed by then"),
        ((builtin("fixed_stride"), builtin("motion_filter")), "needs each clip's mp4 in clip.buffer"),
        (
            (builtin("fixed_stride"), builtin("transcoding", encoder="libvpx-vp9"), builtin("motion_filter")),
            "needs H.264 clips",
        ),
        ((*CLIPS, builtin("aesthetic_filter")), r"needs decoded clip frames \(clip_frames\) before it"),
        ((*CLIPS, builtin("clip_frames", target_fps=[1.0]), builtin("cosmos_embed1")), "reads frames at 2 fps"),
        ((*CLIPS, builtin("caption_enhancement")), "needs window captions"),
    ],
)
def test_a_builtin_only_after_what_it_needs(stages, message):
    with pytest.raises(CuratorKitError, match=message):
        spec_of(*stages)


def test_a_project_stage_may_make_what_comes_after_it():
    """A stage of yours before transcoding makes its own spans; curator-kit cannot see inside it."""
    spec = spec_of(custom("spans"), builtin("transcoding", encoder="libopenh264"))
    assert [s.name for s in spec.stages] == ["VideoReader", "spans", "ClipTranscodingStage", "ClipWriterStage"]


def test_order_errors_name_the_manifest_line():
    text = '[project]\nname = "demo"\n\n[[stages]]\nname = "t"\nbuiltin = "transcoding"\n'
    with pytest.raises(CuratorKitError, match=r"^curator-kit\.toml:4: stage 't' \(transcoding\) needs clip spans"):
        resolve_spec(parse_manifest(text), NOWHERE)


def test_gpu_and_codec_needs_come_from_the_catalogue():
    spec = spec_of(*CLIPS, builtin("clip_frames"), builtin("cosmos_embed1"), builtin("captioning"))
    assert [s.who for s in spec.gpu_stages] == [
        "cosmos_embed1 (CosmosEmbed1EmbeddingStage)",
        "captioning (CaptionGenerationStage)",
    ]
    scenes = spec_of(builtin("transnetv2"), builtin("transcoding", encoder="h264_nvenc"))
    assert [(n.who, n.nvdecs, n.nvencs) for n in scenes.codec_needs] == [
        ("transnetv2 (pynvc)", 1, 0),
        ("transcoding (h264_nvenc)", 0, 1),
    ]


def test_builtin_resources_and_batch_size_from_the_manifest():
    sized = replace(builtin("previews_x", "previews"), resources=StageResources(cpus=2.0), batch_size=4)
    spec = spec_of(*CLIPS, custom("windows"), sized)
    preview = spec.stages[-2]
    assert (preview.cpus, preview.resources["cpus"], preview.batch_size, preview.cpus_param) == (2.0, 2.0, 4, "")


def test_cpus_are_sized_to_a_small_host_and_said():
    spec = spec_of(
        builtin("fixed_stride"),
        builtin("transcoding", encoder="libopenh264"),
        builtin("motion_filter"),
        custom("mine", 8),
    )
    fit = fit_cpus(spec, [2])
    assert fit.stage_cpus == {"ClipTranscodingStage": 2.0, "MotionVectorDecodeStage": 2.0, "mine": 2.0}
    assert [(f.code, f.severity, f.message) for f in fit.notes] == [
        (
            Code.CPUS_SIZED,
            Severity.NOTE,
            "CPUs sized to this host (2 cores): ClipTranscodingStage 6 -> 2, MotionVectorDecodeStage 6 -> 2, "
            "mine 8 -> 2 (one worker of each fits; Xenna could place none)",
        )
    ]
    assert {s.name: s.cpus for s in fit.spec.stages}["ClipTranscodingStage"] == 2.0
    assert choose_execution_mode("auto", fit.spec, [2]).mode == "streaming"  # every stage scaled to fit
    assert fit_cpus(spec, [2, 16]).stage_cpus == {}  # the largest node places them all
    assert fit_cpus(spec, None).stage_cpus == {}
    assert fit_cpus(spec_of(*CLIPS), [2]).notes == []


def test_weights_rule():
    spec = spec_of(
        *CLIPS, builtin("clip_frames"), builtin("aesthetic_filter"), builtin("cosmos_embed1", variant="224p")
    )
    assert missing_weights(spec, lambda weight: False) == {
        "aesthetic_filter (aesthetic_filter)": ["openai/clip-vit-large-patch14", "ttj/sac-logos-ava1-l14-linearMSE"],
        "cosmos_embed1 (cosmos_embed1)": ["nvidia/Cosmos-Embed1-224p"],
    }
    present = {"openai/clip-vit-large-patch14", "ttj/sac-logos-ava1-l14-linearMSE"}
    assert missing_weights(spec, present.__contains__) == {
        "cosmos_embed1 (cosmos_embed1)": ["nvidia/Cosmos-Embed1-224p"]
    }
    assert missing_weights(spec_of(*CLIPS, builtin("motion_filter")), lambda weight: False) == {}


def test_the_spec_with_builtins_round_trips_as_json():
    manifest = parse_manifest((GOLDEN / "every-builtin.toml").read_text())
    spec = resolve_spec(manifest, NOWHERE)
    assert PipelineSpec.from_json(spec.to_json()) == spec
    assert "\n" not in spec.to_json()
