"""Built-in entries placed in a pipeline: each part's constructor parameters (the manifest's, those
derived from the entries around it, curator-kit's defaults), its Resources, weights and run-time
fields, the writer's flags, and the order rules (a stage only after what it needs is made).

The project's own stages are opaque here: curator-kit cannot see what they make, so a need that
only a project stage before it could meet is taken as met (a stage of yours may make its own spans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from curator_kit.core.pipeline.catalogue import rules
from curator_kit.core.pipeline.catalogue.table import Builtin, Catalogue, Part
from curator_kit.core.pipeline.catalogue.values import conversion
from curator_kit.errors import CuratorKitError


@dataclass(frozen=True)
class Entry:
    """A pipeline entry as the catalogue sees it: a built-in with the manifest's values, or a project stage."""

    name: str  # how messages and the spec name the entry ("clipping" for the [clipping] table)
    builtin: str = ""  # "" = a stage of the project
    params: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""  # "curator-kit.toml:12", for messages


@dataclass(frozen=True)
class PlacedPart:
    """One Curator class of a built-in entry, ready to be a stage of the spec."""

    entry: str
    builtin: Builtin
    part: Part
    params: dict[str, Any]  # constructor keyword arguments pipeline.py passes (JSON)
    resources: rules.PartResources
    weights: tuple[str, ...]
    runtime: dict[str, str]  # constructor field -> run value
    convert: dict[str, str]  # parameter -> how pipeline.py makes the constructor's object
    fields: tuple[str, ...]  # the fields `pipeline.py --describe` prints
    label: str  # how messages name it, e.g. "transcoding (libopenh264)"


@dataclass(frozen=True)
class Placement:
    parts: list[list[PlacedPart] | None]  # per entry, in order; None for a project stage
    writer: dict[str, Any]  # what ClipWriterStage is told: the catalogue's defaults and each entry's flags


def place(catalogue: Catalogue, entries: Sequence[Entry]) -> Placement:
    """Resolve every built-in entry in its place; raises CuratorKitError naming the entry's line when
    an entry comes before what it needs."""
    builtins = [_builtin(catalogue, entry) for entry in entries]
    values = [_values(b, e.params) if b is not None else None for b, e in zip(builtins, entries, strict=True)]
    placed = [
        rules.Placed(b, v) if b is not None and v is not None else None for b, v in zip(builtins, values, strict=True)
    ]
    derived = [_derived(i, placed, entries[i].params) for i in range(len(entries))]
    for index, extra in enumerate(derived):
        here = placed[index]
        if extra and here is not None:
            values[index] = {**here.values, **extra}
            placed[index] = rules.Placed(here.builtin, values[index])
    _check_order(catalogue, entries, placed)
    writer = dict(catalogue.writer_params)
    parts: list[list[PlacedPart] | None] = []
    for entry, builtin, entry_values, extra in zip(entries, builtins, values, derived, strict=True):
        if builtin is None or entry_values is None:
            parts.append(None)
            continue
        parts.append([_part(catalogue, entry, builtin, part, entry_values, extra) for part in builtin.parts])
        writer = rules.merge_writer(writer, rules.writer_flags(builtin, entry_values))
    return Placement(parts, writer)


def _builtin(catalogue: Catalogue, entry: Entry) -> Builtin | None:
    if not entry.builtin:
        return None
    builtin = catalogue.builtin(entry.builtin)
    if builtin is None:
        raise CuratorKitError(
            f"{entry.where or entry.name}: {entry.builtin!r} is not a built-in stage of "
            f"nemo-curator {catalogue.curator}",
            f"use one of {', '.join(catalogue.builtins)}",
        )
    return builtin


def _values(builtin: Builtin, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the entry's parts as the stages will hold it: defaults, then the manifest's."""
    values: dict[str, Any] = {}
    for part in builtin.parts:
        values |= {spec.name: part.default(spec.name) for spec in part.fields if spec.name not in values}
    return values | dict(params)


def _derived(index: int, placed: list[rules.Placed | None], explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of entry `index` computed from the entries around it, where the manifest left them out."""
    here = placed[index]
    if here is None:
        return {}
    found: dict[str, Any] = {}
    for part in here.builtin.parts:
        for name, rule in part.derived.items():
            value = None if name in explicit else rules.derive(rule, placed[:index], placed[index + 1 :])
            if value is not None:
                found[name] = value
    return found


def _part(
    catalogue: Catalogue,
    entry: Entry,
    builtin: Builtin,
    part: Part,
    values: Mapping[str, Any],
    derived: Mapping[str, Any],
) -> PlacedPart:
    own = {spec.name for spec in part.fields}
    chosen = entry.params.keys() | derived.keys() | part.defaults.keys()
    params = {spec.name: values[spec.name] for spec in part.fields if spec.name in chosen}
    part_values = {name: values[name] for name in own}
    label_value = values.get(builtin.label_field) if builtin.label_field else part.class_name
    return PlacedPart(
        entry=entry.name,
        builtin=builtin,
        part=part,
        params=params,
        resources=rules.resources_of(part, part_values),
        weights=tuple(rules.weights_of(part, part_values)),
        runtime=catalogue.runtime_of(part.class_path),
        convert={spec.name: how for spec in part.fields if spec.name in params and (how := conversion(spec.shape))},
        fields=catalogue.shown_fields(part.class_path),
        label=f"{entry.name} ({label_value})",
    )


def _check_order(catalogue: Catalogue, entries: Sequence[Entry], placed: Sequence[rules.Placed | None]) -> None:
    """Each built-in only after what it reads is made, and before what frees it."""
    available = set(catalogue.reader_provides)
    freed_by: dict[str, str] = {}
    project_stage_before = False
    for index, (entry, here) in enumerate(zip(entries, placed, strict=True)):
        if here is None:
            project_stage_before = True
            continue
        builtin = here.builtin
        for need in builtin.requires:
            if need == "frames":
                _check_frames(catalogue, entry, here, placed[:index], project_stage_before)
            elif need in available or (project_stage_before and need not in freed_by):
                continue
            elif need in freed_by:
                raise CuratorKitError(
                    f"{_who(entry)} reads {catalogue.capabilities[need]}, which {freed_by[need]} has freed by then",
                    f"place {entry.name} before {freed_by[need]}",
                )
            else:
                raise CuratorKitError(
                    f"{_who(entry)} needs {catalogue.capabilities[need]} before it, and nothing before it makes them",
                    f"place {entry.name} after {_makers(catalogue, need)}",
                )
        for need in builtin.consumes:
            available.discard(need)
            freed_by[need] = entry.name
        available |= set(rules.provided(builtin, here.values))


def _check_frames(
    catalogue: Catalogue, entry: Entry, here: rules.Placed, before: Sequence[rules.Placed | None], opaque: bool
) -> None:
    """A frame reader needs a frame extraction before it whose frame rates include its own."""
    rate = here.values[here.builtin.frames_fps]
    extraction = next((p for p in reversed(before) if p is not None and "frames" in p.builtin.provides), None)
    if extraction is None:
        if opaque:
            return
        raise CuratorKitError(
            f"{_who(entry)} needs {catalogue.capabilities['frames']} before it, and nothing before it makes them",
            f"place {entry.name} after {_makers(catalogue, 'frames')}",
        )
    rates = extraction.values.get("target_fps")
    if extraction.values.get("extract_purposes") is not None and rates is None:
        return  # Curator derives the rates from the purposes
    rates = rates if rates is not None else [2]  # ClipFrameExtractionStage's own fallback
    if not any(float(r) == float(rate) for r in rates):
        raise CuratorKitError(
            f"{_who(entry)} reads frames at {rate:g} fps, but the {extraction.builtin.key} before it extracts "
            f"{', '.join(f'{r:g}' for r in rates)} fps",
            f"add {rate:g} to that entry's target_fps, or leave target_fps out (it follows the stages after it)",
        )


def _who(entry: Entry) -> str:
    where = f"{entry.where}: " if entry.where else ""
    return f"{where}stage {entry.name!r} ({entry.builtin})"


def _makers(catalogue: Catalogue, need: str) -> str:
    makers = [
        key
        for key, builtin in catalogue.builtins.items()
        if any(item == need or (isinstance(item, dict) and item.get("then") == need) for item in builtin.provides)
    ]
    return " or ".join(makers) or "a stage that makes them"
