"""The driver of `run --ray-address` planned the way `run` is: from the pipeline spec, with its rules."""

from pathlib import Path

from curator_kit.core.findings import Code, Severity
from curator_kit.core.project.manifest import Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.core.run.runplan import RunOptions
from curator_kit.ops.cluster import plan_driver


def driver(tmp_path: Path, *stages: StageSpec):
    manifest = Manifest(ProjectInfo("demo"), stages=list(stages))
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1")
    where = {"cluster": False, "ray_address": "10.0.0.5", "network": None}
    return plan_driver(manifest, tmp_path, options, None, **where)  # no engine: what a dry run without one plans


def test_a_codec_only_stage_counts_as_a_gpu_stage_for_the_cluster(tmp_path):
    # The old rule here looked at gpus and gpu_memory_gb only, so an NVDEC stage went unmentioned.
    decode = StageSpec("decode", "stages.decode", "Decode", resources=StageResources(cpus=1.0, nvdecs=1))
    plan = driver(tmp_path, decode, StageSpec("cpu_only", "stages.cpu_only", "CpuOnly"))
    notes = [(f.severity, f.message) for f in plan.findings if f.code is Code.GPUS_ON_NODES]
    assert notes == [
        (Severity.NOTE, "decode need GPUs (or NVDEC/NVENC): nodes of the cluster at 10.0.0.5:6379 must have them")
    ]


def test_the_driver_writes_where_the_run_asked(tmp_path):
    # Found by the plan, not by the position of a mount (the old `mounts[1]`).
    plan = driver(tmp_path, StageSpec("s", "stages.s", "S"))
    assert plan.output_source == str((tmp_path / "out").resolve())
    assert not plan.stages_here  # its stages run on the cluster's nodes
    assert [f.message for f in plan.findings if f.code is Code.SPEC_FROM_TREE] == [
        "planned from the working tree: no engine answers"
    ]
