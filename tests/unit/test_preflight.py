from pathlib import Path

import pytest
from curator_kit.core.findings import Code, Severity, codes, decide, refusals, warnings_of
from curator_kit.core.parsers import parse_gpus
from curator_kit.core.pipeline.devices import HostGpu
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import (
    ClippingSettings,
    Manifest,
    ProjectInfo,
    RunDefaults,
    StageResources,
    StageSpec,
)
from curator_kit.core.run.preflight import EngineFacts, judge
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run
from curator_kit.errors import CuratorKitError
from curator_kit.ops.launch import EngineSession, check_plan

HOST = HostFacts(cpus=16, memory_bytes=64 * 2**30, uid=1000, gid=1000)
NVIDIA_ENGINE = EngineFacts(runtimes=("nvidia", "runc"))
PLAIN_ENGINE = EngineFacts(runtimes=("runc",))
H100S = [HostGpu(0, "NVIDIA H100 80GB HBM3", 81559), HostGpu(1, "NVIDIA H100 80GB HBM3", 81559)]
L4S = [HostGpu(0, "NVIDIA L4", 23034)]


def stage(name, **resources) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "S", resources=StageResources(**resources))


def problems(findings):
    return [f.message for f in refusals(findings)]


def warnings(findings):
    return [f.message for f in warnings_of(findings)]


def with_input(tmp_path):
    """A project directory whose input exists: the plan's own findings then hold only what a test is about."""
    (tmp_path / "in").mkdir()
    return tmp_path


def plan(stages, tmp_path=Path("/tmp"), **opts):
    manifest = Manifest(ProjectInfo("demo"), stages=stages, run=RunDefaults())
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "r1"}
    values |= opts
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, RunOptions(**values), HOST)


def test_nvenc_stage_on_h100_is_refused_naming_stage_and_gpu():
    p = plan([stage("encode", nvdecs=1, nvencs=1)], gpus=parse_gpus("all"))
    findings = judge(p, NVIDIA_ENGINE, H100S)
    assert problems(findings) == ["stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"]
    assert codes(findings) == [Code.CODEC_ENGINES]
    with pytest.raises(CuratorKitError) as raised:
        decide(findings, force=False)
    assert raised.value.code == Code.CODEC_ENGINES.value
    assert raised.value.one_line() == (
        "stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC -- "
        "pick GPUs that have them with --gpus device=...; or --force to run anyway [codec-engines]"
    )
    forced = decide(findings, force=True)
    assert [(f.code, f.severity) for f in forced] == [(Code.CODEC_ENGINES, Severity.WARN)]
    assert [f.message for f in forced] == [
        "--force: going on although stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"
    ]


def test_nvdec_only_stage_runs_on_h100_and_both_on_l4():
    p = plan([stage("decode", nvdecs=1)], gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, H100S) == []
    p = plan([stage("encode", nvdecs=1, nvencs=1)], gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, L4S) == []


def test_only_the_selected_gpus_are_judged():
    mixed = [HostGpu(0, "NVIDIA L4", 23034), HostGpu(1, "NVIDIA A100-SXM4-80GB", 81920)]
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("device=0"))
    assert problems(judge(p, NVIDIA_ENGINE, mixed)) == []
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("device=1"))
    assert problems(judge(p, NVIDIA_ENGINE, mixed)) == [
        "stage 'encode' needs 1 NVENC but GPU 1 (NVIDIA A100-SXM4-80GB) has no NVENC"
    ]


def test_unverifiable_codecs_warn():
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("all"))
    assert warnings(judge(p, NVIDIA_ENGINE, [])) == ["nvidia-smi sees no GPU here: NVDEC/NVENC needs cannot be checked"]
    remote = EngineFacts(runtimes=("nvidia",), local=False)
    assert "remote" in warnings(judge(p, remote, H100S))[0]


def test_gpu_stage_without_gpus_is_refused(tmp_path):
    # The refusal is the plan's own (core.pipeline.placement), no longer the engine's: the plan and the engine's
    # findings go through the one gate together, as `check_plan` and `decide` do for the real command.
    p = plan([stage("embed", gpu_memory_gb=8.0), stage("cpu_only")], with_input(tmp_path))
    assert [(f.code, f.severity) for f in refusals(p.findings)] == [(Code.GPU_STAGE_WITHOUT_GPU, Severity.REFUSE)]
    assert judge(p, PLAIN_ENGINE, []) == []
    with pytest.raises(CuratorKitError) as raised:
        decide([*p.findings, *judge(p, PLAIN_ENGINE, [])], force=False)
    assert raised.value.code == Code.GPU_STAGE_WITHOUT_GPU.value
    assert raised.value.one_line() == (
        "stage 'embed' needs a GPU but the nodes that run it get none -- pass --gpus all; or --force to run anyway"
        " [gpu-stage-without-gpu]"
    )


def test_engine_without_nvidia_support():
    p = plan([], gpus=parse_gpus("all"))
    refusal = (
        "GPUs asked for, but the engine has no NVIDIA support (no nvidia runtime, CDI or nvidia-container-runtime-hook)"
    )
    assert problems(judge(p, PLAIN_ENGINE, [])) == [refusal]
    assert codes(judge(p, PLAIN_ENGINE, [])) == [Code.NO_NVIDIA_SUPPORT]
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(p, PLAIN_ENGINE, []), force=False)
    assert "nvidia-ctk runtime configure" in raised.value.fix
    assert raised.value.code == Code.NO_NVIDIA_SUPPORT.value
    remote = judge(p, EngineFacts(runtimes=("runc",), local=False), [])
    assert warnings(remote) == [refusal]
    assert [(f.code, f.severity) for f in remote] == [(Code.NO_NVIDIA_SUPPORT, Severity.WARN)]
    for engine in (EngineFacts(nvidia_hook=True), EngineFacts(cdi_spec_dirs=("/etc/cdi",)), NVIDIA_ENGINE):
        assert judge(p, engine, []) == []


def test_runtime_nvidia_needs_the_runtime():
    p = plan([], runtime="nvidia")
    assert problems(judge(p, PLAIN_ENGINE, [])) == ["--runtime nvidia, but the engine's runtimes are runc"]
    assert codes(judge(p, PLAIN_ENGINE, [])) == [Code.NO_NVIDIA_SUPPORT]
    assert judge(p, NVIDIA_ENGINE, []) == []


def test_codec_stages_must_run_on_xenna():
    p = plan([stage("decode", nvdecs=1)], gpus=parse_gpus("all"))
    p.executor = "ray_data"
    assert problems(judge(p, NVIDIA_ENGINE, L4S)) == [
        "stage 'decode' needs NVDEC/NVENC, which only Xenna schedules (the run uses ray_data)"
    ]
    assert codes(judge(p, NVIDIA_ENGINE, L4S)) == [Code.CODEC_NEEDS_XENNA]


def test_streaming_that_cannot_start_is_refused(tmp_path):
    # The refusal moved from the engine's judgement into the placement: it is the plan's own finding.
    small = HostFacts(cpus=1, memory_bytes=8 * 2**30, uid=0, gid=0)  # int(0.95 x 1) = 0: nothing streams
    manifest = Manifest(ProjectInfo("demo"), stages=[stage("s", cpus=0.5)], run=RunDefaults())
    with_input(tmp_path)
    opts = RunOptions(tmp_path / "in", tmp_path / "out", "demo:latest", execution_mode="streaming")
    p = plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, opts, small)
    assert judge(p, PLAIN_ENGINE, []) == []
    assert problems(p.findings) == [f"streaming mode will not start: {p.execution.reason}"]
    assert codes(refusals(p.findings)) == [Code.STREAMING_WONT_START]
    with pytest.raises(CuratorKitError) as raised:
        decide(p.findings, force=False)
    assert raised.value.fix == "use --execution-mode auto or batch; or --force to run anyway"
    assert raised.value.code == Code.STREAMING_WONT_START.value
    assert codes(decide(p.findings, force=True)) == [Code.STREAMING_WONT_START]


def test_command_override_skips_stage_checks():
    p = plan([stage("encode", nvencs=1)], command=("sleep", "1"))
    assert judge(p, PLAIN_ENGINE, []) == []


def test_several_refusals_are_all_reported():
    p = plan([stage("a", nvencs=1), stage("b", nvencs=2)], gpus=parse_gpus("all"))
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(p, NVIDIA_ENGINE, H100S), force=False)
    assert raised.value.message.endswith("(and 1 more problem above)")
    assert raised.value.code == Code.CODEC_ENGINES.value
    assert raised.value.details == ("stage 'b' needs 2 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC",)


def test_engine_facts_from_info(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    info = {"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}, "CDISpecDirs": ["/etc/cdi"]}
    facts = EngineFacts.from_info(info, "unix:///var/run/docker.sock")
    assert facts == EngineFacts(runtimes=("nvidia", "runc"), cdi_spec_dirs=("/etc/cdi",), nvidia_hook=False, local=True)
    assert EngineFacts.from_info({}, "tcp://10.0.0.5:2376").local is False


class _Image:
    def __init__(self):
        self.labels = {}  # no codecs label: the codec check says what it could not check


class _Images:
    def __init__(self, present):
        self.present = present

    def get(self, name):
        from docker.errors import ImageNotFound

        if name not in self.present:
            raise ImageNotFound(name)
        return _Image()


class _Client:
    def __init__(self, present=()):
        self.images = _Images(present)


def session(client) -> EngineSession:
    return EngineSession(client, {}, HOST, PLAIN_ENGINE)


def test_missing_image_is_not_forceable(tmp_path):
    p = plan([], with_input(tmp_path))
    checked = check_plan(session(_Client()), p, dry_run=False)
    assert [(f.code, f.severity) for f in refusals(checked.findings)] == [(Code.IMAGE_NOT_BUILT, Severity.REFUSE)]
    with pytest.raises(CuratorKitError) as raised:
        decide(checked.findings, force=True)
    assert raised.value.one_line() == (
        "image demo:latest is not in the Docker engine -- run `curator-kit build` "
        "(or pass --image with an image the engine has) [image-not-built]"
    )
    present = check_plan(session(_Client(["demo:latest"])), p, dry_run=False).findings
    assert refusals(present) == []
    # Only what the image's (absent) codecs label leaves unchecked is said: a warning, not a refusal.
    assert codes(decide(present)) == [Code.INPUT_CODECS_UNCHECKED]


def clipping_plan(encoder, tmp_path=Path("/tmp"), **opts):
    clipping = ClippingSettings(method="fixed-stride", encoder=encoder)
    manifest = Manifest(ProjectInfo("demo"), run=RunDefaults(), clipping=clipping)
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "r1"}
    values |= opts
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, RunOptions(**values), HOST)


def test_nvenc_clipping_is_refused_where_gpus_lack_nvenc():
    p = clipping_plan("h264_nvenc", gpus=parse_gpus("all"))
    assert problems(judge(p, NVIDIA_ENGINE, H100S)) == [
        "clipping (h264_nvenc) needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"
    ]
    assert codes(judge(p, NVIDIA_ENGINE, H100S)) == [Code.CODEC_ENGINES]
    assert problems(judge(p, NVIDIA_ENGINE, [HostGpu(0, "NVIDIA A100-SXM4-80GB", 81920)])) == [
        "clipping (h264_nvenc) needs 1 NVENC but GPU 0 (NVIDIA A100-SXM4-80GB) has no NVENC"
    ]
    assert judge(p, NVIDIA_ENGINE, L4S) == []


def test_nvenc_clipping_needs_gpus(tmp_path):
    p = clipping_plan("h264_nvenc", with_input(tmp_path))
    with pytest.raises(CuratorKitError) as raised:
        decide([*p.findings, *judge(p, PLAIN_ENGINE, [])], force=False)
    assert raised.value.code == Code.GPU_STAGE_WITHOUT_GPU.value
    assert raised.value.message == "clipping (h264_nvenc) needs a GPU with NVENC but the nodes that run it get none"
    assert "--gpus all" in raised.value.fix and "libvpx-vp9" in raised.value.fix


def test_cpu_clipping_needs_nothing(tmp_path):
    p = clipping_plan("libvpx-vp9", with_input(tmp_path))
    assert judge(p, PLAIN_ENGINE, []) == []
    assert refusals(p.findings) == []
    assert judge(clipping_plan("libopenh264", gpus=parse_gpus("all")), NVIDIA_ENGINE, H100S) == []
