import os
import stat

import pytest
from curator_kit.core.parsers import ParseError, parse_gpus
from curator_kit.core.pipeline.devices import (
    CAPABILITIES,
    CodecNeed,
    GpuRequest,
    HostGpu,
    codec_engines,
    codec_problems,
    parse_nvidia_smi,
    selected_gpus,
)
from curator_kit.errors import CuratorKitError
from curator_kit.ops.hostfacts import detect_host_gpus
from docker.types import DeviceRequest

ALL_CAPS = [["gpu", "compute", "utility", "video"]]


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("all", {"driver": "nvidia", "count": -1, "capabilities": ALL_CAPS}),
        ("count=all", {"driver": "nvidia", "count": -1, "capabilities": ALL_CAPS}),
        ("2", {"driver": "nvidia", "count": 2, "capabilities": ALL_CAPS}),
        ("count=3", {"driver": "nvidia", "count": 3, "capabilities": ALL_CAPS}),
        ("device=0,2", {"driver": "nvidia", "device_ids": ["0", "2"], "capabilities": ALL_CAPS}),
        ('"device=0,2"', {"driver": "nvidia", "device_ids": ["0", "2"], "capabilities": ALL_CAPS}),
        ("'device=1'", {"driver": "nvidia", "device_ids": ["1"], "capabilities": ALL_CAPS}),
        (
            "device=GPU-3a2b,MIG-1f",
            {"driver": "nvidia", "device_ids": ["GPU-3a2b", "MIG-1f"], "capabilities": ALL_CAPS},
        ),
    ],
)
def test_gpus_syntax_to_device_request(text, fields):
    request = parse_gpus(text)
    assert request.wanted
    assert request.device_request_fields() == fields
    # never a count and ids together
    assert not ("count" in fields and "device_ids" in fields)


@pytest.mark.parametrize("text", ["none", "", " none ", '"none"'])
def test_no_gpu(text):
    request = parse_gpus(text)
    assert not request.wanted
    assert request.describe() == "no GPU"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "a count of 0 asks for no GPU"),
        ("count=0", "a count of 0 asks for no GPU"),
        ("-1", "a count is `all` or a whole number"),
        ("two", "a count is `all` or a whole number"),
        ("device=", "device ids"),
        ("device=0,,2", "device ids"),
        ("device=0,0", "named twice"),
        ("driver=amd", "curator-kit always sets driver=nvidia"),
        ('"device=0,2",capabilities=video', "one form only"),
        ("1e9", "a count is `all` or a whole number"),
        ("65", "a count above 64 is more GPUs than a machine has"),
        ("device=0;rm", "device ids"),
        ("device=0\nRUN x", "control character"),
    ],
)
def test_bad_gpus_is_one_line_with_the_syntax(text, why):
    with pytest.raises(CuratorKitError) as raised:
        parse_gpus(text)
    assert why in raised.value.message
    assert raised.value.fix == "use all | none | N | count=N | device=ID[,ID...], e.g. all, 2 or device=0,2"
    assert "\n" not in raised.value.one_line()


def test_the_caller_names_the_source():
    with pytest.raises(ParseError) as raised:
        parse_gpus("0")
    assert raised.value.at("--gpus").message.startswith("--gpus '0' is not a GPU request: a count of 0")
    assert raised.value.at("curator-kit.toml:3: run.gpus =").message.startswith("curator-kit.toml:3: run.gpus = '0'")


def device_fields(request):
    return request.device_request_fields()


def test_docker_types_device_request_built_lazily():
    request = DeviceRequest(**device_fields(parse_gpus("all")))
    assert request == {"Driver": "nvidia", "Count": -1, "DeviceIDs": [], "Capabilities": ALL_CAPS, "Options": {}}
    request = DeviceRequest(**device_fields(parse_gpus("device=0,2")))
    assert request["DeviceIDs"] == ["0", "2"]
    assert request["Count"] == 0  # docker-py serialises 0; with DeviceIDs the engine ignores it, as for docker's CLI
    assert tuple(request["Capabilities"][0]) == CAPABILITIES


def test_docker_cli_flag_and_visible_devices():
    assert parse_gpus("all").docker_flag() == 'count=all,"capabilities=compute,utility,video",driver=nvidia'
    assert parse_gpus("2").docker_flag() == 'count=2,"capabilities=compute,utility,video",driver=nvidia'
    assert parse_gpus("device=0,2").docker_flag() == '"device=0,2","capabilities=compute,utility,video",driver=nvidia'
    assert parse_gpus("all").visible_devices() == "all"
    assert parse_gpus("2").visible_devices() == "0,1"
    assert parse_gpus("device=0,2").visible_devices() == "0,2"


@pytest.mark.parametrize(
    ("name", "model", "nvdec", "nvenc"),
    [
        ("NVIDIA H100 80GB HBM3", "H100", 7, 0),
        ("NVIDIA H100 PCIe", "H100", 7, 0),
        ("NVIDIA H800", "H100", 7, 0),
        ("NVIDIA H200", "H200", 7, 0),
        ("NVIDIA GH200 480GB", "GH200", 7, 0),
        ("NVIDIA B200", "B200", 7, 0),
        ("NVIDIA A100-SXM4-80GB", "A100", 5, 0),
        ("NVIDIA A100 80GB PCIe", "A100", 5, 0),
        ("NVIDIA A30", "A30", 4, 0),
        ("NVIDIA L4", "L4", 4, 2),
        ("NVIDIA L40", "L40", 3, 3),
        ("NVIDIA L40S", "L40S", 3, 3),
        ("NVIDIA A10", "A10", 2, 1),
        ("NVIDIA A10G", "A10", 2, 1),
        ("NVIDIA A40", "A40", 2, 1),
        ("NVIDIA RTX A6000", "RTX A6000", 2, 1),
        ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada", 3, 3),
        ("Tesla T4", "T4", 2, 1),
        ("Tesla V100-SXM2-16GB", "V100", 1, 3),
    ],
)
def test_codec_table(name, model, nvdec, nvenc):
    engines = codec_engines(name)
    assert engines is not None
    assert (engines.model, engines.nvdec, engines.nvenc) == (model, nvdec, nvenc)


def test_unknown_model_is_none():
    assert codec_engines("NVIDIA GeForce GTX 1080") is None


def test_parse_nvidia_smi():
    text = "0, NVIDIA H100 80GB HBM3, 81559 MiB\n1, NVIDIA L4, 23034 MiB\n\n"
    assert parse_nvidia_smi(text) == [HostGpu(0, "NVIDIA H100 80GB HBM3", 81559), HostGpu(1, "NVIDIA L4", 23034)]
    assert parse_nvidia_smi("No devices were found\n") == []


def _fake_smi(directory, body: str) -> None:
    path = directory / "nvidia-smi"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_detect_host_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_host_gpus() == []  # no nvidia-smi
    _fake_smi(tmp_path, 'echo "0, NVIDIA L4, 23034 MiB"')
    assert detect_host_gpus() == [HostGpu(0, "NVIDIA L4", 23034)]
    _fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert detect_host_gpus() == []
    assert os.environ["PATH"] == str(tmp_path)


def test_selected_gpus():
    gpus = [HostGpu(i, "NVIDIA L4", 23034) for i in range(4)]
    assert selected_gpus(parse_gpus("all"), gpus) == gpus
    assert [g.index for g in selected_gpus(parse_gpus("2"), gpus)] == [0, 1]
    assert [g.index for g in selected_gpus(parse_gpus("device=0,2"), gpus)] == [0, 2]
    assert selected_gpus(parse_gpus("device=GPU-aa"), gpus) == gpus  # a UUID could be any of them


def test_no_nvenc_on_h100_names_stage_and_gpu():
    gpus = [HostGpu(0, "NVIDIA H100 80GB HBM3", 81559), HostGpu(1, "NVIDIA H100 80GB HBM3", 81559)]
    refusals, warnings = codec_problems([CodecNeed("transcode", nvdecs=1, nvencs=1)], gpus)
    assert refusals == ["stage 'transcode' needs 1 NVENC but GPU 0,1 (NVIDIA H100 80GB HBM3) has no NVENC"]
    assert warnings == []


def test_codec_counts_and_unknown_models():
    l4 = [HostGpu(0, "NVIDIA L4", 23034)]
    assert codec_problems([CodecNeed("t", nvdecs=1, nvencs=2)], l4) == ([], [])
    refusals, _ = codec_problems([CodecNeed("t", nvdecs=5, nvencs=0)], l4)
    assert refusals == ["stage 't' needs 5 NVDEC but GPU 0 (NVIDIA L4) has only 4 NVDEC"]
    assert codec_problems([CodecNeed("cpu_only", 0, 0)], [HostGpu(0, "Mystery GPU", 1)]) == ([], [])
    refusals, warnings = codec_problems([CodecNeed("t", 1, 0)], [HostGpu(0, "Mystery GPU", 1)])
    assert refusals == []
    assert warnings == ["stage 't' needs NVDEC/NVENC; GPU 0 (Mystery GPU) is not in the codec table"]


def test_request_describe():
    assert GpuRequest(count=-1).describe() == "all GPUs"
    assert GpuRequest(count=2).describe() == "2 GPU(s)"
    assert GpuRequest(device_ids=("0", "2")).describe() == "GPUs 0,2"
