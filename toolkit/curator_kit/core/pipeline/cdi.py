"""CDI (Container Device Interface): the specs an engine injects devices from, and a GPU request as
CDI device names (`nvidia.com/gpu=0`, `nvidia.com/gpu=all`).

Podman gives containers GPUs only through CDI, and Docker 25+ can (`--device nvidia.com/gpu=0`), from
spec files `nvidia-ctk cdi generate` writes under /etc/cdi or /var/run/cdi. Pure: `ops.cdispecs` reads
the files; this module parses them and decides. A request no spec can satisfy is a finding
(`Code.CDI_DEVICES`), refused before anything starts: the engine would refuse an unknown device anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from curator_kit.core.findings import Code, Finding, refuse, warn
from curator_kit.core.pipeline.devices import GpuRequest

GPU_KIND = "nvidia.com/gpu"
ALL_DEVICE = "all"  # the device NVIDIA's generated specs declare for every GPU at once
# CDI's default spec directories, lowest priority first (a device in /var/run/cdi wins over /etc/cdi's).
SPEC_DIRS: tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")
SPEC_SUFFIXES: tuple[str, ...] = (".json", ".yaml", ".yml")
CDI_FIX = (
    "generate the specs with the NVIDIA Container Toolkit: `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`"
)

# vendor (a domain name) / class, as the CDI spec defines a kind; device names: alphanumerics, _ - . :
# between an alphanumeric first and last character.
_KIND = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_DEVICE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?")
_INDEX = re.compile(r"[0-9]+")


class CdiSpecError(ValueError):
    """A file in a CDI directory that is not a valid spec; the message says why."""


@dataclass(frozen=True)
class CdiSpec:
    source: str  # the file it was read from
    version: str  # cdiVersion
    kind: str  # vendor/class, e.g. nvidia.com/gpu
    devices: tuple[str, ...]  # device names, as declared


@dataclass(frozen=True)
class CdiInventory:
    """Every spec found in the CDI directories, and the files that were not valid specs ("PATH: why")."""

    dirs: tuple[str, ...] = SPEC_DIRS
    specs: tuple[CdiSpec, ...] = ()
    problems: tuple[str, ...] = ()

    def devices(self, kind: str = GPU_KIND) -> tuple[str, ...]:
        """The device names of `kind`, each once, in the order the specs declare them."""
        return tuple(dict.fromkeys(name for spec in self.specs if spec.kind == kind for name in spec.devices))

    def sources(self, kind: str = GPU_KIND) -> tuple[str, ...]:
        return tuple(spec.source for spec in self.specs if spec.kind == kind)


def parse_spec(text: str, source: str) -> CdiSpec:
    """One CDI spec file's text (JSON, or YAML by its suffix) as a CdiSpec, or CdiSpecError saying why not."""
    import yaml

    json_file = source.endswith(".json")
    try:
        document = json.loads(text) if json_file else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CdiSpecError(f"not valid {'JSON' if json_file else 'YAML'}: {first}") from None
    return _spec_of(document, source)


def _spec_of(document: Any, source: str) -> CdiSpec:
    if not isinstance(document, dict):
        raise CdiSpecError("not a CDI spec: the document is not a mapping")
    version, kind, devices = document.get("cdiVersion"), document.get("kind"), document.get("devices")
    if not isinstance(version, str) or not version:
        raise CdiSpecError("not a CDI spec: no cdiVersion")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise CdiSpecError(f"kind {kind!r} is not vendor/class (e.g. nvidia.com/gpu)")
    if not isinstance(devices, list) or not devices:
        raise CdiSpecError("declares no devices")
    names = []
    for device in devices:
        name = device.get("name") if isinstance(device, dict) else None
        if not isinstance(name, str) or not _DEVICE_NAME.fullmatch(name):
            raise CdiSpecError(f"device name {name!r} is not a CDI device name")
        edits = device.get("containerEdits", {})
        if not isinstance(edits, dict):
            raise CdiSpecError(f"device {name!r}: containerEdits is not a mapping")
        names.append(name)
    if len(set(names)) != len(names):
        raise CdiSpecError("declares a device name twice")
    return CdiSpec(source, version, kind, tuple(names))


def read_inventory(files: Iterable[tuple[str, str]], dirs: tuple[str, ...] = SPEC_DIRS) -> CdiInventory:
    """The specs of (path, text) pairs, in the order found; a file that is not a spec is a problem, not an error
    (the engines skip such files too)."""
    specs, problems = [], []
    for path, text in files:
        try:
            specs.append(parse_spec(text, path))
        except CdiSpecError as error:
            problems.append(f"{path}: {error}")
    return CdiInventory(dirs, tuple(specs), tuple(problems))


def cdi_request_fields(names: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments for docker.types.DeviceRequest that ask Docker 25+ for CDI devices: the "cdi" driver
    with the qualified names as ids (moby matches no capabilities for it)."""
    return {"driver": "cdi", "device_ids": list(names)}


def qualified(name: str, kind: str = GPU_KIND) -> str:
    return f"{kind}={name}"


def indexed(names: Iterable[str]) -> list[str]:
    """The whole-GPU devices named by index (`0`, `1`, ...), in index order; MIG (`0:1`), UUIDs and `all` left out."""
    return sorted((name for name in names if _INDEX.fullmatch(name)), key=int)


def cdi_route(engine_is_podman: bool, engine_has_cdi: bool, inventory: CdiInventory | None) -> bool:
    """Whether a GPU request goes to the engine as CDI devices rather than `--gpus` (the nvidia device driver).

    Podman knows no `--gpus` hook: CDI is its only way. Docker keeps `--gpus` unless it injects CDI devices
    (API 1.44+, CDI spec directories in its info) and the specs declare NVIDIA GPUs."""
    if engine_is_podman:
        return True
    return engine_has_cdi and inventory is not None and bool(inventory.devices(GPU_KIND))


def gpu_devices(
    request: GpuRequest, inventory: CdiInventory | None, select: str = "--gpus"
) -> tuple[tuple[str, ...], list[Finding]]:
    """The CDI device names a GPU request asks for, and what was found: a request the specs cannot satisfy
    is refused (`Code.CDI_DEVICES`). `inventory` None: the engine is remote and its specs cannot be read
    from here; the names then follow the request (all, the first N indices, the ids) and a warning says so.
    `select`: how the user picks GPUs, for the fixes."""
    if not request.wanted:
        return (), []
    if inventory is None:
        why = "the engine is remote: its CDI specs cannot be read from here, so the devices are not checked"
        return tuple(qualified(name) for name in _unchecked_names(request)), [warn(Code.CDI_UNCHECKED, why)]
    findings: list[Finding] = [warn(Code.CDI_SPEC_INVALID, f"not a CDI spec, skipped: {p}") for p in inventory.problems]
    declared = inventory.devices(GPU_KIND)
    if not declared:
        where = ", ".join(inventory.dirs)
        problem = f"{request.describe()} asked for, but no CDI spec in {where} declares {GPU_KIND} devices"
        return (), [*findings, refuse(Code.CDI_DEVICES, problem, CDI_FIX)]
    indices = indexed(declared)
    listed = ", ".join(declared)
    if request.device_ids:
        missing = [name for name in request.device_ids if name not in declared]
        if missing:
            problem = f"{select} device={','.join(missing)}: the CDI specs declare no such {GPU_KIND} device ({listed})"
            example = ",".join(indices[:1] or declared[:1])
            fix = f"name declared devices ({select} device={example}), or {CDI_FIX}"
            return (), [*findings, refuse(Code.CDI_DEVICES, problem, fix)]
        return tuple(qualified(name) for name in request.device_ids), findings
    if request.count == -1:
        if ALL_DEVICE in declared:
            return (qualified(ALL_DEVICE),), findings
        if indices:
            return tuple(qualified(name) for name in indices), findings
        problem = f"all GPUs asked for, but the CDI specs declare neither `{ALL_DEVICE}` nor GPUs by index ({listed})"
        fix = f"name devices with {select} device=..., or {CDI_FIX}"
        return (), [*findings, refuse(Code.CDI_DEVICES, problem, fix)]
    if len(indices) < request.count:
        problem = (
            f"{request.count} GPUs asked for, but the CDI specs declare {len(indices)} by index "
            f"({', '.join(indices) or 'none'})"
        )
        fix = f"ask for at most {len(indices)} ({select} {len(indices)}) or {select} all" if indices else CDI_FIX
        return (), [*findings, refuse(Code.CDI_DEVICES, problem, fix)]
    return tuple(qualified(name) for name in indices[: request.count]), findings


def _unchecked_names(request: GpuRequest) -> list[str]:
    if request.device_ids:
        return list(request.device_ids)
    if request.count == -1:
        return [ALL_DEVICE]
    return [str(index) for index in range(request.count)]
