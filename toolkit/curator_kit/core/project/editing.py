"""Editing the manifest as text: new entries appended or placed among the stages, each edit parsed back
and compared, so a scaffold command never leaves a file the loader refuses."""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from typing import Any, NamedTuple

from curator_kit.core.constants import MANIFEST_NAME
from curator_kit.core.project.loading import BARE_KEY, TABLE_HEADER, TableReader, key_lines, parse_manifest
from curator_kit.core.project.manifest import ClippingSettings, EnvSpec, Manifest, ModelSpec, StageSpec
from curator_kit.core.project.validation import validate
from curator_kit.errors import CuratorKitError


class Edited(NamedTuple):
    """An edited manifest text and the manifest it reads back as (what the edit checked)."""

    text: str
    manifest: Manifest


def _to_toml(record: Any) -> dict[str, Any]:
    """A dataclass as a TOML table, leaving out optional references that are unset."""
    out: dict[str, Any] = {}
    for spec in fields(record):
        key = spec.metadata.get("toml", spec.name)
        if not key:
            continue
        value = getattr(record, spec.name)
        if isinstance(record, StageSpec) and (value is None or value in ("", {})):
            continue  # unset: a stage's env, model, module and class, a built-in's resources and params
        if dump := spec.metadata.get("dump"):
            value = [dump(item) for item in value] if isinstance(value, list) else dump(value)
        out[key] = _to_toml(value) if hasattr(value, "__dataclass_fields__") else value
    return out


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    data: dict[str, Any] = {"project": _to_toml(manifest.project)}
    if manifest.stages:
        data["stages"] = [_to_toml(stage) for stage in manifest.stages]
    if manifest.models:
        data["models"] = [_to_toml(model) for model in manifest.models]
    if manifest.envs:
        data["envs"] = {name: _to_toml(env) for name, env in manifest.envs.items()}
    data["build"] = _to_toml(manifest.build)
    data["run"] = _to_toml(manifest.run)
    if manifest.clipping != ClippingSettings():  # absent means method "none", the default
        data["clipping"] = _to_toml(manifest.clipping)
    return data


def dump_manifest(manifest: Manifest) -> str:
    import tomli_w

    return tomli_w.dumps(manifest_to_dict(manifest))


def append_entry(text: str, entry: StageSpec | ModelSpec | EnvSpec) -> str:
    """Add one stage, model or env to the manifest text, keeping the user's comments and layout.

    TOML lets [[stages]], [[models]] and [envs.X] tables appear anywhere, so appending at the end
    is enough. The result is re-parsed and must equal the old manifest plus the entry; if the file
    is shaped so that appending would not mean that (e.g. an inline `envs = {...}`), the edit is
    refused with the fix: rewriting the whole file would drop the user's comments.
    """
    import tomli_w

    if isinstance(entry, StageSpec):
        return place_stage(text, entry)
    _check_entry(entry)
    expected = copy.deepcopy(parse_manifest(text))
    if isinstance(entry, ModelSpec):
        key, table = "models", "[[models]]"
        fragment, expected.models = {"models": [_to_toml(entry)]}, [*expected.models, entry]
    else:
        key, table = "envs", "[envs.NAME]"
        fragment, expected.envs = {"envs": {entry.name: _to_toml(entry)}}, {**expected.envs, entry.name: entry}
    candidate = text.rstrip("\n") + "\n\n" + tomli_w.dumps(fragment)
    return _checked_edit(candidate, expected, key, table).text


def _checked_edit(candidate: str, expected: Manifest, key: str, table: str) -> Edited:
    """The edited text, when it reads back as the manifest the edit meant; else the edit is refused:
    rewriting the whole file would drop the user's comments. A manifest the edit would make invalid
    (two stages of one name, say) is refused for that, first."""
    validate(expected)
    try:
        if (read := parse_manifest(candidate)) == expected:
            return Edited(candidate, read)
    except CuratorKitError:
        pass
    raise CuratorKitError(
        f"{MANIFEST_NAME} writes `{key}` in a shape a new {table} table cannot be placed in (inline, or as "
        "dotted keys), and rewriting the whole file would drop its comments",
        f"write each entry of `{key}` as its own {table} table, then run the command again",
    )


def stage_index(manifest: Manifest, after: str | None = None, before: str | None = None) -> int:
    """Where a new [[stages]] entry goes: after or before a named one, else last (just before the writer)."""
    names = [stage.name for stage in manifest.stages]
    anchor = after or before
    if anchor is None:
        return len(names)
    if anchor not in names:
        inside = ("clipping", *(stage.name for stage in manifest.clipping.as_stages()))
        implicit = manifest.clipping.enabled and anchor in inside
        raise CuratorKitError(
            f"no [[stages]] entry is named {anchor!r}"
            + (" ([clipping] is one table, not [[stages]] entries)" if implicit else ""),
            "move [clipping] into [[stages]]: `curator-kit add fixed_stride --before ...` does it when asked"
            if implicit
            else f"name one of: {', '.join(names) or 'none yet'}",
        )
    return names.index(anchor) + (1 if after else 0)


def stage_toml(entry: StageSpec) -> str:
    """One [[stages]] table as text: its keys, then [stages.resources] and [stages.params] (a serializer
    would write a short entry as an inline `stages = [...]`, which cannot follow other tables)."""
    table = _to_toml(entry)
    lines = ["[[stages]]", *(f"{_toml_key(k)} = {_inline(v)}" for k, v in table.items() if not isinstance(v, dict))]
    for key, sub in table.items():
        if isinstance(sub, dict):
            lines += ["", f"[stages.{key}]", *(f"{_toml_key(k)} = {_inline(v)}" for k, v in sub.items())]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else json.dumps(key)


def _inline(value: Any) -> str:
    """A value as inline TOML: JSON's strings, numbers, booleans and arrays are TOML's; tables are { k = v }."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_inline(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    return json.dumps(value)


def place_stage(text: str, entry: StageSpec, after: str | None = None, before: str | None = None) -> str:
    """Add a [[stages]] entry at its place in the pipeline, keeping the user's comments and layout.

    Pipeline order is file order: the new table goes right above the entry it must precede (and
    above the comment lines directly over that entry's header), or at the end."""
    _check_entry(entry)
    return _place(Edited(text, parse_manifest(text)), entry, after, before).text


def stage_placed(current: Edited, entry: StageSpec, after: str | None = None, before: str | None = None) -> Edited:
    """`place_stage` for a caller that holds the text parsed (`current`), with what the result reads back
    as: a scaffold command parses its manifest once before the edit and once after, not four times."""
    _check_entry(entry)
    return _place(current, entry, after, before)


def _place(current: Edited, entry: StageSpec, after: str | None, before: str | None) -> Edited:
    text, manifest = current
    index = stage_index(manifest, after, before)
    expected = copy.deepcopy(manifest)
    expected.stages.insert(index, entry)
    fragment = stage_toml(entry)
    if index == len(manifest.stages):
        candidate = text.rstrip("\n") + "\n\n" + fragment
    else:
        lines = text.splitlines(keepends=True)
        at = key_lines(text)[("stages", index)] - 1
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
        candidate = "".join([*lines[:at], fragment, "\n", *lines[at:]])
    return _checked_edit(candidate, expected, "stages", "[[stages]]")


def clipping_to_stages(text: str) -> str:
    """A manifest whose [clipping] table becomes the [[stages]] entries it stands for (fixed_stride,
    transcoding), first in the pipeline, so that other entries can be placed between them."""
    manifest = parse_manifest(text)
    if not manifest.clipping.enabled:
        return text
    expected = copy.deepcopy(manifest)
    expected.clipping = ClippingSettings()
    expected.stages = [*manifest.clipping.as_stages(), *manifest.stages]
    lines = text.splitlines(keepends=True)
    where = key_lines(text)
    start = where[("clipping",)] - 1
    end = next((n for n in range(start + 1, len(lines)) if TABLE_HEADER.match(lines[n])), len(lines))
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # blank lines and the comments over the next table stay with it
    fragment = "\n".join(stage_toml(stage) for stage in manifest.clipping.as_stages())
    first = where.get(("stages", 0))
    if first is None:
        kept = [*lines[:start], *lines[end:]]
        candidate = "".join(kept).rstrip("\n") + "\n\n" + fragment
    else:
        at = first - 1
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
        kept_before, kept_after = lines[:at], lines[at:]
        if at >= end:  # [clipping] sits above the first stage: cut it out of the part before
            kept_before = [*lines[:start], *lines[end:at]]
        else:
            kept_after = [*lines[at:start], *lines[end:]]
        candidate = "".join([*kept_before, fragment, "\n", *kept_after])
    return _checked_edit(candidate, expected, "stages", "[[stages]]").text


def _check_entry(entry: StageSpec | ModelSpec | EnvSpec) -> None:
    """The new entry's values through the parsers a hand-edited manifest meets, before any text is made."""
    kind = "stages" if isinstance(entry, StageSpec) else "models" if isinstance(entry, ModelSpec) else "envs"
    reader = TableReader(f"the new {kind} entry {entry.name!r}", {})
    fixed = {"name": entry.name} if isinstance(entry, EnvSpec) else {}
    reader.integers(_to_toml(entry), (kind,))
    reader.record(type(entry), _to_toml(entry), (kind,), **fixed)
