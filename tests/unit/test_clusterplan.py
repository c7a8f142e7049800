"""Cluster plans (pure): nodes, Xenna's Ray variables, mounts, GPUs, the driver and its script."""

import os
import shlex
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from curator_kit.core.cluster.clusterplan import (
    XENNA_RAY_ENV,
    ClusterOptions,
    RayTarget,
    cluster_info,
    driver_script,
    judge_cluster,
    parse_ray_address,
    parse_ray_nodes,
    plan_cluster,
    plan_ray_run,
    worker_gpus,
)
from curator_kit.core.constants import (
    FALLBACK_HOME,
    LABEL_CLUSTER,
    LABEL_CLUSTER_CODE,
    LABEL_PROJECT,
    LABEL_RAY_CPUS,
    LABEL_ROLE,
    NONROOT_GID,
    NONROOT_HOME,
    NONROOT_UID,
    NONROOT_USER,
    PIPELINE_IN_IMAGE,
)
from curator_kit.core.findings import Code, Severity, codes, refusals
from curator_kit.core.parsers import Mount, parse_gpus, parse_gpus_per_worker, parse_size
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest, HostGpu
from curator_kit.core.pipeline.placement import PipelineOptions, pipeline_command
from curator_kit.core.pipeline.spec import PipelineSpec, SpecStage, choose_execution_mode, resolve_spec
from curator_kit.core.project.manifest import (
    ClippingSettings,
    Manifest,
    ProjectInfo,
    RunDefaults,
    StageResources,
    StageSpec,
)
from curator_kit.core.run.preflight import EngineFacts
from curator_kit.core.run.runplan import HostFacts, RunOptions
from curator_kit.engine.containers import docker_create_kwargs
from curator_kit.errors import CuratorKitError

GIB = 2**30
HOST = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001)
CAPPED = replace(HOST, memlock_cap=8388608)


def said(findings, code: Code) -> list[str]:
    """The messages of the notes (never refusals) a plan found with `code`."""
    return [f.message for f in findings if f.code is code and f.severity is Severity.NOTE]


def spec_of(manifest: Manifest, project_dir: Path) -> PipelineSpec:
    return resolve_spec(manifest, project_dir)


def spec_needing(cpus: float) -> PipelineSpec:
    """A pipeline whose stages need `cpus` at once when streaming."""
    return PipelineSpec("demo", "1.4.0", (SpecStage("work", "custom", "stages.work.Work", (("work", cpus),)),))


def manifest(stages=None, **run) -> Manifest:
    stages = (
        [StageSpec("probe", "stages.probe", "ProbeStage", resources=StageResources(cpus=1.0))]
        if stages is None
        else stages
    )
    return Manifest(ProjectInfo("demo"), stages=stages, run=RunDefaults(**run))


def cluster_options(tmp_path: Path, **overrides) -> ClusterOptions:
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:latest", "cluster_id": "c1"}
    return ClusterOptions(**(values | overrides))


def test_head_and_workers_on_one_network(tmp_path):
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    assert plan.network == "demo-ray"
    assert [n.name for n in plan.nodes] == ["demo-ray-head", "demo-ray-worker-1", "demo-ray-worker-2"]
    assert plan.head.command == [
        "ray", "start", "--head", "--block", "--port=6379", "--dashboard-host=0.0.0.0", "--dashboard-port=8265",
        "--num-cpus=1", "--num-gpus=0", f"--object-store-memory={plan.object_store_bytes}", "--disable-usage-stats",
    ]  # fmt: skip
    for worker in plan.workers:
        assert worker.command[:4] == ["ray", "start", "--block", "--address=demo-ray-head:6379"]
        assert "--num-cpus=1" in worker.command  # 2 cores shared by 2 workers
    for node in plan.nodes:
        kwargs = docker_create_kwargs(node)
        assert kwargs["network"] == "demo-ray" and kwargs["hostname"] == node.name
        assert kwargs["environment"].items() >= XENNA_RAY_ENV.items()
        assert kwargs["environment"]["RAY_USAGE_STATS_ENABLED"] == "0"
        assert kwargs["user"] == "1000:1001" and kwargs["init"] is True
        assert kwargs["shm_size"] == plan.node_shm_bytes
        assert node.labels[LABEL_PROJECT] == "demo" and node.labels[LABEL_CLUSTER] == "demo"
        # Stage actors anywhere read the input and the writer writes from any node: same mounts everywhere.
        assert [(m.source, m.target, m.read_only) for m in node.mounts] == [
            (str((tmp_path / "in").resolve()), "/data/input", True),
            (str((tmp_path / "out").resolve()), "/data/output", False),
            (str(tmp_path.resolve() / ".curator-kit" / "ray-auth-token"), "/run/curator-kit/ray-auth-token", True),
        ]
        assert "device_requests" not in kwargs
    assert [n.labels[LABEL_ROLE] for n in plan.nodes] == ["head", "worker", "worker"]
    assert plan.node_cpus == [1, 1, 1]
    assert docker_create_kwargs(plan.head)["ports"] == {"8265/tcp": ("127.0.0.1", None)}
    assert "ports" not in docker_create_kwargs(plan.workers[0])
    assert plan.labels[LABEL_CLUSTER] == "demo" and LABEL_ROLE not in plan.labels  # network: no role


def test_shm_is_shared_out_and_the_object_store_fits_it(tmp_path):
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    # 35% of 24 GiB shared by head, 2 workers and a driver; the store stays inside shm (Ray uses /tmp otherwise)
    assert plan.node_shm_bytes == int(24 * GIB * 0.35) // 4 // 2**20 * 2**20
    assert plan.object_store_bytes < plan.node_shm_bytes
    assert any("shared by 4 nodes" in note for note in said(plan.findings, Code.SHM_DEFAULT))
    small = plan_cluster(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        cluster_options(tmp_path),
        replace(HOST, memory_bytes=4 * GIB),
    )
    assert small.node_shm_bytes == 2 * GIB  # never under the single-container minimum
    given = plan_cluster(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path, shm_size=parse_size("3g")), HOST
    )
    assert given.node_shm_bytes == 3 * GIB
    with pytest.raises(CuratorKitError, match="too small"):
        plan_cluster(
            manifest(),
            spec_of(manifest(), tmp_path),
            tmp_path,
            cluster_options(tmp_path, shm_size=parse_size("64m")),
            HOST,
        )


def test_memlock_cap_and_oversubscription_are_noted(tmp_path):
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), CAPPED)
    assert ("memlock", 8388608, 8388608) in plan.head.ulimits
    assert any(note.startswith("memlock 8388608") for note in said(plan.findings, Code.MEMLOCK_CAP))
    assert any("4 logical CPUs (with a driver) on 2 cores" in n for n in said(plan.findings, Code.CPUS_OVERCOMMITTED))
    wide = plan_cluster(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        cluster_options(tmp_path, workers=2),
        replace(HOST, cpus=16),
    )
    assert wide.node_cpus == [1, 7, 7] and Code.CPUS_OVERCOMMITTED not in codes(wide.findings)


def test_docker_lines_make_the_same_cluster(tmp_path):
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path, workers=1), HOST)
    network, head, worker = plan.docker_lines()
    assert network.startswith("docker network create --label curator-kit.project=demo") and network.endswith(
        " demo-ray"
    )
    argv = shlex.split(head)
    assert argv[:5] == ["docker", "run", "-d", "--name", "demo-ray-head"]
    assert argv[argv.index("--network") + 1] == "demo-ray" and argv[argv.index("--hostname") + 1] == "demo-ray-head"
    assert argv[argv.index("--publish") + 1] == "127.0.0.1::8265"
    assert "--rm" not in argv and "--init" in argv
    worker_argv = shlex.split(worker)
    assert worker_argv[worker_argv.index("ray") :][:4] == ["ray", "start", "--block", "--address=demo-ray-head:6379"]


def test_gpu_workers_get_distinct_devices_and_ray_counts_them(tmp_path):
    plan = plan_cluster(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        cluster_options(tmp_path, gpus_per_worker=parse_gpus_per_worker("2")),
        HOST,
    )
    requests = [docker_create_kwargs(w)["device_requests"][0] for w in plan.workers]
    assert [r["DeviceIDs"] for r in requests] == [["0", "1"], ["2", "3"]]
    assert all(
        r["Driver"] == "nvidia" and r["Capabilities"] == [["gpu", "compute", "utility", "video"]] for r in requests
    )
    assert all("--num-gpus=2" in w.command for w in plan.workers)
    assert all(w.env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video" for w in plan.workers)
    assert "--num-gpus=0" in plan.head.command and "device_requests" not in docker_create_kwargs(plan.head)
    every = plan_cluster(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        cluster_options(tmp_path, gpus_per_worker=parse_gpus_per_worker("all")),
        HOST,
    )
    assert docker_create_kwargs(every.workers[0])["device_requests"][0]["Count"] == -1
    assert not any(arg.startswith("--num-gpus") for arg in every.workers[0].command)  # Ray counts them itself
    # --gpus-per-worker is parsed once into a GpuRequest, which the plan passes on as is.
    assert worker_gpus(parse_gpus_per_worker("none"), 2) == worker_gpus(parse_gpus_per_worker("0"), 2) == [NO_GPU] * 2
    assert worker_gpus(parse_gpus_per_worker("all"), 2) == [GpuRequest(count=-1)] * 2
    assert worker_gpus(GpuRequest(count=1), 2) == [GpuRequest(device_ids=("0",)), GpuRequest(device_ids=("1",))]
    assert [w.gpus for w in plan.workers] == worker_gpus(GpuRequest(count=2), 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workers": 0}, "at least one worker"),
        ({"head_cpus": 0}, "at least 1 logical CPU"),
        ({"cpus_per_worker": 0}, "at least 1"),
    ],
)
def test_refused_shapes(tmp_path, overrides, message):
    with pytest.raises(CuratorKitError, match=message):
        plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path, **overrides), HOST)


def test_execution_on_a_cluster_counts_each_node_share():
    # Xenna gives each node int(cpus x 0.95): four 1-CPU nodes have nothing to stream on.
    small = choose_execution_mode("auto", spec_needing(4.75), [1, 1, 1, 1])
    assert (small.mode, small.cpu_allocation, small.streaming_cpus, small.fits_streaming) == ("batch", 1.0, 0, False)
    assert "int(0.95 x 1) + int(0.95 x 1)" in small.reason
    big = choose_execution_mode("auto", spec_needing(4.75), [2, 8, 8])
    assert (big.mode, big.cpu_allocation, big.streaming_cpus) == ("streaming", 0.95, 15)
    unknown = choose_execution_mode("auto", spec_needing(4.75), None)
    assert unknown.mode == "batch" and "not known" in unknown.reason
    assert choose_execution_mode("streaming", spec_needing(4.75), None).fits_streaming  # the user knows their cluster
    assert not choose_execution_mode(
        "streaming", spec_needing(4.75), [1, 1]
    ).fits_streaming  # preflight refuses this one
    assert choose_execution_mode("batch", spec_needing(4.75), [1]).mode == "batch"


@pytest.mark.parametrize(
    ("text", "address"),
    [("head", "head:6379"), ("10.0.0.5:6380", "10.0.0.5:6380"), (" demo-ray-head ", "demo-ray-head:6379")],
)
def test_parse_ray_address(text, address):
    assert parse_ray_address(text) == address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ray://head:10001", "Ray Client"),
        ("http://head:8265", "dashboard"),
        ("a b", "not host"),
        ("h:99999", "not host"),
    ],
)
def test_parse_ray_address_refuses(text, message):
    with pytest.raises(CuratorKitError, match=message):
        parse_ray_address(text)


def info(tmp_path, **overrides):
    labels = plan_cluster(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST
    ).head.labels
    nodes = [labels, {**labels, LABEL_RAY_CPUS: "2"}]
    return cluster_info(labels, "demo-ray-head", "sha256:" + "a" * 64, nodes)


def test_cluster_info_reads_the_labels(tmp_path):
    found = info(tmp_path)
    assert found.ray_address == "demo-ray-head:6379" and found.network == "demo-ray"
    assert found.input_dir == (tmp_path / "in").resolve() and found.node_cpus == (1, 2)
    with pytest.raises(CuratorKitError, match="lacks curator-kit's labels"):
        cluster_info({}, "x", "y", [])


def test_mount_code_mounts_the_code_on_every_node_and_says_so_in_a_label(tmp_path):
    code = (Mount(str(tmp_path / "stages"), "/workspace/stages", read_only=True),)
    plan = plan_cluster(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path, code_mounts=code), HOST
    )
    for node in plan.nodes:
        assert (str(tmp_path / "stages"), "/workspace/stages", True) in [
            (m.source, m.target, m.read_only) for m in node.mounts
        ]
        assert node.labels[LABEL_CLUSTER_CODE] == "mounted"
    assert any(note.startswith("code mounted read-only") for note in said(plan.findings, Code.CODE_MOUNTED))
    labels = plan.head.labels
    assert cluster_info(labels, "demo-ray-head", "sha256:" + "a" * 64, [labels]).code_mounted
    plain = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    assert LABEL_CLUSTER_CODE not in plain.head.labels
    assert not cluster_info(plain.head.labels, "demo-ray-head", "sha256:" + "a" * 64, [plain.head.labels]).code_mounted


def test_every_node_and_the_driver_get_the_home_a_run_gets(tmp_path):
    """runplan.container_home, through the image HOME `ops` read: the node's user owns it here."""
    owner = replace(HOST, uid=NONROOT_UID, gid=NONROOT_GID)
    options = cluster_options(tmp_path, image_home=NONROOT_HOME)
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, options, owner)
    assert {(n.env["HOME"], n.env["USER"]) for n in plan.nodes} == {(NONROOT_HOME, NONROOT_USER)}
    other = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, options, HOST)  # uid 1000, gid 1001
    assert {n.env["HOME"] for n in other.nodes} == {NONROOT_HOME}
    stranger = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, options, replace(HOST, uid=1234))
    assert {n.env["HOME"] for n in stranger.nodes} == {FALLBACK_HOME}
    cluster = info(tmp_path)
    target = RayTarget(cluster.ray_address, cluster)
    spec = spec_of(manifest(), tmp_path)
    driver = plan_ray_run(manifest(), spec, tmp_path, run_options(tmp_path, image_home=NONROOT_HOME), owner, target)
    assert driver.env["HOME"] == NONROOT_HOME


def run_options(tmp_path, **overrides) -> RunOptions:
    values = {"input_dir": tmp_path / "elsewhere", "output_dir": tmp_path / "o", "image": "", "run_id": "r1"}
    return RunOptions(**(values | overrides))


def test_driver_on_the_local_cluster(tmp_path):
    cluster = info(tmp_path)
    plan = plan_ray_run(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        run_options(tmp_path),
        HOST,
        RayTarget(cluster.ray_address, cluster),
    )
    kwargs = docker_create_kwargs(plan)
    assert plan.name == "demo-ray-driver-r1" and kwargs["network"] == "demo-ray" and kwargs["hostname"] == plan.name
    assert kwargs["image"] == cluster.image_id  # exactly what the nodes run
    assert kwargs["environment"]["RAY_ADDRESS"] == "demo-ray-head:6379"
    assert kwargs["environment"].items() >= XENNA_RAY_ENV.items()
    assert plan.labels[LABEL_ROLE] == "driver" and plan.labels[LABEL_CLUSTER] == "demo"
    assert [(m.source, m.target) for m in plan.mounts] == [
        (str(cluster.input_dir), "/data/input"),
        (str(cluster.output_dir), "/data/output"),
    ]  # the cluster's, whatever the options said
    assert plan.shm_size_bytes == cluster.node_shm_bytes
    sh, flag, script = plan.command
    assert (sh, flag) == ("sh", "-c")
    assert 'ray start "--address=$RAY_ADDRESS" --num-cpus=1 --num-gpus=0' in script
    assert f"--object-store-memory={cluster.object_store_bytes}" in script
    # Nodes of 1, 2 and 1 CPUs (the driver's last) stream on int(0.95 x 2) = 1 CPU: every stage scaled to fit.
    assert "--execution-mode streaming --cpu-allocation-percentage 0.95 --cpu-scale 0.363" in script
    assert plan.execution.mode == "streaming" and "int(0.95 x 1)" in plan.execution.reason
    with pytest.raises(CuratorKitError, match="workers hold the GPUs"):
        plan_ray_run(
            manifest(),
            spec_of(manifest(), tmp_path),
            tmp_path,
            run_options(tmp_path, gpus=parse_gpus("all")),
            HOST,
            RayTarget("x:1", cluster),
        )


def test_driver_for_an_external_cluster_keeps_the_paths(tmp_path):
    plan = plan_ray_run(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        run_options(tmp_path, image="demo:1"),
        HOST,
        RayTarget("10.0.0.5:6379"),
    )
    kwargs = docker_create_kwargs(plan)
    assert kwargs["network_mode"] == "host" and "hostname" not in kwargs and "network" not in kwargs
    source_in, source_out = str((tmp_path / "elsewhere").resolve()), str((tmp_path / "o").resolve())
    assert [(m.source, m.target) for m in plan.mounts] == [(source_in, source_in), (source_out, source_out)]
    assert f"--input {source_in} --output {source_out}" in plan.command[2]
    assert "--object-store-memory" not in plan.command[2]
    assert any("every node of the cluster must see them" in note for note in said(plan.findings, Code.PATHS_SHARED))
    on_network = plan_ray_run(
        manifest(),
        spec_of(manifest(), tmp_path),
        tmp_path,
        run_options(tmp_path, image="demo:1"),
        HOST,
        RayTarget("h:6379", network="n1"),
    )
    assert docker_create_kwargs(on_network)["network"] == "n1" and "network_mode" not in docker_create_kwargs(
        on_network
    )
    argv = on_network.docker_run_argv()
    assert argv[:3] == ["docker", "run", "--rm"] and argv[argv.index("--network") + 1] == "n1"


def test_the_pipeline_command_takes_the_data_paths_it_is_given():
    # What with_data_paths rewrote after the fact is now an option of the one placement: the command is
    # made with the paths, once each, and the defaults are the container's own mounts.
    execution = choose_execution_mode("batch", spec_needing(1.0), [4])
    given = PipelineOptions("batch", ignore_failures=True, input_path="s3://b/in", output_path="/o")
    command = pipeline_command(execution, given)
    assert command[:6] == ["python", PIPELINE_IN_IMAGE, "--input", "s3://b/in", "--output", "/o"]
    assert command.count("--input") == 1 and command.count("--output") == 1
    default = pipeline_command(execution, PipelineOptions("batch", ignore_failures=True))
    assert default[2:6] == ["--input", "/data/input", "--output", "/data/output"]


def stub_ray(tmp_path: Path) -> tuple[dict[str, str], Path]:
    log = tmp_path / "ray.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ray").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "ray").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RAY_ADDRESS": "head:6379"}, log


def test_driver_script_joins_runs_and_leaves_with_the_pipelines_code(tmp_path):
    env, log = stub_ray(tmp_path)
    script = driver_script(["sh", "-c", "echo pipeline ran; exit 3"], 1, 0, None)
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert result.stdout.splitlines() == ["joined the Ray cluster at head:6379 as a node with 1 CPU", "pipeline ran"]
    assert log.read_text().splitlines() == [
        "start --address=head:6379 --num-cpus=1 --num-gpus=0 --disable-usage-stats",
        "stop",
    ]


def test_driver_script_passes_sigterm_to_the_pipeline_and_still_leaves(tmp_path):
    env, log = stub_ray(tmp_path)
    script = driver_script(["sleep", "30"], 1, 0, None)
    process = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while "start" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM  # the pipeline's death by SIGTERM
    assert log.read_text().splitlines()[-1] == "stop"


def test_driver_script_reports_a_failed_join(tmp_path):
    env, _ = stub_ray(tmp_path)
    (tmp_path / "bin" / "ray").write_text('#!/bin/sh\necho "could not reach $RAY_ADDRESS"\nexit 7\n')
    script = driver_script(["true"], 1, 0, None)
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 7 and "could not reach head:6379" in result.stderr


def test_parse_ray_nodes():
    text = (
        'noise\n[{"node_id": "a", "node_ip": "172.1.0.2", "is_head_node": true, "state": "ALIVE", '
        '"resources_total": {"CPU": 1.0}}, {"node_id": "b", "node_ip": "172.1.0.5", "state": "DEAD", '
        '"state_message": "Expected termination", "resources_total": {}}]'
    )
    head, gone = parse_ray_nodes(text)
    assert (head.alive, head.head, head.cpus, head.gpus) == (True, True, 1.0, 0.0)
    assert (gone.alive, gone.message) == (False, "Expected termination")
    assert parse_ray_nodes("no json") == [] and parse_ray_nodes("[not json") == []


GPU_STAGE = StageSpec("embed", "stages.embed", "EmbedStage", resources=StageResources(cpus=1.0, gpu_memory_gb=8))
NVIDIA = EngineFacts(runtimes=("nvidia", "runc"), nvidia_hook=True)


def test_judge_cluster(tmp_path):
    (tmp_path / "in").mkdir()  # the plan's own findings then hold only the GPUs' ones
    gpu_manifest = manifest([GPU_STAGE])
    plain = plan_cluster(gpu_manifest, spec_of(gpu_manifest, tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    # GPU stages on workers without GPUs are the cluster plan's own finding (plan_cluster placed the stages).
    assert [(f.code, f.message, f.fix) for f in refusals(plain.findings)] == [
        (
            Code.GPU_STAGE_WITHOUT_GPU,
            "stage 'embed' needs a GPU but the nodes that run it get none",
            "pass --gpus-per-worker 1 (or all)",
        )
    ]
    assert refusals(judge_cluster(plain, NVIDIA, [])) == []
    gpus = plan_cluster(
        gpu_manifest,
        spec_of(gpu_manifest, tmp_path),
        tmp_path,
        cluster_options(tmp_path, gpus_per_worker=parse_gpus_per_worker("1")),
        HOST,
    )
    assert refusals(gpus.findings) == [] and refusals(judge_cluster(gpus, NVIDIA, [])) == []
    bare = refusals(judge_cluster(gpus, EngineFacts(runtimes=("runc",)), []))
    assert codes(bare) == [Code.NO_NVIDIA_SUPPORT]  # once, not per worker
    assert "no NVIDIA support" in bare[0].message
    one_gpu = [HostGpu(0, "NVIDIA L4", 23034)]
    short = refusals(judge_cluster(gpus, NVIDIA, one_gpu))
    assert [(f.code, f.message) for f in short] == [
        (Code.GPUS_BEYOND_HOST, "2 workers x 1 GPU(s) need GPUs 0-1, but this host has 1")
    ]


def test_the_driver_sizes_memory_stages_for_the_clusters_cards(tmp_path):
    # The driver container has no GPU, so Curator alone would assume 24 GB: 8 GB -> 0.3 of an 80 GB H100.
    embed = StageSpec("embed", "stages.embed", "Embed", resources=StageResources(cpus=1.0, gpu_memory_gb=8.0))
    m = manifest(stages=[embed])
    h100_host = replace(HOST, gpus=(HostGpu(0, "NVIDIA H100 80GB HBM3", 81559),))
    cluster = cluster_info(
        {
            **docker_create_kwargs(
                plan_cluster(m, spec_of(m, tmp_path), tmp_path, cluster_options(tmp_path), HOST).head
            )["labels"]
        },
        "demo-ray-head",
        "sha256:abc",
        [{LABEL_RAY_CPUS: "1"}, {LABEL_RAY_CPUS: "1"}],
    )
    plan = plan_ray_run(
        m, spec_of(m, tmp_path), tmp_path, run_options(tmp_path), h100_host, RayTarget("x:6379", cluster)
    )
    assert "--stage-gpus embed=0.1" in plan.command[2]
    external = plan_ray_run(
        m, spec_of(m, tmp_path), tmp_path, run_options(tmp_path, image="d:1"), h100_host, RayTarget("x:6379")
    )
    assert "--stage-gpus" not in external.command[2]


# --- Ray token authentication -----------------------------------------------------------------

TOKEN_PATH_IN_NODES = "/run/curator-kit/ray-auth-token"


def test_every_node_authenticates_with_a_token_file_never_the_token(tmp_path):
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    token_file = tmp_path / ".curator-kit" / "ray-auth-token"
    assert plan.token_file == token_file
    for node in plan.nodes:
        env = docker_create_kwargs(node)["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == TOKEN_PATH_IN_NODES
        assert "RAY_AUTH_TOKEN" not in env  # the value itself would show in `docker inspect`
        assert (str(token_file.resolve()), TOKEN_PATH_IN_NODES, True) in [
            (m.source, m.target, m.read_only) for m in node.mounts
        ]
        assert node.labels["curator-kit.ray-auth"] == "token"
    assert f"auth       Ray token authentication: a new token in {token_file} (mode 0600), mounted read-only" in (
        "\n".join(plan.describe())
    )


def test_the_token_reaches_no_plan_output(tmp_path, monkeypatch):
    """`cluster up` writes the token (0600, owned by the nodes' user) and no printed line or docker
    argument carries it: the plan only ever holds the file's path."""
    from curator_kit.ops import cluster as ops_cluster
    from curator_kit.ops.launch import EngineSession

    owners: list[tuple[int, int]] = []
    monkeypatch.setattr(ops_cluster, "give_to_user", lambda path, host: owners.append((host.uid, host.gid)))
    session = EngineSession(client=None, info={}, host=HOST, engine=None)  # type: ignore[arg-type]
    path = ops_cluster.new_cluster_token(tmp_path, session)
    token = path.read_text()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 bits, hex
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert owners == [(1000, 1001)]
    assert ops_cluster.new_cluster_token(tmp_path, session).read_text() != token  # a new one per cluster
    plan = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST)
    printed = "\n".join([*plan.describe(), *plan.docker_lines()])
    created = str([docker_create_kwargs(node) for node in plan.nodes])
    token = path.read_text()
    assert token not in printed and token not in created
    assert f"type=bind,source={path.resolve()},target={TOKEN_PATH_IN_NODES},readonly" in printed


def test_drivers_use_the_local_clusters_token_or_the_given_one(tmp_path):
    cluster = info(tmp_path)
    assert cluster.auth
    token = tmp_path / ".curator-kit" / "ray-auth-token"
    local = plan_ray_run(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, run_options(tmp_path), HOST,
        RayTarget(cluster.ray_address, cluster, token_file=token),
    )  # fmt: skip
    env = docker_create_kwargs(local)["environment"]
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == TOKEN_PATH_IN_NODES
    mounts = [(m.source, m.target, m.read_only) for m in local.mounts]
    assert (str(token.resolve()), TOKEN_PATH_IN_NODES, True) in mounts
    given = tmp_path / "their-token"
    external = plan_ray_run(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, run_options(tmp_path, image="d:1"), HOST,
        RayTarget("h:6379", token_file=given),
    )  # fmt: skip
    assert docker_create_kwargs(external)["environment"]["RAY_AUTH_TOKEN_PATH"] == TOKEN_PATH_IN_NODES
    assert any(m.source == str(given.resolve()) and m.read_only for m in external.mounts)
    plain = plan_ray_run(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, run_options(tmp_path, image="d:1"), HOST,
        RayTarget("h:6379"),
    )  # fmt: skip
    assert "RAY_AUTH_MODE" not in docker_create_kwargs(plain)["environment"]


def test_a_cluster_from_before_token_authentication_is_named(tmp_path):
    head = plan_cluster(manifest(), spec_of(manifest(), tmp_path), tmp_path, cluster_options(tmp_path), HOST).head
    old = {k: v for k, v in head.labels.items() if k != "curator-kit.ray-auth"}
    cluster = cluster_info(old, "demo-ray-head", "sha256:" + "a" * 64, [old])
    assert not cluster.auth
    plan = plan_ray_run(
        manifest(), spec_of(manifest(), tmp_path), tmp_path, run_options(tmp_path), HOST,
        RayTarget(cluster.ray_address, cluster),
    )  # fmt: skip
    assert "the cluster was started without Ray token authentication: `cluster down` and `cluster up`" in said(
        plan.findings, Code.RAY_NO_AUTH
    )


def test_stages_too_big_for_any_node_are_sized_to_the_clusters_nodes(tmp_path):
    # Curator's ClipTranscodingStage default (6 CPUs) on 1-CPU nodes: sized to 1, said once, for the nodes.
    m = Manifest(ProjectInfo("demo"), clipping=ClippingSettings(method="fixed-stride", encoder_cpus=6.0))
    spec = spec_of(m, tmp_path)
    up = plan_cluster(m, spec, tmp_path, cluster_options(tmp_path), HOST)
    cluster = cluster_info(up.head.labels, "demo-ray-head", "sha256:abc", [{LABEL_RAY_CPUS: "1"}] * 3)
    plan = plan_ray_run(m, spec, tmp_path, run_options(tmp_path), replace(HOST, cpus=16), RayTarget("x:1", cluster))
    assert "--stage-cpus ClipTranscodingStage=1" in plan.command[2]
    sized = said(plan.findings, Code.CPUS_SIZED)
    assert sized == [
        "CPUs sized to a node (1 cores): ClipTranscodingStage 6 -> 1 (one worker of each fits; Xenna could place none)"
    ]
