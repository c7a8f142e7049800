"""One Curator release's catalogue: its table (curator_X_Y.toml) joined with the facts read from the
installed package (curator_X_Y.fields.json), as typed, read-only data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from curator_kit.core.parsers import ParseError
from curator_kit.core.pipeline.catalogue.files import read_fields, read_table
from curator_kit.core.pipeline.catalogue.values import Shape, check_value, describe_shape
from curator_kit.errors import CuratorKitError

REQUIRED = object()  # the default of a field Curator leaves without one


@dataclass(frozen=True)
class Field:
    """One constructor field of a Curator class, as the installed package declares it."""

    name: str
    annotation: str
    shape: Shape
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Part:
    """One Curator class of a built-in entry, and how it behaves in a pipeline."""

    class_path: str
    fields: tuple[Field, ...]
    resources: tuple[dict[str, Any], ...]  # cases, first match wins (rules.resources_of)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # curator-kit's, for fields without one
    derived: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> rule (rules.derive)
    weights: tuple[dict[str, str], ...] = ()
    # How it decodes the input video, cases like `resources`: {if = {...}, with = "ffmpeg" | "nvdec" | "pyav"};
    # none for a part that never decodes it (core.pipeline.codecs).
    input_decoding: tuple[dict[str, Any], ...] = ()
    encodes: dict[str, str] = field(default_factory=dict)  # {field = F} or {name = ENCODER}: its ffmpeg encoder

    @property
    def class_name(self) -> str:
        return self.class_path.rpartition(".")[2]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def default(self, name: str) -> Any:
        """The value the field has when the manifest leaves it out (curator-kit's where Curator has none)."""
        if name in self.defaults:
            return self.defaults[name]
        spec = self.field(name)
        return None if spec is None or spec.required else spec.default


@dataclass(frozen=True)
class Param:
    """A parameter a manifest may set on a built-in entry: a field of one or more of its parts."""

    name: str
    annotation: str
    shape: Shape  # the field's type, narrowed to the catalogue's choices where it lists some
    default: Any
    parts: tuple[int, ...]  # indices of the parts that take it
    derived: dict[str, Any] | None = None  # the rule that computes its default from the pipeline

    @property
    def type_text(self) -> str:
        return describe_shape(self.shape)


@dataclass(frozen=True)
class Builtin:
    key: str
    family: str
    summary: str
    parts: tuple[Part, ...]
    requires: tuple[str, ...] = ()
    provides: tuple[Any, ...] = ()  # names, or {"if": {...}, "then": name}
    consumes: tuple[str, ...] = ()
    frames_fps: str = ""  # the field holding the frame rate whose frames the entry reads
    label_field: str = ""  # the field that names it in messages, e.g. transcoding (h264_nvenc)
    writer: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unsettable: frozenset[str] = frozenset()  # fields no manifest sets: hidden and runtime ones

    @property
    def classes(self) -> list[str]:
        return [part.class_name for part in self.parts]

    @cached_property
    def params(self) -> dict[str, Param]:
        """Every settable field of the entry's parts, in the parts' field order; a field two parts share
        (a model variant) is one parameter given to both."""
        found: dict[str, Param] = {}
        for index, part in enumerate(self.parts):
            for spec in part.fields:
                if spec.name in self.unsettable:
                    continue
                if spec.name in found:
                    known = found[spec.name]
                    found[spec.name] = Param(
                        known.name, known.annotation, known.shape, known.default, (*known.parts, index), known.derived
                    )
                    continue
                shape = dict(spec.shape)
                if spec.name in part.choices:
                    shape = {"type": "choice", "choices": list(part.choices[spec.name])}
                    if spec.shape.get("optional"):
                        shape["optional"] = True
                found[spec.name] = Param(
                    spec.name, spec.annotation, shape, part.default(spec.name), (index,), part.derived.get(spec.name)
                )
        return found

    def check_params(self, raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
        """The values of `raw`, each checked against its field's type, in the parts' field order.

        `where(key)` says where a value came from (`curator-kit.toml:12: stages[1].params.KEY`,
        `--param KEY`); an unknown key or a value of the wrong type is refused with it."""
        for key in raw:
            if key not in self.params:
                unsettable = "is filled in at run time" if key in self.unsettable else "is not one"
                raise CuratorKitError(
                    f"{where(key)}: {key!r} {unsettable} of the parameters of {self.key} ({', '.join(self.classes)})",
                    f"its parameters: {', '.join(self.params)}",
                )
        checked = {}
        for key, param in self.params.items():
            if key in raw:
                try:
                    checked[key] = check_value(param.shape, raw[key])
                except ParseError as error:
                    raise error.at(f"{where(key)} =") from None
        return checked


@dataclass(frozen=True)
class Catalogue:
    """The built-in stages of one Curator release (major.minor), with its reader and writer."""

    curator: str  # "1.4"
    nemo_curator: str  # the release the fields were read from, "1.4.0"
    runtime: dict[str, str]  # constructor field -> the run value pipeline.py fills it with
    hidden: frozenset[str]  # fields no manifest sets and --describe does not print
    reader_class: str
    reader_parts: tuple[tuple[str, float], ...]
    reader_provides: tuple[str, ...]
    reader_decoding: tuple[str, ...]  # how the reader decodes the input (its metadata probe), core.pipeline.codecs
    writer_class: str
    writer_cpus: float
    writer_params: dict[str, Any]
    capabilities: dict[str, str]  # what a task can carry between stages -> in words
    builtins: dict[str, Builtin]
    classes: dict[str, tuple[Field, ...]]  # every class the table names -> its fields

    def builtin(self, key: str) -> Builtin | None:
        return self.builtins.get(key)

    def runtime_of(self, class_path: str) -> dict[str, str]:
        """The fields of a class pipeline.py fills from the run (input, output, verbose, model dir...)."""
        return {f.name: self.runtime[f.name] for f in self.classes.get(class_path, ()) if f.name in self.runtime}

    def shown_fields(self, class_path: str) -> tuple[str, ...]:
        """The fields `pipeline.py --describe` prints for a class: all but the hidden ones."""
        return tuple(f.name for f in self.classes.get(class_path, ()) if f.name not in self.hidden)


def load_table(module_name: str) -> Catalogue:
    """curator_X_Y.toml + curator_X_Y.fields.json, shipped next to this module (`files`)."""
    table, facts = read_table(module_name), read_fields(module_name)
    classes = {
        path: tuple(Field(f["name"], f["annotation"], f["shape"], f.get("default", REQUIRED)) for f in fields)
        for path, fields in facts["classes"].items()
    }
    hidden = frozenset(table["hidden"]["fields"])

    def constant(path: str) -> Any:
        return facts["constants"][path]

    def part_of(raw: dict[str, Any]) -> Part:
        choices = {
            name: tuple(facts["keys"][spec["keys_of"]] if isinstance(spec, dict) else spec)
            for name, spec in raw.get("choices", {}).items()
        }
        weights = tuple(
            {"constant": constant(spec["constant"]), **({"key": spec["key"]} if "key" in spec else {})}
            for spec in raw.get("weights", [])
        )
        return Part(
            class_path=raw["class"],
            fields=classes[raw["class"]],
            resources=tuple(raw["resources"]),
            choices=choices,
            defaults=dict(raw.get("defaults", {})),
            derived=dict(raw.get("derived", {})),
            weights=weights,
            input_decoding=tuple(raw.get("input_decoding", ())),
            encodes=dict(raw.get("encodes", {})),
        )

    builtins = {
        key: Builtin(
            key=key,
            family=entry["family"],
            summary=entry["summary"],
            parts=tuple(part_of(part) for part in entry["parts"]),
            requires=tuple(entry.get("requires", ())),
            provides=tuple(entry.get("provides", ())),
            consumes=tuple(entry.get("consumes", ())),
            frames_fps=entry.get("frames_fps", ""),
            label_field=entry.get("label_field", ""),
            writer=dict(entry.get("writer", {})),
            notes=tuple(entry.get("notes", ())),
            unsettable=hidden | frozenset(table["runtime"]),
        )
        for key, entry in table["builtins"].items()
    }
    return Catalogue(
        curator=table["curator"],
        nemo_curator=facts["nemo_curator"],
        runtime=dict(table["runtime"]),
        hidden=hidden,
        reader_class=table["reader"]["class"],
        reader_parts=tuple((name, float(cpus)) for name, cpus in table["reader"]["parts"]),
        reader_provides=tuple(table["reader"].get("provides", ())),
        reader_decoding=tuple(table["reader"].get("input_decoding", ())),
        writer_class=table["writer"]["class"],
        writer_cpus=float(table["writer"]["cpus"]),
        writer_params=dict(table["writer"]["params"]),
        capabilities=dict(table["capabilities"]),
        builtins=builtins,
        classes=classes,
    )
