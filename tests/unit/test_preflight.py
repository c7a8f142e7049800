from pathlib import Path

import pytest
from curator_kit.core.devices import HostGpu
from curator_kit.core.manifest import ClippingSettings, Manifest, ProjectInfo, RunDefaults, StageResources, StageSpec
from curator_kit.core.parsers import parse_gpus
from curator_kit.core.preflight import EngineFacts, Verdict, decide, judge
from curator_kit.core.runplan import HostFacts, RunOptions, plan_run
from curator_kit.core.spec import resolve_spec
from curator_kit.errors import CuratorKitError
from curator_kit.ops.launch import preflight

HOST = HostFacts(cpus=16, memory_bytes=64 * 2**30, uid=1000, gid=1000)
NVIDIA_ENGINE = EngineFacts(runtimes=("nvidia", "runc"))
PLAIN_ENGINE = EngineFacts(runtimes=("runc",))
H100S = [HostGpu(0, "NVIDIA H100 80GB HBM3", 81559), HostGpu(1, "NVIDIA H100 80GB HBM3", 81559)]
L4S = [HostGpu(0, "NVIDIA L4", 23034)]


def stage(name, **resources) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "S", resources=StageResources(**resources))


def plan(stages, tmp_path=Path("/tmp"), **opts):
    manifest = Manifest(ProjectInfo("demo"), stages=stages, run=RunDefaults())
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "r1"}
    values |= opts
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, RunOptions(**values), HOST)


def test_nvenc_stage_on_h100_is_refused_naming_stage_and_gpu():
    p = plan([stage("encode", nvdecs=1, nvencs=1)], gpus=parse_gpus("all"))
    verdict = judge(p, NVIDIA_ENGINE, H100S)
    assert verdict.problems == ["stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"]
    with pytest.raises(CuratorKitError) as raised:
        decide(verdict, force=False)
    assert raised.value.one_line() == (
        "stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC -- "
        "pick GPUs that have them with --gpus device=...; or --force to run anyway"
    )
    assert decide(verdict, force=True) == [
        "--force: going on although stage 'encode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"
    ]


def test_nvdec_only_stage_runs_on_h100_and_both_on_l4():
    p = plan([stage("decode", nvdecs=1)], gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, H100S) == Verdict()
    p = plan([stage("encode", nvdecs=1, nvencs=1)], gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, L4S) == Verdict()


def test_only_the_selected_gpus_are_judged():
    mixed = [HostGpu(0, "NVIDIA L4", 23034), HostGpu(1, "NVIDIA A100-SXM4-80GB", 81920)]
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("device=0"))
    assert judge(p, NVIDIA_ENGINE, mixed).problems == []
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("device=1"))
    assert judge(p, NVIDIA_ENGINE, mixed).problems == [
        "stage 'encode' needs 1 NVENC but GPU 1 (NVIDIA A100-SXM4-80GB) has no NVENC"
    ]


def test_unverifiable_codecs_warn():
    p = plan([stage("encode", nvencs=1)], gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, []).warnings == ["nvidia-smi sees no GPU here: NVDEC/NVENC needs cannot be checked"]
    remote = EngineFacts(runtimes=("nvidia",), local=False)
    assert "remote" in judge(p, remote, H100S).warnings[0]


def test_gpu_stage_without_gpus_is_refused():
    p = plan([stage("embed", gpu_memory_gb=8.0), stage("cpu_only")])
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(p, PLAIN_ENGINE, []), force=False)
    assert raised.value.one_line() == (
        "stage 'embed' needs a GPU but the run asks for none -- pass --gpus all; or --force to run anyway"
    )


def test_engine_without_nvidia_support():
    p = plan([], gpus=parse_gpus("all"))
    refusal = (
        "GPUs asked for, but the engine has no NVIDIA support (no nvidia runtime, CDI or nvidia-container-runtime-hook)"
    )
    assert judge(p, PLAIN_ENGINE, []).problems == [refusal]
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(p, PLAIN_ENGINE, []), force=False)
    assert "nvidia-ctk runtime configure" in raised.value.fix
    assert judge(p, EngineFacts(runtimes=("runc",), local=False), []).warnings == [refusal]
    for engine in (EngineFacts(nvidia_hook=True), EngineFacts(cdi_spec_dirs=("/etc/cdi",)), NVIDIA_ENGINE):
        assert judge(p, engine, []) == Verdict()


def test_runtime_nvidia_needs_the_runtime():
    p = plan([], runtime="nvidia")
    assert judge(p, PLAIN_ENGINE, []).problems == ["--runtime nvidia, but the engine's runtimes are runc"]
    assert judge(p, NVIDIA_ENGINE, []) == Verdict()


def test_codec_stages_must_run_on_xenna():
    p = plan([stage("decode", nvdecs=1)], gpus=parse_gpus("all"))
    p.executor = "ray_data"
    assert judge(p, NVIDIA_ENGINE, L4S).problems == [
        "stage 'decode' needs NVDEC/NVENC, which only Xenna schedules (the run uses ray_data)"
    ]


def test_streaming_that_cannot_start_is_refused():
    small = HostFacts(cpus=1, memory_bytes=8 * 2**30, uid=0, gid=0)  # int(0.95 x 1) = 0: nothing streams
    manifest = Manifest(ProjectInfo("demo"), stages=[stage("s", cpus=0.5)], run=RunDefaults())
    opts = RunOptions(Path("/tmp/in"), Path("/tmp/out"), "demo:latest", execution_mode="streaming")
    p = plan_run(manifest, resolve_spec(manifest, Path("/tmp")), Path("/tmp"), opts, small)
    verdict = judge(p, PLAIN_ENGINE, [])
    assert verdict.problems == [f"streaming mode will not start: {p.execution.reason}"]
    with pytest.raises(CuratorKitError) as raised:
        decide(verdict, force=False)
    assert raised.value.fix == "use --execution-mode auto or batch; or --force to run anyway"


def test_command_override_skips_stage_checks():
    p = plan([stage("encode", nvencs=1)], command=("sleep", "1"))
    assert judge(p, PLAIN_ENGINE, []) == Verdict()


def test_several_refusals_are_all_reported():
    p = plan([stage("a", nvencs=1), stage("b", nvencs=2)], gpus=parse_gpus("all"))
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(p, NVIDIA_ENGINE, H100S), force=False)
    assert raised.value.message.endswith("(and 1 more problem above)")
    assert raised.value.details == ("stage 'b' needs 2 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC",)


def test_engine_facts_from_info(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    info = {"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}, "CDISpecDirs": ["/etc/cdi"]}
    facts = EngineFacts.from_info(info, "unix:///var/run/docker.sock")
    assert facts == EngineFacts(runtimes=("nvidia", "runc"), cdi_spec_dirs=("/etc/cdi",), nvidia_hook=False, local=True)
    assert EngineFacts.from_info({}, "tcp://10.0.0.5:2376").local is False


class _Images:
    def __init__(self, present):
        self.present = present

    def get(self, name):
        from docker.errors import ImageNotFound

        if name not in self.present:
            raise ImageNotFound(name)
        return object()


class _Client:
    def __init__(self, present=()):
        self.images = _Images(present)


def test_missing_image_is_not_forceable():
    p = plan([])
    with pytest.raises(CuratorKitError) as raised:
        preflight(_Client(), p, PLAIN_ENGINE, HOST, force=True)
    assert raised.value.one_line() == (
        "image demo:latest is not in the Docker engine -- run `curator-kit build` "
        "(or pass --image with an image the engine has)"
    )
    assert preflight(_Client(["demo:latest"]), p, PLAIN_ENGINE, HOST) == []


def clipping_plan(encoder, tmp_path=Path("/tmp"), **opts):
    clipping = ClippingSettings(method="fixed-stride", encoder=encoder)
    manifest = Manifest(ProjectInfo("demo"), run=RunDefaults(), clipping=clipping)
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "r1"}
    values |= opts
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, RunOptions(**values), HOST)


def test_nvenc_clipping_is_refused_where_gpus_lack_nvenc():
    p = clipping_plan("h264_nvenc", gpus=parse_gpus("all"))
    assert judge(p, NVIDIA_ENGINE, H100S).problems == [
        "clipping (h264_nvenc) needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"
    ]
    assert judge(p, NVIDIA_ENGINE, [HostGpu(0, "NVIDIA A100-SXM4-80GB", 81920)]).problems == [
        "clipping (h264_nvenc) needs 1 NVENC but GPU 0 (NVIDIA A100-SXM4-80GB) has no NVENC"
    ]
    assert judge(p, NVIDIA_ENGINE, L4S) == Verdict()


def test_nvenc_clipping_needs_gpus():
    with pytest.raises(CuratorKitError) as raised:
        decide(judge(clipping_plan("h264_nvenc"), PLAIN_ENGINE, []), force=False)
    assert raised.value.message == "clipping (h264_nvenc) needs a GPU with NVENC but the run asks for none"
    assert "--gpus all" in raised.value.fix and "libvpx-vp9" in raised.value.fix


def test_cpu_clipping_needs_nothing():
    assert judge(clipping_plan("libvpx-vp9"), PLAIN_ENGINE, []) == Verdict()
    assert judge(clipping_plan("libopenh264", gpus=parse_gpus("all")), NVIDIA_ENGINE, H100S) == Verdict()
