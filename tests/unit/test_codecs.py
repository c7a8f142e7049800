"""Image codecs (core.pipeline.codecs): the label, what `inspect`/`build` say, and `run`'s input judgement."""

from pathlib import Path

import pytest
from curator_kit.core.constants import LABEL_CODECS
from curator_kit.core.findings import Code, codes, decide, refusals
from curator_kit.core.pipeline.codecs import (
    CodecTool,
    ImageCodecs,
    InputProbe,
    InputSample,
    codecs_from_json,
    codecs_in_labels,
    describe_codecs,
    encoders_used,
    input_codec_problems,
    input_decoders,
    missing_support,
    sample_paths,
)
from curator_kit.core.pipeline.devices import GpuRequest
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.run.preflight import CodecFacts, EngineFacts, judge
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run
from curator_kit.errors import CuratorKitError

# What the probe found in curator-kit's cpu base (abridged) and in an image whose ffmpeg decodes H.264
# only with NVDEC (NVIDIA's Curator image without its optional h264 support).
FULL = CodecTool(
    "5.1.9",
    frozenset({"h264", "h264_cuvid", "hevc", "vp9", "vp8", "libdav1d", "mpeg4"}),
    frozenset({"libopenh264", "libvpx-vp9", "libwebp", "h264_nvenc"}),
    frozenset({"cuda"}),
)
NVDEC_ONLY = CodecTool("5.1.9", frozenset({"h264_cuvid", "hevc", "vp9"}), frozenset({"libvpx-vp9"}))
PYAV = CodecTool("17.1.0", frozenset({"h264", "hevc", "vp9", "libdav1d"}), frozenset({"libx264"}))

MANIFEST = """
[project]
name = "codecs"
[clipping]
method = "fixed-stride"
encoder = "{encoder}"
"""
CUSTOM = '\n[[stages]]\nname = "mine"\nmodule = "stages.mine"\nclass = "Mine"\n'


def spec_of(text: str):
    return resolve_spec(parse_manifest(text), Path("/nonexistent"))


def clipping_spec(encoder: str = "libopenh264", extra: str = ""):
    return spec_of(MANIFEST.format(encoder=encoder) + extra)


def sample(*probes: InputProbe, total: int | None = None) -> InputSample:
    return InputSample(probes, total if total is not None else len(probes))


H264 = InputProbe("cam/a.mp4", "mov", "h264", "yuv420p", 1920, 1080)
VP9 = InputProbe("b.webm", "matroska", "vp9", "yuv420p", 640, 360)


def test_label_round_trip_and_absent_tools() -> None:
    codecs = ImageCodecs(FULL, None)
    again = codecs_in_labels({LABEL_CODECS: codecs.to_label()})
    assert again == codecs and again.pyav is None
    assert codecs_from_json(None) is None and codecs_from_json("not json") is None and codecs_from_json("[1]") is None
    assert ImageCodecs.from_probe({"ffmpeg": None, "pyav": None}) == ImageCodecs(None, None)


def test_describe_lists_software_and_nvidia_codecs() -> None:
    lines = describe_codecs(ImageCodecs(FULL, PYAV))
    assert lines[0] == (
        "ffmpeg 5.1.9: decodes h264 hevc vp9 vp8 av1 mpeg4 (NVDEC: h264); encodes libopenh264 libvpx-vp9 libwebp "
        "(NVENC: h264_nvenc)"
    )
    assert lines[1].startswith("PyAV 17.1.0: decodes h264 hevc vp9 av1;")
    assert describe_codecs(ImageCodecs(None, None)) == ["ffmpeg: absent", "PyAV: absent"]
    (unrecorded,) = describe_codecs(None)
    assert "not recorded" in unrecorded and "curator-kit build" in unrecorded


@pytest.mark.parametrize(
    ("ffmpeg", "pyav", "wanted"),
    [
        (FULL, PYAV, []),
        (
            NVDEC_ONLY,
            PYAV,
            ["no software h264 decoder, only h264_cuvid (NVDEC): h264 inputs need --gpus", "encodes with libopenh264"],
        ),
        (None, PYAV, ["no ffmpeg"]),
        (FULL, None, ["no PyAV"]),
    ],
)
def test_build_says_which_optional_support_is_missing(ffmpeg, pyav, wanted) -> None:
    lines = missing_support(ImageCodecs(ffmpeg, pyav), clipping_spec())
    for text in wanted:
        assert any(text in line for line in lines), (text, lines)
    if not wanted:
        assert lines == []
    if ffmpeg is NVDEC_ONLY:  # the manifest's encoder is missing: run will refuse it, build says so now
        assert any("encodes with libopenh264" in line and "`run` will refuse" in line for line in lines)


def test_sampling_is_even_and_deterministic() -> None:
    paths = [f"v{i:04}.mp4" for i in range(1234)]
    picked = sample_paths(reversed(paths), 50)
    assert picked == sample_paths(paths, 50) and len(picked) == 50 and picked[0] == "v0000.mp4"
    assert sample_paths(paths[:3], 50) == paths[:3]
    text = sample(*(InputProbe(p, "mov", "h264", "yuv420p", 64, 48) for p in picked), total=1234).describe()
    assert text.startswith("probed 50 of 1234 videos (an even sample") and "50 h264 yuv420p 64x48 (mov)" in text


def test_which_stages_decode_the_input_is_catalogue_data() -> None:
    spec = clipping_spec()
    assert [(d.who, d.how) for d in input_decoders(spec)] == [
        ("VideoReader (ffprobe)", "ffmpeg"),
        ("ClipTranscodingStage", "ffmpeg"),
    ]
    assert encoders_used(spec) == [("ClipTranscodingStage", "libopenh264")]
    # A stage of the project's before transcoding may read the source bytes: assumed to decode with PyAV.
    no_clipping = spec_of('[project]\nname = "codecs"\n' + CUSTOM)
    assert [(d.how, d.assumed) for d in input_decoders(no_clipping)] == [("ffmpeg", False), ("pyav", True)]
    assert [d.how for d in input_decoders(clipping_spec(extra=CUSTOM))] == ["ffmpeg", "ffmpeg"]  # freed by then


@pytest.mark.parametrize(
    ("ffmpeg", "probes", "gpus", "refused", "fix"),
    [
        (FULL, (H264, VP9), False, None, None),
        (NVDEC_ONLY, (H264,), True, None, None),  # NVDEC decodes it
        (NVDEC_ONLY, (VP9,), False, None, None),
        (
            NVDEC_ONLY,
            (H264,),
            False,
            "1 input(s) in h264 (cam/a.mp4): the image's ffmpeg decodes h264 only with h264_cuvid (NVDEC) and the run "
            "has no GPU (VideoReader (ffprobe), ClipTranscodingStage)",
            "pass --gpus all",
        ),
        (
            CodecTool("5", frozenset({"vp9"}), frozenset({"libopenh264"})),
            (H264,),
            True,
            "the image's ffmpeg has no h264 decoder",
            "convert the inputs",
        ),
        (None, (VP9,), False, "decode with ffmpeg, which the image lacks", "image with ffmpeg"),
    ],
)
def test_inputs_the_image_cannot_decode_are_refused(ffmpeg, probes, gpus, refused, fix) -> None:
    verdict = input_codec_problems(sample(*probes), ImageCodecs(ffmpeg, PYAV), gpus, clipping_spec())
    decoding = [(p, f) for p, f in verdict.refusals if "encodes with" not in p]
    if ffmpeg is NVDEC_ONLY and gpus:  # allowed, with what to do if a CPU stage sees no GPU
        assert any("only with h264_cuvid (NVDEC); VideoReader (ffprobe)" in w for w in verdict.warnings)
    if refused is None:
        assert decoding == []
    else:
        ((problem, how),) = decoding
        assert refused in problem and fix in how


def test_a_missing_encoder_is_refused_naming_what_the_image_has() -> None:
    verdict = input_codec_problems(sample(VP9), ImageCodecs(NVDEC_ONLY, PYAV), False, clipping_spec())
    ((problem, fix),) = verdict.refusals
    assert (
        problem == "ClipTranscodingStage encodes with libopenh264, which the image's ffmpeg lacks (it has libvpx-vp9)"
    )
    assert "[clipping] encoder" in fix
    assert input_codec_problems(None, ImageCodecs(FULL, PYAV), False, clipping_spec("libvpx-vp9")).refusals == []


def test_inputs_the_reader_skips_are_named_up_front() -> None:
    broken = InputProbe("broken.mp4", error="Invalid data found when processing input")
    audio = InputProbe("audio.mp4", "mov")
    inputs = sample(broken, audio, VP9)
    assert inputs.skipped() == [
        "the reader will skip 1 unreadable input(s): broken.mp4 (Invalid data found when processing input)",
        "the reader will skip 1 input(s) with no video stream: audio.mp4",
    ]
    assert "2 unreadable or without video" in inputs.describe()
    verdict = input_codec_problems(inputs, ImageCodecs(FULL, PYAV), False, clipping_spec())
    assert verdict.refusals == [] and verdict.warnings == []


def test_an_image_without_the_label_is_not_judged_and_says_so() -> None:
    verdict = input_codec_problems(sample(H264), None, False, clipping_spec())
    assert verdict.refusals == [] and "records no codecs" in verdict.warnings[0]


def test_preflight_refuses_before_start_and_force_goes_on(tmp_path: Path) -> None:
    manifest = parse_manifest(MANIFEST.format(encoder="libvpx-vp9"))
    spec = resolve_spec(manifest, tmp_path)
    options = RunOptions(input_dir=tmp_path / "in", output_dir=tmp_path / "out", image="img", gpus=GpuRequest())
    (tmp_path / "in").mkdir()
    plan = plan_run(manifest, spec, tmp_path, options, HostFacts(cpus=4, memory_bytes=16 * 2**30, uid=1000, gid=1000))
    facts = CodecFacts(sample(H264), ImageCodecs(NVDEC_ONLY, PYAV))
    findings = judge(plan, EngineFacts(), [], facts)
    assert codes(refusals(findings)) == [Code.INPUT_CODECS]
    with pytest.raises(CuratorKitError) as error:
        decide(findings, force=False)
    assert error.value.code == Code.INPUT_CODECS.value
    assert "cam/a.mp4" in error.value.message and "--gpus all" in error.value.fix
    forced = decide(findings, force=True)
    assert Code.INPUT_CODECS in codes(forced)
    assert any("--force: going on although 1 input(s) in h264" in f.message for f in forced)
    assert not refusals(judge(plan, EngineFacts(), [], CodecFacts(sample(H264), ImageCodecs(FULL, PYAV))))
