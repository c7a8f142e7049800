"""The project manifest, `curator-kit.toml`, as types: one dataclass per table.

A field's metadata names its parser in `core.parsers` (the functions the CLI's options use too) and,
for typed fields, how to write the value back as TOML. The jobs done with these types live beside
them: `loading` (read and parse, strictly, with line numbers), `validation` (the rules across
fields and Curator's catalogue) and `editing` (new entries written into the text and read back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from curator_kit.core import parsers
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION, MODE_AUTO
from curator_kit.core.parsers import Mount
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest

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
    # docker | podman: the engine this project's commands use unless --engine or CURATOR_KIT_ENGINE say
    # otherwise; "" = Docker (or whatever DOCKER_HOST points at).
    engine: str = field(default="", metadata=_parsed(_unless_empty(parsers.parse_engine)))


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
