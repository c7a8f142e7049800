"""The stages of a Dockerfile, read as the classic builder reads them: which ones the final image is
made of. A build secret may reach only the others (throwaway stages), whose output is copied over.

Only what that question needs is parsed: logical lines (comments dropped, `\\` continuations
joined), `FROM image [AS name]`, `ARG` names and `COPY`/`ADD` sources.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field


@dataclass
class Stage:
    index: int
    name: str  # lowercase, as the builder compares it; "" when unnamed
    parent: str  # the image or stage after FROM
    args: list[str] = field(default_factory=list)
    # (the instruction as written, its context sources): COPY/ADD without --from read the build context.
    context_reads: list[tuple[str, list[str]]] = field(default_factory=list)
    copies_from: list[str] = field(default_factory=list)  # the stages (or images) of its COPY --from


def logical_lines(text: str) -> list[str]:
    """Instructions one per line: comment lines dropped, `\\`-continued lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending.strip():
        lines.append(pending.strip())
    return lines


def parse_stages(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        words = [w for w in rest.split() if not w.startswith("--")]
        if keyword == "FROM" and words:
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(Stage(len(stages), name, words[0].lower()))
        elif not stages:
            continue  # ARGs before the first FROM serve FROM lines only
        elif keyword == "ARG":
            stages[-1].args += [word.partition("=")[0] for word in words]
        elif keyword in ("COPY", "ADD") and "--from=" not in rest:
            stages[-1].context_reads.append((line, _sources(rest)))
        elif keyword == "COPY":
            stages[-1].copies_from += [w.split("=", 1)[1].lower() for w in rest.split() if w.startswith("--from=")]
    return stages


@dataclass(frozen=True)
class StageBuild:
    """One stage built on its own (`target`): after the stage builds it needs, from a Dockerfile that holds
    only the stages it is built from, so builds that need nothing of each other can run at once."""

    stage: str
    after: tuple[str, ...]
    dockerfile: str


def stage_builds(text: str, targets: list[str]) -> list[StageBuild]:
    """The builds that make the stages `targets` (in an order that respects `after`), each stage once: a
    stage two targets are built from (the system stage under both ffmpeg and the venv) is a build of its
    own, first. The classic builder builds every stage above a target whatever it needs, one after the
    other; a Dockerfile cut to the stages a target needs lets two targets build side by side. Its lines
    are the full Dockerfile's as written, so each step's cache entry is the one the full build looks up."""
    stages = parse_stages(text)
    by_name = {stage.name: stage for stage in stages if stage.name}

    def stage_of(reference: str) -> Stage | None:
        return by_name.get(reference) or (stages[int(reference)] if reference.isdigit() else None)

    def needed(stage: Stage) -> set[int]:
        found: set[int] = set()
        pending = [stage]
        while pending:
            current = pending.pop()
            if current.index in found:
                continue
            found.add(current.index)
            pending += [s for s in map(stage_of, [current.parent, *current.copies_from]) if s is not None]
        return found

    wanted = [by_name[name.lower()] for name in targets]
    needs = {stage.index: needed(stage) for stage in wanted}
    uses = [index for stage_needs in needs.values() for index in stage_needs]
    shared = {index for index in uses if uses.count(index) > 1}
    nodes = sorted(shared | set(needs))
    preamble, segments = _stage_texts(text)
    builds = []
    for index in nodes:
        stage_needs = needs.get(index) or needed(stages[index])
        after = tuple(stages[other].name for other in nodes if other in stage_needs and other != index)
        kept = "".join(segments[other] for other in sorted(stage_needs))
        builds.append(StageBuild(stages[index].name, after, preamble + kept))
    return builds


def _stage_texts(text: str) -> tuple[str, list[str]]:
    """The text before the first FROM, and each stage's text from its FROM line on, as written."""
    parts: list[str] = [""]
    continued = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if not continued and stripped.upper().startswith("FROM "):
            parts.append("")
        parts[-1] += line
        if not stripped.startswith("#"):
            continued = stripped.endswith("\\")
    return parts[0], parts[1:]


def final_image_stages(stages: list[Stage]) -> list[Stage]:
    """The last stage and the stages it is built FROM, in turn: their layers, history, labels and
    ENV are the final image's. Stages reached only through `COPY --from` are not."""
    by_name = {stage.name: stage for stage in stages if stage.name}
    chain: list[Stage] = []
    stage = stages[-1] if stages else None
    while stage is not None and stage not in chain:
        chain.append(stage)
        stage = by_name.get(stage.parent) or (stages[int(stage.parent)] if stage.parent.isdigit() else None)
    return chain


def reads_context_path(sources: list[str], path: str) -> bool:
    """Whether a COPY/ADD with these sources copies the context file `path` (itself, a folder above
    it, or a wildcard matching either)."""
    candidates = [path]
    parts = path.split("/")
    candidates += ["/".join(parts[:end]) for end in range(1, len(parts))]
    for source in sources:
        normal = source.strip().removeprefix("./").rstrip("/").lstrip("/")
        if normal in ("", "."):
            return True
        if any(normal == c or fnmatch.fnmatchcase(c, normal) for c in candidates):
            return True
    return False


def _sources(arguments: str) -> list[str]:
    """The sources of COPY/ADD arguments (flags dropped, the destination last), shell or JSON form."""
    text = arguments.strip()
    words: list[str]
    if text.startswith("["):
        try:
            words = [str(w) for w in json.loads(text)]
        except ValueError:
            words = text.split()
    else:
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]
