"""The catalogue's vocabulary read as rules: what a built-in asks for, needs, makes and tells the writer,
given the values of its fields. Pure functions of the table's data; the spec calls them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curator_kit.core.pipeline.catalogue.table import Builtin, Part

RESOURCE_KEYS = ("cpus", "gpus", "gpu_memory_gb", "nvdecs", "nvencs")
# Resources' own defaults in Curator: a stage that names no cpus still asks for one.
RESOURCE_DEFAULTS: dict[str, float] = {"cpus": 1.0, "gpus": 0.0, "gpu_memory_gb": 0.0, "nvdecs": 0, "nvencs": 0}
_TEMPLATE = re.compile(r"\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True)
class PartResources:
    """What one Curator class asks Xenna for, as its __post_init__ computes it, plus codec needs."""

    cpus: float
    gpus: float
    gpu_memory_gb: float
    nvdecs: int
    nvencs: int
    cpus_field: str = ""  # the constructor field the cpus come from ("" = fixed): where a clamp goes


def holds(condition: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Every field named has the value given (or one of the values listed)."""
    for name, wanted in condition.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if values.get(name) not in options:
            return False
    return True


def resources_of(part: Part, values: Mapping[str, Any]) -> PartResources:
    """The first resource case whose `if` holds for the part's field values."""
    for case in part.resources:
        if holds(case.get("if", {}), values):
            amounts = {
                key: _amount(case[key], values) if key in case else RESOURCE_DEFAULTS[key] for key in RESOURCE_KEYS
            }
            source = case.get("cpus")
            cpus_field = source if isinstance(source, str) and not source.startswith("1/") else ""
            return PartResources(
                cpus=float(amounts["cpus"]),
                gpus=float(amounts["gpus"]),
                gpu_memory_gb=float(amounts["gpu_memory_gb"]),
                nvdecs=int(amounts["nvdecs"]),
                nvencs=int(amounts["nvencs"]),
                cpus_field=cpus_field,
            )
    raise ValueError(f"no resource case of {part.class_path} holds for {dict(values)}")


def _amount(spec: float | str, values: Mapping[str, Any]) -> float:
    if not isinstance(spec, str):
        return spec
    if spec.startswith("1/"):
        # Curator's nb_streams_per_gpu rule: 1/n of a GPU, a whole one when n is not positive.
        count = values[spec[2:]]
        return 1.0 / count if count > 0 else 1.0
    return values[spec]


def provided(builtin: Builtin, values: Mapping[str, Any]) -> list[str]:
    """What the entry makes for the stages after it, for these field values."""
    out = []
    for item in builtin.provides:
        if isinstance(item, str):
            out.append(item)
        elif holds(item["if"], values):
            out.append(item["then"])
    return out


def weights_of(part: Part, values: Mapping[str, Any]) -> list[str]:
    """The model directories (Hugging Face ids, as Curator lays them out under model_dir) the part reads."""
    out = []
    for spec in part.weights:
        value = spec["constant"]
        if "key" in spec:
            value = value.get(values.get(spec["key"]))
        if value:
            out.append(value)
    return out


def writer_flags(builtin: Builtin, values: Mapping[str, Any]) -> dict[str, Any]:
    """The ClipWriterStage fields the entry sets, with "{field}" filled from its values."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return _TEMPLATE.sub(lambda match: str(values[match.group(1)]), value)
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value

    return {key: fill(value) for key, value in builtin.writer.items()}


def merge_writer(flags: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """Lists (model keys) accumulate without repeats; other values are set."""
    out = dict(flags)
    for key, value in more.items():
        if isinstance(value, list):
            out[key] = list(dict.fromkeys([*out.get(key, []), *value]))
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Placed:
    """A built-in entry at its place in the pipeline, with its field values (before derivation)."""

    builtin: Builtin
    values: Mapping[str, Any]


def derive(rule: Mapping[str, Any], before: Sequence[Placed | None], after: Sequence[Placed | None]) -> Any:
    """A field's default computed from the entries around it (None entries are the project's stages).

    Returns None when the rule finds nothing to go by: the field keeps Curator's default."""
    if "entry_after" in rule:
        return any(p is not None and p.builtin.key == rule["entry_after"] for p in after)
    if "entry_before" in rule:
        found = next((p for p in reversed(before) if p is not None and p.builtin.key == rule["entry_before"]), None)
        return None if found is None else found.values.get(rule["field"])
    if rule.get("frame_rates_after"):
        rates: list[float] = []
        for placed in after:
            if placed is None or not placed.builtin.frames_fps:
                continue
            if "frames" in placed.builtin.provides:
                break  # a later frame extraction serves the stages after it
            rates.append(placed.values[placed.builtin.frames_fps])
        return sorted(set(rates)) or None
    raise ValueError(f"unknown derivation {dict(rule)!r}")


def describe_rule(rule: Mapping[str, Any]) -> str:
    """A derivation in words, for `stages --catalogue`."""
    if "entry_after" in rule:
        return f"true when {rule['entry_after']} comes later"
    if "entry_before" in rule:
        return f"the {rule['field']} of the {rule['entry_before']} before it"
    return "the frame rates the stages after it read"
