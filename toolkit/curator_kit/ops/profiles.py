"""Per-stage profiles of a `run --profile` / `replay --profile`: read what the workers wrote, write each
stage's flame graph and summary beside it, and say what they found.

    OUTPUT/curator-kit-profile/<STAGE>/raw/<pid>.txt, <pid>.json   written in the container, per worker
    OUTPUT/curator-kit-profile/<STAGE>/flame.svg, profile.json     written here (`summarize_profiles`)

The parsing, numbers and SVG are `core/report/flamegraph.py`'s; this module only reads and writes files.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.core.constants import PROFILE_DIR_NAME
from curator_kit.core.report.flamegraph import (
    FLAME_FILE,
    PROFILE_FILE,
    RAW_DIR,
    TOP_FUNCTIONS,
    StageProfile,
    WorkerRaw,
    flame_svg,
    parse_collapsed,
    share_text,
    stage_profile,
)
from curator_kit.core.sizes import gib

FILE_MODE = 0o644


@dataclass(frozen=True)
class LoadedProfile:
    """A stage's profile as the report finds it: `profile.flame` when flame.svg is on disk and current,
    else `svg`, the flame graph drawn from raw/ in memory (the results may be read-only, and the report
    writes only inside its own folder)."""

    profile: StageProfile
    svg: str | None = None


def stage_dirs(profile_root: Path) -> list[Path]:
    """The profiled stages' folders, in name order."""
    if not profile_root.is_dir():
        return []
    return sorted(path for path in profile_root.iterdir() if path.is_dir() and not path.name.startswith("."))


def read_stage(stage_dir: Path) -> tuple[StageProfile, str]:
    """The stage's profile and flame graph from its raw/ files (reads only)."""
    workers, notes = _read_workers(stage_dir / RAW_DIR)
    profile, stacks = stage_profile(stage_dir.name, workers)
    svg = flame_svg(profile.stage, stacks, profile.rate, profile.workers)
    return dataclasses.replace(profile, notes=[*notes, *profile.notes]), svg


def _read_workers(raw: Path) -> tuple[list[WorkerRaw], list[str]]:
    """Each worker's stacks and facts, by pid; an unreadable file is a note, never the end of the summary."""
    notes: list[str] = []
    if not raw.is_dir():
        return [], []
    files = sorted(path for path in raw.iterdir() if path.is_file() and path.suffix in (".txt", ".json"))
    workers = []
    for pid in sorted({path.stem for path in files}):
        text_file, meta_file = raw / f"{pid}.txt", raw / f"{pid}.json"
        stacks = meta = None
        if text_file.is_file():
            try:
                stacks = parse_collapsed(text_file.read_text(encoding="utf-8", errors="replace"))
            except OSError as error:
                notes.append(f"{RAW_DIR}/{text_file.name}: unreadable ({error.strerror}); left out")
        if meta_file.is_file():
            try:
                loaded = json.loads(meta_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                notes.append(f"{RAW_DIR}/{meta_file.name}: unreadable ({type(error).__name__}); left out")
            else:
                if isinstance(loaded, dict):
                    meta = loaded
                else:
                    notes.append(f"{RAW_DIR}/{meta_file.name}: not a JSON object; left out")
        workers.append(WorkerRaw(pid, stacks, meta))
    return workers, notes


def _read_profile_json(path: Path) -> StageProfile | None:
    try:
        return StageProfile.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def summarize_profiles(profile_root: Path) -> list[StageProfile]:
    """Per stage under `profile_root` (OUTPUT/curator-kit-profile): read raw/, write flame.svg and
    profile.json atomically beside it, and return the profiles with `flame` set to the written SVG.

    A stage folder with no raw/ but a profile.json (results copied without the raw files) keeps its
    summary: it is read back, not overwritten with an empty one. A write that fails (an output folder
    the container's user owns) becomes a note; the profile is still returned."""
    profiles = []
    for stage_dir in stage_dirs(profile_root):
        summary_file, flame_file = stage_dir / PROFILE_FILE, stage_dir / FLAME_FILE
        if not (stage_dir / RAW_DIR).is_dir() and summary_file.is_file():
            kept = _read_profile_json(summary_file)
            if kept is not None:
                profiles.append(dataclasses.replace(kept, flame=flame_file if flame_file.is_file() else None))
                continue
        profile, svg = read_stage(stage_dir)
        try:
            write_text_atomically(flame_file, svg, FILE_MODE)
            profile = dataclasses.replace(profile, flame=flame_file)
            # The summary last: a profile.json no older than raw/ says the flame graph beside it is current.
            write_text_atomically(summary_file, json.dumps(profile.to_json(), indent=2) + "\n", FILE_MODE)
        except OSError as error:
            note = f"cannot write into {stage_dir}: {error.strerror or error}"
            profile = dataclasses.replace(profile, notes=[*profile.notes, note])
        profiles.append(profile)
    return profiles


def read_profiles(profile_root: Path) -> list[LoadedProfile]:
    """The report's view of `profile_root`, writing nothing: each stage's profile.json and flame.svg
    when they are at least as new as its raw/ files, else a summary and SVG made from raw/ now."""
    loaded = []
    for stage_dir in stage_dirs(profile_root):
        summary_file, flame_file, raw = stage_dir / PROFILE_FILE, stage_dir / FLAME_FILE, stage_dir / RAW_DIR
        newest_raw = max((path.stat().st_mtime for path in raw.iterdir()), default=0.0) if raw.is_dir() else 0.0
        if summary_file.is_file() and summary_file.stat().st_mtime >= newest_raw:
            profile = _read_profile_json(summary_file)
            if profile is not None and (flame_file.is_file() or not raw.is_dir()):
                flame = flame_file if flame_file.is_file() else None
                loaded.append(LoadedProfile(dataclasses.replace(profile, stage=stage_dir.name, flame=flame)))
                continue
        profile, svg = read_stage(stage_dir)
        loaded.append(LoadedProfile(profile, svg))
    return loaded


def profile_lines(profiles: list[StageProfile], limit: int = TOP_FUNCTIONS) -> list[str]:
    """What the CLI prints after a profiled run: per stage a header line, its notes, its top functions."""
    lines: list[str] = []
    for profile in profiles:
        lines.append(headline(profile))
        lines += [f"  note: {note}" for note in profile.notes]
        if not profile.top:
            continue
        rows = [("self %", "total %", "function", "file:line")]
        rows += [
            (share_text(row.self_share), share_text(row.total_share), row.function, row.location)
            for row in profile.top[:limit]
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for own, total, function, location in rows:
            cells = f"{own.rjust(widths[0])}  {total.rjust(widths[1])}  {function.ljust(widths[2])}  {location}"
            lines.append(f"  {cells}".rstrip())
    return lines


def headline(profile: StageProfile) -> str:
    """`profile STAGE: 2 workers, 1234 samples at 100 Hz, peak 0.40 GiB -> .../flame.svg`"""
    workers = f"{profile.workers} worker{'' if profile.workers == 1 else 's'}"
    if not profile.samples:
        return f"profile {profile.stage}: {workers}, no samples"
    facts = [workers, f"{profile.samples} samples" + (f" at {profile.rate} Hz" if profile.rate else "")]
    if profile.peak_rss_bytes is not None:
        facts.append(f"peak {gib(profile.peak_rss_bytes)}")
    where = f" -> {profile.flame}" if profile.flame is not None else ""
    return f"profile {profile.stage}: {', '.join(facts)}{where}"


def print_profiles(output_dir: Path, echo: Callable[[str], None]) -> list[StageProfile]:
    """After a profiled run or replay: summarize OUTPUT/curator-kit-profile and print what it found.
    Returns the profiles (empty, with a line that says so, when the run left none)."""
    profile_root = output_dir / PROFILE_DIR_NAME
    profiles = summarize_profiles(profile_root)
    if not profiles:
        echo(
            f"profile: nothing in {profile_root}: no profiled stage ran a worker "
            "(check the stage names given to --profile, and that the run got as far as them)"
        )
        return []
    for line in profile_lines(profiles):
        echo(line)
    return profiles
