"""The project manifest, `curator-kit.toml`: dataclasses, load (strict), validate, save.

tomllib does not report where a key sits, so loading keeps a small index of key -> line built
from the text; every unknown or mistyped key is reported as `curator-kit.toml:LINE`.

Values are parsed at load by `core.parsers`, the functions the CLI's options use too: a field's
metadata names its parser (and, for typed fields, how to write the value back as TOML).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from curator_kit.core import parsers
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION, EXECUTION_MODES, MANIFEST_NAME, MODE_AUTO
from curator_kit.core.parsers import Mount, ParseError, parse_version
from curator_kit.core.pipeline.catalogue.values import ANY_VALUE, check_value
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest
from curator_kit.core.project.names import check_env_name, check_not_builtin_name, check_project_name
from curator_kit.errors import CuratorKitError

CLIPPING_METHODS = ("none", "fixed-stride")
# ClipTranscodingStage's encoders in nemo-curator 1.4.0; h264_nvenc runs on a GPU with NVENC.
CLIP_ENCODERS = ("libvpx-vp9", "libopenh264", "h264_nvenc")
GPU_ENCODERS = ("h264_nvenc",)

# A key's place in the parsed document, e.g. ("stages", 0, "resources", "cpus").
KeyPath = tuple[str | int, ...]


# `toml` metadata renames a field whose TOML key is a Python keyword.
def _key(name: str) -> dict[str, str]:
    return {"toml": name}


def _parsed(parse: Callable[[Any], Any], raw: Any = None, dump: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Metadata of a field whose TOML value (of type `raw`; the field's own type if None) goes through
    `parse` at load, item by item in a list and (key, value) by (key, value) in a table; `dump`
    writes a typed value back as TOML."""
    return {"parse": parse, "raw": raw, "dump": dump}


def _unless_empty(parse: Callable[[str], Any], empty: Any = "") -> Callable[[str], Any]:
    """An empty string keeps meaning "not set" (e.g. shm_size = "" sizes /dev/shm from host memory)."""
    return lambda text: empty if text == "" else parse(text)


def _env_entry(entry: tuple[str, str]) -> tuple[str, str]:
    return parsers.parse_env_name(entry[0]), parsers.parse_env_value(entry[1])


def _optional_size(size: int | None) -> str:
    return "" if size is None else parsers.format_size(size)


def _resource(name: str) -> dict[str, Any]:
    return _parsed(partial(parsers.parse_resource, name))


_MODULE = _parsed(parsers.parse_module_path)
_CLASS = {**_key("class"), **_parsed(parsers.parse_class_name)}


@dataclass
class ProjectInfo:
    name: str
    curator_version: str = field(default=DEFAULT_CURATOR_VERSION, metadata=_parsed(parsers.parse_text))
    base_image: str = field(default="", metadata=_parsed(_unless_empty(parsers.parse_image_text)))
    templates: str = field(default="", metadata=_parsed(parsers.parse_text))


@dataclass
class StageResources:
    cpus: float = field(default=1.0, metadata=_resource("cpus"))
    gpu_memory_gb: float = field(default=0.0, metadata=_resource("gpu_memory_gb"))
    gpus: float = field(default=0.0, metadata=_resource("gpus"))
    nvdecs: int = field(default=0, metadata=_resource("nvdecs"))
    nvencs: int = field(default=0, metadata=_resource("nvencs"))


@dataclass
class StageSpec:
    """A [[stages]] entry: a stage of the project (`module` + `class`) or a Curator built-in
    (`builtin`, see `curator-kit stages --catalogue`), with constructor `params` for either."""

    name: str
    module: str = field(default="", metadata=_MODULE)
    class_name: str = field(default="", metadata=_CLASS)
    env: str = ""
    model: str = ""
    batch_size: int | None = None  # None: a project stage's 1, a built-in's own
    # with_(resources=...); None on a built-in: the Resources its parameters give it
    resources: StageResources | None = field(default_factory=StageResources)
    builtin: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # checked against the catalogue at load
    line: int = field(default=0, compare=False, metadata=_key(""))  # where the entry starts in the file

    @property
    def class_path(self) -> str:
        return f"builtin:{self.builtin}" if self.builtin else f"{self.module}.{self.class_name}"


@dataclass
class ModelSpec:
    name: str
    module: str = field(metadata=_MODULE)
    class_name: str = field(metadata=_CLASS)
    hf_repo: str = field(default="", metadata=_parsed(parsers.parse_hf_repo))
    revision: str = field(default="main", metadata=_parsed(parsers.parse_revision))
    files: list[str] = field(default_factory=list, metadata=_parsed(parsers.parse_hf_file))
    bake: bool = False


@dataclass
class EnvSpec:
    name: str = field(metadata=_key(""))  # the table key, not a TOML field
    pip: list[str] = field(default_factory=list, metadata=_parsed(parsers.parse_requirement))
    apt: list[str] = field(default_factory=list, metadata=_parsed(parsers.parse_apt_package))
    env: dict[str, str] = field(default_factory=dict, metadata=_parsed(_env_entry))


@dataclass
class BuildSettings:
    wheelhouse: str = field(default="", metadata=_parsed(parsers.parse_text))
    ca_certs: list[str] = field(default_factory=list, metadata=_parsed(parsers.parse_text))
    pip_index_url: str = field(default="", metadata=_parsed(_unless_empty(parsers.parse_index_url)))
    pip_extra_index_urls: list[str] = field(default_factory=list, metadata=_parsed(parsers.parse_index_url))


@dataclass
class RunDefaults:
    gpus: GpuRequest = field(default=NO_GPU, metadata=_parsed(parsers.parse_gpus, str, parsers.format_gpus))
    shm_size: int | None = field(  # bytes; None = sized from host memory
        default=None, metadata=_parsed(_unless_empty(parsers.parse_size, None), str, _optional_size)
    )
    execution_mode: str = MODE_AUTO
    ignore_failures: bool = False
    mounts: list[Mount] = field(
        default_factory=list, metadata=_parsed(parsers.parse_mount, list[str], parsers.format_mount)
    )
    env: dict[str, str] = field(default_factory=dict, metadata=_parsed(_env_entry))
    # Host directory of downloaded weights (relative: to the project); "" = the user's cache directory.
    model_cache: str = field(default="", metadata=_parsed(parsers.parse_text))


@dataclass
class ClippingSettings:
    """Curator's clip splitting and transcoding, run between VideoReader and the project's stages.

    A manifest without [clipping] has method "none": VideoReader feeds the stages directly, as
    projects made before [clipping] existed expect.
    """

    method: str = "none"  # none | fixed-stride (FixedStrideExtractorStage)
    clip_len_s: float = 10.0
    clip_stride_s: float = 10.0
    min_clip_length_s: float = 2.0
    encoder: str = "libvpx-vp9"  # ClipTranscodingStage's encoder
    encoder_cpus: float = 1.0  # ClipTranscodingStage num_cpus_per_worker (CPU encoders)
    encoder_threads: int = 1
    encode_batch_size: int = 16

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @property
    def uses_gpu(self) -> bool:
        return self.enabled and self.encoder in GPU_ENCODERS

    def as_stages(self) -> list[StageSpec]:
        """The catalogue's built-in entries this table stands for: FixedStrideExtractorStage, then
        ClipTranscodingStage (which, with NVENC, also decodes on the GPU)."""
        if not self.enabled:
            return []
        fixed_stride = {
            "clip_len_s": self.clip_len_s,
            "clip_stride_s": self.clip_stride_s,
            "min_clip_length_s": self.min_clip_length_s,
            "limit_clips": 0,
        }
        transcoding = {
            "num_cpus_per_worker": self.encoder_cpus,
            "encoder": self.encoder,
            "encoder_threads": self.encoder_threads,
            "encode_batch_size": self.encode_batch_size,
            "use_hwaccel": self.uses_gpu,
        }
        return [
            StageSpec("fixed_stride", builtin="fixed_stride", resources=None, params=fixed_stride),
            StageSpec("transcoding", builtin="transcoding", resources=None, params=transcoding),
        ]


@dataclass
class Manifest:
    project: ProjectInfo
    stages: list[StageSpec] = field(default_factory=list)
    models: list[ModelSpec] = field(default_factory=list)
    envs: dict[str, EnvSpec] = field(default_factory=dict)
    build: BuildSettings = field(default_factory=BuildSettings)
    run: RunDefaults = field(default_factory=RunDefaults)
    clipping: ClippingSettings = field(default_factory=ClippingSettings)

    def stage(self, name: str) -> StageSpec | None:
        return next((s for s in self.stages if s.name == name), None)

    def model(self, name: str) -> ModelSpec | None:
        return next((m for m in self.models if m.name == name), None)


# ---------------------------------------------------------------- locating files


def find_project_dir(start: Path | str = ".") -> Path:
    """The nearest directory at or above `start` that holds curator-kit.toml."""
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    raise CuratorKitError(
        f"no {MANIFEST_NAME} in {here} or any parent directory",
        "run inside a project (curator-kit init NAME creates one) or pass --project DIR",
    )


def read_manifest_text(project_dir: Path | str) -> str:
    path = Path(project_dir) / MANIFEST_NAME
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CuratorKitError(f"{path} not found", "curator-kit init NAME creates a project") from None


def load_manifest(project_dir: Path | str) -> Manifest:
    """The project's manifest, parsed and validated, its stages' and models' modules found on disk."""
    text = read_manifest_text(project_dir)
    manifest = parse_manifest(text)
    check_modules(manifest, Path(project_dir), text)
    return manifest


def module_source(project_dir: Path, module: str) -> Path | None:
    """The file a module path names in the project (`stages.blur` -> stages/blur.py or stages/blur/__init__.py)."""
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def check_modules(manifest: Manifest, project_dir: Path, text: str = "") -> None:
    """Every [[stages]] and [[models]] `module` names a file of the project: `stages`, `spec` and `build`
    say so at once, not the image's import when the pipeline starts."""
    lines = _key_lines(text) if text else {}
    entries = [("stages", i, e) for i, e in enumerate(manifest.stages) if not e.builtin]
    entries += [("models", i, e) for i, e in enumerate(manifest.models)]
    for table, index, entry in entries:
        if entry.module and module_source(project_dir, entry.module) is None:
            path: KeyPath = (table, index, "module")
            expected = "/".join(entry.module.split("."))
            where = _Reader(MANIFEST_NAME, lines).where(path)
            raise CuratorKitError(
                f"{where}: {_dotted(path)} = {entry.module!r} names no file of the project: neither "
                f"{expected}.py nor {expected}/__init__.py exists",
                f"create {expected}.py (`curator-kit new-{table[:-1]}` writes one) or correct the module path",
            )


# ---------------------------------------------------------------- parsing


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> Manifest:
    try:
        data = tomllib.loads(text)
    except ValueError as error:  # TOMLDecodeError, or an integer of more digits than Python converts
        raise CuratorKitError(f"{source} is not valid TOML: {error}", "fix the syntax at that line") from None
    reader = _Reader(source, _key_lines(text))
    reader.integers(data, ())
    reader.only(data, (), ("project", "clipping", "stages", "models", "envs", "build", "run"))
    if "project" not in data:
        raise CuratorKitError(f"{source}: missing [project] table", 'add [project] with name = "..."')
    envs_table = reader.table(data.get("envs", {}), ("envs",))
    project = reader.record(ProjectInfo, data["project"], ("project",))
    manifest = Manifest(
        project=project,
        stages=[reader.stage(s, i, project.curator_version) for i, s in enumerate(reader.array(data, "stages"))],
        models=[reader.record(ModelSpec, m, ("models", i)) for i, m in enumerate(reader.array(data, "models"))],
        envs={
            reader.env_name(name): reader.record(EnvSpec, reader.table(body, ("envs", name)), ("envs", name), name=name)
            for name, body in envs_table.items()
        },
        build=reader.record(BuildSettings, data.get("build", {}), ("build",)),
        run=reader.record(RunDefaults, data.get("run", {}), ("run",)),
        clipping=reader.record(ClippingSettings, data.get("clipping", {}), ("clipping",)),
    )
    validate(manifest, source)
    return manifest


class _Reader:
    """Builds dataclasses from parsed TOML, rejecting unknown keys and wrong types with their line."""

    def __init__(self, source: str, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines

    def where(self, path: KeyPath) -> str:
        # A key without its own line (e.g. inside an inline table) is reported at its nearest parent.
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.lines:
                return f"{self.source}:{self.lines[path[:cut]]}"
        return self.source

    def fail(self, path: KeyPath, message: str, fix: str) -> typing.NoReturn:
        raise CuratorKitError(f"{self.where(path)}: {message}", fix)

    def only(self, table: dict[str, Any], path: KeyPath, allowed: typing.Iterable[str]) -> None:
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                where = f"[{_dotted(path)}]" if path else "the top level"
                self.fail((*path, key), f"unknown key {key!r} in {where}", f"allowed keys: {', '.join(allowed)}")

    def table(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"{_dotted(path)!r} must be a table", f"write it as [{_dotted(path)}]")
        return value

    def array(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail((key,), f"{key!r} must be an array of tables", f"write each entry as [[{key}]]")
        return value

    def record(self, cls: type, value: Any, path: KeyPath, **fixed: Any) -> Any:
        body = self.table(value, path)
        hints = typing.get_type_hints(cls)
        keyed = {f.metadata.get("toml", f.name): f for f in fields(cls) if f.name not in fixed}
        self.only(body, path, [key for key in keyed if key])
        kwargs = dict(fixed)
        for key, spec in keyed.items():
            if key in body:
                kwargs[spec.name] = self.field_value(body[key], spec.metadata, hints[spec.name], (*path, key))
            elif spec.default is MISSING and spec.default_factory is MISSING:
                self.fail(path, f"[{_dotted(path)}] is missing {key!r}", f"add {key} = ... to that table")
        return cls(**kwargs)

    def field_value(self, value: Any, metadata: typing.Mapping[str, Any], kind: Any, path: KeyPath) -> Any:
        """The TOML value checked for its type, then through the field's parser (a float's: finite)."""
        parse = metadata.get("parse") or (parsers.parse_finite if kind is float else None)
        raw = self.convert(value, metadata.get("raw") or kind, path)
        if parse is None:
            return raw
        if isinstance(raw, list):
            return [self.parsed(parse, item, (*path, index)) for index, item in enumerate(raw)]
        if isinstance(raw, dict):
            return dict(self.parsed(parse, item, (*path, item[0])) for item in raw.items())
        return self.parsed(parse, raw, path)

    def parsed(self, parse: Callable[[Any], Any], value: Any, path: KeyPath) -> Any:
        try:
            return parse(value)
        except ParseError as error:
            raise error.at(f"{self.where(path)}: {_dotted(path)} =") from None

    def integers(self, value: Any, path: KeyPath) -> None:
        """Every integer of the document within TOML's signed 64 bits (tomllib reads any), wherever it is."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.integers(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.integers(item, (*path, index))
        elif isinstance(value, int) and not isinstance(value, bool):
            self.parsed(parsers.parse_toml_integer, value, path)

    def stage(self, body: Any, index: int, curator_version: str) -> StageSpec:
        """A [[stages]] entry; a built-in's parameters are checked against the catalogue of the project's
        Curator release here, where their lines are known. A project stage's are the stage's own: JSON-able
        values here, its signature in the image (pipeline.py)."""
        path: KeyPath = ("stages", index)
        stage = self.record(StageSpec, body, path, line=self.lines.get(path, 0))
        params_at = (*path, "params")
        if not stage.builtin:
            for key, value in (("module", stage.module), ("class", stage.class_name)):
                if not value:
                    self.fail(
                        path,
                        f"[{_dotted(path)}] is missing {key!r}",
                        f"add {key} = ... to that table, or builtin = NAME for a Curator built-in",
                    )
            stage.params = {
                key: self.parsed(partial(check_value, ANY_VALUE), value, (*params_at, key))
                for key, value in stage.params.items()
            }
            return stage
        if "resources" not in self.table(body, path):
            stage.resources = None  # the Resources the built-in's parameters give it
        from curator_kit.core.pipeline.catalogue import catalogue_for

        parse_version(curator_version)
        try:
            catalogue = catalogue_for(curator_version)
        except CuratorKitError as error:
            self.fail((*path, "builtin"), error.message, error.fix or "")
        builtin = catalogue.builtin(stage.builtin)
        if builtin is None:
            self.fail(
                (*path, "builtin"),
                f"{_dotted((*path, 'builtin'))} = {stage.builtin!r} is not a built-in stage of nemo-curator "
                f"{catalogue.curator}",
                f"use one of {', '.join(catalogue.builtins)} (`curator-kit stages --catalogue` describes them)",
            )
        stage.params = builtin.check_params(
            stage.params, lambda key: f"{self.where((*params_at, key))}: {_dotted((*params_at, key))}"
        )
        return stage

    def env_name(self, name: str) -> str:
        """An [envs.NAME] key: it names image layers and Dockerfile comments, so names.py's rule holds."""
        try:
            check_env_name(name)
        except CuratorKitError as error:
            self.fail(("envs", name), error.message, error.fix or "rename the table")
        return name

    def convert(self, value: Any, kind: Any, path: KeyPath) -> Any:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is types.UnionType and type(None) in args:
            # TOML has no null: a value that is there is the other type.
            kind = next(arg for arg in args if arg is not type(None))
            origin, args = typing.get_origin(kind), typing.get_args(kind)
        if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
            return self.record(kind, value, path)
        ok: bool
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is bool or kind is str:
            ok = isinstance(value, kind)
        elif origin is list:
            ok = isinstance(value, list) and all(isinstance(v, args[0]) for v in value)
        elif origin is dict:
            # dict[str, Any]: stage parameters, whose types the catalogue or the stage itself checks
            ok = isinstance(value, dict) and (args[1] is Any or all(isinstance(v, args[1]) for v in value.values()))
        else:  # pragma: no cover - a dataclass field type this reader does not know
            raise TypeError(kind)
        if not ok:
            self.fail(path, f"{_dotted(path)!r} must be {_describe(kind)}, not {value!r}", "fix the value")
        return value


def _describe(kind: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    if kind in names:
        return names[kind]
    if typing.get_origin(kind) is list:
        return "a list of strings"
    return "a table of strings"


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, str) and not _BARE_KEY.fullmatch(part):
            part = json.dumps(part)  # a quoted TOML key, on one line whatever it holds
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_PART = re.compile(_BARE_OR_QUOTED)


def _key_lines(text: str) -> dict[KeyPath, int]:
    """Map each table header and key to its 1-based line; array-of-tables entries get their index."""
    lines: dict[KeyPath, int] = {}
    arrays: dict[KeyPath, int] = {}  # resolved path of an array of tables -> index of its last entry
    current: KeyPath = ()
    in_multiline = False

    def resolve(parts: list[str]) -> KeyPath:
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            if tuple(out) in arrays:
                out.append(arrays[tuple(out)])
        return tuple(out)

    for number, line in enumerate(text.splitlines(), start=1):
        # Skip the body of multi-line strings: `key = value` lines there are text, not keys.
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        elif in_multiline:
            continue
        if header := _HEADER.match(line):
            parts = [p.strip("\"'") for p in _PART.findall(header.group(2))]
            if header.group(1) == "[[":
                table = (*resolve(parts[:-1]), parts[-1])
                arrays[table] = arrays.get(table, -1) + 1
                current = (*table, arrays[table])
            else:
                current = resolve(parts)
            lines.setdefault(current, number)
        elif assign := _ASSIGN.match(line):
            parts = [p.strip("\"'") for p in _PART.findall(assign.group(1))]
            lines.setdefault((*current, *parts), number)
    return lines


# ---------------------------------------------------------------- validation


def validate(manifest: Manifest, source: str = MANIFEST_NAME) -> None:
    """Cross-field rules (each value was parsed at load); raises the first problem as one line."""

    def fail(message: str, fix: str) -> typing.NoReturn:
        raise CuratorKitError(f"{source}: {message}", fix)

    project = manifest.project
    try:
        check_project_name(project.name)  # `init`'s rule: the name becomes a directory and an image name
    except CuratorKitError as error:
        fail(error.message, error.fix)
    parse_version(project.curator_version)
    seen: set[str] = set()
    for stage in manifest.stages:
        at = f"{source}:{stage.line}" if stage.line else source

        def refuse(message: str, fix: str, at: str = at) -> typing.NoReturn:
            raise CuratorKitError(f"{at}: {message}", fix)

        if not stage.name.isidentifier():
            refuse(f"stage name {stage.name!r} is not a Python identifier", "rename it, e.g. blur_filter")
        if stage.name in seen:
            refuse(f"stage {stage.name!r} is listed twice", "remove or rename one [[stages]] entry")
        seen.add(stage.name)
        try:
            check_not_builtin_name(stage.name, builtin=stage.builtin)
        except CuratorKitError as error:
            refuse(error.message, error.fix or "rename the stage")
        if stage.env and stage.env not in manifest.envs:
            refuse(f"stage {stage.name!r} uses unknown env {stage.env!r}", _known("envs", manifest.envs))
        if stage.model and manifest.model(stage.model) is None:
            refuse(
                f"stage {stage.name!r} uses unknown model {stage.model!r}",
                _known("models", [m.name for m in manifest.models]),
            )
        if stage.batch_size is not None and stage.batch_size < 1:
            refuse(f"stage {stage.name!r}: batch_size must be at least 1", "set batch_size = 1 or more")
        if stage.builtin:
            _validate_builtin_entry(stage, project.curator_version, refuse)
        res = stage.resources
        if res is None:
            continue
        if res.cpus == 0 and res.gpus == 0 and res.gpu_memory_gb == 0:
            refuse(f"stage {stage.name!r} asks for no CPU and no GPU", "give it cpus > 0 (Xenna needs a nonzero share)")
        if res.gpus > 0 and res.gpu_memory_gb > 0:
            refuse(
                f"stage {stage.name!r} sets both gpus and gpu_memory_gb",
                "use gpu_memory_gb for a single-GPU stage or gpus for a multi-GPU stage, not both",
            )
    builtin_clipping = [s.name for s in manifest.stages if _family(s, project.curator_version) == "clipping"]
    if manifest.clipping.enabled and builtin_clipping:
        fail(
            f"[clipping] and the [[stages]] entries {', '.join(builtin_clipping)} both cut and transcode clips",
            "remove the [clipping] table (the [[stages]] entries say the same, in their place)",
        )
    model_names: set[str] = set()
    for model in manifest.models:
        if model.name in model_names:
            fail(f"model {model.name!r} is listed twice", "remove or rename one [[models]] entry")
        model_names.add(model.name)
        if not model.name.isidentifier():
            fail(f"model name {model.name!r} is not a Python identifier", "rename it, e.g. clip_model")
        if not model.hf_repo:
            fail(f"model {model.name!r} has no hf_repo", 'add hf_repo = "ORG/NAME"')
    run = manifest.run
    if run.execution_mode not in EXECUTION_MODES:
        fail(f"[run] execution_mode = {run.execution_mode!r} is unknown", f"use one of {', '.join(EXECUTION_MODES)}")
    _validate_clipping(manifest.clipping, fail)


def _family(stage: StageSpec, curator_version: str) -> str:
    from curator_kit.core.pipeline.catalogue import catalogue_for

    builtin = catalogue_for(curator_version).builtin(stage.builtin) if stage.builtin else None
    return builtin.family if builtin is not None else ""


def _validate_builtin_entry(
    stage: StageSpec, curator_version: str, refuse: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    """A built-in names a catalogue entry (its parameters were checked at load), not code of the project."""
    from curator_kit.core.pipeline.catalogue import catalogue_for

    extra = [key for key, value in (("module", stage.module), ("class", stage.class_name)) if value]
    extra += [key for key in ("env", "model") if getattr(stage, key)]
    if extra:
        refuse(
            f"stage {stage.name!r} is the built-in {stage.builtin!r} and also sets {', '.join(extra)}",
            "a built-in runs Curator's own class in the base image's environment: remove " + ", ".join(extra),
        )
    builtin = catalogue_for(curator_version).builtin(stage.builtin)
    if builtin is None:
        refuse(f"stage {stage.name!r}: {stage.builtin!r} is not a built-in stage", "`curator-kit stages --catalogue`")
    if len(builtin.parts) > 1 and (stage.resources is not None or stage.batch_size):
        refuse(
            f"stage {stage.name!r}: the built-in {stage.builtin} is {len(builtin.parts)} Curator stages "
            f"({', '.join(builtin.classes)}): one [stages.resources] or batch_size cannot say which",
            "size its parts with their own parameters in [stages.params] (e.g. num_cpus_per_worker, gpu_memory_gb)",
        )


def _validate_clipping(clipping: ClippingSettings, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if clipping.method not in CLIPPING_METHODS:
        fail(f"[clipping] method = {clipping.method!r} is unknown", f"use one of {', '.join(CLIPPING_METHODS)}")
    if clipping.encoder not in CLIP_ENCODERS:
        fail(f"[clipping] encoder = {clipping.encoder!r} is unknown", f"use one of {', '.join(CLIP_ENCODERS)}")
    for key in ("clip_len_s", "clip_stride_s", "encoder_cpus"):
        if getattr(clipping, key) <= 0:
            fail(f"[clipping] {key} must be greater than 0", f"e.g. {key} = {getattr(ClippingSettings, key)}")
    if not 0 <= clipping.min_clip_length_s <= clipping.clip_len_s:
        fail(
            f"[clipping] min_clip_length_s = {clipping.min_clip_length_s:g} is not between 0 and "
            f"clip_len_s = {clipping.clip_len_s:g}",
            "FixedStrideExtractorStage would make no clip; lower min_clip_length_s",
        )
    for key in ("encoder_threads", "encode_batch_size"):
        if getattr(clipping, key) < 1:
            fail(f"[clipping] {key} must be at least 1", f"set {key} = 1 or more")


def _known(kind: str, names: typing.Iterable[str]) -> str:
    names = sorted(names)
    return f"known {kind}: {', '.join(names)}" if names else f"the project has no {kind} yet"


# ---------------------------------------------------------------- saving


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
    return _checked_edit(candidate, expected, key, table)


def _checked_edit(candidate: str, expected: Manifest, key: str, table: str) -> str:
    """The edited text, when it reads back as the manifest the edit meant; else the edit is refused:
    rewriting the whole file would drop the user's comments. A manifest the edit would make invalid
    (two stages of one name, say) is refused for that, first."""
    validate(expected)
    try:
        if parse_manifest(candidate) == expected:
            return candidate
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
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


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
    manifest = parse_manifest(text)
    index = stage_index(manifest, after, before)
    expected = copy.deepcopy(manifest)
    expected.stages.insert(index, entry)
    fragment = stage_toml(entry)
    if index == len(manifest.stages):
        candidate = text.rstrip("\n") + "\n\n" + fragment
    else:
        lines = text.splitlines(keepends=True)
        at = _key_lines(text)[("stages", index)] - 1
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
    where = _key_lines(text)
    start = where[("clipping",)] - 1
    end = next((n for n in range(start + 1, len(lines)) if _HEADER.match(lines[n])), len(lines))
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
    return _checked_edit(candidate, expected, "stages", "[[stages]]")


def _check_entry(entry: StageSpec | ModelSpec | EnvSpec) -> None:
    """The new entry's values through the parsers a hand-edited manifest meets, before any text is made."""
    kind = "stages" if isinstance(entry, StageSpec) else "models" if isinstance(entry, ModelSpec) else "envs"
    reader = _Reader(f"the new {kind} entry {entry.name!r}", {})
    fixed = {"name": entry.name} if isinstance(entry, EnvSpec) else {}
    reader.integers(_to_toml(entry), (kind,))
    reader.record(type(entry), _to_toml(entry), (kind,), **fixed)
