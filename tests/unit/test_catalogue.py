"""The catalogue of Curator's built-in stages: its table agrees with the fields read from nemo-curator,
parameters are checked against those fields, and its rules say what each built-in asks for and makes."""

from __future__ import annotations

import pytest
from curator_kit.core.parsers import ParseError
from curator_kit.core.pipeline.catalogue import TABLES, catalogue_for, nearest_catalogue, rules
from curator_kit.core.pipeline.catalogue.listing import catalogue_lines
from curator_kit.core.pipeline.catalogue.values import check_value, conversion, describe_shape, show
from curator_kit.errors import CuratorKitError

CATALOGUE = catalogue_for("1.4.0")
FAMILIES = {
    "fixed_stride": ["FixedStrideExtractorStage"],
    "transnetv2": ["VideoFrameExtractionStage", "TransNetV2ClipExtractionStage"],
    "transcoding": ["ClipTranscodingStage"],
    "motion_filter": ["MotionVectorDecodeStage", "MotionFilterStage"],
    "aesthetic_filter": ["ClipAestheticFilterStage"],
    "clip_frames": ["ClipFrameExtractionStage"],
    "cosmos_embed1": ["CosmosEmbed1FrameCreationStage", "CosmosEmbed1EmbeddingStage"],
    "captioning": ["CaptionPreparationStage", "CaptionGenerationStage"],
    "caption_enhancement": ["CaptionEnhancementStage"],
    "previews": ["PreviewStage"],
}


def values_of(key: str, **given) -> dict:
    builtin = CATALOGUE.builtin(key)
    found = {spec.name: part.default(spec.name) for part in builtin.parts for spec in part.fields}
    return found | given


def test_every_builtin_of_curator_1_4_and_its_classes():
    assert {key: b.classes for key, b in CATALOGUE.builtins.items()} == FAMILIES
    assert CATALOGUE.nemo_curator == "1.4.0"


def test_the_table_names_only_fields_the_installed_classes_have():
    """A typo in the hand-written table would otherwise surface as a TypeError in a Ray worker."""
    for builtin in CATALOGUE.builtins.values():
        fields = {spec.name for part in builtin.parts for spec in part.fields}
        if builtin.frames_fps:
            assert builtin.frames_fps in fields, builtin.key
        if builtin.label_field:
            assert builtin.label_field in fields, builtin.key
        for template in builtin.writer.values():
            for name in rules._TEMPLATE.findall(str(template)):
                assert name in fields, (builtin.key, name)
        assert set(builtin.writer) <= {f.name for f in CATALOGUE.classes[CATALOGUE.writer_class]}
        for part in builtin.parts:
            own = {spec.name for spec in part.fields}
            named = set(part.defaults) | set(part.derived) | set(part.choices)
            named |= {key for spec in part.weights if "key" in spec for key in [spec["key"]]}
            for case in part.resources:
                named |= set(case.get("if", {}))
                named |= {v.removeprefix("1/") for v in case.values() if isinstance(v, str)}
            assert named <= own, (part.class_name, named - own)
            assert all(
                part.default(spec.name) is not None or not spec.required
                for spec in part.fields
                if spec.name not in CATALOGUE.runtime
            ), part.class_name  # required ones get a default


def test_a_release_without_a_table_is_said():
    with pytest.raises(
        CuratorKitError, match=r"no catalogue of built-in stages for nemo-curator 1\.1\.0 \(it has 1\.4\)"
    ):
        catalogue_for("1.1.0")
    assert nearest_catalogue("1.1.0") is CATALOGUE  # the reader, writer and [clipping] did not change
    assert (1, 4) in TABLES


@pytest.mark.parametrize(
    ("key", "raw", "checked"),
    [
        (
            "transcoding",
            {"num_cpus_per_worker": 2, "encoder": "libopenh264"},
            {"num_cpus_per_worker": 2.0, "encoder": "libopenh264"},
        ),
        ("transnetv2", {"output_hw": [27, 48], "max_length_s": "none"}, {"output_hw": [27, 48], "max_length_s": None}),
        (
            "clip_frames",
            {"extraction_policies": ["middle"], "target_fps": [1, 2.5]},
            {"extraction_policies": ["middle"], "target_fps": [1, 2.5]},
        ),
        ("captioning", {"vllm_kwargs": {"max_model_len": 4096}}, {"vllm_kwargs": {"max_model_len": 4096}}),
    ],
)
def test_parameters_are_checked_against_the_fields(key, raw, checked):
    assert CATALOGUE.builtin(key).check_params(raw, lambda name: f"--param {name}") == checked


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        (
            "transcoding",
            {"encoder": "libx264"},
            '--param encoder = \'libx264\' is not one of "h264_nvenc", "libvpx-vp9", "libopenh264"',
        ),
        ("transcoding", {"encoder_threads": 1.5}, "--param encoder_threads = 1.5 is not an integer"),
        ("motion_filter", {"score_only": "yes"}, "--param score_only = 'yes' is not true or false"),
        ("transnetv2", {"output_hw": [27]}, "--param output_hw = [27] is not a list of 2 (an integer, an integer)"),
        ("transcoding", {"num_cpus_per_worker": "none"}, "--param num_cpus_per_worker = 'none' is not a number"),
        ("cosmos_embed1", {"variant": "999p"}, '--param variant = \'999p\' is not one of "224p", "336p", "448p"'),
        ("captioning", {"model_variant": "gpt"}, "--param model_variant = 'gpt' is not one of \"qwen2.5\""),
        ("motion_filter", {"threads": 4}, "--param threads: 'threads' is not one of the parameters of motion_filter"),
        ("transcoding", {"verbose": True}, "--param verbose: 'verbose' is filled in at run time"),
        ("aesthetic_filter", {"model_dir": "/x"}, "--param model_dir: 'model_dir' is filled in at run time"),
        ("previews", {"name": "p"}, "--param name: 'name' is filled in at run time"),
    ],
)
def test_wrong_parameters_are_refused_with_where_they_came_from(key, raw, message):
    with pytest.raises(CuratorKitError) as raised:
        CATALOGUE.builtin(key).check_params(raw, lambda name: f"--param {name}")
    assert raised.value.message.startswith(message)


def test_values_and_their_conversions():
    assert check_value({"type": "float"}, 3) == 3.0
    with pytest.raises(ParseError, match="nan and infinity"):
        check_value({"type": "float"}, float("nan"))
    with pytest.raises(ParseError, match="control character"):
        check_value({"type": "str"}, "two\nlines")
    assert describe_shape({"type": "list", "item": {"type": "str"}, "optional": True}) == 'a list of strings or "none"'
    policy = "enum-tuple:nemo_curator.utils.decoder_utils.FrameExtractionPolicy"
    assert conversion({"type": "tuple", "item": {"type": "enum", "class": policy[11:], "members": []}}) == policy
    assert show(["sequence"], policy) == "(FrameExtractionPolicy.sequence,)"
    assert show([27, 48], "tuple") == "(27, 48)"
    assert show("x", None) == "'x'"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"encoder": "libopenh264", "num_cpus_per_worker": 2.0}, (2.0, 0.0, 0, 0, "num_cpus_per_worker")),
        ({"encoder": "h264_nvenc"}, (1.0, 1 / 3, 0, 1, "")),
        ({"encoder": "h264_nvenc", "use_hwaccel": True}, (1.0, 1 / 3, 1, 1, "")),
        ({"encoder": "h264_nvenc", "nb_streams_per_gpu": 0}, (1.0, 1.0, 0, 1, "")),
    ],
)
def test_transcoding_resources_follow_its_post_init(given, expected):
    part = CATALOGUE.builtin("transcoding").parts[0]
    res = rules.resources_of(part, values_of("transcoding", **given))
    assert (res.cpus, res.gpus, res.nvdecs, res.nvencs, res.cpus_field) == expected


def test_what_builtins_make_and_need():
    transcoding = CATALOGUE.builtin("transcoding")
    assert rules.provided(transcoding, values_of("transcoding", encoder="libopenh264")) == [
        "clip_buffers",
        "h264_clips",
    ]
    assert rules.provided(transcoding, values_of("transcoding", encoder="libvpx-vp9")) == ["clip_buffers"]
    embed = CATALOGUE.builtin("cosmos_embed1")
    assert rules.weights_of(embed.parts[1], values_of("cosmos_embed1", variant="448p")) == ["nvidia/Cosmos-Embed1-448p"]
    captioning = CATALOGUE.builtin("captioning")
    assert rules.weights_of(captioning.parts[1], values_of("captioning", model_variant="nemotron")) == [
        "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16"
    ]
    aesthetic = CATALOGUE.builtin("aesthetic_filter").parts[0]
    assert rules.weights_of(aesthetic, values_of("aesthetic_filter")) == [
        "openai/clip-vit-large-patch14",
        "ttj/sac-logos-ava1-l14-linearMSE",
    ]


def test_writer_flags_as_curator_keys_them():
    flags = dict(CATALOGUE.writer_params)
    flags = rules.merge_writer(
        flags, rules.writer_flags(CATALOGUE.builtin("cosmos_embed1"), values_of("cosmos_embed1", variant="224p"))
    )
    flags = rules.merge_writer(
        flags, rules.writer_flags(CATALOGUE.builtin("captioning"), values_of("captioning", model_variant="qwen3"))
    )
    flags = rules.merge_writer(
        flags, rules.writer_flags(CATALOGUE.builtin("caption_enhancement"), values_of("caption_enhancement"))
    )
    assert flags == {
        "generate_embeddings": True,
        "embedding_algorithm": "cosmos-embed1-224p",
        "generate_previews": False,
        "generate_captions": True,
        "caption_models": ["qwen3"],
        "enhanced_caption_models": ["qwen_lm"],  # Curator 1.4's own key, whatever the model
    }


def test_the_listing_says_parameters_resources_gpu_and_weights():
    text = "\n".join(catalogue_lines(CATALOGUE))
    assert "motion_filter (filtering):" in text
    assert "  resources MotionVectorDecodeStage: 6 CPU (num_cpus_per_worker)" in text
    assert "ClipTranscodingStage: 1 CPU, 0.333 GPU, 1 NVENC; depends on encoder, use_hwaccel" in text
    assert "  weights   Sn4kehead/TransNetV2 (under the run's model directory)" in text
    assert '    encoder              one of "h264_nvenc", "libvpx-vp9", "libopenh264"; default "h264_nvenc"' in text
    assert "generate_previews        true or false; true when previews comes later" in text
    assert "  writer    enhanced_caption_models = ['qwen_lm']" in text
