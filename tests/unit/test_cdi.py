"""CDI: spec files parsed (JSON and YAML), GPU requests as CDI device names, refusals as coded findings,
and what the engine side makes of them (Podman's libpod spec, the `podman run` line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curator_kit.core.constants import ENGINE_DOCKER, ENGINE_PODMAN
from curator_kit.core.findings import Severity, codes, decide
from curator_kit.core.parsers import Ulimit, parse_gpus
from curator_kit.core.pipeline.cdi import (
    CdiInventory,
    CdiSpecError,
    cdi_route,
    gpu_devices,
    parse_spec,
    read_inventory,
)
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults
from curator_kit.core.run.preflight import EngineFacts, judge
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run
from curator_kit.engine.identity import DOCKER, PODMAN, identify
from curator_kit.engine.podman import PODMAN_DEFAULT_LIMIT, libpod_spec, podman_ulimits
from curator_kit.errors import CuratorKitError
from curator_kit.ops.cdispecs import read_cdi_inventory
from curator_kit.ops.dockerd_limits import hard_limits
from curator_kit.ops.launch import EngineSession, fit_to_engine

NVIDIA_YAML = """\
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
- name: "1"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
- name: GPU-8d2c1a3e-0000-1111-2222-333344445555
  containerEdits: {}
- name: all
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
    - path: /dev/nvidia1
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
"""
ONE_GPU_JSON = json.dumps(
    {
        "cdiVersion": "0.6.0",
        "kind": "nvidia.com/gpu",
        "devices": [{"name": "0", "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=0"]}}],
    }
)
OTHER_KIND_JSON = json.dumps({"cdiVersion": "0.6.0", "kind": "vendor.com/fpga", "devices": [{"name": "f0"}]})

TWO_GPUS = read_inventory([("/etc/cdi/nvidia.yaml", NVIDIA_YAML)])
ONE_GPU = read_inventory([("/var/run/cdi/one.json", ONE_GPU_JSON)])
NO_GPU_SPEC = read_inventory([("/etc/cdi/fpga.json", OTHER_KIND_JSON)])


def test_yaml_and_json_specs_parse():
    spec = parse_spec(NVIDIA_YAML, "/etc/cdi/nvidia.yaml")
    assert (spec.kind, spec.version) == ("nvidia.com/gpu", "0.5.0")
    assert spec.devices == ("0", "1", "GPU-8d2c1a3e-0000-1111-2222-333344445555", "all")
    assert parse_spec(ONE_GPU_JSON, "/var/run/cdi/one.json").devices == ("0",)
    # a .yaml file may hold JSON (YAML's subset); a .json file is read as JSON only
    assert parse_spec(ONE_GPU_JSON, "/etc/cdi/one.yaml").devices == ("0",)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a mapping"),
        ('{"kind": "nvidia.com/gpu", "devices": [{"name": "0"}]}', "no cdiVersion"),
        ('{"cdiVersion": "0.5.0", "kind": "gpu", "devices": [{"name": "0"}]}', "not vendor/class"),
        ('{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": []}', "declares no devices"),
        ('{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [{"name": "a/b"}]}', "not a CDI device name"),
        ('{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [{"name": "0"}, {"name": "0"}]}', "twice"),
    ],
)
def test_bad_specs_say_why(text, why):
    with pytest.raises(CdiSpecError, match=why):
        parse_spec(text, "/etc/cdi/x.json")


def test_bad_yaml_is_one_line():
    with pytest.raises(CdiSpecError, match="not valid YAML") as caught:
        parse_spec("kind: [unclosed\n  - x", "/etc/cdi/x.yaml")
    assert "\n" not in str(caught.value)


def test_inventory_keeps_good_specs_and_names_bad_files():
    inventory = read_inventory(
        [("/etc/cdi/a.yaml", NVIDIA_YAML), ("/etc/cdi/b.json", "nope"), ("/c.json", ONE_GPU_JSON)]
    )
    assert inventory.devices() == ("0", "1", "GPU-8d2c1a3e-0000-1111-2222-333344445555", "all")  # each once
    assert inventory.sources() == ("/etc/cdi/a.yaml", "/c.json")
    assert len(inventory.problems) == 1 and inventory.problems[0].startswith("/etc/cdi/b.json: not valid JSON")


@pytest.mark.parametrize(
    ("gpus", "names"),
    [
        ("all", ("nvidia.com/gpu=all",)),
        ("1", ("nvidia.com/gpu=0",)),
        ("2", ("nvidia.com/gpu=0", "nvidia.com/gpu=1")),
        ("device=1", ("nvidia.com/gpu=1",)),
        ("device=0,1", ("nvidia.com/gpu=0", "nvidia.com/gpu=1")),
        (
            "device=GPU-8d2c1a3e-0000-1111-2222-333344445555",
            ("nvidia.com/gpu=GPU-8d2c1a3e-0000-1111-2222-333344445555",),
        ),
    ],
)
def test_requests_become_cdi_names(gpus, names):
    assert gpu_devices(parse_gpus(gpus), TWO_GPUS) == (names, [])


def test_all_without_an_all_device_lists_the_indexed_gpus():
    inventory = read_inventory(
        [
            (
                "/etc/cdi/x.json",
                json.dumps({**json.loads(ONE_GPU_JSON), "devices": [{"name": "1"}, {"name": "0"}, {"name": "0:0"}]}),
            )
        ]
    )
    assert gpu_devices(parse_gpus("all"), inventory)[0] == ("nvidia.com/gpu=0", "nvidia.com/gpu=1")


@pytest.mark.parametrize(
    ("gpus", "inventory", "said"),
    [
        ("2", ONE_GPU, "2 GPUs asked for, but the CDI specs declare 1 by index (0)"),
        ("device=3", TWO_GPUS, "--gpus device=3: the CDI specs declare no such nvidia.com/gpu device"),
        ("1", NO_GPU_SPEC, "no CDI spec in /etc/cdi, /var/run/cdi declares nvidia.com/gpu devices"),
        ("all", CdiInventory(), "no CDI spec in /etc/cdi, /var/run/cdi declares nvidia.com/gpu devices"),
    ],
)
def test_unsatisfiable_requests_are_refused_with_a_code(gpus, inventory, said):
    names, findings = gpu_devices(parse_gpus(gpus), inventory)
    assert names == ()
    assert codes(findings) == ["cdi-devices"] and findings[0].severity is Severity.REFUSE
    assert said in findings[0].message and findings[0].fix
    with pytest.raises(CuratorKitError) as refused:  # --force cannot pass it: the engine would refuse it too
        decide(findings, force=True)
    assert refused.value.one_line().endswith("[cdi-devices]")


def test_remote_engine_names_follow_the_request_with_a_warning():
    names, findings = gpu_devices(parse_gpus("2"), None)
    assert names == ("nvidia.com/gpu=0", "nvidia.com/gpu=1")
    assert codes(findings) == ["cdi-unchecked"] and findings[0].severity is Severity.WARN


def test_broken_spec_files_warn_and_the_rest_still_serves():
    inventory = read_inventory([("/etc/cdi/bad.json", "{"), ("/etc/cdi/one.json", ONE_GPU_JSON)])
    names, findings = gpu_devices(parse_gpus("1"), inventory)
    assert names == ("nvidia.com/gpu=0",) and codes(findings) == ["cdi-spec-invalid"]


def test_no_gpus_asked_no_devices():
    assert gpu_devices(parse_gpus("none"), None) == ((), [])


def test_route_podman_always_docker_only_with_cdi_and_gpu_specs():
    assert cdi_route(True, True, None)
    assert cdi_route(False, True, TWO_GPUS)
    assert not cdi_route(False, True, NO_GPU_SPEC)  # Docker keeps --gpus
    assert not cdi_route(False, False, TWO_GPUS)
    assert not cdi_route(False, True, None)


def test_specs_are_read_from_the_directories(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "etc" / "nvidia.yaml").write_text(NVIDIA_YAML)
    (tmp_path / "run" / "one.json").write_text(ONE_GPU_JSON)
    (tmp_path / "run" / "README").write_text("not a spec, not read")
    inventory = read_cdi_inventory((str(tmp_path / "etc"), str(tmp_path / "run"), str(tmp_path / "missing")))
    assert inventory.sources() == (str(tmp_path / "etc" / "nvidia.yaml"), str(tmp_path / "run" / "one.json"))
    assert inventory.problems == ()


# --- the engine: which one answers ---------------------------------------------------------------------

PODMAN_VERSION = {
    "Platform": {"Name": "linux/amd64/debian-12"},
    "Components": [{"Name": "Podman Engine", "Version": "4.3.1", "Details": {"APIVersion": "4.3.1"}}],
    "Version": "4.3.1",
    "ApiVersion": "1.41",
}
DOCKER_20 = {
    "Platform": {"Name": ""},
    "Components": [{"Name": "Engine", "Version": "20.10.24"}],
    "Version": "20.10.24",
    "ApiVersion": "1.41",
}
DOCKER_27 = {"Platform": {"Name": "Docker Engine - Community"}, "Version": "27.3.1", "ApiVersion": "1.47"}


def test_identify_podman_docker_and_cdi():
    podman = identify(PODMAN_VERSION, {"SecurityOptions": ["name=seccomp,profile=default"]})
    assert (podman.name, podman.version, podman.rootless, podman.cdi) == (PODMAN, "4.3.1", False, True)
    assert podman.cdi_spec_dirs == ("/etc/cdi", "/var/run/cdi")
    assert podman.describe() == "Podman 4.3.1 (API 1.41, rootful)"
    rootless = identify(PODMAN_VERSION, {"SecurityOptions": ["name=rootless"]})
    assert rootless.rootless and rootless.describe().endswith("rootless)")
    old = identify({**PODMAN_VERSION, "Components": [{"Name": "Podman Engine", "Version": "4.0.2"}]}, {})
    assert not old.cdi
    assert identify(DOCKER_20, {}).name == DOCKER and not identify(DOCKER_20, {"CDISpecDirs": ["/etc/cdi"]}).cdi
    docker27 = identify(DOCKER_27, {"CDISpecDirs": ["/etc/cdi", "/var/run/cdi"]})
    assert docker27.cdi and docker27.cdi_spec_dirs == ("/etc/cdi", "/var/run/cdi")
    assert not identify(DOCKER_27, {"CDISpecDirs": []}).cdi


# --- the plan fitted to the engine -----------------------------------------------------------------------

HOST = HostFacts(cpus=8, memory_bytes=32 * 2**30, uid=0, gid=0)


def run_plan_for(tmp_path: Path, gpus: str):
    (tmp_path / "in").mkdir(exist_ok=True)
    manifest = Manifest(ProjectInfo("cdi"), run=RunDefaults())
    options = RunOptions(tmp_path / "in", tmp_path / "out", "img:1", gpus=parse_gpus(gpus), command=("env",))
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)


def session(identity, cdi, limits=None) -> EngineSession:
    return EngineSession(None, {}, HOST, EngineFacts(runtimes=("runc",)), identity, cdi, limits or {})  # type: ignore[arg-type]


def test_podman_plan_passes_cdi_devices_and_prints_a_podman_line(tmp_path):
    plan = run_plan_for(tmp_path, "1")
    fit_to_engine(plan, session(identify(PODMAN_VERSION, {}), TWO_GPUS, {"nofile": 20000, "nproc": 32768}))
    assert plan.cdi and plan.cdi_devices == ("nvidia.com/gpu=0",)
    line = plan.docker_run_line()
    assert line.startswith("podman run --rm ") and " --device nvidia.com/gpu=0 " in line and "--gpus" not in line
    assert "--ulimit nofile=20000:20000 --ulimit nproc=32768:32768" in line
    assert plan.create_kwargs()["device_requests"] == [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=0"]}]
    assert "gpus       1 GPU(s) via CDI nvidia.com/gpu=0" in plan.describe()
    # the NVIDIA hook/runtime check is not what decides a CDI route
    assert judge(plan, EngineFacts(runtimes=("runc",)), []) == []


def test_podman_refusal_joins_the_plan(tmp_path):
    plan = run_plan_for(tmp_path, "2")
    fit_to_engine(plan, session(identify(PODMAN_VERSION, {}), ONE_GPU))
    assert plan.cdi and plan.cdi_devices == ()
    assert "cdi-devices" in codes(plan.findings)


def test_docker_without_cdi_keeps_gpus_unchanged(tmp_path):
    plan = run_plan_for(tmp_path, "all")
    before = (plan.docker_run_line(), plan.create_kwargs())
    fit_to_engine(plan, session(identify(DOCKER_20, {}), None))
    assert (plan.docker_run_line(), plan.create_kwargs()) == before
    assert plan.docker_run_line().startswith("docker run ") and "--gpus" in plan.docker_run_line()


def test_docker_with_cdi_uses_the_cdi_driver(tmp_path):
    plan = run_plan_for(tmp_path, "device=1")
    fit_to_engine(plan, session(identify(DOCKER_27, {"CDISpecDirs": ["/etc/cdi"]}), TWO_GPUS))
    assert plan.create_kwargs()["device_requests"] == [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=1"]}]
    assert plan.docker_run_line().startswith("docker run ") and "--device nvidia.com/gpu=1" in plan.docker_run_line()


def test_no_engine_leaves_the_plan_dockers(tmp_path):
    plan = run_plan_for(tmp_path, "1")
    fit_to_engine(plan, None)
    assert not plan.cdi and plan.engine == ENGINE_DOCKER


def test_podman_ulimits_only_where_the_plan_names_none():
    chosen = (Ulimit("memlock", -1, -1), Ulimit("nofile", 1024, 1024))
    assert podman_ulimits(chosen, {"nofile": 20000, "nproc": 32768}) == (Ulimit("nproc", 32768, 32768),)
    assert podman_ulimits((), {"nofile": 2**40}) == (Ulimit("nofile", PODMAN_DEFAULT_LIMIT, PODMAN_DEFAULT_LIMIT),)
    assert podman_ulimits((), {}) == ()  # a remote Podman, or none found: its defaults


def test_service_hard_limits_from_proc_text():
    text = (
        "Limit                     Soft Limit           Hard Limit           Units\n"
        "Max processes             32768                32768                processes\n"
        "Max open files            20000                unlimited            files\n"
    )
    assert hard_limits(text) == {"nproc": 32768}


def test_libpod_spec_carries_the_plan(tmp_path):
    plan = run_plan_for(tmp_path, "1")
    fit_to_engine(plan, session(identify(PODMAN_VERSION, {}), TWO_GPUS, {"nofile": 20000, "nproc": 32768}))
    spec = libpod_spec(plan.create_kwargs(), plan.cdi_devices)
    assert spec["devices"] == [{"path": "nvidia.com/gpu=0"}]
    assert spec["image"] == "img:1" and spec["command"] == ["env"] and spec["init"] is True
    assert spec["user"] == "0:0" and spec["create_working_dir"] is True
    assert {"type": "memlock", "soft": 2**64 - 1, "hard": 2**64 - 1} in spec["r_limits"]  # unlimited as uint64
    assert {"type": "nofile", "soft": 20000, "hard": 20000} in spec["r_limits"]
    assert spec["env"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/data/input"]["options"] == ["rbind", "ro"] and mounts["/data/output"]["options"] == ["rbind", "rw"]
    assert spec["shm_size"] == plan.shm_size_bytes


def test_libpod_spec_refuses_what_it_cannot_carry():
    with pytest.raises(CuratorKitError, match="cpu_quota"):
        libpod_spec({"image": "i", "command": [], "name": "n", "cpu_quota": 50000}, ("nvidia.com/gpu=0",))


def test_libpod_spec_networks_a_cluster_node(tmp_path):
    """A GPU worker of `cluster up` on Podman: its network, hostname and published ports in libpod's terms."""
    node = cluster_plan_for(tmp_path, "1").head
    node.published = {8265: "127.0.0.1"}
    spec = libpod_spec(node.create_kwargs(), ("nvidia.com/gpu=0",))
    assert spec["netns"] == {"nsmode": "bridge"} and spec["Networks"] == {node.network: {}}
    assert spec["hostname"] == node.hostname
    assert spec["portmappings"] == [{"container_port": 8265, "host_ip": "127.0.0.1", "host_port": 0, "protocol": "tcp"}]
    host = libpod_spec({"image": "i", "command": [], "name": "n", "network_mode": "host"}, ())
    assert host["netns"] == {"nsmode": "host"} and "Networks" not in host


def cluster_plan_for(tmp_path: Path, gpus: str):
    from curator_kit.core.cluster.clusterplan import ClusterOptions, plan_cluster
    from curator_kit.core.parsers import parse_gpus_per_worker

    (tmp_path / "in").mkdir(exist_ok=True)
    manifest = Manifest(ProjectInfo("cdi"), run=RunDefaults())
    options = ClusterOptions(
        tmp_path / "in", tmp_path / "out", "img:1", workers=2, gpus_per_worker=parse_gpus_per_worker(gpus)
    )
    return plan_cluster(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)


def test_cluster_nodes_are_fitted_like_a_run(tmp_path):
    """`cluster up` fits every node as `run` fits its container: on Podman the podman line and ulimits, and
    with GPUs the CDI route, a distinct device for each worker; on Docker 20.10 the `--gpus` route."""
    from curator_kit.ops.cluster import fit_nodes_to_engine

    podman = session(identify(PODMAN_VERSION, {}), TWO_GPUS, {"nofile": 20000, "nproc": 32768})
    plan = cluster_plan_for(tmp_path, "none")
    fit_nodes_to_engine(plan, podman)
    assert all(node.engine == ENGINE_PODMAN and not node.cdi for node in plan.nodes)
    assert all(("nofile", 20000, 20000) in node.ulimits for node in plan.nodes)
    assert not any(finding.code.value.startswith("cdi") for finding in plan.findings)

    plan = cluster_plan_for(tmp_path, "1")
    fit_nodes_to_engine(plan, podman)
    assert [node.cdi_devices for node in plan.workers] == [("nvidia.com/gpu=0",), ("nvidia.com/gpu=1",)]  # distinct
    assert all(node.engine == ENGINE_PODMAN for node in plan.nodes)
    assert not any(finding.code.value.startswith("cdi") for finding in plan.findings)
    assert all(line.startswith("podman run -d ") for line in (node.docker_run_line() for node in plan.nodes))

    plan = cluster_plan_for(tmp_path, "1")
    fit_nodes_to_engine(plan, session(identify(DOCKER_20, {}), None))
    assert not any(node.cdi for node in plan.nodes) and all(node.engine == ENGINE_DOCKER for node in plan.nodes)


def test_a_podman_reached_through_docker_host_is_named_on_its_lines(tmp_path):
    """The podman CLI does not read DOCKER_HOST: a line for the service curator-kit reached there says `--url`,
    or it would run on the CLI's own storage (another user's images, or none)."""
    from curator_kit.ops.cluster import fit_nodes_to_engine

    reached = session(identify(PODMAN_VERSION, {}), None)
    reached.cli_url = "unix:///run/user/1001/podman/podman.sock"
    plan = run_plan_for(tmp_path, "none")
    fit_to_engine(plan, reached)
    assert plan.docker_run_line().startswith("podman --url unix:///run/user/1001/podman/podman.sock run --rm --name ")

    cluster = cluster_plan_for(tmp_path, "none")
    fit_nodes_to_engine(cluster, reached)
    head = cluster.nodes[0]
    assert head.docker_run_argv()[:7] == [
        "podman",
        "--url",
        "unix:///run/user/1001/podman/podman.sock",
        "run",
        "-d",
        "--name",
        head.name,
    ]
    assert head.docker_run_argv()[7:9] == ["--network", head.network]

    own = run_plan_for(tmp_path, "none")
    fit_to_engine(own, session(identify(PODMAN_VERSION, {}), None))  # its own socket: the CLI finds it
    assert own.docker_run_line().startswith("podman run --rm --name ")
