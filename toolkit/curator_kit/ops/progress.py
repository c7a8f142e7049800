"""Show build progress: a live display on a terminal, plain lines otherwise, or nothing.

Renderers consume `buildlog` events; they never touch Docker. A step's line shows its instruction as
`buildlog.shown_instruction` shortens it (a LABEL or ENV value of thousands of characters, cut).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from curator_kit.core.build.buildlog import (
    BuildEvent,
    BuildFailed,
    BuildSucceeded,
    StepCached,
    StepOutput,
    StepStarted,
    shown_instruction,
)


class PlainProgress:
    """One line per step and per output line: for CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None, show_output: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.show_output = show_output
        self._started = time.monotonic()

    def handle(self, event: BuildEvent) -> None:
        if isinstance(event, StepStarted):
            self._write(f"[{event.number}/{event.total}] {shown_instruction(event.instruction)}")
        elif isinstance(event, StepCached):
            self._write("  (cached)")
        elif isinstance(event, StepOutput) and self.show_output:
            self._write(f"  {event.line}")
        elif isinstance(event, BuildSucceeded):
            self._write(f"built {event.image_id[:19]} in {time.monotonic() - self._started:.1f}s")

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class LiveProgress:
    """A terminal display: finished steps stay as one line each; the running step
    shows its newest output line, rewritten in place."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._step: StepStarted | None = None
        self._step_started = 0.0
        self._cached = False
        self._started = time.monotonic()
        self._status_shown = False

    def handle(self, event: BuildEvent) -> None:
        if isinstance(event, StepStarted):
            self._close_step()
            self._step, self._cached, self._step_started = event, False, time.monotonic()
            self._status(f"[{event.number}/{event.total}] {shown_instruction(event.instruction)}")
        elif isinstance(event, StepCached):
            self._cached = True
        elif isinstance(event, StepOutput) and self._step:
            self._status(f"[{self._step.number}/{self._step.total}] {event.line.strip()}")
        elif isinstance(event, BuildSucceeded):
            self._close_step()
            self._line(f"built {event.image_id[:19]} in {time.monotonic() - self._started:.1f}s")
        elif isinstance(event, BuildFailed):
            self._clear_status()

    def _close_step(self) -> None:
        if not self._step:
            return
        how = "cached" if self._cached else f"{time.monotonic() - self._step_started:.1f}s"
        step = self._step
        self._line(f"\u2713 [{step.number}/{step.total}] {shown_instruction(step.instruction)}  ({how})")
        self._step = None

    def _status(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r\x1b[2K" + text[:width])
        self.stream.flush()
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False

    def _line(self, text: str) -> None:
        self._clear_status()
        width = shutil.get_terminal_size((100, 20)).columns - 1
        print(text[:width], file=self.stream, flush=True)


class StageLines:
    """The progress of one of several builds that run at once: whole lines only, each named by its stage
    (a live status line or step output would interleave with the others'): each step as it starts, and
    how long it took when it ran. A failure still shows its step and log tail (the build's error)."""

    def __init__(self, stage: str, stream: TextIO, lock: threading.Lock) -> None:
        self.stage, self.stream, self.lock = stage, stream, lock
        self._step: StepStarted | None = None
        self._cached = False
        self._started = self._step_started = time.monotonic()

    def handle(self, event: BuildEvent) -> None:
        if isinstance(event, StepStarted):
            self._close_step()
            self._step, self._cached, self._step_started = event, False, time.monotonic()
            self._line(f"[{event.number}/{event.total}] {shown_instruction(event.instruction)}")
        elif isinstance(event, StepCached):
            self._cached = True
        elif isinstance(event, BuildSucceeded):
            self._close_step()
            self._line(f"built {event.image_id[:19]} in {time.monotonic() - self._started:.1f}s")

    def _close_step(self) -> None:
        """A step that ran says how long it took: the one line of a long step that is not its start."""
        if self._step is not None and not self._cached and not self._step.instruction.upper().startswith("FROM "):
            self._line(f"[{self._step.number}/{self._step.total}] done in {time.monotonic() - self._step_started:.1f}s")
        self._step = None

    def _line(self, text: str) -> None:
        with self.lock:
            print(f"{self.stage:<10} {text}", file=self.stream, flush=True)


def stage_progress(progress: Progress, stage: str, lock: threading.Lock) -> Progress | StageLines:
    """What one of several builds at once shows: named lines on the stream `progress` writes to (nothing
    when it writes nowhere)."""
    if isinstance(progress, PlainProgress | LiveProgress):
        return StageLines(stage, progress.stream, lock)
    return progress


class QuietProgress:
    def handle(self, event: BuildEvent) -> None:
        """Says nothing; failures still surface as errors."""


Progress = PlainProgress | LiveProgress | QuietProgress


def choose_progress(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    if quiet:
        return QuietProgress()
    stream = stream or sys.stderr
    return LiveProgress(stream) if stream.isatty() else PlainProgress(stream)
