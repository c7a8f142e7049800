"""What an image can decode and encode, and whether it can read a run's inputs (pure).

The facts come from the image's own probe (`base-images/probe-codecs.py`): `build` and `base build`
record its answer in the `curator-kit.codecs` label; `inspect` and `doctor` show it, `build` says what
optional support is missing, and `run` judges the host's input videos against it (`input_codec_problems`).

Which library decodes the input in Curator's stages is catalogue data (`input_decoding`, `encodes` in
`core/pipeline/catalogue/curator_X_Y.toml`); this module only applies it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curator_kit.core.constants import LABEL_CODECS

if TYPE_CHECKING:
    from curator_kit.core.pipeline.catalogue.table import Part
    from curator_kit.core.pipeline.spec import PipelineSpec

# Codec (as ffprobe and PyAV name a stream's codec) -> decoders that decode it on the CPU. ffmpeg's
# native `av1` decoder is absent: it decodes only through a hardware accelerator.
SOFTWARE_DECODERS: dict[str, tuple[str, ...]] = {
    "h264": ("h264", "libopenh264"),
    "hevc": ("hevc",),
    "vp9": ("vp9", "libvpx-vp9"),
    "vp8": ("vp8", "libvpx"),
    "av1": ("libdav1d", "libaom-av1"),
    "mpeg4": ("mpeg4",),
    "mpeg2video": ("mpeg2video",),
}
# Codec -> ffmpeg's NVDEC decoder for it (loads the driver's libnvcuvid: a GPU with `video` capability).
NVDEC_DECODERS: dict[str, str] = {
    "h264": "h264_cuvid",
    "hevc": "hevc_cuvid",
    "vp9": "vp9_cuvid",
    "vp8": "vp8_cuvid",
    "av1": "av1_cuvid",
    "mpeg4": "mpeg4_cuvid",
    "mpeg2video": "mpeg2_cuvid",
}
# Encoders that matter for clips and previews, in the order `inspect` lists them.
ENCODERS = ("libopenh264", "libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "mpeg4", "libwebp")
NVENC_ENCODERS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
# The codecs `build` reports missing software decoding for (the common camera and web formats).
MAIN_CODECS = ("h264", "hevc", "vp9", "av1")
# How many input files `run` opens on the host before it starts; more are sampled evenly.
PROBE_LIMIT = 50

NO_LABEL_FIX = "`curator-kit build` records them on project images, `curator-kit base build` on base images"


@dataclass(frozen=True)
class CodecTool:
    """ffmpeg or PyAV inside an image: its version and the decoders/encoders that matter."""

    version: str
    decoders: frozenset[str] = frozenset()
    encoders: frozenset[str] = frozenset()
    hwaccels: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version}
        data |= {key: sorted(getattr(self, key)) for key in ("decoders", "encoders", "hwaccels") if getattr(self, key)}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CodecTool | None:
        if not isinstance(data, dict):
            return None
        names = {key: frozenset(str(n) for n in data.get(key) or ()) for key in ("decoders", "encoders", "hwaccels")}
        return cls(version=str(data.get("version", "unknown")), **names)

    def software_decoder(self, codec: str) -> str | None:
        return next((d for d in SOFTWARE_DECODERS.get(codec, (codec,)) if d in self.decoders), None)

    def nvdec_decoder(self, codec: str) -> str | None:
        """ffmpeg's NVDEC path for the codec: its `_cuvid` decoder, or its software decoder with `-hwaccel cuda`."""
        cuvid = NVDEC_DECODERS.get(codec)
        if cuvid and cuvid in self.decoders:
            return cuvid
        software = self.software_decoder(codec)
        return f"{software} (cuda)" if software and "cuda" in self.hwaccels else None


@dataclass(frozen=True)
class ImageCodecs:
    """The probe's answer: None for a tool the image lacks (no ffmpeg on PATH, no `av` module)."""

    ffmpeg: CodecTool | None
    pyav: CodecTool | None

    def to_label(self) -> str:
        data = {"ffmpeg": self.ffmpeg and self.ffmpeg.to_dict(), "pyav": self.pyav and self.pyav.to_dict()}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_probe(cls, data: dict[str, Any]) -> ImageCodecs:
        return cls(CodecTool.from_dict(data.get("ffmpeg")), CodecTool.from_dict(data.get("pyav")))


def codecs_from_json(text: str | None) -> ImageCodecs | None:
    """The probe's JSON (the file it wrote, or a label); None when absent or unreadable."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    return ImageCodecs.from_probe(data) if isinstance(data, dict) else None


def codecs_in_labels(labels: dict[str, str]) -> ImageCodecs | None:
    return codecs_from_json(labels.get(LABEL_CODECS))


# --- showing them ------------------------------------------------------------------------------


def _decodes(tool: CodecTool) -> str:
    software = [c for c in SOFTWARE_DECODERS if tool.software_decoder(c)]
    nvdec = [c for c in NVDEC_DECODERS if NVDEC_DECODERS[c] in tool.decoders]
    text = f"decodes {' '.join(software) or 'nothing on the CPU'}"
    return text + (f" (NVDEC: {' '.join(nvdec)})" if nvdec else "")


def _encodes(tool: CodecTool) -> str:
    software = [e for e in ENCODERS if e in tool.encoders]
    nvenc = [e for e in NVENC_ENCODERS if e in tool.encoders]
    return f"encodes {' '.join(software) or 'nothing on the CPU'}" + (f" (NVENC: {' '.join(nvenc)})" if nvenc else "")


def describe_codecs(codecs: ImageCodecs | None) -> list[str]:
    """`ffmpeg 5.1.9: decodes h264 hevc ...; encodes ...` and PyAV's line; one line saying so without a label."""
    if codecs is None:
        return [f"not recorded (an older or foreign image): {NO_LABEL_FIX}"]
    lines = []
    for name, tool in (("ffmpeg", codecs.ffmpeg), ("PyAV", codecs.pyav)):
        if tool is None:
            lines.append(f"{name}: absent")
        else:
            lines.append(f"{name} {tool.version}: {_decodes(tool)}; {_encodes(tool)}")
    return lines


def missing_support(codecs: ImageCodecs, spec: PipelineSpec | None = None) -> list[str]:
    """What optional codec support the image lacks, each with how to add it (`build` prints these)."""
    lines = []
    ffmpeg = codecs.ffmpeg
    if ffmpeg is None:
        lines.append(
            "no ffmpeg: Curator's VideoReader (ffprobe), clipping and transcoding run the ffmpeg CLI -- "
            "build on curator-kit's base (`curator-kit base build`) or install an ffmpeg in the image"
        )
    else:
        for codec in MAIN_CODECS:
            if ffmpeg.software_decoder(codec):
                continue
            nvdec = ffmpeg.nvdec_decoder(codec)
            how = f"only {nvdec} (NVDEC): {codec} inputs need --gpus" if nvdec else f"{codec} inputs cannot be read"
            lines.append(
                f"ffmpeg has no software {codec} decoder, {how} -- or use an ffmpeg that has one "
                "(curator-kit's base image has)"
            )
        used = {encoder for _who, encoder in encoders_used(spec)} if spec is not None else set()
        for encoder in _software_clip_encoders(spec):
            if encoder not in ffmpeg.encoders and encoder not in used:  # a used one gets the line below
                lines.append(
                    f"ffmpeg has no {encoder} encoder: transcoding cannot use encoder = {encoder!r} on the CPU "
                    "-- use an ffmpeg built with it (curator-kit's base image has libopenh264 and libvpx-vp9)"
                )
    if codecs.pyav is None:
        lines.append("no PyAV (`av`): Curator's frame extraction and motion filter decode clips with it -- install av")
    if spec is not None and ffmpeg is not None:
        for who, encoder in encoders_used(spec):
            if encoder not in ffmpeg.encoders:
                lines.append(f"{who} encodes with {encoder}, which this image's ffmpeg lacks: `run` will refuse it")
    return lines


def _software_clip_encoders(spec: PipelineSpec | None) -> list[str]:
    """Curator's CPU clip encoders (the catalogue's choices for the transcoder's encoder)."""
    from curator_kit.core.constants import DEFAULT_CURATOR_VERSION
    from curator_kit.core.pipeline.catalogue import nearest_catalogue

    catalogue = nearest_catalogue(spec.curator_version if spec else DEFAULT_CURATOR_VERSION)
    found: list[str] = []
    for builtin in catalogue.builtins.values():
        for part in builtin.parts:
            rule = part.encodes
            if rule.get("field") and rule["field"] in part.choices:
                found += [e for e in part.choices[rule["field"]] if not e.endswith("_nvenc") and e not in found]
    return found


# --- which stage decodes and encodes what ------------------------------------------------------


@dataclass(frozen=True)
class Decoding:
    """A stage that decodes the input video, and how: `ffmpeg` (its CLI, ffprobe included), `nvdec`
    (the GPU's decoder: PyNvVideoCodec or ffmpeg -hwaccel) or `pyav`."""

    who: str
    how: str
    assumed: bool = False  # a project stage: curator-kit cannot see how it decodes


def _part_of(spec: PipelineSpec, class_path: str, builtin: str) -> Part | None:
    from curator_kit.core.pipeline.catalogue import nearest_catalogue

    entry = nearest_catalogue(spec.curator_version).builtin(builtin)
    return next((p for p in entry.parts if p.class_path == class_path), None) if entry else None


def _stage_values(part: Part, params: dict[str, Any]) -> dict[str, Any]:
    return {f.name: params.get(f.name, part.default(f.name)) for f in part.fields} | dict(params)


def input_decoders(spec: PipelineSpec) -> list[Decoding]:
    """Every stage that decodes the input videos, in pipeline order (catalogue data: `input_decoding`).
    A project stage placed before the stage that frees the source bytes may decode them too: assumed
    to use PyAV, as curator-kit cannot see inside it."""
    from curator_kit.core.pipeline.catalogue import nearest_catalogue
    from curator_kit.core.pipeline.catalogue.rules import holds

    catalogue = nearest_catalogue(spec.curator_version)
    found: list[Decoding] = []
    freed = False
    for stage in spec.stages:
        if stage.role == "reader":
            # Curator's reader runs ffprobe for the metadata (the catalogue says `ffmpeg`: its CLI).
            found += [
                Decoding(f"{stage.name} (ffprobe)" if how == "ffmpeg" else stage.name, how)
                for how in catalogue.reader_decoding
            ]
        elif stage.builtin:
            part = _part_of(spec, stage.class_path, stage.builtin)
            if part is None:
                continue
            values = _stage_values(part, stage.params)
            case = next((c for c in part.input_decoding if holds(c.get("if", {}), values)), None)
            if case is not None and not freed:
                found.append(Decoding(stage.name, case["with"]))
            entry = catalogue.builtin(stage.builtin)
            freed = freed or bool(entry and "source_bytes" in entry.consumes)
        elif stage.role == "custom" and not freed:
            found.append(Decoding(f"stage {stage.name!r}", "pyav", assumed=True))
    return found


def encoders_used(spec: PipelineSpec) -> list[tuple[str, str]]:
    """(who, encoder) for every stage that encodes with ffmpeg (catalogue data: `encodes`)."""
    found = []
    for stage in spec.stages:
        if not stage.builtin:
            continue
        part = _part_of(spec, stage.class_path, stage.builtin)
        if part is None or not part.encodes:
            continue
        rule = part.encodes
        encoder = _stage_values(part, stage.params).get(rule["field"]) if "field" in rule else rule.get("name")
        if encoder:
            found.append((stage.name, str(encoder)))
    return found


# --- the inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputProbe:
    """One input file as the host's PyAV opened it; `error` set when it could not."""

    path: str  # relative to the input directory
    container: str = ""
    codec: str = ""  # "" with no error: no video stream
    pix_fmt: str = ""
    width: int = 0
    height: int = 0
    error: str = ""

    @property
    def readable(self) -> bool:
        return not self.error and bool(self.codec)


@dataclass(frozen=True)
class InputSample:
    probes: tuple[InputProbe, ...]
    total: int  # video files found (the reader's extensions)

    def skipped(self) -> list[str]:
        """Inputs the reader will skip (unreadable, no video stream): said before anything else is judged."""
        unreadable = [p for p in self.probes if p.error]
        no_video = [p for p in self.probes if not p.error and not p.codec]
        lines = []
        if unreadable:
            why = unreadable[0].error
            lines.append(f"the reader will skip {len(unreadable)} unreadable input(s): {_names(unreadable)} ({why})")
        if no_video:
            lines.append(f"the reader will skip {len(no_video)} input(s) with no video stream: {_names(no_video)}")
        return lines

    def describe(self) -> str:
        """`probed 50 of 1234 videos: 40 h264 yuv420p 1920x1080, 10 vp9 ...`."""
        kinds = Counter(
            f"{p.codec} {p.pix_fmt} {p.width}x{p.height} ({p.container})" for p in self.probes if p.readable
        )
        unreadable = sum(1 for p in self.probes if not p.readable)
        parts = [f"{n} {kind}" for kind, n in kinds.most_common()]
        if unreadable:
            parts.append(f"{unreadable} unreadable or without video")
        sampled = "" if len(self.probes) == self.total else " (an even sample, same files every run)"
        head = f"probed {len(self.probes)} of {self.total} video{'s' if self.total != 1 else ''}{sampled}"
        return head + (f": {', '.join(parts)}" if parts else "")


def sample_paths(paths: Sequence[str], limit: int = PROBE_LIMIT) -> list[str]:
    """`limit` paths spread evenly over the sorted list: deterministic, so every run probes the same."""
    ordered = sorted(paths)
    if len(ordered) <= limit:
        return ordered
    step = len(ordered) / limit
    return [ordered[int(i * step)] for i in range(limit)]


def _names(probes: Iterable[InputProbe], most: int = 3) -> str:
    paths = [p.path for p in probes]
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


@dataclass
class CodecVerdict:
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (problem, fix)
    warnings: list[str] = field(default_factory=list)


def input_codec_problems(
    sample: InputSample | None, codecs: ImageCodecs | None, gpus: bool, spec: PipelineSpec
) -> CodecVerdict:
    """Refusals when the image cannot decode the sampled inputs on the planned devices (`gpus`: the
    run has GPUs), or lacks the encoder the pipeline writes clips with; warnings for what cannot be
    checked. Inputs the reader would skip are the sample's own warnings (`InputSample.skipped`)."""
    verdict = CodecVerdict()
    if codecs is None:
        verdict.warnings.append(f"the image records no codecs, so inputs and encoders were not checked: {NO_LABEL_FIX}")
        return verdict
    if sample is not None:
        _judge_decoding(sample, codecs, gpus, spec, verdict)
    _judge_encoders(codecs, spec, verdict)
    return verdict


def _judge_decoding(
    sample: InputSample, codecs: ImageCodecs, gpus: bool, spec: PipelineSpec, verdict: CodecVerdict
) -> None:
    by_codec: dict[str, list[InputProbe]] = {}
    for probe in sample.probes:
        if probe.readable:
            by_codec.setdefault(probe.codec, []).append(probe)
    decoders = input_decoders(spec)
    for codec, probes in sorted(by_codec.items()):
        what = f"{len(probes)} input(s) in {codec} ({_names(probes)})"
        for how, name in (("ffmpeg", "ffmpeg"), ("pyav", "PyAV")):
            users = [d for d in decoders if d.how == how]
            if not users:
                continue
            who = ", ".join(d.who for d in users)
            if all(d.assumed for d in users):
                who += ", assumed: curator-kit cannot see how a stage of yours decodes"
            tool = codecs.ffmpeg if how == "ffmpeg" else codecs.pyav
            if tool is None:
                verdict.refusals.append(
                    (f"{what}: {who} decode with {name}, which the image lacks", _add_tool_fix(name))
                )
                continue
            if codec not in SOFTWARE_DECODERS:
                if codec not in tool.decoders:
                    verdict.warnings.append(f"{what}: whether the image's {name} decodes {codec} was not checked")
                continue
            if tool.software_decoder(codec):
                continue
            nvdec = tool.nvdec_decoder(codec) if how == "ffmpeg" else None
            if nvdec and gpus:
                # Curator's own error for this case says "no GPU is visible to this stage": a stage
                # scheduled without a GPU may not see the container's.
                verdict.warnings.append(
                    f"{what}: the image's {name} decodes {codec} only with {nvdec} (NVDEC); {who} must see a GPU "
                    f"-- if the reader skips them, {_decoder_fix(codec)}"
                )
                continue
            if nvdec:
                problem = f"the image's {name} decodes {codec} only with {nvdec} (NVDEC) and the run has no GPU"
                fix = f"pass --gpus all (NVDEC), convert the inputs (e.g. to VP9), or {_decoder_fix(codec)}"
            else:
                problem = f"the image's {name} has no {codec} decoder"
                fix = f"convert the inputs (e.g. to VP9), or {_decoder_fix(codec)}"
            verdict.refusals.append((f"{what}: {problem} ({who})", fix))


def _decoder_fix(codec: str) -> str:
    return f"build on an image whose ffmpeg decodes {codec} on the CPU (curator-kit's base: `curator-kit base build`)"


def _add_tool_fix(name: str) -> str:
    if name == "PyAV":
        return "install av in the image (an [envs] pip requirement)"
    return "build on an image with ffmpeg (curator-kit's base: `curator-kit base build`)"


def _judge_encoders(codecs: ImageCodecs, spec: PipelineSpec, verdict: CodecVerdict) -> None:
    for who, encoder in encoders_used(spec):
        if codecs.ffmpeg is None:
            verdict.refusals.append((f"{who} encodes with ffmpeg, which the image lacks", _add_tool_fix("ffmpeg")))
        elif encoder not in codecs.ffmpeg.encoders:
            has = [e for e in (*ENCODERS, *NVENC_ENCODERS) if e in codecs.ffmpeg.encoders]
            verdict.refusals.append(
                (
                    f"{who} encodes with {encoder}, which the image's ffmpeg lacks (it has {', '.join(has) or 'none'})",
                    "set [clipping] encoder to one the image has, or build on an image whose ffmpeg has it",
                )
            )
