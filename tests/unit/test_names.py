import re

import pytest
from curator_kit.core.project import names
from curator_kit.errors import CuratorKitError


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a/b", "stage name 'a/b' contains a path separator"),
        ("a\\b", "stage name 'a\\\\b' contains a path separator"),
        ("1st_stage", "stage name '1st_stage' is not a Python identifier"),
        ("blur-filter", "stage name 'blur-filter' is not a Python identifier"),
        ("", "stage name is empty"),
        ("class", "stage name 'class' is a Python keyword"),
        ("BlurFilter", "stage name 'BlurFilter' is not lowercase snake_case"),
        ("x" * 41, f"stage name '{'x' * 41}' is longer than 40 characters"),
    ],
)
def test_bad_identifiers(name: str, message: str) -> None:
    with pytest.raises(CuratorKitError) as caught:
        names.check_stage_name(name)
    assert caught.value.message == message
    assert caught.value.fix


def test_camel_case_gets_a_snake_case_suggestion() -> None:
    with pytest.raises(CuratorKitError, match="snake_case") as caught:
        names.check_identifier("stage", "BlurFilter")
    assert caught.value.fix == "use 'blur_filter' instead"


@pytest.mark.parametrize(
    ("name", "suggested"),
    [("blür", "blur"), ("Ünïcödé_Stage", "unicode_stage"), ("ﬁlter", "filter"), ("日本", "my_stage"), ("x2Y", "x2_y")],
)
def test_a_suggestion_is_a_valid_name_never_the_invalid_one(name: str, suggested: str) -> None:
    with pytest.raises(CuratorKitError) as caught:
        names.check_stage_name(name)
    assert caught.value.fix == f"use {suggested!r} instead"
    names.check_stage_name(suggested)  # itself valid


@pytest.mark.parametrize("name", ["transcoding", "fixed_stride", "aesthetic_filter", "previews", "captioning"])
def test_a_project_stage_may_not_take_a_builtins_name(name: str) -> None:
    with pytest.raises(CuratorKitError, match=f"is the name of Curator's built-in stage '{name}'"):
        names.check_stage_name(name)
    names.check_not_builtin_name(name, builtin=name)  # the built-in's own entry keeps its name


@pytest.mark.parametrize(
    ("name", "clash"),
    [
        ("clip_writer", "clip_writer"),  # a built-in stage name
        ("video_reader", "video_reader"),
        ("motion_filter", "motion_filter"),
        ("clip_transcoding", "clip_transcoding"),
        ("preview", "preview"),
        ("processing", "ProcessingStage"),  # class name Curator's registry already holds
        ("transnet_v2_clip_extraction", "TransNetV2ClipExtractionStage"),
    ],
)
def test_curator_builtin_names_are_refused(name: str, clash: str) -> None:
    with pytest.raises(CuratorKitError) as caught:
        names.check_stage_name(name)
    assert caught.value.message == f"stage name {name!r} clashes with the NeMo Curator built-in stage {clash!r}"


def test_writer_names_are_checked_like_stage_names() -> None:
    with pytest.raises(CuratorKitError, match=r"^writer name 'clip_writer' clashes"):
        names.check_stage_name("clip_writer", kind="writer")


def test_builtin_lists_look_like_curator_names() -> None:
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", cls) for cls in names.CURATOR_STAGE_CLASSES)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names.CURATOR_STAGE_NAMES)
    assert {"ClipWriterStage", "VideoReader", "VideoReaderStage"} <= names.CURATOR_STAGE_CLASSES


@pytest.mark.parametrize(
    ("name", "suffix", "expected"),
    [
        ("blur_filter", "Stage", "BlurFilterStage"),
        ("my_stage", "Stage", "MyStage"),
        ("clip_model", "Model", "ClipModel"),
        ("embed_v2", "Model", "EmbedV2Model"),
        ("_private", "Stage", "PrivateStage"),
    ],
)
def test_class_names(name: str, suffix: str, expected: str) -> None:
    assert names.class_name_for(name, suffix) == expected


def test_good_names_pass() -> None:
    assert names.check_stage_name("blur_filter") == "BlurFilterStage"
    assert names.check_model_name("clip_model") == "ClipModel"
    names.check_env_name("opencv-4")
    names.check_project_name("my-pipeline_2")


@pytest.mark.parametrize("name", ["My-Pipeline", "-x", "a b", "x" * 65])
def test_bad_project_names(name: str) -> None:
    with pytest.raises(CuratorKitError, match="is not docker-safe"):
        names.check_project_name(name)


def test_project_name_with_separator() -> None:
    with pytest.raises(CuratorKitError, match="contains a path separator"):
        names.check_project_name("team/pipeline")


@pytest.mark.parametrize("name", ["OpenCV", "a.b", "", "x" * 41])
def test_bad_env_names(name: str) -> None:
    with pytest.raises(CuratorKitError, match="is not valid"):
        names.check_env_name(name)
