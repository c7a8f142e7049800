"""The report page as data (pure): which images to make, the JSON the page's script reads, the summary.

`ops/report.py` makes the images this plans and renders `report.html.j2` with what this returns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from curator_kit.core.report.flamegraph import StageProfile, share_text
from curator_kit.core.report.report import FAILED, FILTERED, KEPT, ClipRecord, RunResults, VideoRecord
from curator_kit.core.sizes import gib

IMAGES_DIR = "images"
REPORT_FILE = "index.html"
REPORT_TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class ImageJob:
    """One image of the report: a preview copied as it is, or a strip of frames taken from a clip."""

    source: str  # relative to the results directory
    target: str  # relative to the report directory
    frames: int = 0  # 0: copy `source`; else extract this many frames of the clip into one strip


def strip_name(uuid: str, frames: int) -> str:
    # The frame count is in the name so that a report made with another --frames never reuses a strip.
    return f"{IMAGES_DIR}/{uuid}.f{frames}.jpg"


def preview_name(preview: str) -> str:
    """previews/<uuid>/<start>_<end>.webp -> images/<uuid>/<start>_<end>.webp"""
    path = PurePosixPath(preview)
    return f"{IMAGES_DIR}/{path.parent.name}/{path.name}"


def image_jobs(results: RunResults, frames: int) -> list[ImageJob]:
    """Previews when the pipeline made them (Curator's own animated webp), else a strip of `frames` frames."""
    jobs: list[ImageJob] = []
    for clip in results.clips:
        if clip.previews:
            jobs += [ImageJob(preview, preview_name(preview)) for preview in clip.previews]
        elif clip.clip_file and frames:
            jobs.append(ImageJob(clip.clip_file, strip_name(clip.uuid, frames), frames))
    return jobs


def page_data(results: RunResults, images: set[str], results_link: str, frames: int) -> dict[str, Any]:
    """What the page's script renders: videos, clips, scores with their thresholds.

    `images` are the report-relative images that exist (a clip that could not be decoded has none);
    `results_link` leads from the report's folder to the results directory, for links to the clips."""
    videos = results.videos
    index = {id(video): number for number, video in enumerate(videos)}
    return {
        "scores": [
            {
                "name": name,
                "thresholds": [
                    {"value": t.value, "keeps": t.keeps, "source": t.source}
                    for t in results.thresholds
                    if t.score == name
                ],
            }
            for name in results.score_names
        ],
        "videos": [{"name": v.name, "path": v.path, "info": video_info(v), "notes": v.notes} for v in videos],
        "clips": [
            _clip_data(clip, index[id(video)], images, results_link, frames) for video in videos for clip in video.clips
        ],
    }


def _clip_data(clip: ClipRecord, video: int, images: set[str], results_link: str, frames: int) -> dict[str, Any]:
    strip = strip_name(clip.uuid, frames) if strip_name(clip.uuid, frames) in images else None
    previews = [preview_name(p) for p in clip.previews if preview_name(p) in images]
    return {
        "id": clip.uuid,
        "video": video,
        "span": list(clip.span) if clip.span else None,
        "status": clip.status,
        "by": clip.filtered_by,
        "errors": clip.errors,
        "scores": clip.scores,
        "details": clip.details,
        "captions": [
            {"window": c.window, "model": c.model, "text": c.text, "enhanced": c.enhanced} for c in clip.captions
        ],
        "thumb": strip,
        "previews": previews,
        "href": f"{results_link}/{clip.clip_file}" if clip.clip_file else None,
        "notes": clip.notes,
    }


def video_info(video: VideoRecord) -> str:
    meta = video.metadata
    parts = []
    if isinstance(meta.get("duration"), int | float):
        parts.append(f"{meta['duration']:.1f} s")
    if meta.get("width") and meta.get("height"):
        parts.append(f"{meta['width']}\u00d7{meta['height']}")
    if isinstance(meta.get("framerate"), int | float):
        parts.append(f"{meta['framerate']:g} fps")
    if meta.get("video_codec"):
        parts.append(str(meta["video_codec"]))
    return " \u00b7 ".join(parts)


def summary(results: RunResults) -> dict[str, Any]:
    """The numbers at the top of the page (rendered without script, so they show in any viewer)."""
    counts = results.counts()
    clips = results.clips
    longest = max((t.seconds for t in results.stage_times), default=0.0)
    return {
        "videos": len(results.videos),
        "clips": len(clips),
        "kept": counts[KEPT],
        "filtered": counts[FILTERED],
        "failed": counts[FAILED],
        "filtered_by": results.filtered_by_stage(),
        "dominant_drop": _dominant_drop(results),
        "kept_seconds": round(sum(c.span[1] - c.span[0] for c in clips if c.status == KEPT and c.span), 1),
        "stage_times": [
            {"name": t.name, "seconds": t.seconds, "share": t.seconds / longest if longest else 0.0}
            for t in results.stage_times
        ],
        "total_seconds": round(sum(t.seconds for t in results.stage_times), 1),
        "stage_times_mode": results.stage_times[0].mode if results.stage_times else "",
        "custom_outputs": results.custom_outputs,
        "missing": results.missing,
        "problems": results.problems,
    }


def _dominant_drop(results: RunResults) -> dict[str, Any] | None:
    """The reason behind most filtered clips and its fix, for the page's summary (None: none dominates)."""
    dominant = results.dominant_drop()
    if dominant is None:
        return None
    return {"code": dominant.code, "text": dominant.describe(), "fix": dominant.fix}


def profile_image_name(stage: str) -> str:
    """The report's copy of a stage's flame graph (report-relative; a stage's name is a folder's name)."""
    return f"{IMAGES_DIR}/profiles/{stage}.svg"


def profile_blocks(profiles: list[StageProfile], images: set[str]) -> list[dict[str, Any]]:
    """The "Profiles" section, one block per profiled stage (rendered without script); `images` are the
    report-relative images that exist, so a stage whose flame graph could not be made shows its table alone."""
    blocks = []
    for profile in profiles:
        image = profile_image_name(profile.stage)
        facts = [
            f"{profile.workers} worker{'' if profile.workers == 1 else 's'}",
            f"{profile.samples} samples" + (f" at {profile.rate} Hz" if profile.rate else ""),
        ]
        if profile.peak_rss_bytes is not None:
            facts.append(f"peak memory {gib(profile.peak_rss_bytes)}")
        if profile.tasks is not None:
            facts.append(f"{profile.tasks} tasks")
        if profile.process_seconds is not None:
            facts.append(f"{profile.process_seconds:.1f} s in process_batch")
        blocks.append(
            {
                "stage": profile.stage,
                # A stable id for links and tests; ids are safest as plain words.
                "anchor": "profile-" + re.sub(r"[^A-Za-z0-9_-]", "-", profile.stage),
                "workers": profile.workers,
                "samples": profile.samples,
                "rate": profile.rate,
                "peak": gib(profile.peak_rss_bytes) if profile.peak_rss_bytes is not None else "",
                "tasks": profile.tasks,
                "process_seconds": profile.process_seconds,
                "facts": facts,  # the line under the stage's name
                "top": [
                    {
                        "total": share_text(row.total_share),
                        "self": share_text(row.self_share),
                        "total_share": row.total_share,
                        "self_share": row.self_share,
                        "function": row.function,
                        "location": row.location,
                        "frame": row.frame,
                        "total_samples": row.total_samples,
                        "self_samples": row.self_samples,
                    }
                    for row in profile.top
                ],
                # Quoted: the name is a folder's, and may hold what a URL reads otherwise (`#`, `?`, spaces).
                "flame": quote(image) if image in images and profile.samples else None,
                "notes": profile.notes,
            }
        )
    return blocks


def script_json(data: Any) -> str:
    """JSON safe inside `<script type="application/json">`: no `<`, `>` or `&` left to end the block
    or open a comment, whatever a caption or file name holds (JSON.parse reads the escapes back)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
