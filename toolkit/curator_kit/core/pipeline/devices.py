"""GPUs for containers: the GPU request (parsed by `core.parsers`), NVDEC/NVENC engines per GPU model.

Pure: `ops.hostfacts.detect_host_gpus` runs nvidia-smi and parses its output here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DRIVER = "nvidia"
# `video` is what makes the NVIDIA hook mount the NVDEC/NVENC libraries (libnvcuvid, libnvidia-encode).
CAPABILITIES: tuple[str, ...] = ("gpu", "compute", "utility", "video")
# How an engine gets NVIDIA support; every NVIDIA-related refusal ends with it.
NVIDIA_FIX = "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker`"


@dataclass(frozen=True)
class GpuRequest:
    """What `--gpus` asked for: nothing, a count (-1 = all) or device ids; never a count and ids."""

    count: int = 0  # -1 all, N > 0 that many, 0 with no ids = no GPU
    device_ids: tuple[str, ...] = ()

    @property
    def wanted(self) -> bool:
        return self.count != 0 or bool(self.device_ids)

    def device_request_fields(self) -> dict[str, Any]:
        """Keyword arguments for docker.types.DeviceRequest (kept as data so plans stay pure)."""
        fields: dict[str, Any] = {"driver": DRIVER, "capabilities": [list(CAPABILITIES)]}
        if self.device_ids:
            fields["device_ids"] = list(self.device_ids)
        else:
            fields["count"] = self.count
        return fields

    def docker_flag(self) -> str:
        """The `--gpus` value docker's CLI reads the same way (ids quoted: the CLI splits on commas)."""
        capabilities = ",".join(c for c in CAPABILITIES if c != "gpu")
        if self.device_ids:
            return f'"device={",".join(self.device_ids)}","capabilities={capabilities}",driver={DRIVER}'
        count = "all" if self.count == -1 else str(self.count)
        return f'count={count},"capabilities={capabilities}",driver={DRIVER}'

    def visible_devices(self) -> str:
        """NVIDIA_VISIBLE_DEVICES for `--runtime nvidia`, which knows no count: N means the first N."""
        if self.device_ids:
            return ",".join(self.device_ids)
        if self.count == -1:
            return "all"
        return ",".join(str(index) for index in range(self.count))

    def describe(self) -> str:
        if self.device_ids:
            return f"GPUs {','.join(self.device_ids)}"
        return {0: "no GPU", -1: "all GPUs"}.get(self.count, f"{self.count} GPU(s)")


NO_GPU = GpuRequest()


# --- codec engines -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodecEngines:
    model: str
    nvdec: int
    nvenc: int


# Engines per GPU chip, from NVIDIA's Video Encode and Decode GPU Support Matrix. Patterns match
# nvidia-smi names ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "Tesla T4"); first match wins,
# so a longer name comes before its prefix (L40S before L40).
CODEC_TABLE: tuple[tuple[str, CodecEngines], ...] = (
    (r"\bGH200\b", CodecEngines("GH200", nvdec=7, nvenc=0)),
    (r"\bH200\b", CodecEngines("H200", nvdec=7, nvenc=0)),
    (r"\bH[18]00\b", CodecEngines("H100", nvdec=7, nvenc=0)),
    (r"\bB200\b", CodecEngines("B200", nvdec=7, nvenc=0)),
    (r"\bA[18]00\b", CodecEngines("A100", nvdec=5, nvenc=0)),
    (r"\bA30\b", CodecEngines("A30", nvdec=4, nvenc=0)),
    (r"\bL40S\b", CodecEngines("L40S", nvdec=3, nvenc=3)),
    (r"\bL40\b", CodecEngines("L40", nvdec=3, nvenc=3)),
    (r"\bL4\b", CodecEngines("L4", nvdec=4, nvenc=2)),
    (r"\bRTX 6000 Ada\b", CodecEngines("RTX 6000 Ada", nvdec=3, nvenc=3)),
    (r"\bRTX A6000\b", CodecEngines("RTX A6000", nvdec=2, nvenc=1)),
    (r"\bA40\b", CodecEngines("A40", nvdec=2, nvenc=1)),
    (r"\bA10G?\b", CodecEngines("A10", nvdec=2, nvenc=1)),
    (r"\bA16\b", CodecEngines("A16", nvdec=2, nvenc=1)),  # per GPU; the board carries four
    (r"\bA2\b", CodecEngines("A2", nvdec=2, nvenc=1)),
    (r"\bT4\b", CodecEngines("T4", nvdec=2, nvenc=1)),
    (r"\bV100\b", CodecEngines("V100", nvdec=1, nvenc=3)),
    (r"\bRTX 4090\b", CodecEngines("GeForce RTX 4090", nvdec=1, nvenc=2)),
)


def codec_engines(gpu_name: str) -> CodecEngines | None:
    """The engines of a GPU model by its nvidia-smi name; None when the model is not in the table."""
    for pattern, engines in CODEC_TABLE:  # compiled on first use (re caches them), not at every start
        if re.search(pattern, gpu_name):
            return engines
    return None


@dataclass(frozen=True)
class HostGpu:
    index: int
    name: str
    memory_mib: int


def parse_nvidia_smi(text: str) -> list[HostGpu]:
    """Lines of `--query-gpu=index,name,memory.total --format=csv,noheader`, e.g. `0, NVIDIA L4, 23034 MiB`."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        index, _, rest = line.partition(",")
        name, _, memory = rest.rpartition(",")
        digits = re.match(r"\s*(\d+)", memory)
        if not index.strip().isdigit() or not name.strip():
            continue
        gpus.append(HostGpu(int(index), name.strip(), int(digits.group(1)) if digits else 0))
    return gpus


def selected_gpus(request: GpuRequest, gpus: list[HostGpu]) -> list[HostGpu]:
    """The host GPUs a request lands on; ids that are not indices (UUIDs) can be any, so all count."""
    if request.device_ids:
        if all(i.isdigit() for i in request.device_ids):
            wanted = {int(i) for i in request.device_ids}
            return [gpu for gpu in gpus if gpu.index in wanted]
        return list(gpus)
    return list(gpus) if request.count == -1 else list(gpus[: request.count])


@dataclass(frozen=True)
class CodecNeed:
    stage: str
    nvdecs: int
    nvencs: int
    label: str = ""  # how messages name the need; "" = stage 'NAME'

    @property
    def who(self) -> str:
        return self.label or f"stage {self.stage!r}"


def codec_problems(needs: list[CodecNeed], gpus: list[HostGpu]) -> tuple[list[str], list[str]]:
    """(refusals, warnings): a stage needing more NVDEC/NVENC engines than a GPU model has is refused."""
    refusals: list[str] = []
    warnings: list[str] = []
    by_model: dict[str, list[int]] = {}
    for gpu in gpus:
        by_model.setdefault(gpu.name, []).append(gpu.index)
    for name, indices in by_model.items():
        where = f"GPU {','.join(map(str, indices))} ({name})"
        engines = codec_engines(name)
        for need in needs:
            if not (need.nvdecs or need.nvencs):
                continue
            if engines is None:
                warnings.append(f"{need.who} needs NVDEC/NVENC; {where} is not in the codec table")
                continue
            for kind, wanted, has in (("NVDEC", need.nvdecs, engines.nvdec), ("NVENC", need.nvencs, engines.nvenc)):
                if wanted > has:
                    what = f"has no {kind}" if has == 0 else f"has only {has} {kind}"
                    refusals.append(f"{need.who} needs {wanted} {kind} but {where} {what}")
    return refusals, warnings
