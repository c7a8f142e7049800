"""Names users choose for stages, models, envs and projects: checked before anything is rendered."""

from __future__ import annotations

import keyword
import re
import unicodedata

from curator_kit.errors import CuratorKitError

# Video stages that ship with nemo-curator (1.1.0 and 1.4.0), read from its sources: the class names
# and the `name` each stage reports. A custom stage reusing one would be ambiguous in logs, in
# `with_()` overrides keyed by name, and in Curator's class registry (keyed by class name).
CURATOR_STAGE_CLASSES: frozenset[str] = frozenset(
    {
        "CaptionEnhancementStage",
        "CaptionGenerationStage",
        "CaptionPreparationStage",
        "ClientPartitioningStage",
        "ClipAestheticFilterStage",
        "ClipFrameExtractionStage",
        "ClipTranscodingStage",
        "ClipWriterStage",
        "CompositeStage",
        "CosmosEmbed1EmbeddingStage",
        "CosmosEmbed1FrameCreationStage",
        "FilePartitioningStage",
        "FixedStrideExtractorStage",
        "MotionFilterStage",
        "MotionVectorDecodeStage",
        "PreviewStage",
        "ProcessingStage",
        "TransNetV2ClipExtractionStage",
        "VideoFrameExtractionStage",
        "VideoReader",
        "VideoReaderStage",
    }
)
CURATOR_STAGE_NAMES: frozenset[str] = frozenset(
    {
        "caption_enhancement",
        "caption_generation",
        "caption_preparation",
        "client_partitioning",
        "clip_aesthetic_filter",
        "clip_frame_extraction",
        "clip_transcoding",
        "clip_writer",
        "cosmos_embed1",
        "cosmos_embed1_embedding",
        "file_partitioning",
        "fixed_stride_extractor",
        "motion_filter",
        "motion_vector_decoding",
        "preview",
        "transnetv2_clip_extraction",
        "video_frame_extraction",
        "video_reader",
    }
)

# Names whose files (stages/NAME.py or models/NAME.py, tests/test_NAME.py) are, or would shadow, files the
# project owns: refused even with --force, which overwrites only files a generator made for that name.
RESERVED_NAMES: dict[str, str] = {
    "__init__": "stages/__init__.py and models/__init__.py make those folders packages",
    "__main__": "NAME/__main__.py is what `python -m` runs",
    "conftest": "pytest reads conftest.py files as its configuration",
    "setup": "setup.py is what packaging tools run",
    "pipeline": "tests/test_pipeline.py is the project's pipeline test",
    "tests": "tests/ is the project's test folder",
    "stages": "stages/ is the project's stage package",
    "models": "models/ is the project's model package",
}
# Generated lines that carry a name stay within ruff's 120 columns up to this length.
MAX_NAME_LENGTH = 40
MAX_PROJECT_NAME_LENGTH = 64
_SNAKE = re.compile(r"[a-z_][a-z0-9_]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ENV = re.compile(r"[a-z0-9][a-z0-9_-]*")


def check_identifier(kind: str, name: str) -> None:
    """A stage/model/writer name becomes a module file and a class name: lowercase snake_case only."""
    if not name:
        raise CuratorKitError(f"{kind} name is empty", "pass a name such as blur_filter")
    if "/" in name or "\\" in name:
        raise CuratorKitError(
            f"{kind} name {name!r} contains a path separator",
            f"pass a bare name; the file goes to {_folder(kind)}/<name>.py",
        )
    if not name.isidentifier():
        raise CuratorKitError(
            f"{kind} name {name!r} is not a Python identifier",
            "use letters, digits and underscores, not starting with a digit (e.g. blur_filter)",
        )
    if keyword.iskeyword(name):
        raise CuratorKitError(f"{kind} name {name!r} is a Python keyword", f"pick another name, e.g. {name}_{kind}")
    if name in RESERVED_NAMES or (name.startswith("__") and name.endswith("__")):
        why = RESERVED_NAMES.get(name, "double-underscore module names are Python's own")
        raise CuratorKitError(
            f"{kind} name {name!r} is reserved: {why}", f"pick another name, e.g. my_{name.strip('_')}_{kind}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise CuratorKitError(
            f"{kind} name {name!r} is longer than {MAX_NAME_LENGTH} characters",
            "shorten it: it becomes a file, a class and a stage name",
        )
    if not _SNAKE.fullmatch(name):
        ascii_only = "" if name.isascii() else " of ASCII letters"
        raise CuratorKitError(
            f"{kind} name {name!r} is not lowercase snake_case{ascii_only}",
            f"use {suggest_name(name, kind)!r} instead",
        )


def check_stage_name(name: str, kind: str = "stage") -> str:
    """Validate a stage (or writer) name; return its class name."""
    check_identifier(kind, name)
    class_name = class_name_for(name, "Stage")
    # Class names compare case-insensitively: TransnetV2... next to TransNetV2... is a clash too.
    builtin_class = next((c for c in CURATOR_STAGE_CLASSES if c.lower() == class_name.lower()), None)
    if name in CURATOR_STAGE_NAMES or builtin_class:
        clash = name if name in CURATOR_STAGE_NAMES else builtin_class
        raise CuratorKitError(
            f"{kind} name {name!r} clashes with the NeMo Curator built-in stage {clash!r}",
            f"pick a distinct name, e.g. my_{name}",
        )
    check_not_builtin_name(name, kind)
    return class_name


def check_not_builtin_name(name: str, kind: str = "stage", builtin: str = "") -> None:
    """The one rule for [[stages]] names: a project's own stage (or a built-in entry under another name)
    may not take the name of a Curator built-in of the catalogue; `builtin` is the entry's own built-in."""
    from curator_kit.core.pipeline.catalogue import builtin_names

    if name != builtin and name in builtin_names():
        raise CuratorKitError(
            f"{kind} name {name!r} is the name of Curator's built-in stage {name!r} (`curator-kit stages "
            f"--catalogue`): `--before {name}` and the pipeline's listing would mean either",
            f"pick a distinct name, e.g. my_{name}",
        )


def check_model_name(name: str) -> str:
    """Validate a model name; return its class name."""
    check_identifier("model", name)
    return class_name_for(name, "Model")


def check_env_name(name: str) -> None:
    """Env names are TOML keys and image-layer labels: lowercase letters, digits, '-' and '_'."""
    if "/" in name or "\\" in name:
        raise CuratorKitError(f"env name {name!r} contains a path separator", "pass a bare name such as opencv")
    if not _ENV.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise CuratorKitError(
            f"env name {name!r} is not valid",
            f"use up to {MAX_NAME_LENGTH} lowercase letters, digits, '-' and '_' (e.g. opencv)",
        )


def check_project_name(name: str) -> None:
    """The project name becomes a directory and a Docker image name."""
    if "/" in name or "\\" in name:
        raise CuratorKitError(
            f"project name {name!r} contains a path separator", "pass a bare name; init creates ./<name>"
        )
    if not _PROJECT.fullmatch(name) or len(name) > MAX_PROJECT_NAME_LENGTH:
        raise CuratorKitError(
            f"project name {name!r} is not docker-safe",
            f"use up to {MAX_PROJECT_NAME_LENGTH} lowercase letters, digits, '-' and '_', not starting with '-' or '_'",
        )


def class_name_for(name: str, suffix: str) -> str:
    """blur_filter -> BlurFilterStage; clip_model -> ClipModel (no doubled suffix)."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    return camel if camel.endswith(suffix) else camel + suffix


def suggest_name(name: str, kind: str = "stage") -> str:
    """A valid name near an invalid one: accents folded to ASCII (blür -> blur), CamelCase split, other
    characters dropped; my_KIND when nothing is left. Never the invalid name again."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", folded).lower()
    snake = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", snake)).strip("_")[:MAX_NAME_LENGTH]
    if not snake or snake[0].isdigit() or keyword.iskeyword(snake):
        snake = f"my_{snake}"[:MAX_NAME_LENGTH].rstrip("_") if snake else f"my_{kind}"
    return snake


def _folder(kind: str) -> str:
    return {"model": "models"}.get(kind, "stages")
