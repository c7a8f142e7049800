"""Why clips were dropped, as data: a code per reason, what it means and how to fix it.

A code is what the results carry, never a message's text: the key a Curator stage leaves in a clip's
`errors` (`motion_decode`, `buffer`), or the filter the report finds moved the clip (`motion_filter`,
`clip_aesthetic_filter`). The run summary (`run`, from pipeline.py's `drop_reasons`) and the report
(`report`, from the clips' metadata) name the dominant reason through `dominant_drop`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DropReason:
    code: str
    what: str  # what happened to the clips, in words
    fix: str


REASONS: dict[str, DropReason] = {
    reason.code: reason
    for reason in (
        DropReason(
            "motion_decode",
            "Curator's motion-vector decode could not read them (MotionVectorDecodeStage refuses frames under "
            "256 px on a side), so the motion filter dropped them",
            "feed inputs at least 256 px on each side (e.g. ffmpeg -vf scale=-2:256), or take motion_filter out",
        ),
        DropReason(
            "buffer",
            "they had no encoded bytes: transcoding made nothing of them",
            "read the transcoding stage's errors in the run's output; `curator-kit inspect` lists the image's encoders",
        ),
        DropReason(
            "motion_filter",
            "Curator's motion filter found too little motion in them",
            "lower motion_filter's global_mean_threshold and per_patch_min_256_threshold in [stages.params], "
            "or set score_only = true",
        ),
        DropReason(
            "clip_aesthetic_filter",
            "Curator's aesthetic filter scored them under its threshold",
            "lower aesthetic_filter's score_threshold in [stages.params]",
        ),
    )
}


@dataclass(frozen=True)
class DominantDrop:
    """The reason behind most dropped clips: its code, how many clips it dropped, of how many."""

    code: str
    clips: int
    dropped: int
    reason: DropReason | None  # None: a code of the project's own stages, which the table does not know

    def describe(self) -> str:
        share = f"all {self.dropped}" if self.clips >= self.dropped else f"{self.clips} of {self.dropped}"
        what = f": {self.reason.what}" if self.reason is not None else ""
        return f"{share} dropped clip(s) for {self.code}{what}"

    @property
    def fix(self) -> str:
        return self.reason.fix if self.reason is not None else f"see what the stage {self.code} checks"


def dominant_drop(reasons: Mapping[str, int], dropped: int) -> DominantDrop | None:
    """The code behind more than half of `dropped` clips, or None (no drops, or no reason dominates).
    Ties go to the code first in alphabetical order, so the answer never depends on the counting order."""
    if dropped <= 0 or not reasons:
        return None
    code, clips = max(sorted(reasons.items()), key=lambda item: item[1])
    if clips * 2 <= dropped:
        return None
    return DominantDrop(code, min(clips, dropped), dropped, REASONS.get(code))
