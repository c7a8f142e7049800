"""What a run's saved output says that its results do not: time per stage, and the limits Curator's filters used.

Pure text matching on the lines `curator-kit run` prints (the pipeline's own log, streamed from the
container). Xenna's batch mode logs when each stage starts and finishes: a stage's time is its wall
time. Streaming mode runs all stages at once and logs only when each one stops (they stop in order,
as their input ends): a stage's time is then from the stage before it stopping to its own stop (the
first from the pipeline's start), so the times add up to the pipeline's. Curator's motion and
aesthetic filters name their thresholds only with `verbose`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from curator_kit.core.constants import MODE_BATCH, MODE_STREAMING

ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# loguru's default time format, at the start of a driver line: `2026-11-25 20:11:02.758 | INFO | ...`
_TIME = r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*\|"
STAGE_START_RE = re.compile(_TIME + r".*\bStarting stage=(?P<stage>.+?)\s*$")
STAGE_END_RE = re.compile(_TIME + r".*\bstage=(?P<stage>.+?) finished\b")
# Xenna names a stage "Stage 03 - ClipTranscodingStage".
XENNA_STAGE_RE = re.compile(r"^Stage (?P<index>\d+) - (?P<name>.+)$")
STAGE_NAME_RE = re.compile(r"\bStage (?P<index>\d+) - (?P<name>[A-Za-z_]\w*)")
# Streaming: the pipeline starts once Xenna has the cluster's resources; then each stage stops in turn.
STREAM_START_RE = re.compile(_TIME + r".*\bCreated/connected to cluster with resources")
STREAM_STOP_RE = re.compile(_TIME + r".*\bStopping stages (?P<index>\d+)\s*$")
_NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
AESTHETIC_RE = re.compile(rf"aesthetic score {_NUMBER} (?:below|above) threshold (?P<limit>{_NUMBER})")
MOTION_RE = re.compile(
    rf"motion score global mean {_NUMBER}\s*(?:<|>=)\s*(?P<mean>{_NUMBER}) (?:or|and) "
    rf"per-patch min 256 {_NUMBER}\s*(?:<|>=)\s*(?P<patch>{_NUMBER})"
)


@dataclass(frozen=True)
class StageTime:
    name: str
    seconds: float
    mode: str = MODE_BATCH  # Xenna's mode, which says what `seconds` measures (the module's docstring)


@dataclass(frozen=True)
class Threshold:
    """A filter's limit on a score: clips on the `keeps` side ("above" or "below") of `value` stayed."""

    score: str
    value: float
    keeps: str
    source: str


def stage_times(lines: Iterable[str]) -> list[StageTime]:
    """Each stage's time, in pipeline order: batch mode's wall time per stage, else streaming's time
    from the stage before it stopping to its own stop."""
    started: dict[str, datetime] = {}
    times: list[StageTime] = []
    names: dict[int, str] = {}
    stream_start: datetime | None = None
    stops: dict[int, datetime] = {}
    for raw in lines:
        line = ANSI_RE.sub("", raw)
        if match := STAGE_START_RE.search(line):
            started[match["stage"]] = _time(match["time"])
        elif (match := STAGE_END_RE.search(line)) and match["stage"] in started:
            seconds = (_time(match["time"]) - started.pop(match["stage"])).total_seconds()
            times.append(StageTime(_stage_name(match["stage"]), round(seconds, 3)))
        elif match := STREAM_STOP_RE.search(line):
            stops.setdefault(int(match["index"]), _time(match["time"]))
        elif stream_start is None and (match := STREAM_START_RE.search(line)):
            stream_start = _time(match["time"])
        for found in STAGE_NAME_RE.finditer(line):
            names.setdefault(int(found["index"]), found["name"])
    if times or stream_start is None:
        return times
    previous = stream_start
    for index in sorted(stops):
        seconds = (stops[index] - previous).total_seconds()
        times.append(StageTime(names.get(index, f"stage {index}"), round(seconds, 3), MODE_STREAMING))
        previous = stops[index]
    return times


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T"))


def _stage_name(xenna_name: str) -> str:
    match = XENNA_STAGE_RE.match(xenna_name)
    return match["name"] if match else xenna_name


def log_thresholds(lines: Iterable[str]) -> list[Threshold]:
    """The thresholds Curator's motion and aesthetic filters printed (verbose runs), once each."""
    found: dict[Threshold, None] = {}
    for raw in lines:
        if match := AESTHETIC_RE.search(raw):
            found[Threshold("aesthetic_score", float(match["limit"]), "above", "clip_aesthetic_filter")] = None
        elif match := MOTION_RE.search(raw):
            found[Threshold("motion_score.global_mean", float(match["mean"]), "above", "motion_filter")] = None
            found[Threshold("motion_score.per_patch_min_256", float(match["patch"]), "above", "motion_filter")] = None
    return list(found)


# Cheap substrings every line the matchers above use contains: a long log is filtered as it is read.
# Stage names for streaming come from the rows of Xenna's stats tables ("│ Stage 00 - FilePartitioningStage │"),
# not from every worker line.
RELEVANT = ("stage=", "\u2502 Stage ", "Stopping stages", "Created/connected", "aesthetic score", "motion score")


def relevant_lines(lines: Iterable[str]) -> list[str]:
    return [line for line in lines if any(word in line for word in RELEVANT)]
