"""Findings are data: a plan never reads a finding's message. Every message is reworded here (through
the hook `Finding.__post_init__` offers) and every plan — the run's container, a local cluster, a Ray
driver, a KubeRay RayJob and a Slurm script — must come out the same apart from the reworded text."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from curator_kit.core import findings as findings_module
from curator_kit.core.cluster.clusterplan import ClusterInfo, ClusterOptions, RayTarget, plan_cluster, plan_ray_run
from curator_kit.core.constants import LABEL_SPEC
from curator_kit.core.export.kuberay import KubeRayOptions
from curator_kit.core.export.kuberay import render as render_kuberay
from curator_kit.core.export.slurm import SlurmOptions, render_script
from curator_kit.core.findings import Finding
from curator_kit.core.parsers import parse_gpus, parse_gpus_per_worker
from curator_kit.core.pipeline.devices import HostGpu
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import (
    ClippingSettings,
    Manifest,
    ProjectInfo,
    RunDefaults,
    StageResources,
    StageSpec,
)
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run

GIB = 2**30
# A host that makes plans say things: few cores (stages sized, CPUs scaled), a memlock cap, root, a GPU.
HOST = HostFacts(
    cpus=4, memory_bytes=16 * GIB, uid=0, gid=0, memlock_cap=8 * 2**20, gpus=(HostGpu(0, "NVIDIA L4", 23034),)
)
IMAGE = "reg.example:5000/demo:1"


def _manifest() -> Manifest:
    stages = [
        StageSpec("blur", "stages.blur", "Blur", resources=StageResources(cpus=6.0, gpu_memory_gb=8)),
        StageSpec("stats", "stages.stats", "Stats", resources=StageResources(cpus=1.0)),
    ]
    return Manifest(
        ProjectInfo("demo"), stages=stages, clipping=ClippingSettings(method="fixed-stride"), run=RunDefaults()
    )


def _plans(tmp_path: Path) -> dict[str, Any]:
    """Every target's plan as plain data; what a finding says is left out, what it is (code,
    severity) is kept."""
    manifest = _manifest()
    spec = resolve_spec(manifest, tmp_path)
    (tmp_path / "in").mkdir(exist_ok=True)
    run = RunOptions(tmp_path / "in", tmp_path / "out", IMAGE, gpus=parse_gpus("all"), run_id="r1")
    container = plan_run(manifest, spec, tmp_path, run, HOST)
    cluster = plan_cluster(
        manifest,
        spec,
        tmp_path,
        ClusterOptions(
            tmp_path / "in",
            tmp_path / "out",
            IMAGE,
            workers=2,
            gpus_per_worker=parse_gpus_per_worker("1"),
            cluster_id="c1",
        ),
        HOST,
    )
    info = ClusterInfo(
        "demo",
        "demo-ray",
        "demo-ray-head",
        tmp_path / "in",
        tmp_path / "out",
        2 * GIB,
        GIB,
        (1, 2, 2),
        "sha256:1",
        has_gpus=True,
    )
    driver = plan_ray_run(
        manifest,
        spec,
        tmp_path,
        dataclasses.replace(run, gpus=None),
        HOST,
        RayTarget("demo-ray-head:6379", cluster=info),
    )
    external = plan_ray_run(
        manifest, spec, tmp_path, dataclasses.replace(run, gpus=None), HOST, RayTarget("10.0.0.9:6379")
    )
    labels = {LABEL_SPEC: spec.to_json()}
    kuberay = render_kuberay(
        manifest, tmp_path, KubeRayOptions(image=IMAGE, cpus_per_worker="4", gpu_memory_gib=22), labels
    )
    slurm = render_script(
        manifest,
        tmp_path,
        SlurmOptions(image=IMAGE, input_path="/shared/in", output_path="/shared/out", cpus_per_node=4),
        labels,
    )
    return {
        "run": (container.create_kwargs(), container.command, _kinds(container.findings)),
        "cluster": (cluster.docker_lines(), _kinds(cluster.findings)),
        "driver": (driver.create_kwargs(), _kinds(driver.findings)),
        "external driver": (external.create_kwargs(), _kinds(external.findings)),
        "kuberay": (kuberay.document, _kinds(kuberay.findings)),
        "slurm": ([line for line in slurm.text.splitlines() if not line.startswith("# ")], _kinds(slurm.findings)),
    }


def _kinds(found: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code.value, f.severity.value) for f in found]


def test_rewording_every_message_changes_no_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _plans(tmp_path)
    assert all(kinds for *_, kinds in before.values())  # every plan has findings to reword

    def reword(self: Finding) -> None:
        object.__setattr__(self, "message", f"reworded {len(self.message)}")
        object.__setattr__(self, "fix", "another fix")

    monkeypatch.setattr(findings_module.Finding, "__post_init__", reword)
    after = _plans(tmp_path)
    assert after == before
    # and the rewording did reach them: the plans' own text shows it
    reworded = plan_run(
        _manifest(),
        resolve_spec(_manifest(), tmp_path),
        tmp_path,
        RunOptions(tmp_path / "in", tmp_path / "out", IMAGE, run_id="r1"),
        HOST,
    )
    assert all(f.message.startswith("reworded") for f in reworded.findings)
