import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.manifest import ClippingSettings, Manifest, ProjectInfo, RunDefaults, StageResources, StageSpec
from curator_kit.core.runplan import (
    HostFacts,
    RunOptions,
    choose_execution_mode,
    default_shm_bytes,
    parse_env,
    parse_mount,
    parse_size,
    plan_run,
    stage_cpus,
    writer_stages,
)
from curator_kit.errors import CuratorKitError

GIB = 2**30
SMALL_HOST = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001)
BIG_HOST = HostFacts(cpus=16, memory_bytes=128 * GIB, uid=1000, gid=1001)


def stage(name="blur_filter", cpus=0.5, **resources) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "Stage", resources=StageResources(cpus=cpus, **resources))


def manifest(stages=None, **run) -> Manifest:
    return Manifest(ProjectInfo("demo"), stages=[stage()] if stages is None else stages, run=RunDefaults(**run))


def options(tmp_path: Path, **overrides) -> RunOptions:
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "abc123"}
    return RunOptions(**(values | overrides))


def test_gpu_plan_is_what_docker_needs(tmp_path):
    plan = plan_run(manifest(), tmp_path, options(tmp_path, gpus="all"), SMALL_HOST)
    kwargs = plan.create_kwargs()
    assert kwargs["device_requests"] == [
        {
            "Driver": "nvidia",
            "Count": -1,
            "DeviceIDs": [],
            "Capabilities": [["gpu", "compute", "utility", "video"]],
            "Options": {},
        }
    ]
    assert kwargs["environment"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    assert "NVIDIA_VISIBLE_DEVICES" not in kwargs["environment"]
    assert kwargs["init"] is True
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in kwargs["ulimits"]] == [
        ("memlock", -1, -1),
        ("stack", 67108864, 67108864),
    ]
    assert kwargs["shm_size"] == default_shm_bytes(24 * GIB)
    assert kwargs["user"] == "1000:1001"
    assert kwargs["environment"]["HOME"] == "/tmp"
    assert kwargs["labels"] == {"curator-kit.project": "demo", "curator-kit.run-id": "abc123"}
    assert kwargs["name"] == "demo-run-abc123"
    mounts = {m["Target"]: (m["Source"], m["ReadOnly"], m["Type"]) for m in kwargs["mounts"]}
    assert mounts == {
        "/data/input": (str(tmp_path / "in"), True, "bind"),
        "/data/output": (str(tmp_path / "out"), False, "bind"),
    }
    assert "runtime" not in kwargs and "ipc_mode" not in kwargs


def test_no_gpus_no_device_request(tmp_path):
    kwargs = plan_run(manifest(), tmp_path, options(tmp_path), SMALL_HOST).create_kwargs()
    assert "device_requests" not in kwargs
    assert "NVIDIA_DRIVER_CAPABILITIES" not in kwargs["environment"]


def test_manifest_gpus_are_the_default_and_cli_wins(tmp_path):
    assert plan_run(manifest(gpus="2"), tmp_path, options(tmp_path), SMALL_HOST).gpus.count == 2
    plan = plan_run(manifest(gpus="2"), tmp_path, options(tmp_path, gpus="device=0,2"), SMALL_HOST)
    assert plan.create_kwargs()["device_requests"][0]["DeviceIDs"] == ["0", "2"]
    with pytest.raises(CuratorKitError, match=r"^\[run\] gpus"):
        plan_run(manifest(gpus="0"), tmp_path, options(tmp_path), SMALL_HOST)


def test_runtime_nvidia_uses_visible_devices(tmp_path):
    plan = plan_run(manifest(), tmp_path, options(tmp_path, gpus="device=1,3", runtime="nvidia"), SMALL_HOST)
    kwargs = plan.create_kwargs()
    assert kwargs["runtime"] == "nvidia"
    assert "device_requests" not in kwargs
    assert kwargs["environment"]["NVIDIA_VISIBLE_DEVICES"] == "1,3"
    assert kwargs["environment"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    plan = plan_run(manifest(), tmp_path, options(tmp_path, runtime="nvidia"), SMALL_HOST)
    assert plan.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert any("--runtime nvidia without --gpus" in n for n in plan.notes)
    with pytest.raises(CuratorKitError, match="--runtime 'kata'"):
        plan_run(manifest(), tmp_path, options(tmp_path, runtime="kata"), SMALL_HOST)


def test_shm_sizing_and_overrides(tmp_path):
    assert default_shm_bytes(24 * GIB) == int(24 * GIB * 0.35) // 2**20 * 2**20
    assert default_shm_bytes(4 * GIB) == 2 * GIB  # floor
    assert default_shm_bytes(2048 * GIB) == 220 * 10**9 // 2**20 * 2**20  # Ray caps its store at 200 GB
    plan = plan_run(manifest(), tmp_path, options(tmp_path), SMALL_HOST)
    assert any("35% of 24.00 GiB RAM" in note for note in plan.notes)
    assert plan.shm_size_bytes > 0.3 * SMALL_HOST.memory_bytes  # what Ray asks for
    plan = plan_run(manifest(), tmp_path, options(tmp_path, shm_size="16g"), SMALL_HOST)
    assert plan.shm_size_bytes == 16 * GIB and plan.notes == []
    plan = plan_run(manifest(shm_size="2g"), tmp_path, options(tmp_path), SMALL_HOST)
    assert plan.shm_size_bytes == 2 * GIB
    assert any("Ray may use /tmp" in note for note in plan.notes)
    plan = plan_run(manifest(), tmp_path, options(tmp_path, ipc="host"), SMALL_HOST)
    kwargs = plan.create_kwargs()
    assert kwargs["ipc_mode"] == "host" and "shm_size" not in kwargs


@pytest.mark.parametrize(
    ("text", "size"),
    [("8g", 8 * GIB), ("512m", 512 * 2**20), ("7.62gb", int(7.62 * GIB)), ("1073741824", GIB), ("64MB", 64 * 2**20)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_rejects():
    with pytest.raises(CuratorKitError, match="size 'lots'"):
        parse_size("lots")


def test_env_precedence(tmp_path):
    plan = plan_run(
        manifest(env={"A": "manifest", "B": "manifest"}, gpus="all"),
        tmp_path,
        options(tmp_path, env=("B=cli", "HOME=/scratch", "NVIDIA_DRIVER_CAPABILITIES=all")),
        SMALL_HOST,
    )
    assert plan.env["A"] == "manifest"
    assert plan.env["B"] == "cli"
    assert plan.env["HOME"] == "/scratch"
    assert plan.env["NVIDIA_DRIVER_CAPABILITIES"] == "all"


def test_parse_env():
    assert parse_env(["X=1=2", "Y="], {}) == {"X": "1=2", "Y": ""}
    assert parse_env(["TOKEN"], {"TOKEN": "s3cret"}) == {"TOKEN": "s3cret"}
    with pytest.raises(CuratorKitError, match="does not set"):
        parse_env(["TOKEN"], {})
    with pytest.raises(CuratorKitError, match="not KEY=VALUE"):
        parse_env(["1X=2"], {})


def test_manifest_mounts(tmp_path):
    assert parse_mount("models:/opt/models:ro", tmp_path).target == "/opt/models"
    mount = parse_mount("models:/opt/models:ro", tmp_path)
    assert (mount.source, mount.read_only) == (str(tmp_path / "models"), True)
    assert parse_mount("/abs:/x", tmp_path).read_only is False
    with pytest.raises(CuratorKitError):
        parse_mount("models", tmp_path)
    plan = plan_run(manifest(mounts=["/srv/cache:/cache"]), tmp_path, options(tmp_path), SMALL_HOST)
    assert [m.target for m in plan.mounts] == ["/data/input", "/data/output", "/cache"]


def test_small_host_picks_batch_and_says_why():
    # The DESIGN's measured case: VideoReader (0.5 + 1.0) + a 0.5-cpu stage + ClipWriter 0.25 on 2 cores.
    choice = choose_execution_mode("auto", [stage(cpus=0.5)], cores=2)
    assert choice.mode == "batch"
    assert choice.required_cpus == 2.25
    assert choice.streaming_cpus == 1
    assert choice.cpu_allocation == 1.0
    assert choice.reason == (
        "streaming needs every stage at once: FilePartitioningStage 0.5 + VideoReaderStage 1 + blur_filter 0.5"
        " + ClipWriterStage 0.25 = 2.25 CPUs, but Xenna streams on int(0.95 x 2 cores) = 1 CPUs"
    )


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
    choice = choose_execution_mode("auto", stages, cores=4, writers=writer_stages(stages, tmp_path))
    assert choice.required_cpus == 2.25  # 0.5 + 1 + 0.5 + 0.25, no second ClipWriterStage
    assert "ClipWriterStage" not in choice.reason
    plan = plan_run(manifest(stages=stages), tmp_path, options(tmp_path), SMALL_HOST)
    assert plan.execution.required_cpus == 2.25


def test_big_host_streams():
    choice = choose_execution_mode("auto", [stage(cpus=4)], cores=16)
    assert (choice.mode, choice.fits_streaming, choice.cpu_allocation) == ("streaming", True, 0.95)
    assert "5.75 CPUs" in choice.reason and "= 15 CPUs" in choice.reason


def test_exact_fit_streams():
    # 0.5 + 1 + 1.25 + 0.25 = 3 = int(0.95 x 4) -> fits
    assert choose_execution_mode("auto", [stage(cpus=1.25)], cores=4).mode == "streaming"


def test_explicit_modes_are_kept():
    forced = choose_execution_mode("streaming", [stage()], cores=2)
    assert (forced.mode, forced.fits_streaming) == ("streaming", False)
    assert forced.reason.startswith("asked for; streaming needs every stage")
    assert choose_execution_mode("batch", [stage()], cores=64).mode == "batch"
    with pytest.raises(CuratorKitError, match="execution mode 'fast'"):
        choose_execution_mode("fast", [], cores=2)


def test_pipeline_command(tmp_path):
    plan = plan_run(manifest(ignore_failures=True), tmp_path, options(tmp_path), SMALL_HOST)
    assert plan.command == [
        "python",
        "/workspace/pipeline.py",
        "--input",
        "/data/input",
        "--output",
        "/data/output",
        "--execution-mode",
        "batch",
        "--cpu-allocation-percentage",
        "1",
        "--ignore-failures",
    ]
    assert plan.runs_pipeline and plan.executor == "xenna"
    plan = plan_run(manifest(ignore_failures=True), tmp_path, options(tmp_path, ignore_failures=False), BIG_HOST)
    assert plan.command[-5:] == [
        "--execution-mode",
        "streaming",
        "--cpu-allocation-percentage",
        "0.95",
        "--no-ignore-failures",
    ]
    plan = plan_run(manifest(), tmp_path, options(tmp_path, command=("sleep", "60")), SMALL_HOST)
    assert plan.command == ["sleep", "60"] and not plan.runs_pipeline


def test_docker_run_line_round_trips(tmp_path):
    plan = plan_run(manifest(), tmp_path, options(tmp_path, gpus="device=0,2", env=("MSG=hello world",)), SMALL_HOST)
    line = plan.docker_run_line()
    argv = shlex.split(line)
    assert argv == plan.docker_run_argv()
    assert argv[:6] == ["docker", "run", "--rm", "--name", "demo-run-abc123", "--init"]
    assert argv[argv.index("--gpus") + 1] == '"device=0,2","capabilities=compute,utility,video",driver=nvidia'
    assert f"--shm-size={plan.shm_size_bytes // 2**20}m" in argv
    assert argv[9:13] == ["--ulimit", "memlock=-1:-1", "--ulimit", "stack=67108864:67108864"]
    assert f"type=bind,source={tmp_path / 'in'},target=/data/input,readonly" in argv
    assert "MSG=hello world" in argv
    assert argv[-len(plan.command) - 1 :] == ["demo:latest", *plan.command]


def test_sudo_runs_as_the_user_behind_it(monkeypatch):
    monkeypatch.setenv("SUDO_UID", "1234")
    monkeypatch.setenv("SUDO_GID", "1235")
    monkeypatch.setattr("os.getuid", lambda: 0)
    assert (HostFacts.local().uid, HostFacts.local().gid) == (1234, 1235)
    monkeypatch.setattr("os.getuid", lambda: 1000)
    assert HostFacts.local().uid == 1000


def test_engine_facts_size_the_plan():
    host = HostFacts.from_engine_info({"NCPU": 64, "MemTotal": 512 * GIB})
    assert (host.cpus, host.memory_bytes, host.source) == (64, 512 * GIB, "the Docker engine")


def _project(tmp_path: Path, body: str = "") -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "curator-kit.toml").write_text('[project]\nname = "demo"\n' + body)
    return project


def test_cli_dry_run_prints_plan_and_docker_line(tmp_path):
    project = _project(tmp_path, '[[stages]]\nname = "blur"\nmodule = "stages.blur"\nclass = "Blur"\n')
    result = CliRunner().invoke(
        main, ["run", "--project", str(project), "--image", "demo:1", "--gpus", "2", "--dry-run", "-e", "A=1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "image      demo:1"
    assert any(line.startswith("execution  ") for line in lines)
    docker_line = lines[-1]
    assert docker_line.startswith("docker run --rm --name demo-run-")
    assert "--gpus 'count=2,\"capabilities=compute,utility,video\",driver=nvidia'" in docker_line
    assert f"source={project / 'input'},target=/data/input,readonly" in docker_line


def test_cli_without_image_says_build_first(tmp_path):
    project = _project(tmp_path)
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--dry-run"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: this project has no image yet -- run `curator-kit build` first, or pass --image IMAGE"
    )
    (project / ".curator-kit").mkdir()
    (project / ".curator-kit" / "last-build.json").write_text('{"image": "demo:latest", "image_id": "sha256:1"}')
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--dry-run"])
    assert result.exit_code == 0 and result.output.startswith("image      demo:latest\n")


def test_cli_missing_input_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    project = _project(tmp_path)
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--image", "demo:1"])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: input directory {project / 'input'} does not exist -- pass --input DIR"


def test_memlock_capped_where_dockerd_cannot_grant_more(tmp_path):
    capped_host = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001, memlock_cap=8 * 2**20)
    plan = plan_run(manifest(), tmp_path, options(tmp_path), capped_host)
    assert ("memlock", 8 * 2**20, 8 * 2**20) in plan.ulimits
    assert ("stack", 67108864, 67108864) in plan.ulimits
    assert any("CAP_SYS_RESOURCE" in note for note in plan.notes)
    # An explicit --ulimit wins over the cap; an uncapped engine keeps memlock=-1.
    explicit = plan_run(manifest(), tmp_path, options(tmp_path, ulimits=("memlock=4096",)), capped_host)
    assert ("memlock", 4096, 4096) in explicit.ulimits
    assert ("memlock", -1, -1) in plan_run(manifest(), tmp_path, options(tmp_path), SMALL_HOST).ulimits


FIXED_STRIDE = ClippingSettings(method="fixed-stride")


def test_clipping_stages_are_counted_with_their_cpus():
    # The init default: VideoReader (0.5 + 1) + FixedStrideExtractor 1 + ClipTranscoding 1 + stage 0.5 + writer 0.25
    choice = choose_execution_mode("auto", [stage(cpus=0.5)], cores=2, clipping=FIXED_STRIDE)
    assert choice.required_cpus == 4.25
    assert choice.mode == "batch"
    assert "VideoReaderStage 1 + FixedStrideExtractorStage 1 + ClipTranscodingStage 1 + blur_filter 0.5" in (
        choice.reason
    )
    assert stage_cpus([], clipping=replace(FIXED_STRIDE, encoder_cpus=6.0))[3] == ("ClipTranscodingStage", 6.0)
    # h264_nvenc: Resources(gpus=1/3) with the default 1 cpu, whatever encoder_cpus says
    assert stage_cpus([], clipping=replace(FIXED_STRIDE, encoder="h264_nvenc", encoder_cpus=6.0))[3] == (
        "ClipTranscodingStage",
        1.0,
    )
    assert stage_cpus([], clipping=ClippingSettings()) == stage_cpus([])  # method "none"
    assert choose_execution_mode("auto", [stage(cpus=4)], cores=16, clipping=FIXED_STRIDE).mode == "streaming"


def test_plan_counts_and_describes_the_manifests_clipping(tmp_path):
    with_clips = Manifest(ProjectInfo("demo"), stages=[stage()], clipping=FIXED_STRIDE)
    plan = plan_run(with_clips, tmp_path, options(tmp_path), BIG_HOST)
    assert plan.clipping == FIXED_STRIDE
    assert plan.execution.required_cpus == 4.25
    assert (
        "clipping   fixed-stride: 10 s clips every 10 s (none under 2 s), transcoded with libvpx-vp9 on 1 CPU"
        in plan.describe()
    )
    plain = plan_run(manifest(), tmp_path, options(tmp_path), BIG_HOST)
    assert plain.execution.required_cpus == 2.25
    assert not any(line.startswith("clipping") for line in plain.describe())


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
