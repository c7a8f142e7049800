"""The summary pipeline.py writes when a run ends (`OUTPUT/curator-kit-summary.json`), as `run` shows it.

pipeline.py counts in the container, where the results are: videos found in the input, those an
earlier run finished (`--resume` skips them), those that reached the writer readable or unreadable,
those that never reached it (a stage failed; with --ignore-failures the task was dropped), clips
written and filtered. It exits with `EXIT_NOTHING_WRITTEN` when there were videos to process and
not one came out of the writer readable; `run` passes the code through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from curator_kit.core.constants import EXIT_NOTHING_WRITTEN, SUMMARY_FILE_NAME
from curator_kit.core.run.dropreasons import dominant_drop

SUMMARY_FORMAT = 1
NAMES_SHOWN = 5  # unreadable or failed videos named in the printed summary; the file lists all


@dataclass(frozen=True)
class RunSummary:
    run_id: str = ""
    status: str = "ok"  # ok | nothing-to-do | nothing-written | crashed
    exit_code: int = 0
    videos_found: int = 0
    videos_skipped: int = 0  # finished by an earlier run into the same output (--resume)
    videos_processed: int = 0  # reached the writer with readable metadata
    videos_unreadable: int = 0  # reached the writer, but could not be probed or decoded
    videos_failed: int = 0  # never reached the writer: a stage raised (dropped with --ignore-failures)
    clips_written: int = 0
    clips_filtered: int = 0
    # Why clips were filtered: the error keys stages left on them (core.run.dropreasons' codes) -> clips.
    drop_reasons: dict[str, int] = field(default_factory=dict)
    partial_files_removed: int = 0  # half-written outputs of an interrupted run, removed by --resume
    unreadable: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_dict(cls, data: object) -> RunSummary | None:
        """The summary, or None for anything that is not one (another tool's file, a newer format)."""
        if not isinstance(data, dict) or data.get("format") != SUMMARY_FORMAT:
            return None
        known = {f.name for f in fields(cls)}
        reasons = data.get("drop_reasons", {})
        if not isinstance(reasons, dict) or not all(type(count) is int for count in reasons.values()):
            data = {**data, "drop_reasons": {}}  # another writer's shape: no reasons rather than no summary
        try:
            return cls(**{key: value for key, value in data.items() if key in known})
        except TypeError:
            return None

    def lines(self) -> list[str]:
        skipped = f" ({self.videos_skipped} done by an earlier run, skipped)" if self.videos_skipped else ""
        lines = [
            f"summary    {self.videos_found} video(s) found{skipped}: {self.videos_processed} processed, "
            f"{self.videos_unreadable} unreadable, {self.videos_failed} failed or dropped",
            f"clips      {self.clips_written} written, {self.clips_filtered} filtered",
        ]
        if (dominant := dominant_drop(self.drop_reasons, self.clips_filtered)) is not None:
            lines += [f"dropped    {dominant.describe()}", f"fix        {dominant.fix}"]
        if self.partial_files_removed:
            lines.append(f"resume     removed {self.partial_files_removed} half-written file(s) of an interrupted run")
        for label, names in (("unreadable", self.unreadable), ("failed", self.failed)):
            if names:
                more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
                lines.append(f"{label:<11}{', '.join(names[:NAMES_SHOWN])}{more}")
        if self.exit_code == EXIT_NOTHING_WRITTEN:
            lines.append(f"exit       {EXIT_NOTHING_WRITTEN}: there were videos to process and nothing was written")
        if self.error:
            lines.append(f"error      {self.error}")
        return lines


def summary_path(output_dir: Path) -> Path:
    return output_dir / SUMMARY_FILE_NAME


def read_summary(output_dir: Path, run_id: str | None = None) -> RunSummary | None:
    """The output directory's summary; None when absent, unreadable, or another run's (`run_id`)."""
    try:
        summary = RunSummary.from_dict(json.loads(summary_path(output_dir).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    if summary is None or (run_id is not None and summary.run_id != run_id):
        return None
    return summary
