"""Turn the classic builder's JSON stream into typed events (pure; no Docker import).

The engine sends `{"stream": "..."}` chunks that need not end on line boundaries,
`{"aux": {"ID": ...}}` with the image id, and `{"error": ...}` when a step fails.
Every line and error leaves here as `redact.printable_line` makes it (no terminal codes, credentials
masked), so progress on a terminal, plain logs and error tails all show the same clean text.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from curator_kit.core.redact import printable_line

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# The image a step left (short id), after its output or after "Using cache".
STEP_IMAGE_RE = re.compile(r"^ ---> ([0-9a-f]{12})$")
# Builder chatter that says nothing about the user's step.
NOISE_RE = re.compile(r"^( ---> Running in |Removing intermediate container |Successfully built )")
TAIL_LINES = 30
# A LABEL or ENV value longer than this is cut in the progress line (never in the image).
SHOWN_VALUE_CHARS = 80
# KEY=VALUE as the builder reads a LABEL or ENV: the key bare or double-quoted; the value double-quoted
# (with backslash escapes), single-quoted (as the engine writes the labels a build is given), or bare
# up to the next blank.
_KEY_VALUE = re.compile(r"""((?:"(?:[^"\\]|\\.)*"|[^\s="']+)=)("(?:[^"\\]|\\.)*"?|'[^']*'?|(?:[^\s\\]|\\.)+)""")


@dataclass(frozen=True)
class StepStarted:
    number: int
    total: int
    instruction: str


@dataclass(frozen=True)
class StepCached:
    number: int


@dataclass(frozen=True)
class StepImage:
    """The image step `number` left (short id): the same id when a later build takes it from the cache."""

    number: int
    image_id: str


@dataclass(frozen=True)
class StepOutput:
    number: int
    line: str


@dataclass(frozen=True)
class BuildSucceeded:
    image_id: str


@dataclass(frozen=True)
class BuildFailed:
    step: StepStarted | None
    message: str
    tail: tuple[str, ...]


BuildEvent = StepStarted | StepCached | StepImage | StepOutput | BuildSucceeded | BuildFailed


class BuildProgress(Protocol):
    """What a build streams its events to (`ops.progress`'s displays): named here, below the engine and
    ops both, so `engine/` takes it without naming a type of `ops/`."""

    def handle(self, event: BuildEvent) -> None: ...


@dataclass
class BuildLogParser:
    """Feed decoded stream chunks in; get events out. Remembers each step's output tail."""

    current: StepStarted | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    image_id: str | None = None
    _partial: str = ""

    def feed(self, chunk: dict) -> Iterator[BuildEvent]:
        if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
            self.image_id = chunk["aux"]["ID"]
        if "stream" in chunk:
            self._partial += chunk["stream"]
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                yield from self._line(line.rstrip("\r"))
        if "error" in chunk:
            yield from self._flush()
            yield BuildFailed(self.current, printable_line(str(chunk["error"])).strip(), tuple(self.tail))

    def finish(self) -> Iterator[BuildEvent]:
        yield from self._flush()
        if self.image_id:
            yield BuildSucceeded(self.image_id)

    def _flush(self) -> Iterator[BuildEvent]:
        if self._partial:
            line, self._partial = self._partial, ""
            yield from self._line(line)

    def _line(self, raw: str) -> Iterator[BuildEvent]:
        line = printable_line(raw)
        match = STEP_RE.match(line)
        if match:
            self.current = StepStarted(int(match[1]), int(match[2]), match[3])
            self.tail.clear()
            yield self.current
            return
        number = self.current.number if self.current else 0
        if line.strip() == "---> Using cache":
            yield StepCached(number)
            return
        step_image = STEP_IMAGE_RE.match(line)
        if step_image:
            yield StepImage(number, step_image[1])
            return
        if not line.strip() or NOISE_RE.match(line) or line.startswith("Successfully tagged "):
            return
        self.tail.append(line)
        yield StepOutput(number, line)


@dataclass
class StepImages:
    """A build's display that also keeps the image each step left, by the step's instruction as the
    Dockerfile has it: which layer a step's result is in, whether it ran or came from the cache."""

    display: BuildProgress
    by_instruction: dict[str, str] = field(default_factory=dict)
    _current: StepStarted | None = None

    def handle(self, event: BuildEvent) -> None:
        if isinstance(event, StepStarted):
            self._current = event
        elif isinstance(event, StepImage) and self._current is not None:
            self.by_instruction[self._current.instruction] = event.image_id
        self.display.handle(event)


def shown_instruction(instruction: str, limit: int = SHOWN_VALUE_CHARS) -> str:
    """A step's instruction as build progress shows it: each LABEL or ENV value longer than `limit`
    characters (as written: a pipeline spec, a codecs list) is cut there, with an ellipsis and its length,
    `… (3,412 chars)`. Only the display: the Dockerfile, the image and `inspect` keep the whole value."""
    keyword, blank, arguments = instruction.partition(" ")
    if keyword.upper() not in ("LABEL", "ENV") or len(arguments) <= limit:
        return instruction
    name, gap, rest = arguments.lstrip().partition(" ")
    if keyword.upper() == "ENV" and "=" not in name:  # the old form, `ENV KEY the rest of the line`
        indent = arguments[: len(arguments) - len(arguments.lstrip())]
        return f"{keyword}{blank}{indent}{name}{gap}{_shortened(rest, limit)}"
    return keyword + blank + _KEY_VALUE.sub(lambda pair: pair[1] + _shortened(pair[2], limit), arguments)


def _shortened(value: str, limit: int) -> str:
    return value if len(value) <= limit else f"{value[:limit]}\u2026 ({len(value):,} chars)"


def parse_build_stream(chunks: Iterable[dict]) -> Iterator[BuildEvent]:
    parser = BuildLogParser()
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.finish()
