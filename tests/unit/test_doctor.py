from curator_kit.core.pipeline.devices import HostGpu
from curator_kit.core.run.preflight import EngineFacts
from curator_kit.errors import CuratorKitError
from curator_kit.ops.doctor import DoctorFacts, diagnose


def test_unreachable_engine_is_the_only_check():
    facts = DoctorFacts(engine_error=CuratorKitError("Docker engine not reachable at unix:///x", "start it"))
    assert [(c.name, c.status) for c in diagnose(facts)] == [("engine", "fail")]


def test_ready_gpu_host():
    facts = DoctorFacts(
        server_version="27.3.1",
        api_version="1.47",
        engine_address="unix:///var/run/docker.sock",
        engine=EngineFacts(runtimes=("nvidia", "runc")),
        default_runtime="runc",
        gpus=[HostGpu(0, "NVIDIA L4", 23034), HostGpu(1, "NVIDIA H100 80GB HBM3", 81559)],
        base_images={"curator-kit/base:1.4.0-cpu": "5.1 GB"},
    )
    checks = {c.name: c for c in diagnose(facts)}
    assert checks["engine"].status == "ok" and "27.3.1 (API 1.47)" in checks["engine"].detail
    assert checks["nvidia"].status == "ok" and "runtime nvidia" in checks["nvidia"].detail
    assert checks["gpus"].detail.startswith("0: NVIDIA L4, 23034 MiB, ")
    assert "1: NVIDIA H100 80GB HBM3, 81559 MiB" in checks["gpus"].detail and "0 NVENC" in checks["gpus"].detail
    assert checks["base image"].status == "ok"


def test_cpu_host_without_nvidia_warns_with_fix():
    checks = {c.name: c for c in diagnose(DoctorFacts(server_version="20.10", api_version="1.41"))}
    assert checks["nvidia"].status == "warn" and "nvidia-ctk runtime configure" in checks["nvidia"].detail
    assert checks["gpus"].status == "info"
    assert checks["base image"].status == "warn" and "curator-kit base build" in checks["base image"].detail


def test_base_image_shows_its_stack_or_that_it_is_stale():
    tag = "curator-kit/base:1.4.0-cpu"
    stack = "torch 2.14.1, ray 2.57.0, ffmpeg 5.1.9 (libopenh264, libvpx-vp9)"
    facts = DoctorFacts(
        server_version="20.10", api_version="1.41", base_images={tag: "7.9 GB"}, base_stacks={tag: stack}
    )
    check = {c.name: c for c in diagnose(facts)}["base image"]
    assert (check.status, check.detail) == ("ok", f"{tag} (7.9 GB): {stack}")
    facts.base_stale = {tag: "it records no recipe (built by an older curator-kit)"}
    check = {c.name: c for c in diagnose(facts)}["base image"]
    assert check.status == "warn" and "is stale: it records no recipe" in check.detail
    assert "curator-kit base build" in check.detail


def test_base_image_codecs_are_shown_or_their_absence_named_with_the_fix():
    from curator_kit.core.pipeline.codecs import CodecTool, ImageCodecs, describe_codecs

    tag = "curator-kit/base:1.4.0-cpu"
    facts = DoctorFacts(server_version="20.10", api_version="1.41", base_images={tag: "7.9 GB"})
    check = {c.name: c for c in diagnose(facts)}["base codecs"]
    assert check.status == "warn" and "not recorded" in check.detail and "curator-kit base build" in check.detail
    ffmpeg = CodecTool("5.1.9", frozenset({"h264", "vp9"}), frozenset({"libopenh264"}))
    facts.base_codecs = {tag: describe_codecs(ImageCodecs(ffmpeg, None))}
    check = {c.name: c for c in diagnose(facts)}["base codecs"]
    assert check.status == "ok" and check.detail == "ffmpeg 5.1.9: decodes h264 vp9; encodes libopenh264; PyAV: absent"


def test_a_podman_without_network_dns_is_warned_with_the_fix():
    """Podman's networks resolve names only with its DNS plugin: doctor says so before `cluster up` refuses."""
    podman = {"engine_name": "Podman", "server_version": "4.3.1", "api_version": "1.41", "cdi_supported": True}
    checks = {c.name: c for c in diagnose(DoctorFacts(**podman, network_dns=False))}
    assert checks["network"].status == "warn" and "dnsname plugin" in checks["network"].detail
    assert checks["network"].detail.startswith("Podman's networks resolve no container names")
    assert {c.name: c for c in diagnose(DoctorFacts(**podman, network_dns=True))}["network"].status == "ok"
    assert "network" not in {c.name for c in diagnose(DoctorFacts(server_version="20.10", api_version="1.41"))}
