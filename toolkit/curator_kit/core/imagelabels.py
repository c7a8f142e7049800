"""Read curator-kit labels back from an image and lay them out as a table (pure formatting)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker


def read_labels(client: docker.DockerClient, image: str) -> dict[str, str]:
    from docker.errors import ImageNotFound

    try:
        return dict(client.images.get(image).labels or {})
    except ImageNotFound:
        raise CuratorKitError(f"image {image} not found", "build it with `curator-kit build`") from None


def stages_from_labels(labels: dict[str, str]) -> list[dict]:
    try:
        return list(json.loads(labels.get("curator-kit.stages", "[]")))
    except ValueError:
        raise CuratorKitError("the image's curator-kit.stages label is not valid JSON", "rebuild the image") from None


def _number(value: float | int) -> str:
    return f"{value:g}" if value else "-"


def describe_labels(image: str, labels: dict[str, str]) -> list[str]:
    if "curator-kit.project" not in labels and "curator-kit.base.variant" not in labels:
        raise CuratorKitError(f"{image} was not built by curator-kit (no curator-kit.* labels)", "pass a project image")
    lines = [
        f"image            {image}",
        f"project          {labels.get('curator-kit.project', '-')}",
        f"curator version  {labels.get('curator-kit.curator-version', '-')}",
        f"toolkit version  {labels.get('curator-kit.toolkit-version', '-')}",
        f"git revision     {labels.get('curator-kit.git-revision', '-')}",
        f"base image       {labels.get('org.opencontainers.image.base.name', '-')}",
        f"codec needs      {_codec_text(labels.get('curator-kit.codec-needs', '{}'))}",
    ]
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
