"""The requirements of nemo-curator's extras, less some nested extras: what the cuda base installs.

    python curator-requirements.py video_cuda12,cv2 --leave-out vllm   > requirements.txt

Why: `nemo-curator[video_cuda12]` pulls `nemo-curator[vllm]`, which pins a vLLM build PyPI does not
serve (1.4.0: `vllm==0.22.0+cu129`), so pip cannot resolve the extra at all. pip has no way to drop
a nested extra, so this reads the installed nemo-curator's own metadata (run it after
`pip install --no-deps nemo-curator==...`) and writes every requirement the extras reach, nested
extras expanded, except those reached only through a left-out extra. The left-out requirements are
listed as comments. Nothing is restated here: a new Curator release brings its own list.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv: only pip's own copy of packaging is there
    from pip._vendor.packaging.requirements import Requirement

SELF = "nemo-curator"


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def expand(extras: list[str], leave_out: set[str]) -> tuple[list[Requirement], list[Requirement]]:
    """(kept, left out): the requirements `nemo-curator[extras]` reaches, markers evaluated here."""
    requirements = [Requirement(r) for r in metadata.requires(SELF) or []]
    kept: list[Requirement] = []
    dropped: list[Requirement] = []
    seen: set[tuple[str, bool]] = set()
    todo = [(_name(e), False) for e in extras]  # (extra, reached only through a left-out extra)
    while todo:
        item = todo.pop(0)
        if item in seen:
            continue
        seen.add(item)
        extra, dropping = item
        for requirement in requirements:
            if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}):
                continue
            if _name(requirement.name) == SELF:
                todo += [(_name(e), dropping or _name(e) in leave_out) for e in requirement.extras]
                continue
            plain = Requirement(str(requirement).split(";")[0])
            target = dropped if dropping else kept
            if str(plain) not in {str(r) for r in target}:
                target.append(plain)
    kept_names = {str(r) for r in kept}
    return kept, [r for r in dropped if str(r) not in kept_names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", help="comma-separated extras of nemo-curator, e.g. video_cuda12,cv2")
    parser.add_argument("--leave-out", default="", help="comma-separated nested extras to leave out, e.g. vllm")
    args = parser.parse_args(argv)
    extras = [e for e in args.extras.split(",") if e]
    leave_out = {_name(e) for e in args.leave_out.replace(" ", ",").split(",") if e}
    known = {_name(e) for e in metadata.metadata(SELF).get_all("Provides-Extra") or []}
    unknown = sorted((set(map(_name, extras)) | leave_out) - known)
    if unknown:
        print(f"nemo-curator {metadata.version(SELF)} has no extra {', '.join(unknown)}", file=sys.stderr)
        return 2
    kept, dropped = expand(extras, leave_out)
    print(f"{SELF}=={metadata.version(SELF)}")
    for requirement in kept:
        print(requirement)
    for requirement in dropped:
        print(f"# left out with {', '.join(sorted(leave_out))}: {requirement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
