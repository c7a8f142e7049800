"""What Podman's Docker-compatible API does differently, handled here so plans stay engine-neutral.

- CDI devices: Podman 4.x's compat `containers/create` turns `HostConfig.Devices` into
  `HOST:CONTAINER:PERMS` strings that are no CDI name ("stat nvidia.com/gpu=0: no such file or
  directory") and ignores `DeviceRequests` (the "cdi" driver is honoured from Podman 5.4). Its own
  (libpod) API takes CDI names as devices, so a plan with CDI devices is created there; start, logs,
  wait and removal stay on the compat API (one container store).
- Ulimits: rootful Podman gives containers nofile and nproc far above the host's hard limits
  (nofile 1048576); where Podman cannot raise them (no CAP_SYS_RESOURCE, as in containers and CI
  sandboxes) runc fails with "error setting rlimit type 7". Plans for a local Podman name both, at the
  service's own hard limits.
- Image names: Podman qualifies every name it stores (`localhost/curator-kit/base:1.4.0-cpu` for an
  image loaded or tagged without a registry, `docker.io/library/curator-kit-demo:latest` for one
  built by a short name) and lists them so; a short reference still finds them. Names read back from
  a listing are shown as Docker would (`docker_style_name`), so they compare with what users type.
- Build progress: Podman's compat `/build` streams buildah's lines (`STEP 2/4: RUN ...`,
  `--> Using cache <id>`, `--> <11 hex digits>`, `COMMIT name`), not the classic builder's
  (`Step 2/4 : RUN ...`, ` ---> Using cache`, ` ---> <12 hex digits>`). `ClassicBuildLines` rewrites
  them, so one parser (core.build.buildlog) sees steps, cache hits and each step's image on both
  engines: a failure names its step, and a build keeps the facts step's image to compare with the last.
- Cluster nodes with CDI devices are created through libpod too: the plan's network (bridge mode, by name),
  hostname and published ports go in libpod's own terms (`Networks`, `netns`, `portmappings`).
- Rootless Podman (a user's own service, with subuids): the user is the container's root and every other
  container uid is one of the user's subuids, so a plan running as the user's own uid (as plans do, for
  the output's owner) would write nothing to the user's output directory ("Permission denied"), and what it
  could write would belong to a subuid. When the plan's uid is the service's, the container is created
  with `--userns=keep-id` (the user's uid is itself inside): files the container writes are the user's.
  docker-py refuses any UsernsMode but "host", so the compat create sets it in the host config itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curator_kit.core.parsers import Ulimit
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

KEEP_ID = "keep-id"  # Podman's user namespace mode mapping the service user's uid and gid to themselves

# Podman's own default ceiling for nofile and nproc (define.RLimitDefaultValue).
PODMAN_DEFAULT_LIMIT = 1048576
# uint64 in libpod's spec: -1 (unlimited) is RLIM_INFINITY.
_UNLIMITED = 2**64 - 1


def podman_ulimits(chosen: tuple[Ulimit, ...], service_limits: dict[str, int]) -> tuple[Ulimit, ...]:
    """nofile and nproc where the plan does not name them, at the local Podman service's own hard limits
    (`service_limits`, read from /proc by ops; at most Podman's default). Without them (a remote Podman, or
    one not found) Podman keeps its defaults."""
    named = {limit.name for limit in chosen}
    return tuple(
        Ulimit(name, min(service_limits[name], PODMAN_DEFAULT_LIMIT), min(service_limits[name], PODMAN_DEFAULT_LIMIT))
        for name in ("nofile", "nproc")
        if name not in named and name in service_limits
    )


# How Podman qualifies a short name, most specific first: its local-only "registry", then Docker Hub's.
_QUALIFIERS = ("localhost/", "docker.io/library/", "docker.io/")


def docker_style_name(reference: str) -> str:
    """An image name from a Podman listing as Docker names it: `localhost/curator-kit/base:1.4.0-cpu`
    and `docker.io/library/x:1` become `curator-kit/base:1.4.0-cpu` and `x:1`; any other registry's
    names stay as they are (pure)."""
    for prefix in _QUALIFIERS:
        rest = reference[len(prefix) :]
        if reference.startswith(prefix) and rest and not rest.startswith("/"):
            return rest
    return reference


# A multi-stage build prefixes each step with its stage (`[2/4] STEP 3/9: COPY ...`), numbered per stage.
_PODMAN_STEP = re.compile(r"^(?:\[\d+/\d+\] )?STEP (\d+)/(\d+): (.*)$")
_PODMAN_CACHED = re.compile(r"^--> Using cache ([0-9a-f]{64})$")
_PODMAN_STEP_IMAGE = re.compile(r"^--> ([0-9a-f]{6,64})$")
# Buildah's chatter after the last step: the commit of the tagged image, and its full id alone on a line.
_PODMAN_NOISE = re.compile(r"^(COMMIT \S*|[0-9a-f]{64})$")
CLASSIC_SHORT_ID = 12  # the classic builder's short image ids, as ` ---> 0123456789ab`


@dataclass
class ClassicBuildLines:
    """One of Podman's build lines at a time, as the classic builder's (pure but for `full_id`, which
    expands a short image id to the full one, or None when the engine has no such image).

    A cache hit is `--> Using cache <full id>` then `--> <short id>` of the same image: it becomes
    ` ---> Using cache` and ` ---> <12 digits>`, once. A step that ran ends with `--> <11 digits>`,
    expanded through `full_id`; one that cannot be expanded is left out (the step has no image then,
    as if the engine had not said)."""

    full_id: Callable[[str], str | None]
    _cached: str = ""  # the full id of the last cache hit, whose short id line follows

    def translate(self, line: str) -> list[str]:
        step = _PODMAN_STEP.match(line)
        if step:
            self._cached = ""
            return [f"Step {step[1]}/{step[2]} : {step[3]}"]
        cached = _PODMAN_CACHED.match(line)
        if cached:
            self._cached = cached[1]
            return [" ---> Using cache", f" ---> {cached[1][:CLASSIC_SHORT_ID]}"]
        image = _PODMAN_STEP_IMAGE.match(line)
        if image:
            short, self._cached, was_cached = image[1], "", self._cached
            if was_cached.startswith(short):
                return []
            full = was_cached if len(short) >= CLASSIC_SHORT_ID else self.full_id(short)
            return [f" ---> {full[:CLASSIC_SHORT_ID]}"] if full and full.startswith(short) else []
        if _PODMAN_NOISE.match(line):
            return []
        return [line]


def classic_build_stream(chunks: Iterable[dict[str, Any]], full_id: Callable[[str], str | None]) -> Iterator[dict]:
    """Podman's decoded build stream with its `stream` text rewritten line by line (`ClassicBuildLines`);
    every other key (`aux`, `error`) passes unchanged, after the lines before it."""
    lines = ClassicBuildLines(full_id)
    partial = ""
    for chunk in chunks:
        rest = {key: value for key, value in chunk.items() if key != "stream"}
        if "stream" in chunk:
            partial += str(chunk["stream"])
        if rest and partial and not partial.endswith("\n"):  # an error or the id ends the text before it
            partial += "\n"
        *complete, partial = partial.split("\n")
        text = "".join(f"{out}\n" for line in complete for out in lines.translate(line.rstrip("\r")))
        if text:
            yield {"stream": text}
        if rest:
            yield rest
    if partial:
        text = "".join(f"{out}\n" for out in lines.translate(partial.rstrip("\r")))
        if text:
            yield {"stream": text}


# create_kwargs keys the libpod translation knows; anything else is refused rather than dropped.
_KNOWN = frozenset(
    {
        "image",
        "command",
        "name",
        "environment",
        "user",
        "working_dir",
        "labels",
        "init",
        "ulimits",
        "mounts",
        "shm_size",
        "ipc_mode",
        "device_requests",
        "tty",
        "stdin_open",
        "network",
        "network_mode",
        "hostname",
        "ports",
    }
)


def service_uid(libpod_info: dict[str, Any]) -> int | None:
    """The host uid a Podman service maps to the container's root, from its `/libpod/info` (pure): a rootless
    service's own user (`host.idMappings.uidmap`); None when it does not say (rootful Podman maps nothing)."""
    mappings = ((libpod_info.get("host") or {}).get("idMappings") or {}).get("uidmap") or []
    for entry in mappings:
        if isinstance(entry, dict) and entry.get("container_id") == 0 and isinstance(entry.get("host_id"), int):
            return int(entry["host_id"])
    return None


def rootless_userns(user: str, uid: int | None) -> str | None:
    """The user namespace mode for a plan's `user` ("UID[:GID]") on a rootless Podman service run by host
    `uid` (pure): keep-id when the plan runs as that very uid, so the container's files are the user's;
    None otherwise (root in the container is the service's user already; any other uid is a subuid)."""
    wanted = user.split(":", 1)[0]
    return KEEP_ID if uid and wanted.isdigit() and int(wanted) == uid else None


def rootless_service_uid(client: docker.DockerClient) -> int | None:
    """`service_uid` of the Podman behind `client` (its `/libpod/info`); None when it does not say. Asked once,
    by `ops.launch.open_session`, which keeps it in the session."""
    from docker.errors import APIError

    api = client.api
    try:
        return service_uid(api._result(api._get(api._url("/libpod/info")), json=True))
    except (APIError, ValueError):
        return None


def compat_create_args(kwargs: dict[str, Any], api_version: str, userns: str) -> dict[str, Any]:
    """docker-py's `containers.create(**kwargs)` arguments as its low-level `create_container` takes them, with
    `userns` as the host config's UsernsMode (docker-py's own check allows "host" only)."""
    from docker.models.containers import _create_container_args

    args = _create_container_args({**kwargs, "version": api_version})
    args["host_config"]["UsernsMode"] = userns
    return args


def create_compat(client: docker.DockerClient, kwargs: dict[str, Any], userns: str) -> Container:
    """`client.containers.create(**kwargs)` in user namespace mode `userns` (compat API)."""
    created = client.api.create_container(**compat_create_args(kwargs, client.api._version, userns))
    return client.containers.get(created["Id"])


def libpod_spec(kwargs: dict[str, Any], cdi_devices: tuple[str, ...], userns: str | None = None) -> dict[str, Any]:
    """A plan's create() arguments (`ContainerPlan.create_kwargs`, plain data) as libpod's SpecGenerator,
    with the CDI devices as devices and `userns` as its user namespace mode (pure)."""
    unknown = sorted(set(kwargs) - _KNOWN)
    if unknown:
        raise CuratorKitError(
            f"Podman with CDI GPUs: curator-kit cannot yet create a container with {', '.join(unknown)}",
            "run it on Docker, or without GPUs",
        )
    spec: dict[str, Any] = {
        "image": kwargs["image"],
        "command": list(kwargs["command"]),
        "name": kwargs["name"],
        "env": dict(kwargs.get("environment") or {}),
        "user": kwargs.get("user", ""),
        "work_dir": kwargs.get("working_dir", ""),
        "create_working_dir": True,  # as Docker (and Podman's compat API) do
        "labels": dict(kwargs.get("labels") or {}),
        "init": bool(kwargs.get("init")),
        "r_limits": [
            {
                "type": limit["name"],
                "soft": _UNLIMITED if limit["soft"] == -1 else limit["soft"],
                "hard": _UNLIMITED if limit["hard"] == -1 else limit["hard"],
            }
            for limit in kwargs.get("ulimits") or []
        ],
        "mounts": [
            {
                "destination": mount["target"],
                "source": mount["source"],
                "type": "bind",
                "options": ["rbind", "ro" if mount.get("read_only") else "rw"],
            }
            for mount in kwargs.get("mounts") or []
        ],
        "devices": [{"path": name} for name in cdi_devices],
    }
    if kwargs.get("shm_size") is not None:
        spec["shm_size"] = kwargs["shm_size"]
    if kwargs.get("ipc_mode") == "host":
        spec["ipcns"] = {"nsmode": "host"}
    if kwargs.get("tty"):
        spec["terminal"] = True
    if kwargs.get("stdin_open"):
        spec["stdin"] = True
    if userns:
        spec["userns"] = {"nsmode": userns}
    return spec | _libpod_network(kwargs)


def _libpod_network(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A cluster node's networking (`NetworkedContainerPlan.create_kwargs`) in libpod's terms: a user-defined
    network joined in bridge mode, or the host's; its hostname; published ports on the given host address,
    the host port left to Podman (0), as Docker picks one for `(address, None)`."""
    spec: dict[str, Any] = {}
    if kwargs.get("network"):
        spec["netns"] = {"nsmode": "bridge"}
        spec["Networks"] = {kwargs["network"]: {}}
    elif kwargs.get("network_mode") == "host":
        spec["netns"] = {"nsmode": "host"}
    if kwargs.get("hostname"):
        spec["hostname"] = kwargs["hostname"]
    ports = kwargs.get("ports") or {}
    if ports:
        spec["portmappings"] = [
            {"container_port": int(port.split("/")[0]), "host_ip": address, "host_port": 0, "protocol": "tcp"}
            for port, (address, _) in ports.items()
        ]
    return spec


SERVICE_START_S = 20  # a fresh service answers in about a second here


def start_service(socket: str) -> bool:
    """Start Podman's API service on `socket` (`podman system service --time=0`, detached: it outlives this
    command, as a user's own service would) and wait until it answers; False without a `podman` CLI or when
    it does not answer in time."""
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    import docker
    from docker.errors import DockerException

    if shutil.which("podman") is None:
        return False
    Path(socket).parent.mkdir(parents=True, exist_ok=True)
    print(f"starting Podman's service: podman system service --time=0 unix://{socket}", file=sys.stderr)
    subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + SERVICE_START_S
    while time.monotonic() < deadline:
        try:  # a client asks the service's API version as it is made: making one is the probe
            docker.DockerClient(base_url=f"unix://{socket}", timeout=5).close()
            return True
        except DockerException:
            time.sleep(0.25)
    return False


# libpod's own API version for endpoints that refuse the compat client's ("1.41.0": not supported).
LIBPOD_API = "v4.0.0"


# What gives Podman's networks name resolution, for every message that needs it.
NETWORK_DNS_FIX = (
    "install Podman's network DNS: aardvark-dns with netavark; with CNI, the dnsname plugin "
    "(Debian: golang-github-containernetworking-plugin-dnsname)"
)


def network_resolves_names(client: docker.DockerClient, name: str) -> bool:
    """Whether Podman's network `name` resolves container names (its `dns_enabled`: aardvark-dns with netavark,
    the dnsname plugin with CNI). Without it a cluster's workers cannot find the head by name."""
    api = client.api
    inspected = api._result(api.get(f"{api.base_url}/{LIBPOD_API}/libpod/networks/{name}/json"), json=True)
    return bool(inspected.get("dns_enabled"))


def networks_resolve_names(client: docker.DockerClient, label: str) -> bool | None:
    """Whether a new network of this Podman resolves container names: a throwaway network (labelled `label`)
    made, read (`network_resolves_names`) and removed, as `cluster up` would make its own; None when the
    engine will not make one (then nobody knows, and nothing is said)."""
    import secrets

    from docker.errors import DockerException

    try:
        network = client.networks.create(f"curator-kit-dns-probe-{secrets.token_hex(4)}", labels={label: "dns-probe"})
    except DockerException:
        return None
    try:
        return network_resolves_names(client, network.name)
    except DockerException:
        return None
    finally:
        with suppress(DockerException):
            network.remove()


def create_with_cdi(
    client: docker.DockerClient, kwargs: dict[str, Any], cdi_devices: tuple[str, ...], userns: str | None = None
) -> Container:
    """Create through libpod's API (the compat one drops CDI devices); the container is then the compat API's too.
    An engine refusal raises docker's APIError, as the compat path does."""
    api = client.api
    response = api._post_json(api._url("/libpod/containers/create"), data=libpod_spec(kwargs, cdi_devices, userns))
    created = api._result(response, json=True)
    return client.containers.get(created["Id"])
