"""Read curator-kit labels back from an image and lay them out as a table (pure formatting)."""

from __future__ import annotations

import json

from curator_kit.core import constants
from curator_kit.errors import CuratorKitError


def stages_from_labels(labels: dict[str, str]) -> list[dict]:
    try:
        return list(json.loads(labels.get(constants.LABEL_STAGES, "[]")))
    except ValueError:
        raise CuratorKitError("the image's curator-kit.stages label is not valid JSON", "rebuild the image") from None


# The order `inspect` and `doctor` list the base image's stack in; other recorded keys follow.
BASE_STACK_ORDER = ("nemo-curator", "cosmos-xenna", "torch", "torchvision", "ray", "opencv", "av", "python", "ffmpeg")


def base_versions_text(labels: dict[str, str]) -> str | None:
    """`torch 2.14.1, torchvision 0.29.1, ..., ffmpeg 5.1.9 (libopenh264, libvpx-vp9)` from the base
    image's versions label (inherited by every image built on it); None when it has none."""
    try:
        versions = dict(json.loads(labels[constants.LABEL_BASE_VERSIONS]))
    except (KeyError, ValueError, TypeError):
        return None
    encoders = versions.pop("ffmpeg-encoders", "")
    keys = [k for k in BASE_STACK_ORDER if k in versions] + sorted(set(versions) - set(BASE_STACK_ORDER))
    parts = [f"{key} {versions[key]}" for key in keys]
    if encoders and "ffmpeg" in versions:
        parts[keys.index("ffmpeg")] += f" ({encoders.replace(',', ', ')})"
    return ", ".join(parts)


def codecs_lines(labels: dict[str, str]) -> list[str]:
    """`codecs  ffmpeg 5.1.9: decodes ...` and PyAV's line, from the image's codecs label (core.pipeline.codecs)."""
    from curator_kit.core.pipeline.codecs import codecs_in_labels, describe_codecs

    lines = describe_codecs(codecs_in_labels(labels))
    return [f"{'codecs' if i == 0 else '':<16} {line}" for i, line in enumerate(lines)]


def _variant_text(labels: dict[str, str]) -> str:
    variant = labels.get(constants.LABEL_BASE_VARIANT, "-")
    recipe = labels.get(constants.LABEL_BASE_RECIPE)
    return f"{variant} (recipe {recipe})" if recipe else variant


def _number(value: float | int) -> str:
    return f"{value:g}" if value else "-"


def describe_labels(image: str, labels: dict[str, str]) -> list[str]:
    if constants.LABEL_PROJECT not in labels and constants.LABEL_BASE_VARIANT not in labels:
        raise CuratorKitError(f"{image} was not built by curator-kit (no curator-kit.* labels)", "pass a project image")
    lines = [
        f"image            {image}",
        f"project          {labels.get(constants.LABEL_PROJECT, '-')}",
        f"curator version  {labels.get(constants.LABEL_CURATOR_VERSION, '-')}",
        f"toolkit version  {labels.get(constants.LABEL_TOOLKIT_VERSION, '-')}",
        f"git revision     {labels.get(constants.LABEL_GIT_REVISION, '-')}",
        f"base image       {labels.get(constants.LABEL_OCI_BASE_NAME, '-')}",
        f"base built on    {_base_identity_text(labels)}",
        f"base variant     {_variant_text(labels)}",
        f"base stack       {base_versions_text(labels) or '-'}",
        f"sbom             {_sbom_text(labels)}",
        f"codec needs      {_codec_text(labels.get(constants.LABEL_CODEC_NEEDS, '{}'))}",
        *codecs_lines(labels),
    ]
    lines += _pipeline_lines(labels)
    stages = stages_from_labels(labels)
    if not stages:
        return [*lines, "stages           none"]
    header = ("stage", "class", "cpus", "gpu_mem_gb", "gpus", "nvdecs", "nvencs", "env", "model")
    rows = [header]
    for stage in stages:
        res = stage.get("resources", {})
        rows.append(
            (
                stage["name"],
                stage.get("class", "-"),
                _number(res.get("cpus", 0)),
                _number(res.get("gpu_memory_gb", 0)),
                _number(res.get("gpus", 0)),
                _number(res.get("nvdecs", 0)),
                _number(res.get("nvencs", 0)),
                stage.get("env") or "-",
                stage.get("model") or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    table = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return [*lines, "", *table]


def _sbom_text(labels: dict[str, str]) -> str:
    """The image's SBOM summary (core.build.sbom), and how to get the document."""
    from curator_kit.core.build.sbom import sbom_text

    text = sbom_text(labels)
    return f"{text} (`curator-kit sbom` writes it)" if text else "-"


def _base_identity_text(labels: dict[str, str]) -> str:
    """The base image's id (the tag may have moved since) and its registry digest when it was pulled."""
    image_id = labels.get(constants.LABEL_BASE_ID) or "-"
    digest = labels.get(constants.LABEL_OCI_BASE_DIGEST) or ""
    return f"{image_id} ({digest})" if digest else image_id


def _pipeline_lines(labels: dict[str, str]) -> list[str]:
    """The pipeline the image runs, from its spec label: every stage in order, built-ins included."""
    from curator_kit.core.pipeline.spec import PipelineSpec

    text = labels.get(constants.LABEL_SPEC)
    if text is None:
        return ["pipeline         no spec label (built by an older curator-kit): rebuild to run it"]
    spec = PipelineSpec.from_json(text, "the image's pipeline spec label")
    streaming = f"streams as declared on {spec.min_streaming_cores}+ cores (one node), scaled to fit on fewer"
    return [f"pipeline         {len(spec.stages)} stages, {spec.required_cpus:g} CPUs at once; {streaming}"] + [
        f"  {line}" for line in spec.describe()
    ]


def _codec_text(label: str) -> str:
    """`{"stage": {"nvdecs": 1, "nvencs": 0}}` as `stage: 1 NVDEC`; clipping's h264_nvenc shows here too."""
    try:
        needs = json.loads(label)
    except ValueError:
        return "unreadable label"
    parts = []
    for stage, need in sorted(needs.items()):
        engines = [f"{need[key]} {name}" for key, name in (("nvdecs", "NVDEC"), ("nvencs", "NVENC")) if need.get(key)]
        parts.append(f"{stage}: {', '.join(engines)}")
    return "; ".join(parts) or "none"
