"""A profiled stage's samples as a flame graph and a top-functions table (pure: text in, text and rows out).

Each profiled worker runs `py-spy record --format raw` on itself; `ops/profiles.py` reads what they
wrote, laid out as

    OUTPUT/curator-kit-profile/<STAGE>/raw/<pid>.txt    collapsed stacks: `frame;frame;... COUNT` per line,
                                                        root first, a frame `function (file:line)`
    OUTPUT/curator-kit-profile/<STAGE>/raw/<pid>.json   {"pid", "rate", "peak_rss_bytes", "tasks", "process_seconds"}

and writes `<STAGE>/flame.svg` and `<STAGE>/profile.json` beside `raw/`. This module parses, merges,
renders and tabulates; it reads and writes no file.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAW_DIR = "raw"
FLAME_FILE = "flame.svg"
PROFILE_FILE = "profile.json"

TOP_FUNCTIONS = 10  # rows of the table the CLI prints and the report shows
MIN_SHARE = 0.001  # frames under 0.1% of the samples are invisible slivers: left out of the SVG

# The SVG's geometry, in pixels.
SVG_WIDTH = 1200
SVG_PAD = 10
FRAME_HEIGHT = 16
FONT_SIZE = 12
CHAR_WIDTH = FONT_SIZE * 0.59  # an average glyph of a sans-serif font: decides how much label fits
HEADER_HEIGHT = 44

Stack = tuple[str, ...]
# `function (file:line)`, the way py-spy writes a frame; `function (file)` with --nolineno. The function is
# the shortest start (a code object's name has no " ("), the file whatever is left: paths hold spaces and parentheses.
FRAME_RE = re.compile(r"^(?P<function>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
# Characters XML 1.0 cannot hold, even escaped: a mangled frame name must not make the SVG unreadable.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Stacks:
    """Collapsed stacks of one worker or several merged: stack (root first) -> samples."""

    counts: Mapping[Stack, int] = field(default_factory=dict)
    skipped: int = 0  # lines that were neither blank nor `frames COUNT`

    @property
    def samples(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class FunctionRow:
    """One row of the top-functions table: a frame's identity and how many samples it was in."""

    frame: str  # py-spy's text, `function (file:line)`: the identity
    function: str
    file: str
    line: int | None
    self_samples: int  # the frame was the leaf: running its own code
    total_samples: int  # the frame was anywhere on the stack, once per stack however deep it recursed
    self_share: float  # of all the stage's samples, 0..1
    total_share: float

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "function": self.function,
            "file": self.file,
            "line": self.line,
            "self_samples": self.self_samples,
            "total_samples": self.total_samples,
            "self_share": self.self_share,
            "total_share": self.total_share,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionRow:
        line = data.get("line")
        return cls(
            frame=str(data["frame"]),
            function=str(data["function"]),
            file=str(data["file"]),
            line=int(line) if line is not None else None,
            self_samples=int(data["self_samples"]),
            total_samples=int(data["total_samples"]),
            self_share=float(data["self_share"]),
            total_share=float(data["total_share"]),
        )


@dataclass(frozen=True)
class WorkerRaw:
    """What one worker process left in `raw/`: its stacks (None: no .txt) and its facts (None: no .json)."""

    pid: str  # the files' stem
    stacks: Stacks | None
    meta: Mapping[str, Any] | None


@dataclass(frozen=True)
class StageProfile:
    """One profiled stage, all its workers together: what profile.json holds, the CLI prints and the report shows."""

    stage: str
    workers: int
    samples: int
    rate: int | None  # samples per second per worker; None when no worker said
    peak_rss_bytes: int | None  # the largest worker's peak
    tasks: int | None  # summed over workers
    process_seconds: float | None  # summed over workers
    top: list[FunctionRow]
    skipped_lines: int = 0
    notes: list[str] = field(default_factory=list)  # what was odd or missing, one line each
    flame: Path | None = None  # the flame graph's file, once one is written

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "workers": self.workers,
            "samples": self.samples,
            "rate": self.rate,
            "peak_rss_bytes": self.peak_rss_bytes,
            "tasks": self.tasks,
            "process_seconds": self.process_seconds,
            "top": [row.to_json() for row in self.top],
            "skipped_lines": self.skipped_lines,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageProfile:
        """profile.json read back; KeyError, TypeError or ValueError when it is not one."""

        def number(key: str, kind: type) -> Any:
            value = data.get(key)
            return kind(value) if value is not None else None

        return cls(
            stage=str(data["stage"]),
            workers=int(data["workers"]),
            samples=int(data["samples"]),
            rate=number("rate", int),
            peak_rss_bytes=number("peak_rss_bytes", int),
            tasks=number("tasks", int),
            process_seconds=number("process_seconds", float),
            top=[FunctionRow.from_json(row) for row in data.get("top") or []],
            skipped_lines=int(data.get("skipped_lines") or 0),
            notes=[str(note) for note in data.get("notes") or []],
        )


def parse_collapsed(text: str) -> Stacks:
    """py-spy's raw output. The count is the last space-separated token (frames hold spaces and
    parentheses themselves); a line that is not `frames COUNT` is counted in `skipped`, not fatal:
    a worker killed mid-write leaves a torn last line, and the rest is still worth showing."""
    counts: Counter[Stack] = Counter()
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        frames_text, _, count_text = line.rpartition(" ")
        frames = tuple(frame for frame in frames_text.split(";") if frame)
        if not frames or not count_text.isdigit() or int(count_text) == 0:
            skipped += 1
            continue
        counts[frames] += int(count_text)
    return Stacks(dict(counts), skipped)


def merge_stacks(parts: Iterable[Stacks]) -> Stacks:
    """Several workers' stacks as one: the same stack's samples add up."""
    counts: Counter[Stack] = Counter()
    skipped = 0
    for part in parts:
        counts.update(part.counts)
        skipped += part.skipped
    return Stacks(dict(counts), skipped)


def split_frame(frame: str) -> tuple[str, str, int | None]:
    """(function, file, line) of `function (file:line)`; a frame in another shape is all function."""
    match = FRAME_RE.match(frame)
    if match is None:
        return frame, "", None
    line = match.group("line")
    return match.group("function"), match.group("file"), int(line) if line else None


def top_functions(stacks: Stacks, limit: int = TOP_FUNCTIONS) -> list[FunctionRow]:
    """The frames that ran most themselves (self samples, as `py-spy top` ranks), then by samples below
    them, then by name, so ties are stable. Ranked by total, a worker's table would be its framework's
    frames (Ray's loop, Xenna's adapter), which are on every stack."""
    total = stacks.samples
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.counts.items():
        self_samples[stack[-1]] += count
        for frame in set(stack):  # a recursive function is on the stack many times but ran once per sample
            inclusive[frame] += count
    ranked = sorted(inclusive, key=lambda frame: (-self_samples[frame], -inclusive[frame], frame))
    rows = []
    for frame in ranked[:limit]:
        function, file, line = split_frame(frame)
        rows.append(
            FunctionRow(
                frame=frame,
                function=function,
                file=file,
                line=line,
                self_samples=self_samples[frame],
                total_samples=inclusive[frame],
                self_share=self_samples[frame] / total if total else 0.0,
                total_share=inclusive[frame] / total if total else 0.0,
            )
        )
    return rows


def stage_profile(stage: str, workers: list[WorkerRaw], limit: int = TOP_FUNCTIONS) -> tuple[StageProfile, Stacks]:
    """The stage's numbers over all its workers, and their merged stacks (for `flame_svg`)."""
    stacks = merge_stacks(worker.stacks for worker in workers if worker.stacks is not None)
    metas = [worker.meta for worker in workers if worker.meta is not None]
    notes = []
    if not workers:
        notes.append(f"no samples: {RAW_DIR}/ holds no worker's files (did the stage run, with py-spy in the image?)")
    elif not stacks.samples:
        notes.append("no samples: the workers' stack files are empty (the stage may have ended before py-spy sampled)")
    without_stacks = sorted(worker.pid for worker in workers if worker.stacks is None)
    if without_stacks:
        notes.append(f"no stacks from worker {', '.join(without_stacks)}: py-spy wrote no .txt (see {RAW_DIR}/PID.log)")
    without_meta = sorted(worker.pid for worker in workers if worker.meta is None)
    if without_meta:
        notes.append(f"no facts from worker {', '.join(without_meta)} (no .json): memory and tasks leave it out")
    if stacks.skipped:
        notes.append(f"{stacks.skipped} unreadable stack lines skipped")
    rates = sorted({int(rate) for rate in _values(metas, "rate")})
    if len(rates) > 1:
        notes.append(f"workers sampled at different rates ({', '.join(map(str, rates))} Hz): shares mix them")
    peaks = [int(peak) for peak in _values(metas, "peak_rss_bytes")]
    tasks = [int(count) for count in _values(metas, "tasks")]
    seconds = [float(value) for value in _values(metas, "process_seconds")]
    profile = StageProfile(
        stage=stage,
        workers=len(workers),
        samples=stacks.samples,
        rate=rates[-1] if rates else None,
        peak_rss_bytes=max(peaks) if peaks else None,
        tasks=sum(tasks) if tasks else None,
        process_seconds=round(sum(seconds), 3) if seconds else None,
        top=top_functions(stacks, limit),
        skipped_lines=stacks.skipped,
        notes=notes,
    )
    return profile, stacks


def _values(metas: list[Mapping[str, Any]], key: str) -> list[Any]:
    """The key's numbers over the workers that reported one (a JSON bool is no number)."""
    found = [meta.get(key) for meta in metas]
    return [value for value in found if isinstance(value, int | float) and not isinstance(value, bool)]


# ---- the SVG ----


@dataclass
class _Node:
    frame: str
    samples: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Stacks) -> _Node:
    root = _Node("all", stacks.samples)
    for stack, count in stacks.counts.items():
        node = root
        for frame in stack:
            node = node.children.setdefault(frame, _Node(frame))
            node.samples += count
    return root


def xml_text(text: str) -> str:
    """Text safe in XML content and in double-quoted attributes."""
    text = XML_INVALID.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def frame_colour(frame: str) -> str:
    """A warm colour from the function's name: the same function the same colour in every graph.

    crc32, not hash(): Python salts str hashes per process, and the SVG must not change between runs."""
    digest = zlib.crc32(split_frame(frame)[0].encode("utf-8"))
    red = 205 + (digest & 0xFF) * 50 // 255
    green = ((digest >> 8) & 0xFF) * 230 // 255
    blue = ((digest >> 16) & 0xFF) * 55 // 255
    return f"rgb({red},{green},{blue})"


def _label(frame: str, width: float) -> str:
    """As much of the frame's text as fits the box, cut with '..'; '' when not even 3 characters fit."""
    fits = int((width - 6) / CHAR_WIDTH)
    if fits < 3:
        return ""
    return frame if len(frame) <= fits else frame[: fits - 2] + ".."


def flame_svg(stage: str, stacks: Stacks, rate: int | None = None, workers: int | None = None) -> str:
    """A self-contained SVG flame graph (no script): root at the bottom, callers below callees, widths
    proportional to samples, siblings in name order (Brendan Gregg's layout: x is not time).

    Each frame is a `<g class="frame">` with a `<title>` (its text, samples, share: the browser's tooltip),
    a `<rect>` and, when wide enough, a `<text>` label. The same stacks give the same bytes."""
    total = stacks.samples
    plot = SVG_WIDTH - 2 * SVG_PAD
    boxes: list[tuple[int, float, float, _Node]] = []  # depth, x, width, node
    hidden = 0
    # Iterative, not recursive: a deeply recursive worker's stacks are as deep as Python's own limit.
    todo = [(0, float(SVG_PAD), _tree(stacks))] if total else []
    while todo:
        level, x, node = todo.pop()
        boxes.append((level, x, node.samples / total * plot, node))
        for name in sorted(node.children):
            child = node.children[name]
            if child.samples / total < MIN_SHARE:
                hidden += 1
            else:
                todo.append((level + 1, x, child))
            x += child.samples / total * plot
    boxes.sort(key=lambda box: (box[0], box[1]))  # bottom row first, left to right: a readable file
    depth = max((box[0] for box in boxes), default=0) + 1
    height = HEADER_HEIGHT + depth * FRAME_HEIGHT + SVG_PAD
    facts = [f"{total} samples"]
    if rate:
        facts[0] += f" at {rate} Hz"
    if workers is not None:
        facts.append(f"{workers} worker{'' if workers == 1 else 's'}")
    subtitle = (
        "hover a frame for its samples; width is the share of samples, callers below callees"
        + (f"; {hidden} frames under {MIN_SHARE:.1%} left out" if hidden else "")
        if total
        else "no samples: nothing to draw"
    )
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{SVG_WIDTH}" height="{height}" '
        f'viewBox="0 0 {SVG_WIDTH} {height}" font-family="Verdana, \'DejaVu Sans\', sans-serif" '
        f'font-size="{FONT_SIZE}">',
        "<style>g.frame:hover rect { stroke: #000; stroke-width: 0.5; } text { pointer-events: none; }</style>",
        f'<rect width="{SVG_WIDTH}" height="{height}" fill="#fdfdf8"/>',
        f'<text id="title" x="{SVG_WIDTH / 2:.0f}" y="20" font-size="15" text-anchor="middle">'
        f"{xml_text(f'Flame graph: {stage}: ' + ', '.join(facts))}</text>",
        f'<text id="subtitle" x="{SVG_WIDTH / 2:.0f}" y="36" font-size="11" fill="#5f6b76" text-anchor="middle">'
        f"{xml_text(subtitle)}</text>",
    ]
    for level, x, width, node in boxes:
        y = height - SVG_PAD - (level + 1) * FRAME_HEIGHT
        share = node.samples / total
        tooltip = f"{node.frame}: {node.samples} samples ({share:.2%})"
        label = _label(node.frame, width)
        colour = "rgb(240,240,230)" if level == 0 else frame_colour(node.frame)
        out.append(f'<g class="frame" data-samples="{node.samples}"><title>{xml_text(tooltip)}</title>')
        out.append(
            f'<rect x="{x:.2f}" y="{y}" width="{width:.2f}" height="{FRAME_HEIGHT - 1}" fill="{colour}" rx="2"/>'
        )
        if label:
            out.append(f'<text x="{x + 3:.2f}" y="{y + FRAME_HEIGHT - 4.5:.1f}">{xml_text(label)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def share_text(share: float) -> str:
    """A share as the table prints it: 0.1% steps, '<0.1%' rather than a misleading 0.0%."""
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%"
