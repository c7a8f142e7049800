"""Collapsed stacks to a flame graph and a top-functions table (core/report/flamegraph.py: pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from curator_kit.core.report.flamegraph import (
    MIN_SHARE,
    Stacks,
    StageProfile,
    WorkerRaw,
    flame_svg,
    merge_stacks,
    parse_collapsed,
    split_frame,
    stage_profile,
    top_functions,
)

SVG = "{http://www.w3.org/2000/svg}"
MAIN = "<module> (pipeline.py:8)"
BUSY = "busy (pipeline.py:5)"
PROCESS = "process (/app/stages/frame_stats.py:72)"
DECODE = "decode (/usr/lib/av/container.py:120)"

SAMPLE = f"""\
{MAIN};{BUSY} 191
{MAIN};{PROCESS};{DECODE} 50

{MAIN};{PROCESS} 9
"""


def frames_of(svg: str) -> dict[str, ET.Element]:
    """Each drawn frame's <g>, by the frame text its <title> starts with."""
    root = ET.fromstring(svg)
    return {g.find(f"{SVG}title").text.rsplit(": ", 1)[0]: g for g in root.iter(f"{SVG}g") if g.get("class") == "frame"}


def width(g: ET.Element) -> float:
    return float(g.find(f"{SVG}rect").get("width"))


def test_parse_counts_stacks_and_skips_bad_lines_with_a_count():
    text = SAMPLE + "no count here\n 12\nframe;other -3\nframe 0\ntorn;fram"
    stacks = parse_collapsed(text)
    assert stacks.counts == {(MAIN, BUSY): 191, (MAIN, PROCESS, DECODE): 50, (MAIN, PROCESS): 9}
    assert stacks.samples == 250
    assert stacks.skipped == 5  # the blank line is no bad line


def test_parse_keeps_spaces_and_parentheses_inside_frames():
    frame = "<lambda> (/app/my stages/f (copy).py:3)"
    stacks = parse_collapsed(f"{MAIN};{frame} 7\r\n")
    assert stacks.counts == {(MAIN, frame): 7}
    assert split_frame(frame) == ("<lambda>", "/app/my stages/f (copy).py", 3)
    assert split_frame("busy (pipeline.py)") == ("busy", "pipeline.py", None)
    assert split_frame("no location") == ("no location", "", None)


def test_merge_adds_the_same_stacks_of_several_workers():
    one = parse_collapsed(f"{MAIN};{BUSY} 10\n{MAIN};{PROCESS} 5\nbad\n")
    two = parse_collapsed(f"{MAIN};{BUSY} 1\n{MAIN};{DECODE} 2\n")
    merged = merge_stacks([one, two])
    assert merged.counts == {(MAIN, BUSY): 11, (MAIN, PROCESS): 5, (MAIN, DECODE): 2}
    assert merged.skipped == 1 and merged.samples == 18


def test_top_functions_rank_by_self_then_total():
    rows = top_functions(parse_collapsed(SAMPLE))
    assert [row.frame for row in rows] == [BUSY, DECODE, PROCESS, MAIN]
    by = {row.frame: row for row in rows}
    assert (by[MAIN].total_samples, by[MAIN].self_samples) == (250, 0)
    assert (by[PROCESS].total_samples, by[PROCESS].self_samples) == (59, 9)
    assert by[BUSY].total_share == pytest.approx(191 / 250) and by[BUSY].self_share == pytest.approx(191 / 250)
    assert (by[PROCESS].function, by[PROCESS].file, by[PROCESS].line) == ("process", "/app/stages/frame_stats.py", 72)
    assert by[PROCESS].location == "/app/stages/frame_stats.py:72"
    assert [row.frame for row in top_functions(parse_collapsed(SAMPLE), limit=2)] == [BUSY, DECODE]


def test_recursion_is_counted_once_per_stack():
    rec = "walk (tree.py:4)"
    rows = {row.frame: row for row in top_functions(parse_collapsed(f"{MAIN};{rec};{rec};{rec} 10\n{MAIN};{BUSY} 10"))}
    assert rows[rec].total_samples == 10 and rows[rec].self_samples == 10
    assert rows[rec].total_share == pytest.approx(0.5)


def test_svg_parses_with_titles_and_widths_proportional_to_samples():
    svg = flame_svg("frame_stats", parse_collapsed(SAMPLE), rate=100, workers=2)
    root = ET.fromstring(svg)
    title = root.find(f"{SVG}text[@id='title']").text
    assert title == "Flame graph: frame_stats: 250 samples at 100 Hz, 2 workers"
    frames = frames_of(svg)
    assert set(frames) == {"all", MAIN, BUSY, PROCESS, DECODE}
    assert frames[BUSY].find(f"{SVG}title").text == f"{BUSY}: 191 samples (76.40%)"
    assert width(frames[BUSY]) / width(frames["all"]) == pytest.approx(191 / 250, abs=1e-4)
    assert width(frames[DECODE]) / width(frames[PROCESS]) == pytest.approx(50 / 59, abs=1e-4)
    # Root at the bottom: a callee sits above its caller, starting where it starts.
    rect = {name: g.find(f"{SVG}rect") for name, g in frames.items()}
    assert float(rect[PROCESS].get("y")) < float(rect[MAIN].get("y")) < float(rect["all"].get("y"))
    assert rect[DECODE].get("x") == rect[PROCESS].get("x")


def test_frame_names_are_escaped():
    hostile = 'evil<&>"name (/app/<x>&y.py:1)'
    svg = flame_svg("st<a>ge&", parse_collapsed(f"{MAIN};{hostile} 100\nctl\x01char (a.py:1) 100"))
    assert "<x>" not in svg and "&y" not in svg.replace("&amp;", "")
    root = ET.fromstring(svg)  # would raise on a raw <, & or a control character
    assert "st<a>ge&" in root.find(f"{SVG}text[@id='title']").text
    assert hostile in frames_of(svg)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert any(label and label.startswith('evil<&>"name') for label in labels)


def test_same_input_same_bytes_whatever_the_order_or_worker_split():
    lines = [line for line in SAMPLE.splitlines() if line]
    first = flame_svg("s", parse_collapsed(SAMPLE), rate=100)
    assert flame_svg("s", parse_collapsed(SAMPLE), rate=100) == first
    reordered = merge_stacks([parse_collapsed("\n".join(reversed(lines[1:]))), parse_collapsed(lines[0])])
    assert flame_svg("s", reordered, rate=100) == first


def test_slivers_are_dropped_and_narrow_frames_get_no_label():
    tiny = "tiny (t.py:1)"
    stacks = parse_collapsed(f"{MAIN};{BUSY} 100000\n{MAIN};{tiny} 50\n{MAIN};{DECODE} 2000")
    assert 50 / stacks.samples < MIN_SHARE
    svg = flame_svg("s", stacks)
    frames = frames_of(svg)
    assert tiny not in frames and "1 frames under 0.1% left out" in svg
    assert frames[DECODE].find(f"{SVG}text") is None  # ~23 px wide: not 3 characters fit
    assert frames[BUSY].find(f"{SVG}text").text == BUSY


def test_long_labels_are_cut_to_fit():
    long = "a_function_with_a_really_long_name_" * 5 + " (x.py:1)"
    svg = flame_svg("s", parse_collapsed(f"{long} 200\n{BUSY} 800"))
    label = frames_of(svg)[long].find(f"{SVG}text")
    assert label is not None and label.text.endswith("..") and len(label.text) < len(long)


def test_no_samples_is_a_valid_svg_that_says_so():
    svg = flame_svg("s", Stacks())
    root = ET.fromstring(svg)
    assert "no samples" in root.find(f"{SVG}text[@id='subtitle']").text
    assert frames_of(svg) == {}


def test_stage_profile_sums_workers_and_round_trips_json():
    workers = [
        WorkerRaw(
            "11", parse_collapsed(SAMPLE), {"rate": 100, "peak_rss_bytes": 300, "tasks": 4, "process_seconds": 1.5}
        ),
        WorkerRaw("12", parse_collapsed(f"{MAIN};{BUSY} 50\nbad"), {"rate": 100, "peak_rss_bytes": 500, "tasks": 2}),
        WorkerRaw("13", None, {"rate": 100, "peak_rss_bytes": True}),  # a bool is no number
    ]
    profile, stacks = stage_profile("frame_stats", workers)
    assert stacks.samples == profile.samples == 300
    assert (profile.workers, profile.rate, profile.peak_rss_bytes, profile.tasks) == (3, 100, 500, 6)
    assert profile.process_seconds == 1.5 and profile.skipped_lines == 1
    assert profile.top[0].frame == BUSY and profile.top[0].total_samples == 241 and profile.top[-1].frame == MAIN
    assert any("worker 13" in note for note in profile.notes)
    assert any("1 unreadable stack lines" in note for note in profile.notes)
    assert StageProfile.from_json(profile.to_json()) == profile


def test_stage_profile_of_nothing_says_so():
    profile, _ = stage_profile("s", [])
    assert profile.samples == 0 and profile.top == [] and profile.rate is None
    assert profile.notes and profile.notes[0].startswith("no samples")
