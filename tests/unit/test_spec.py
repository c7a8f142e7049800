"""The pipeline spec: resolved once from the manifest, the one source of the pipeline's shape."""

from dataclasses import replace
from pathlib import Path

import pytest
from curator_kit.core.findings import Code, Severity
from curator_kit.core.pipeline.placement import Nodes, PipelineOptions, place
from curator_kit.core.pipeline.spec import (
    SPEC_FORMAT,
    PipelineSpec,
    choose_execution_mode,
    cpu_scale_to_fit,
    gpu_fraction,
    gpu_fractions,
    resolve_spec,
    writer_stages,
)
from curator_kit.core.project.manifest import ClippingSettings, Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError

FIXED_STRIDE = ClippingSettings(method="fixed-stride")


def stage(name="blur_filter", cpus=0.5, **resources) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "Stage", resources=StageResources(cpus=cpus, **resources))


def spec(stages=None, clipping=None, project_dir=Path("/nonexistent"), version="1.4.0") -> PipelineSpec:
    manifest = Manifest(
        ProjectInfo("demo", curator_version=version),
        stages=[stage()] if stages is None else stages,
        clipping=clipping or ClippingSettings(),
    )
    return resolve_spec(manifest, project_dir)


def test_stage_order_and_classes():
    resolved = spec(clipping=FIXED_STRIDE)
    assert [(s.role, s.name) for s in resolved.stages] == [
        ("reader", "VideoReader"),
        ("clipping", "FixedStrideExtractorStage"),
        ("clipping", "ClipTranscodingStage"),
        ("custom", "blur_filter"),
        ("writer", "ClipWriterStage"),
    ]
    assert resolved.stages[3].class_path == "stages.blur_filter.Stage"
    assert resolved.writer.class_path == "nemo_curator.stages.video.io.clip_writer.ClipWriterStage"
    transcoder = resolved.stages[2]
    assert transcoder.params == {
        "encoder": "libvpx-vp9",
        "num_cpus_per_worker": 1.0,
        "encoder_threads": 1,
        "encode_batch_size": 16,
        "use_hwaccel": False,
    }


def test_json_round_trip_is_canonical():
    resolved = spec(stages=[stage(gpu_memory_gb=8.0, nvdecs=1)], clipping=FIXED_STRIDE)
    text = resolved.to_json()
    assert PipelineSpec.from_json(text) == resolved
    assert PipelineSpec.from_json(text).to_json() == text
    assert "\n" not in text  # it is a label value
    with pytest.raises(CuratorKitError, match="format 99"):
        PipelineSpec.from_json(text.replace(f'"format":{SPEC_FORMAT}', '"format":99'))
    with pytest.raises(CuratorKitError, match="cannot be read"):
        PipelineSpec.from_json("{not json")


def test_gpu_need_is_curators_rule_plus_codec_needs():
    resolved = spec(stages=[stage("a"), stage("b", gpus=1.0), stage("c", gpu_memory_gb=8.0), stage("d", nvencs=1)])
    assert [s.name for s in resolved.gpu_stages] == ["b", "c", "d"]
    assert [(n.stage, n.nvdecs, n.nvencs) for n in resolved.codec_needs] == [("d", 0, 1)]
    nvenc = spec(stages=[], clipping=replace(FIXED_STRIDE, encoder="h264_nvenc"))
    assert [n.who for n in nvenc.codec_needs] == ["clipping (h264_nvenc)"]
    assert nvenc.stages[2].needs_gpu and nvenc.stages[2].params["use_hwaccel"] is True


def test_codec_needs_are_resources_only_up_to_curator_1_1():
    old = spec(stages=[stage(nvdecs=1)], version="1.1.0").stages[1]
    new = spec(stages=[stage(nvdecs=1)], version="1.4.0").stages[1]
    assert old.resources == {"cpus": 0.5, "gpu_memory_gb": 0.0, "gpus": 0.0, "nvdecs": 1, "nvencs": 0}
    assert new.resources == {"cpus": 0.5, "gpu_memory_gb": 0.0, "gpus": 0.0}
    assert new.nvdecs == 1  # kept as a codec need, enforced by preflight


@pytest.mark.parametrize(
    ("card_gib", "fraction"),
    [(24, 0.3), (40, 0.2), (80, 0.1)],
)
def test_gpu_fraction_follows_the_card_that_runs_the_stage(card_gib, fraction):
    # 8 GB: a third of a 24 GB card, a fifth of 40 GB, a tenth of 80 GB. Curator computed it on the
    # driver, which on a cluster or KubeRay head has no GPU and assumed 24 GB for every card.
    assert gpu_fraction(8.0, card_gib) == fraction
    assert gpu_fractions(spec(stages=[stage("embed", gpu_memory_gb=8.0), stage("cpu")]), card_gib) == {
        "embed": fraction
    }


def test_gpu_fraction_floor_and_overflow():
    assert gpu_fraction(1.0, 192) == 0.1  # never rounds to a CPU-only 0.0
    with pytest.raises(CuratorKitError, match="does not fit one 24 GB GPU"):
        gpu_fraction(30.0, 24)
    assert gpu_fractions(spec(stages=[stage(gpu_memory_gb=8.0)]), None) == {}


def test_small_host_streams_with_every_stage_scaled_and_says_why():
    # The DESIGN's measured case: VideoReader (0.5 + 1.0) + a 0.5-cpu stage + ClipWriter 0.25 on 2 cores.
    # Batch would start 2 to 8 workers per stage, one stage after another; streaming starts one of each, once.
    choice = choose_execution_mode("auto", spec(stages=[stage(cpus=0.5)]), [2])
    assert (choice.mode, choice.cpu_allocation, choice.fits_streaming) == ("streaming", 0.95, True)
    assert choice.required_cpus == 2.25
    assert choice.streaming_cpus == 1
    assert choice.cpu_scale == 0.444  # 1 / 2.25, rounded down: 2.25 x 0.444 = 0.999 <= 1
    assert choice.reason == (
        "streaming needs every stage at once: FilePartitioningStage 0.5 + VideoReaderStage 1 + blur_filter 0.5"
        " + ClipWriterStage 0.25 = 2.25 CPUs, but Xenna streams on int(0.95 x 2 cores) = 1 CPUs: every stage's"
        " CPUs scaled x0.444, so one worker of each runs at once (batch starts workers stage by stage)"
    )


def test_a_node_that_cannot_stream_at_all_runs_batch():
    choice = choose_execution_mode("auto", spec(stages=[stage(cpus=0.5)]), [1])  # int(0.95 x 1) = 0
    assert (choice.mode, choice.cpu_allocation, choice.cpu_scale) == ("batch", 1.0, 1.0)
    assert choice.reason.endswith("int(0.95 x 1 cores) = 0 CPUs")


@pytest.mark.parametrize(("required", "allotted", "scale"), [(2.25, 1, 0.444), (5, 1, 0.2), (4, 3, 0.75), (3, 0, None)])
def test_the_cpu_scale_never_overfills_streaming(required, allotted, scale):
    assert cpu_scale_to_fit(required, allotted) == scale
    assert scale is None or required * scale <= allotted


def test_big_host_streams():
    choice = choose_execution_mode("auto", spec(stages=[stage(cpus=4)]), [16])
    assert (choice.mode, choice.fits_streaming, choice.cpu_allocation) == ("streaming", True, 0.95)
    assert "5.75 CPUs" in choice.reason and "= 15 CPUs" in choice.reason


def test_exact_fit_streams():
    # 0.5 + 1 + 1.25 + 0.25 = 3 = int(0.95 x 4) -> fits
    assert choose_execution_mode("auto", spec(stages=[stage(cpus=1.25)]), [4]).mode == "streaming"


def test_explicit_modes_are_kept():
    forced = choose_execution_mode("streaming", spec(), [2])
    assert (forced.mode, forced.fits_streaming, forced.cpu_scale) == ("streaming", True, 0.444)
    assert forced.reason.startswith("asked for; streaming needs every stage")
    cannot = choose_execution_mode("streaming", spec(), [1])
    assert (cannot.mode, cannot.fits_streaming) == ("streaming", False)
    # The placement refuses it, naming why (forceable: the user may know better).
    placed = place(spec(), Nodes(cpus=(1,)), PipelineOptions("streaming", ignore_failures=True))
    (refused,) = [f for f in placed.findings if f.refuses]
    assert (refused.code, refused.severity) == (Code.STREAMING_WONT_START, Severity.REFUSE)
    assert cannot.reason in refused.message
    assert choose_execution_mode("batch", spec(), [64]).mode == "batch"
    with pytest.raises(CuratorKitError, match="execution mode 'fast'"):
        choose_execution_mode("fast", spec(), [2])


def test_one_rule_for_one_node_and_a_cluster():
    four_seventy_five = spec(stages=[stage(cpus=3.0)])  # 0.5 + 1 + 3 + 0.25
    assert choose_execution_mode("auto", four_seventy_five, [1, 1, 1, 1]).mode == "batch"  # int(0.95 x 1) = 0 each
    scaled = choose_execution_mode("auto", four_seventy_five, [2, 2])
    assert (scaled.mode, scaled.streaming_cpus, scaled.cpu_scale) == ("streaming", 2, 0.421)
    big = choose_execution_mode("auto", four_seventy_five, [2, 8, 8])
    assert (big.mode, big.streaming_cpus) == ("streaming", 15)
    unknown = choose_execution_mode("auto", four_seventy_five, None)
    assert unknown.mode == "batch" and "not known" in unknown.reason
    assert choose_execution_mode("streaming", four_seventy_five, None).fits_streaming  # the user knows their cluster


@pytest.mark.parametrize("cpus", [0.25, 0.5, 1.0, 2.0, 3.75, 10.0])
def test_min_streaming_cores_agrees_with_the_rule(cpus):
    # pipeline.py's auto mode scales the stages' CPUs on fewer cores than this: it must be the same rule.
    resolved = spec(stages=[stage(cpus=cpus)])
    cores = resolved.min_streaming_cores
    assert choose_execution_mode("auto", resolved, [cores]).cpu_scale == 1
    assert cores == 1 or choose_execution_mode("auto", resolved, [cores - 1]).cpu_scale < 1
    assert resolved.to_dict()["executor"]["required_cpus"] == resolved.required_cpus


def test_clipping_stages_are_counted_with_their_cpus():
    # The init default: VideoReader (0.5 + 1) + FixedStrideExtractor 1 + ClipTranscoding 1 + stage 0.5 + writer 0.25
    choice = choose_execution_mode("auto", spec(clipping=FIXED_STRIDE), [2])
    assert choice.required_cpus == 4.25
    assert (choice.mode, choice.cpu_scale) == ("streaming", 0.235)
    assert "VideoReaderStage 1 + FixedStrideExtractorStage 1 + ClipTranscodingStage 1 + blur_filter 0.5" in (
        choice.reason
    )
    six = spec(stages=[], clipping=replace(FIXED_STRIDE, encoder_cpus=6.0))
    assert six.execution_parts[3] == ("ClipTranscodingStage", 6.0)
    # h264_nvenc: Resources(gpus=1/3) with the default 1 cpu, whatever encoder_cpus says
    nvenc = spec(stages=[], clipping=replace(FIXED_STRIDE, encoder="h264_nvenc", encoder_cpus=6.0))
    assert nvenc.execution_parts[3] == ("ClipTranscodingStage", 1.0)
    assert spec(stages=[], clipping=ClippingSettings()).execution_parts == spec(stages=[]).execution_parts
    assert choose_execution_mode("auto", spec(stages=[stage(cpus=4)], clipping=FIXED_STRIDE), [16]).mode == "streaming"


def test_a_writer_stage_replaces_clip_writer(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "my_writer.py").write_text(
        "from nemo_curator.stages.video.io.clip_writer import ClipWriterStage\n\n"
        "@dataclass\nclass MyWriter(ClipWriterStage):\n    pass\n"
    )
    (tmp_path / "stages" / "blur_filter.py").write_text("class Stage(ProcessingStage[VideoTask, VideoTask]): ...\n")
    writer = StageSpec("my_writer", "stages.my_writer", "MyWriter", resources=StageResources(cpus=0.25))
    stages = [stage(cpus=0.5), writer]
    assert writer_stages(stages, tmp_path) == {"my_writer"}
    resolved = spec(stages=stages, project_dir=tmp_path)
    assert resolved.writer.name == "my_writer" and resolved.writer.resources["cpus"] == 0.25
    assert [s.role for s in resolved.stages] == ["reader", "custom", "writer"]
    choice = choose_execution_mode("auto", resolved, [4])
    assert choice.required_cpus == 2.25  # 0.5 + 1 + 0.5 + 0.25, no second ClipWriterStage
    assert "ClipWriterStage" not in choice.reason


def test_two_writers_are_refused(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "w.py").write_text("class A(ClipWriterStage): ...\nclass B(ClipWriterStage): ...\n")
    writers = [StageSpec("a", "stages.w", "A"), StageSpec("b", "stages.w", "B")]
    with pytest.raises(CuratorKitError, match="two writers, a and b"):
        spec(stages=writers, project_dir=tmp_path)


def test_a_writer_subclassing_a_project_writer_replaces_clip_writer(tmp_path):
    stages_dir = tmp_path / "stages"
    stages_dir.mkdir()
    (stages_dir / "base_writer.py").write_text(
        "from nemo_curator.stages.video.io import clip_writer\n\n"
        "@dataclass\nclass BaseWriter(\n    clip_writer.ClipWriterStage,\n):\n    pass\n"
    )
    (stages_dir / "my_writer.py").write_text(
        "from stages.base_writer import BaseWriter\n\n@dataclass\nclass MyWriter(BaseWriter):\n    pass\n"
    )
    (stages_dir / "blur_filter.py").write_text("class Stage(ProcessingStage[VideoTask, VideoTask]): ...\n")
    writer = StageSpec("my_writer", "stages.my_writer", "MyWriter", resources=StageResources(cpus=0.25))
    assert writer_stages([stage(), writer], tmp_path) == {"my_writer"}
    assert writer_stages([stage()], tmp_path) == frozenset()


def test_differences_name_what_changed():
    image = spec(stages=[stage("a"), stage("b")])
    assert image.differences(image) == []
    assert image.differences(spec(stages=[stage("a")])) == ["stage b removed"]
    assert image.differences(spec(stages=[stage("a"), stage("b", cpus=2.0)])) == ["stage b changed"]
    assert image.differences(spec(stages=[stage("b"), stage("a")])) == ["stage order changed"]
    assert image.differences(spec(stages=[stage("a"), stage("b")], clipping=FIXED_STRIDE)) == [
        "stage FixedStrideExtractorStage added",
        "stage ClipTranscodingStage added",
    ]
