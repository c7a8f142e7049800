import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.constants import FALLBACK_HOME, NONROOT_HOME, NONROOT_UID, NONROOT_USER
from curator_kit.core.findings import Code
from curator_kit.core.parsers import parse_gpus, parse_mount, parse_size, parse_ulimit
from curator_kit.core.pipeline.devices import HostGpu
from curator_kit.core.pipeline.spec import CAPTURE_CPUS, resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.project.manifest import (
    ClippingSettings,
    Manifest,
    ProjectInfo,
    RunDefaults,
    StageResources,
    StageSpec,
)
from curator_kit.core.run.runplan import (
    HostFacts,
    RunOptions,
    container_home,
    default_shm_bytes,
    home_in_environment,
    plan_run,
)
from curator_kit.engine.containers import docker_create_kwargs
from curator_kit.errors import CuratorKitError
from curator_kit.ops.hostfacts import engine_host, local_host

GIB = 2**30
SMALL_HOST = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001)
BIG_HOST = HostFacts(cpus=16, memory_bytes=128 * GIB, uid=1000, gid=1001)


def stage(name="blur_filter", cpus=0.5, **resources) -> StageSpec:
    return StageSpec(name, f"stages.{name}", "Stage", resources=StageResources(cpus=cpus, **resources))


def manifest(stages=None, **run) -> Manifest:
    return Manifest(ProjectInfo("demo"), stages=[stage()] if stages is None else stages, run=RunDefaults(**run))


def plan_for(manifest: Manifest, project_dir: Path, options: RunOptions, host: HostFacts):
    """The plan for the pipeline this manifest resolves to (what `build` bakes into the image)."""
    return plan_run(manifest, resolve_spec(manifest, project_dir), project_dir, options, host)


def options(tmp_path: Path, **overrides) -> RunOptions:
    (tmp_path / "in").mkdir(exist_ok=True)  # a plan finds an input that is not there (INPUT_MISSING)
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "run_id": "abc123"}
    return RunOptions(**(values | overrides))


@pytest.mark.parametrize(
    ("uid", "gid", "image_home", "home"),
    [
        (NONROOT_UID, 1000, NONROOT_HOME, NONROOT_HOME),  # the image's user
        (NONROOT_UID, 1001, NONROOT_HOME, NONROOT_HOME),  # its owner, whatever its group
        (4242, 0, NONROOT_HOME, NONROOT_HOME),  # group 0, as OpenShift runs an arbitrary uid
        (0, 0, NONROOT_HOME, NONROOT_HOME),  # root (curator-kit run as root without sudo)
        (1001, 1001, NONROOT_HOME, FALLBACK_HOME),  # another host user: not theirs to write
        (NONROOT_UID, 1000, None, FALLBACK_HOME),  # the image was not read (a dry run without an engine)
        (NONROOT_UID, 1000, "/root", FALLBACK_HOME),  # an image with a home of its own: not known writable
    ],
)
def test_home_is_the_images_where_the_invoking_user_can_write_it(tmp_path, uid, gid, image_home, home):
    host = replace(SMALL_HOST, uid=uid, gid=gid)
    plan = plan_for(manifest(), tmp_path, options(tmp_path, image_home=image_home), host)
    assert container_home(uid, gid, image_home) == home
    assert plan.user == f"{uid}:{gid}"  # the container stays the invoking user's: outputs are theirs
    assert (plan.env["HOME"], plan.env["USER"]) == (home, NONROOT_USER)
    assert f"HOME={home}" in plan.docker_run_argv()


def test_the_image_home_is_read_from_its_env():
    assert home_in_environment(["PATH=/opt/venv/bin:/usr/bin", f"HOME={NONROOT_HOME}", "USER=curator"]) == NONROOT_HOME
    assert home_in_environment(["PATH=/usr/bin", "HOMEDIR=/x"]) is None


def test_gpu_plan_is_what_docker_needs(tmp_path):
    plan = plan_for(manifest(), tmp_path, options(tmp_path, gpus=parse_gpus("all")), SMALL_HOST)
    kwargs = docker_create_kwargs(plan)
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
    kwargs = plan_for(manifest(), tmp_path, options(tmp_path), SMALL_HOST).create_kwargs()
    assert "device_requests" not in kwargs
    assert "NVIDIA_DRIVER_CAPABILITIES" not in kwargs["environment"]


def test_manifest_gpus_are_the_default_and_cli_wins(tmp_path):
    assert plan_for(manifest(gpus=parse_gpus("2")), tmp_path, options(tmp_path), SMALL_HOST).gpus.count == 2
    plan = plan_for(
        manifest(gpus=parse_gpus("2")), tmp_path, options(tmp_path, gpus=parse_gpus("device=0,2")), SMALL_HOST
    )
    assert docker_create_kwargs(plan)["device_requests"][0]["DeviceIDs"] == ["0", "2"]
    # `gpus = "0"` never reaches a plan: the manifest refuses it at load, where --gpus 0 is refused.
    with pytest.raises(CuratorKitError, match=r"^curator-kit.toml:3: run.gpus = '0' is not a GPU request"):
        parse_manifest('project.name = "demo"\n[run]\ngpus = "0"\n')


def test_runtime_nvidia_uses_visible_devices(tmp_path):
    plan = plan_for(
        manifest(), tmp_path, options(tmp_path, gpus=parse_gpus("device=1,3"), runtime="nvidia"), SMALL_HOST
    )
    kwargs = docker_create_kwargs(plan)
    assert kwargs["runtime"] == "nvidia"
    assert "device_requests" not in kwargs
    assert kwargs["environment"]["NVIDIA_VISIBLE_DEVICES"] == "1,3"
    assert kwargs["environment"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    plan = plan_for(manifest(), tmp_path, options(tmp_path, runtime="nvidia"), SMALL_HOST)
    assert plan.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert Code.RUNTIME_ALL_GPUS in codes_of(plan.findings)
    with pytest.raises(CuratorKitError, match="--runtime 'kata'"):
        plan_for(manifest(), tmp_path, options(tmp_path, runtime="kata"), SMALL_HOST)


def test_shm_sizing_and_overrides(tmp_path):
    assert default_shm_bytes(24 * GIB) == int(24 * GIB * 0.35) // 2**20 * 2**20
    assert default_shm_bytes(4 * GIB) == 2 * GIB  # floor
    assert default_shm_bytes(2048 * GIB) == 220 * 10**9 // 2**20 * 2**20  # Ray caps its store at 200 GB
    plan = plan_for(manifest(), tmp_path, options(tmp_path), SMALL_HOST)
    assert any("35% of 24.00 GiB RAM" in f.message for f in plan.findings if f.code is Code.SHM_DEFAULT)
    assert plan.shm_size_bytes > 0.3 * SMALL_HOST.memory_bytes  # what Ray asks for
    plan = plan_for(manifest(), tmp_path, options(tmp_path, shm_size=parse_size("16g")), SMALL_HOST)
    assert plan.shm_size_bytes == 16 * GIB and plan.findings == []
    plan = plan_for(manifest(shm_size=parse_size("2g")), tmp_path, options(tmp_path), SMALL_HOST)
    assert plan.shm_size_bytes == 2 * GIB
    assert Code.SHM_SMALL in codes_of(plan.findings)
    plan = plan_for(manifest(), tmp_path, options(tmp_path, ipc="host"), SMALL_HOST)
    kwargs = docker_create_kwargs(plan)
    assert kwargs["ipc_mode"] == "host" and "shm_size" not in kwargs


def test_env_precedence(tmp_path):
    plan = plan_for(
        manifest(env={"A": "manifest", "B": "manifest"}, gpus=parse_gpus("all")),
        tmp_path,
        options(tmp_path, env=(("B", "cli"), ("HOME", "/scratch"), ("NVIDIA_DRIVER_CAPABILITIES", "all"))),
        SMALL_HOST,
    )
    assert plan.env["A"] == "manifest"
    assert plan.env["B"] == "cli"
    assert plan.env["HOME"] == "/scratch"
    assert plan.env["NVIDIA_DRIVER_CAPABILITIES"] == "all"


def test_manifest_mounts(tmp_path, monkeypatch):
    mounts = [parse_mount("/srv/cache:/cache"), parse_mount("models:/opt/models:ro")]
    plan = plan_for(manifest(mounts=mounts), tmp_path, options(tmp_path), SMALL_HOST)
    assert [m.target for m in plan.mounts] == ["/data/input", "/data/output", "/cache", "/opt/models"]
    # The manifest's relative sources are the project's; --mount's, the working directory's.
    assert (plan.mounts[3].source, plan.mounts[3].read_only) == (str((tmp_path / "models").resolve()), True)
    monkeypatch.chdir(tmp_path / "..")
    plan = plan_for(manifest(), tmp_path, options(tmp_path, mounts=(parse_mount("data:/data/extra"),)), SMALL_HOST)
    assert plan.mounts[-1].source == str((tmp_path / ".." / "data").resolve())


def test_pipeline_command(tmp_path):
    plan = plan_for(manifest(ignore_failures=True), tmp_path, options(tmp_path), SMALL_HOST)
    assert plan.command == [
        "python",
        "/workspace/pipeline.py",
        "--input",
        "/data/input",
        "--output",
        "/data/output",
        "--execution-mode",
        "streaming",
        "--cpu-allocation-percentage",
        "0.95",
        "--cpu-scale",
        "0.444",
        "--ignore-failures",
    ]
    assert plan.runs_pipeline and plan.executor == "xenna"
    plan = plan_for(manifest(ignore_failures=True), tmp_path, options(tmp_path, ignore_failures=False), BIG_HOST)
    assert plan.command[-5:] == [
        "--execution-mode",
        "streaming",
        "--cpu-allocation-percentage",
        "0.95",
        "--no-ignore-failures",
    ]
    plan = plan_for(manifest(), tmp_path, options(tmp_path, command=("sleep", "60")), SMALL_HOST)
    assert plan.command == ["sleep", "60"] and not plan.runs_pipeline


def test_docker_run_line_round_trips(tmp_path):
    plan = plan_for(
        manifest(),
        tmp_path,
        options(tmp_path, gpus=parse_gpus("device=0,2"), env=(("MSG", "hello world"),)),
        SMALL_HOST,
    )
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
    assert (local_host().uid, local_host().gid) == (1234, 1235)
    monkeypatch.setattr("os.getuid", lambda: 1000)
    assert local_host().uid == 1000


def test_engine_facts_size_the_plan():
    host = engine_host({"NCPU": 64, "MemTotal": 512 * GIB}, "tcp://remote:2375")
    assert (host.cpus, host.memory_bytes, host.source, host.gpus) == (64, 512 * GIB, "the Docker engine", ())


def test_limit_reads_only_the_first_videos(tmp_path):
    plan = plan_for(manifest(), tmp_path, options(tmp_path, video_limit=2), SMALL_HOST)
    assert plan.command[-2:] == ["--video-limit", "2"] and plan.runs_pipeline
    assert "--video-limit" not in plan_for(manifest(), tmp_path, options(tmp_path), SMALL_HOST).command
    with pytest.raises(CuratorKitError, match="--limit with --command"):
        plan_for(manifest(), tmp_path, options(tmp_path, video_limit=1, command=("true",)), SMALL_HOST)


def test_cli_limit_reaches_the_pipeline(tmp_path):
    project = _project(tmp_path, '[[stages]]\nname = "blur"\nmodule = "stages.blur"\nclass = "Blur"\n')
    args = ["run", "--project", str(project), "--image", "demo:1", "--dry-run", "--limit", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith("--video-limit 1")


def _project(tmp_path: Path, body: str = "") -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "input").mkdir()  # a run refuses an input directory that is not there, dry runs too
    (project / "curator-kit.toml").write_text('[project]\nname = "demo"\n' + body)
    (project / "stages").mkdir()
    (project / "stages" / "blur.py").write_text("")  # the module the stage names: load_manifest looks for it
    return project


def test_cli_dry_run_prints_plan_and_docker_line(tmp_path):
    project = _project(tmp_path, '[[stages]]\nname = "blur"\nmodule = "stages.blur"\nclass = "Blur"\n')
    result = CliRunner().invoke(
        main,
        ["run", "--project", str(project), "--image", "demo:1", "--gpus", "2", "--dry-run", "-e", "A=1", "--force"],
    )
    assert result.exit_code == 0, result.output  # forced past an engine without NVIDIA support, as the run would be
    lines = result.output.splitlines()
    assert lines[0] == "image      demo:1"
    assert any(line.startswith("execution  ") for line in lines)
    docker_line = lines[-1]
    assert docker_line.startswith("docker run --rm --name demo-run-")
    assert "--gpus 'count=2,\"capabilities=compute,utility,video\",driver=nvidia'" in docker_line
    assert f"source={project / 'input'},target=/data/input,readonly" in docker_line


def test_cli_plans_before_the_first_build(tmp_path, monkeypatch):
    """A dry run before the first build plans the tag `build` would give from the working tree; the
    real command refuses the missing image (after every other finding is known)."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine: the tree's spec
    project = _project(tmp_path)
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("image      demo:latest\n")
    assert "warning: planned from the working tree: no engine answers" in result.output
    (project / ".curator-kit").mkdir()
    (project / ".curator-kit" / "last-build.json").write_text('{"image": "demo:latest", "image_id": "sha256:1"}')
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--dry-run"])
    assert result.exit_code == 0 and result.output.startswith("image      demo:latest\n")


def test_cli_missing_input_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    project = _project(tmp_path)
    (project / "input").rmdir()
    result = CliRunner().invoke(main, ["run", "--project", str(project), "--image", "demo:1"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: input directory {project / 'input'} does not exist -- pass --input DIR [input-missing]"]
    dry = CliRunner().invoke(main, ["run", "--project", str(project), "--image", "demo:1", "--dry-run"])
    assert dry.exit_code == 1 and dry.output.splitlines()[-1] == errors[0]  # the dry run says the same


def test_memlock_capped_where_dockerd_cannot_grant_more(tmp_path):
    capped_host = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001, memlock_cap=8 * 2**20)
    plan = plan_for(manifest(), tmp_path, options(tmp_path), capped_host)
    assert ("memlock", 8 * 2**20, 8 * 2**20) in plan.ulimits
    assert ("stack", 67108864, 67108864) in plan.ulimits
    assert Code.MEMLOCK_CAP in codes_of(plan.findings)
    # An explicit --ulimit wins over the cap; an uncapped engine keeps memlock=-1.
    explicit = plan_for(manifest(), tmp_path, options(tmp_path, ulimits=(parse_ulimit("memlock=4096"),)), capped_host)
    assert ("memlock", 4096, 4096) in explicit.ulimits
    assert ("memlock", -1, -1) in plan_for(manifest(), tmp_path, options(tmp_path), SMALL_HOST).ulimits


def test_plan_counts_and_describes_the_specs_clipping(tmp_path):
    with_clips = Manifest(ProjectInfo("demo"), stages=[stage()], clipping=ClippingSettings(method="fixed-stride"))
    plan = plan_for(with_clips, tmp_path, options(tmp_path), BIG_HOST)
    assert [s.name for s in plan.spec.by_role("clipping")] == ["FixedStrideExtractorStage", "ClipTranscodingStage"]
    assert plan.execution.required_cpus == 4.25
    assert (
        "clipping   fixed-stride: 10 s clips every 10 s (none under 2 s), transcoded with libvpx-vp9 on 1 CPU"
        in plan.describe()
    )
    plain = plan_for(manifest(), tmp_path, options(tmp_path), BIG_HOST)
    assert plain.execution.required_cpus == 2.25
    assert not any(line.startswith("clipping") for line in plain.describe())


def test_memory_sized_stages_get_the_share_of_the_cards_that_run_them(tmp_path):
    embed = stage("embed", cpus=1.0, gpu_memory_gb=8.0)
    l4 = replace(SMALL_HOST, gpus=(HostGpu(0, "NVIDIA L4", 23034),))
    h100 = replace(SMALL_HOST, gpus=(HostGpu(0, "NVIDIA H100 80GB HBM3", 81559),))
    on_l4 = plan_for(manifest(stages=[embed]), tmp_path, options(tmp_path, gpus=parse_gpus("all")), l4)
    on_h100 = plan_for(manifest(stages=[embed]), tmp_path, options(tmp_path, gpus=parse_gpus("all")), h100)
    assert on_l4.command[-2:] == ["--stage-gpus", "embed=0.4"]
    assert on_h100.command[-2:] == ["--stage-gpus", "embed=0.1"]  # not Curator's 24 GB guess, 0.3
    assert any("GPU share per stage on NVIDIA H100" in f.message for f in on_h100.findings)
    no_gpus = plan_for(manifest(stages=[embed]), tmp_path, options(tmp_path), h100)
    assert "--stage-gpus" not in no_gpus.command


def test_the_plan_runs_the_spec_it_is_given(tmp_path):
    # `run` plans from the image's spec: a stage added to the working tree since the build is not in it.
    built = manifest(stages=[stage("a")])
    image_spec = resolve_spec(built, tmp_path)
    edited = manifest(stages=[stage("a"), stage("b", cpus=8.0)])
    plan = plan_run(edited, image_spec, tmp_path, options(tmp_path), BIG_HOST)
    assert [s.name for s in plan.spec.stages] == ["VideoReader", "a", "ClipWriterStage"]
    assert plan.execution.required_cpus == 2.25
    assert image_spec.differences(resolve_spec(edited, tmp_path)) == ["stage b added"]


def test_a_capture_stage_is_counted_when_stages_are_scaled_to_stream(tmp_path):
    # pipeline.py inserts its 0.25-CPU capture stage: the scale must leave room for it, or Xenna refuses
    # ("Pipeline requires 1.05 but only 1 are available").
    plain = plan_for(manifest(), tmp_path, options(tmp_path), SMALL_HOST).execution
    captured = plan_for(manifest(), tmp_path, options(tmp_path, capture="blur_filter"), SMALL_HOST).execution
    assert captured.required_cpus == plain.required_cpus + CAPTURE_CPUS
    assert captured.required_cpus * captured.cpu_scale <= captured.streaming_cpus < plain.required_cpus


def codes_of(findings):
    return [finding.code for finding in findings]


def test_a_value_taken_from_the_shell_is_passed_by_name_never_printed(tmp_path, monkeypatch):
    """`--env HF_TOKEN` takes the shell's value: the container gets it, the printed `docker run` line
    passes it by name (`-e HF_TOKEN`, as docker takes it from the shell again), the dry run too."""
    monkeypatch.setenv("HF_TOKEN", "hf_SENTINEL_not_printed")
    project = _project(tmp_path)
    result = CliRunner().invoke(
        main, ["run", "--project", str(project), "--image", "demo:1", "--dry-run", "-e", "HF_TOKEN"]
    )
    assert result.exit_code == 0, result.output
    assert "hf_SENTINEL_not_printed" not in result.output
    assert " -e HF_TOKEN " in result.output.splitlines()[-1]
