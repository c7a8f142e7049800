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
    return stages


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
