"""A rootless Podman: it is known as rootless, and a plan running as the service's own user is fitted to
Podman's keep-id user namespace (`ops.launch.fit_to_engine`), shown so in its podman line, and created so
(compat and libpod paths); Docker's path is unchanged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from curator_kit.core.parsers import parse_gpus
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults
from curator_kit.core.run.preflight import EngineFacts
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run, plan_shell
from curator_kit.engine.containers import create, docker_create_kwargs, translate_engine_error
from curator_kit.engine.identity import DOCKER, PODMAN, EngineIdentity, identify
from curator_kit.engine.podman import KEEP_ID, compat_create_args, libpod_spec, rootless_userns, service_uid
from curator_kit.ops.launch import EngineSession, fit_to_engine

PODMAN_VERSION = {
    "Platform": {"Name": "linux/amd64/debian-12"},
    "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}],
    "Version": "4.3.1",
    "ApiVersion": "1.41",
}
# Podman 4.3.1's compat /info of a rootless service, as answered here (abridged).
ROOTLESS_INFO = {"Rootless": True, "SecurityOptions": ["name=seccomp,profile=default"], "CgroupDriver": "cgroupfs"}
# Its /libpod/info: the user (1500) is the container's root, the subuids the rest.
LIBPOD_INFO = {
    "host": {
        "idMappings": {
            "uidmap": [
                {"container_id": 0, "host_id": 1500, "size": 1},
                {"container_id": 1, "host_id": 100000, "size": 65536},
            ],
            "gidmap": [{"container_id": 0, "host_id": 1500, "size": 1}],
        },
        "security": {"rootless": True},
    }
}


def test_podman_says_rootless_in_its_compat_info():
    rootless = identify(PODMAN_VERSION, ROOTLESS_INFO)
    assert rootless.podman and rootless.rootless
    assert rootless.describe() == "Podman 4.3.1 (API 1.41, rootless)"
    assert not identify(PODMAN_VERSION, {**ROOTLESS_INFO, "Rootless": False}).rootless
    assert not identify(PODMAN_VERSION, {"Rootless": "yes"}).rootless  # only the boolean counts


def test_the_service_user_is_the_containers_root():
    assert service_uid(LIBPOD_INFO) == 1500
    assert service_uid({"host": {"idMappings": {}}}) is None  # rootful Podman maps nothing
    assert service_uid({}) is None


@pytest.mark.parametrize(
    ("user", "uid", "mode"),
    [
        ("1500:1500", 1500, KEEP_ID),
        ("1500", 1500, KEEP_ID),
        ("0:0", 1500, None),  # root inside is the user already
        ("1000:1000", 1500, None),  # another uid is a subuid either way
        ("1500:1500", None, None),  # the service did not say
        ("nonroot", 1500, None),
    ],
)
def test_keep_id_only_for_the_service_users_own_uid(user: str, uid: int | None, mode: str | None):
    assert rootless_userns(user, uid) == mode


HOST = HostFacts(cpus=8, memory_bytes=32 * 2**30, uid=1500, gid=1500)


def plan_for(tmp_path: Path, gpus: str = "none"):
    (tmp_path / "in").mkdir(exist_ok=True)
    manifest = Manifest(ProjectInfo("rootless"), run=RunDefaults())
    options = RunOptions(tmp_path / "in", tmp_path / "out", "img:1", gpus=parse_gpus(gpus), command=("id",))
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)


def test_compat_create_args_carry_the_user_namespace(tmp_path):
    plan = plan_for(tmp_path)
    args = compat_create_args(docker_create_kwargs(plan), "1.41", KEEP_ID)
    assert args["host_config"]["UsernsMode"] == KEEP_ID
    assert args["image"] == "img:1" and args["user"] == "1500:1500" and args["host_config"]["Init"] is True
    assert [mount["Target"] for mount in args["host_config"]["Mounts"]] == [m.target for m in plan.mounts]


def test_libpod_spec_carries_the_user_namespace(tmp_path):
    kwargs = plan_for(tmp_path).create_kwargs()
    assert libpod_spec(kwargs, ("nvidia.com/gpu=0",), KEEP_ID)["userns"] == {"nsmode": KEEP_ID}
    assert "userns" not in libpod_spec(kwargs, ("nvidia.com/gpu=0",))


class FakeClient:
    """What create() asks of docker-py, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.api = SimpleNamespace(_version="1.41", create_container=self._low_level)
        self.containers = SimpleNamespace(create=self._high_level, get=lambda ident: f"container {ident}")

    def _low_level(self, **args: Any) -> dict:
        self.calls.append(("create_container", args))
        return {"Id": "c1"}

    def _high_level(self, **kwargs: Any) -> str:
        self.calls.append(("containers.create", kwargs))
        return "container c0"


def identity(name: str, rootless: bool) -> EngineIdentity:
    return EngineIdentity(name, "4.3.1", "1.41", rootless, False)


def fitted(tmp_path: Path, name: str, rootless: bool, service: int | None, gpus: str = "none"):
    """`run`'s plan fitted to an engine that answers as `name` (`ops.launch.fit_to_engine`)."""
    session = EngineSession(None, {}, HOST, EngineFacts(runtimes=("runc",)), identity(name, rootless))  # type: ignore[arg-type]
    session.service_uid = service
    plan = plan_for(tmp_path, gpus)
    fit_to_engine(plan, session)
    return plan


def test_a_rootless_podman_plans_the_users_run_in_keep_id(tmp_path):
    plan = fitted(tmp_path, PODMAN, True, 1500)
    assert plan.userns == KEEP_ID
    argv = plan.docker_run_argv()
    assert (
        argv[:2] == ["podman", "run"] and "--userns=keep-id" in argv and argv[argv.index("--user") + 1] == "1500:1500"
    )
    assert any(line.startswith("user       1500:1500, user namespace keep-id") for line in plan.describe())


def test_a_rootless_podman_creates_the_users_run_in_keep_id(tmp_path):
    client = FakeClient()
    assert create(client, fitted(tmp_path, PODMAN, True, 1500)) == "container c1"  # type: ignore[arg-type]
    [(call, args)] = client.calls
    assert call == "create_container" and args["host_config"]["UsernsMode"] == KEEP_ID


def test_a_shell_on_a_rootless_podman_starts_in_keep_id(tmp_path):
    # `curator-kit shell` starts the fitted plan's own line through the podman CLI.
    (tmp_path / "in").mkdir(exist_ok=True)
    manifest = Manifest(ProjectInfo("rootless"), run=RunDefaults())
    options = RunOptions(tmp_path / "in", tmp_path / "out", "img:1")
    plan = plan_shell(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)
    session = EngineSession(None, {}, HOST, EngineFacts(runtimes=("runc",)), identity(PODMAN, True))  # type: ignore[arg-type]
    session.service_uid = 1500
    fit_to_engine(plan, session)
    argv = plan.docker_run_argv()
    assert argv[:4] == ["podman", "run", "--rm", "-it"] and "--userns=keep-id" in argv


@pytest.mark.parametrize(
    ("name", "rootless", "service"), [(DOCKER, False, None), (PODMAN, False, None), (PODMAN, True, 1000)]
)
def test_other_engines_create_as_before(tmp_path, name: str, rootless: bool, service: int | None):
    client = FakeClient()
    plan = fitted(tmp_path, name, rootless, service)
    assert plan.userns is None and not any(arg.startswith("--userns") for arg in plan.docker_run_argv())
    assert create(client, plan) == "container c0"  # type: ignore[arg-type]
    [(call, kwargs)] = client.calls
    assert call == "containers.create" and "userns_mode" not in kwargs and kwargs["user"] == "1500:1500"


def test_rootless_network_failures_say_the_fix():
    tun = Exception('/usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): Permission denied"')
    error = translate_engine_error(tun, "start")
    assert "rootless Podman cannot give the container a network" in error.one_line()
    assert "chmod 0666 /dev/net/tun" in error.one_line()
    stale = Exception("failed to mount runtime directory for rootless netns: no such file or directory")
    assert "rm $XDG_RUNTIME_DIR/netns/rootless-netns-*" in translate_engine_error(stale, "start").one_line()
