"""The project manifest, `curator-kit.toml`: dataclasses, load (strict), validate, save.

tomllib does not report where a key sits, so loading keeps a small index of key -> line built
from the text; every unknown or mistyped key is reported as `curator-kit.toml:LINE`.
"""

from __future__ import annotations

import copy
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from curator_kit.core.constants import DEFAULT_CURATOR_VERSION, MANIFEST_NAME
from curator_kit.errors import CuratorKitError

EXECUTION_MODES = ("auto", "streaming", "batch")
CLIPPING_METHODS = ("none", "fixed-stride")
# ClipTranscodingStage's encoders in nemo-curator 1.4.0; h264_nvenc runs on a GPU with NVENC.
CLIP_ENCODERS = ("libvpx-vp9", "libopenh264", "h264_nvenc")
GPU_ENCODERS = ("h264_nvenc",)

# A key's place in the parsed document, e.g. ("stages", 0, "resources", "cpus").
KeyPath = tuple[str | int, ...]


# `toml` metadata renames a field whose TOML key is a Python keyword.
def _key(name: str) -> dict[str, str]:
    return {"toml": name}


@dataclass
class ProjectInfo:
    name: str
    curator_version: str = DEFAULT_CURATOR_VERSION
    base_image: str = ""
    templates: str = ""


@dataclass
class StageResources:
    cpus: float = 1.0
    gpu_memory_gb: float = 0.0
    gpus: float = 0.0
    nvdecs: int = 0
    nvencs: int = 0


@dataclass
class StageSpec:
    name: str
    module: str
    class_name: str = field(metadata=_key("class"))
    env: str = ""
    model: str = ""
    batch_size: int = 1
    resources: StageResources = field(default_factory=StageResources)


@dataclass
class ModelSpec:
    name: str
    module: str
    class_name: str = field(metadata=_key("class"))
    hf_repo: str = ""
    revision: str = "main"
    files: list[str] = field(default_factory=list)
    bake: bool = False


@dataclass
class EnvSpec:
    name: str = field(metadata=_key(""))  # the table key, not a TOML field
    pip: list[str] = field(default_factory=list)
    apt: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildSettings:
    wheelhouse: str = ""
    ca_certs: list[str] = field(default_factory=list)
    pip_index_url: str = ""
    pip_extra_index_urls: list[str] = field(default_factory=list)


@dataclass
class RunDefaults:
    gpus: str = "none"
    shm_size: str = ""
    execution_mode: str = "auto"
    ignore_failures: bool = False
    mounts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


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
    return parse_manifest(read_manifest_text(project_dir))


def save_manifest(manifest: Manifest, project_dir: Path | str) -> None:
    validate(manifest)
    (Path(project_dir) / MANIFEST_NAME).write_text(dump_manifest(manifest), encoding="utf-8")


# ---------------------------------------------------------------- parsing


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CuratorKitError(f"{source} is not valid TOML: {error}", "fix the syntax at that line") from None
    reader = _Reader(source, _key_lines(text))
    reader.only(data, (), ("project", "clipping", "stages", "models", "envs", "build", "run"))
    if "project" not in data:
        raise CuratorKitError(f"{source}: missing [project] table", 'add [project] with name = "..."')
    envs_table = reader.table(data.get("envs", {}), ("envs",))
    manifest = Manifest(
        project=reader.record(ProjectInfo, data["project"], ("project",)),
        stages=[reader.record(StageSpec, s, ("stages", i)) for i, s in enumerate(reader.array(data, "stages"))],
        models=[reader.record(ModelSpec, m, ("models", i)) for i, m in enumerate(reader.array(data, "models"))],
        envs={
            name: reader.record(EnvSpec, reader.table(body, ("envs", name)), ("envs", name), name=name)
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
        self.only(body, path, keyed)
        kwargs = dict(fixed)
        for key, spec in keyed.items():
            if key in body:
                kwargs[spec.name] = self.convert(body[key], hints[spec.name], (*path, key))
            elif spec.default is MISSING and spec.default_factory is MISSING:
                self.fail(path, f"[{_dotted(path)}] is missing {key!r}", f"add {key} = ... to that table")
        return cls(**kwargs)

    def convert(self, value: Any, kind: Any, path: KeyPath) -> Any:
        if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
            return self.record(kind, value, path)
        origin, args = typing.get_origin(kind), typing.get_args(kind)
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
            ok = isinstance(value, dict) and all(isinstance(v, args[1]) for v in value.values())
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
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-]?[A-Za-z0-9.]+)?")
_RUN_GPUS = re.compile(r"all|none|\d+|device=\d+(,\d+)*")
_SHM = re.compile(r"\d+(\.\d+)?([bkmgBKMG][bB]?)?")
_MOUNT = re.compile(r"[^:]+:/[^:]*(:(ro|rw))?")
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION.fullmatch(version.strip())
    if not match:
        raise CuratorKitError(f"curator_version {version!r} is not a version", 'use e.g. "1.4.0"')
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def validate(manifest: Manifest, source: str = MANIFEST_NAME) -> None:
    """Cross-field rules; raises the first problem as one line."""

    def fail(message: str, fix: str) -> typing.NoReturn:
        raise CuratorKitError(f"{source}: {message}", fix)

    project = manifest.project
    if not _PROJECT_NAME.fullmatch(project.name):
        fail(f"project name {project.name!r} is not docker-safe", "use lowercase letters, digits, '-' and '_'")
    parse_version(project.curator_version)
    seen: set[str] = set()
    for stage in manifest.stages:
        if not stage.name.isidentifier():
            fail(f"stage name {stage.name!r} is not a Python identifier", "rename it, e.g. blur_filter")
        if stage.name in seen:
            fail(f"stage {stage.name!r} is listed twice", "remove or rename one [[stages]] entry")
        seen.add(stage.name)
        if stage.env and stage.env not in manifest.envs:
            fail(f"stage {stage.name!r} uses unknown env {stage.env!r}", _known("envs", manifest.envs))
        if stage.model and manifest.model(stage.model) is None:
            fail(
                f"stage {stage.name!r} uses unknown model {stage.model!r}",
                _known("models", [m.name for m in manifest.models]),
            )
        if stage.batch_size < 1:
            fail(f"stage {stage.name!r}: batch_size must be at least 1", "set batch_size = 1 or more")
        res = stage.resources
        if min(res.cpus, res.gpu_memory_gb, res.gpus, res.nvdecs, res.nvencs) < 0:
            fail(f"stage {stage.name!r}: resources cannot be negative", "fix [stages.resources]")
        if res.cpus == 0 and res.gpus == 0 and res.gpu_memory_gb == 0:
            fail(f"stage {stage.name!r} asks for no CPU and no GPU", "give it cpus > 0 (Xenna needs a nonzero share)")
        if res.gpus > 0 and res.gpu_memory_gb > 0:
            fail(
                f"stage {stage.name!r} sets both gpus and gpu_memory_gb",
                "use gpu_memory_gb for a single-GPU stage or gpus for a multi-GPU stage, not both",
            )
    model_names: set[str] = set()
    for model in manifest.models:
        if model.name in model_names:
            fail(f"model {model.name!r} is listed twice", "remove or rename one [[models]] entry")
        model_names.add(model.name)
        if model.hf_repo.count("/") != 1:
            fail(f"model {model.name!r}: hf_repo {model.hf_repo!r} is not ORG/REPO", 'e.g. hf_repo = "org/repo"')
    run = manifest.run
    if not _RUN_GPUS.fullmatch(run.gpus):
        fail(f"[run] gpus = {run.gpus!r} is not docker syntax", "use all, none, a count, or device=0,2")
    if run.execution_mode not in EXECUTION_MODES:
        fail(f"[run] execution_mode = {run.execution_mode!r} is unknown", f"use one of {', '.join(EXECUTION_MODES)}")
    if run.shm_size and not _SHM.fullmatch(run.shm_size):
        fail(f"[run] shm_size = {run.shm_size!r} is not a size", 'e.g. "8g" or "" to size it from host memory')
    for mount in run.mounts:
        if not _MOUNT.fullmatch(mount):
            fail(f"[run] mount {mount!r} is not host:/container[:ro]", 'e.g. "/data/models:/models:ro"')
    _validate_clipping(manifest.clipping, fail)


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
        if key in ("env", "model") and value == "" and isinstance(record, StageSpec):
            continue
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
    is shaped so that appending would not mean that (e.g. an inline `envs = {...}`), it is
    rewritten whole instead.
    """
    import tomli_w

    expected = copy.deepcopy(parse_manifest(text))
    if isinstance(entry, StageSpec):
        fragment, expected.stages = {"stages": [_to_toml(entry)]}, [*expected.stages, entry]
    elif isinstance(entry, ModelSpec):
        fragment, expected.models = {"models": [_to_toml(entry)]}, [*expected.models, entry]
    else:
        fragment, expected.envs = {"envs": {entry.name: _to_toml(entry)}}, {**expected.envs, entry.name: entry}
    candidate = text.rstrip("\n") + "\n\n" + tomli_w.dumps(fragment)
    try:
        if parse_manifest(candidate) == expected:
            return candidate
    except CuratorKitError:
        pass
    validate(expected)
    return dump_manifest(expected)
