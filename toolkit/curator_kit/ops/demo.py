"""`curator-kit demo`: the whole tool on one machine, no GPU or registry needed.

Plan (pure data): where the project, sample videos and results go, which reference stages the
project is scaffolded with. Then act: base image (built, or bootstrapped, when absent), project
(scaffolded with the toolkit, then filled in with the reference stages), sample videos, image
build, pipeline run in a container, summary. A second run reuses everything already there.
"""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.constants import DEFAULT_CURATOR_VERSION
from curator_kit.core.project.scaffold import plan_pipeline_refresh
from curator_kit.resources import reference_stages_dir

PROJECT_NAME = "curator-kit-demo"
# (stage name, cpus) in pipeline order, as `curator-kit new-stage` is told; the writer comes last.
REFERENCE_STAGES: tuple[tuple[str, float], ...] = (("frame_stats", 1.0), ("quality_filter", 0.25))
REFERENCE_WRITER = "stats_writer"
# Sample videos are 4 s long: 2 s clips give each video two clips to judge. H.264 clips (libopenh264,
# the base image's ffmpeg has it) carry the motion vectors Curator's motion filter reads; VP9 ones do not.
DEMO_CLIPPING = {"clip_len_s": 2.0, "clip_stride_s": 2.0, "min_clip_length_s": 1.0, "encoder": "libopenh264"}

Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoPlan:
    output: Path
    base_image: str
    sample_count: int = 3

    @property
    def project_dir(self) -> Path:
        return self.output / "project"

    @property
    def videos_dir(self) -> Path:
        return self.output / "videos"

    @property
    def results_dir(self) -> Path:
        return self.output / "results"

    @property
    def image_tag(self) -> str:
        return f"{PROJECT_NAME}:latest"

    def describe(self) -> list[str]:
        stages = " -> ".join(["VideoReader", "fixed-stride clips", *(n for n, _ in REFERENCE_STAGES), REFERENCE_WRITER])
        return [
            f"base image  {self.base_image}",
            f"project     {self.project_dir} ({stages})",
            f"videos      {self.videos_dir} ({self.sample_count} generated samples)",
            f"results     {self.results_dir}",
            f"image       {self.image_tag}",
        ]


@dataclass(frozen=True)
class DemoSummary:
    videos_in: int
    clips_written: int
    clips_filtered: int
    stats_files: int
    results_dir: Path

    def lines(self) -> list[str]:
        return [
            f"videos in       {self.videos_in}",
            f"clips written   {self.clips_written}  ({self.results_dir / 'clips'})",
            f"clips filtered  {self.clips_filtered}  ({self.results_dir / 'filtered_clips'})",
            f"stats JSON      {self.stats_files}  ({self.results_dir / 'stats'})",
            f"metadata        {self.results_dir / 'metas' / 'v0'}",
        ]


def scaffold_project(plan: DemoPlan, log: Log) -> None:
    """Made with the toolkit's own scaffolding, exactly as a user would: init, new-stage, new-writer."""
    from curator_kit.core.project.loading import load_manifest
    from curator_kit.core.project.scaffold import StageOptions, plan_init, plan_new_stage, plan_new_writer
    from curator_kit.ops.scaffold import save_manifest, write_plan

    log(f"scaffolding {plan.project_dir} with curator-kit init / new-stage / new-writer")
    write_plan(plan_init(plan.project_dir, PROJECT_NAME, DEFAULT_CURATOR_VERSION, base_image=plan.base_image))
    for name, cpus in REFERENCE_STAGES:
        write_plan(plan_new_stage(plan.project_dir, StageOptions(name=name, cpus=cpus)))
    write_plan(plan_new_writer(plan.project_dir, REFERENCE_WRITER))
    manifest = load_manifest(plan.project_dir)
    for key, value in DEMO_CLIPPING.items():
        setattr(manifest.clipping, key, value)
    save_manifest(manifest, plan.project_dir)


def fill_in_reference_stages(project_dir: Path, log: Log) -> int:
    """Copy the reference stages and their tests over the scaffolded ones; returns files changed."""
    source = reference_stages_dir()
    pairs = [(source / f"{name}.py", project_dir / "stages" / f"{name}.py") for name, _ in REFERENCE_STAGES]
    pairs.append((source / f"{REFERENCE_WRITER}.py", project_dir / "stages" / f"{REFERENCE_WRITER}.py"))
    pairs += [(test, project_dir / "tests" / test.name) for test in sorted((source / "tests").glob("*.py"))]
    changed = 0
    for origin, target in pairs:
        if not target.exists() or not filecmp.cmp(origin, target, shallow=False):
            shutil.copyfile(origin, target)
            changed += 1
    if changed:
        log(f"filled in {changed} files from the reference stages")
    # The demo's pipeline.py is ours too: one made by an older curator-kit is replaced, not refused.
    refresh = plan_pipeline_refresh(project_dir)
    if refresh.writes:
        (project_dir / "pipeline.py").write_text(next(w.content for w in refresh.writes if w.path == "pipeline.py"))
        log("pipeline.py regenerated for this curator-kit's pipeline spec")
        changed += 1
    return changed


def summarize(plan: DemoPlan) -> DemoSummary:
    results = plan.results_dir
    return DemoSummary(
        videos_in=len(list(plan.videos_dir.glob("*.mp4"))),
        clips_written=len(list((results / "clips").glob("*.mp4"))),
        clips_filtered=len(list((results / "filtered_clips").glob("*.mp4"))),
        stats_files=len(list((results / "stats").glob("*.json"))),
        results_dir=results,
    )
