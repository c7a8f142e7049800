"""ops/profiles.py on real files: raw/ per worker in, flame.svg and profile.json per stage out, the CLI's lines."""

from __future__ import annotations

import dataclasses
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from curator_kit.core.report.flamegraph import StageProfile
from curator_kit.ops.profiles import print_profiles, profile_lines, read_profiles, summarize_profiles

MAIN = "<module> (/app/pipeline.py:8)"
PROCESS = "process (/app/stages/frame_stats.py:72)"
DECODE = "decode (/usr/lib/av/container.py:120)"


def worker(stage_dir: Path, pid: int, stacks: str | None, **meta: object) -> None:
    raw = stage_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    if stacks is not None:
        (raw / f"{pid}.txt").write_text(stacks)
    if meta:
        (raw / f"{pid}.json").write_text(json.dumps({"stage": stage_dir.name, "pid": pid, **meta}))


def profiled_output(tmp_path: Path) -> Path:
    output = tmp_path / "out"
    stage = output / "curator-kit-profile" / "frame_stats"
    facts = {"rate": 100, "tasks": 3, "process_seconds": 1.25}
    worker(stage, 101, f"{MAIN};{PROCESS};{DECODE} 600\n{MAIN};{PROCESS} 100\n", peak_rss_bytes=400 * 2**20, **facts)
    worker(stage, 102, f"{MAIN};{PROCESS};{DECODE} 200\n\ntorn line", peak_rss_bytes=432 * 2**20, **facts)
    return output


def test_summarize_writes_flame_and_profile_json_per_stage(tmp_path):
    output = profiled_output(tmp_path)
    stage = output / "curator-kit-profile" / "frame_stats"
    (profile,) = summarize_profiles(output / "curator-kit-profile")
    assert profile.flame == stage / "flame.svg"
    ET.fromstring((stage / "flame.svg").read_text())  # well-formed
    written = json.loads((stage / "profile.json").read_text())
    assert {key: written[key] for key in ("stage", "workers", "samples", "rate", "peak_rss_bytes", "tasks")} == {
        "stage": "frame_stats",
        "workers": 2,
        "samples": 900,
        "rate": 100,
        "peak_rss_bytes": 432 * 2**20,
        "tasks": 6,
    }
    assert written["process_seconds"] == 2.5 and written["skipped_lines"] == 1
    # Most self samples first; the caller with none, on every stack, last.
    assert [row["frame"] for row in written["top"]] == [DECODE, PROCESS, MAIN]
    assert written["top"][0] == {
        "frame": DECODE,
        "function": "decode",
        "file": "/usr/lib/av/container.py",
        "line": 120,
        "self_samples": 800,
        "total_samples": 800,
        "self_share": 800 / 900,
        "total_share": 800 / 900,
    }
    assert StageProfile.from_json(written) == dataclasses.replace(profile, flame=None)
    assert not [p.name for p in stage.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp


def test_a_stage_without_samples_is_a_note_not_a_crash(tmp_path):
    root = tmp_path / "curator-kit-profile"
    (root / "nothing" / "raw").mkdir(parents=True)
    worker(root / "empty", 7, "", rate=100, tasks=0)
    (root / "no_raw").mkdir()
    profiles = {p.stage: p for p in summarize_profiles(root)}
    assert set(profiles) == {"empty", "no_raw", "nothing"}
    for profile in profiles.values():
        assert profile.samples == 0 and profile.top == []
        assert profile.notes[0].startswith("no samples")
        ET.fromstring((root / profile.stage / "flame.svg").read_text())
    lines = profile_lines(list(profiles.values()))
    assert "profile empty: 1 worker, no samples" in lines
    assert "profile nothing: 0 workers, no samples" in lines


def test_unreadable_worker_facts_are_notes(tmp_path):
    root = tmp_path / "curator-kit-profile"
    worker(root / "s", 1, f"{MAIN} 10\n")
    (root / "s" / "raw" / "1.json").write_text("{not json")
    worker(root / "s", 2, f"{MAIN} 5\n")
    (root / "s" / "raw" / "2.json").write_text("[1, 2]")
    (profile,) = summarize_profiles(root)
    assert profile.samples == 15 and profile.peak_rss_bytes is None and profile.rate is None
    assert "raw/1.json: unreadable (JSONDecodeError); left out" in profile.notes
    assert "raw/2.json: not a JSON object; left out" in profile.notes


def test_a_summary_without_raw_files_is_kept_not_overwritten(tmp_path):
    output = profiled_output(tmp_path)
    root = output / "curator-kit-profile"
    summarize_profiles(root)
    for path in (root / "frame_stats" / "raw").iterdir():
        path.unlink()
    (root / "frame_stats" / "raw").rmdir()
    (profile,) = summarize_profiles(root)
    assert profile.samples == 900 and json.loads((root / "frame_stats" / "profile.json").read_text())["samples"] == 900


def test_print_profiles_header_and_top_table(tmp_path):
    output = profiled_output(tmp_path)
    lines: list[str] = []
    profiles = print_profiles(output, lines.append)
    assert [p.stage for p in profiles] == ["frame_stats"]
    flame = output / "curator-kit-profile" / "frame_stats" / "flame.svg"
    assert lines[0] == f"profile frame_stats: 2 workers, 900 samples at 100 Hz, peak 0.42 GiB -> {flame}"
    assert lines[1] == "  note: 1 unreadable stack lines skipped"
    assert lines[2].split() == ["self", "%", "total", "%", "function", "file:line"]
    assert lines[3].split() == ["88.9%", "88.9%", "decode", "/usr/lib/av/container.py:120"]
    assert lines[4].split() == ["11.1%", "100.0%", "process", "/app/stages/frame_stats.py:72"]
    assert lines[5].split() == ["0.0%", "100.0%", "<module>", "/app/pipeline.py:8"]
    assert len({line.index("file:line") if "file:line" in line else line.index("/") for line in lines[2:]}) == 1


def test_print_profiles_says_when_there_are_none(tmp_path):
    lines: list[str] = []
    assert print_profiles(tmp_path, lines.append) == []
    assert len(lines) == 1 and lines[0].startswith(f"profile: nothing in {tmp_path / 'curator-kit-profile'}")


def test_read_profiles_writes_nothing_and_prefers_a_current_summary(tmp_path):
    output = profiled_output(tmp_path)
    root = output / "curator-kit-profile"
    (fresh,) = read_profiles(root)  # no summary yet: drawn in memory
    assert fresh.svg is not None and fresh.profile.flame is None and fresh.profile.samples == 900
    assert sorted(p.name for p in (root / "frame_stats").iterdir()) == ["raw"]
    summarize_profiles(root)
    (kept,) = read_profiles(root)
    assert kept.svg is None and kept.profile.flame == root / "frame_stats" / "flame.svg"
    newer = (root / "frame_stats" / "profile.json").stat().st_mtime + 10
    os.utime(root / "frame_stats" / "raw" / "101.txt", (newer, newer))  # raw/ changed after the summary
    (stale,) = read_profiles(root)
    assert stale.svg is not None and stale.profile.flame is None
