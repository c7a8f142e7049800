"""Where `run --capture STAGE` saved the tasks entering STAGE, and which capture `replay STAGE` reads.

pipeline.py writes them under OUTPUT/curator-kit-capture/STAGE. `run --capture` remembers its output in
the project's state (written by `ops.capture`), so a `replay` without `--output` finds a capture made
into any folder, and says which one it took.
"""

from __future__ import annotations

from pathlib import Path

from curator_kit.core.constants import CAPTURE_DIR_NAME
from curator_kit.core.project.state import LAST_CAPTURE, read_record
from curator_kit.errors import CuratorKitError


def capture_dir(output_dir: Path, stage: str) -> Path:
    return output_dir / CAPTURE_DIR_NAME / stage


def replay_output(project_dir: Path, output_dir: Path | None, stage: str) -> tuple[Path, str]:
    """The output folder `replay STAGE` reads, and a note when it was not named: `--output` when given;
    else the last `run --capture`'s when it holds STAGE; else PROJECT/output. No capture there: refused."""
    default = project_dir / "output"
    if output_dir is None:
        last = read_record(project_dir, LAST_CAPTURE, required=("output",))
        remembered = Path(str(last["output"])) if last is not None else None
        if remembered is not None and capture_dir(remembered, stage).is_dir():
            same = remembered.resolve() == default.resolve()
            return remembered, "" if same else f"no --output: replaying the last capture, in {remembered}"
    where = capture_dir(output_dir or default, stage)
    if not where.is_dir():
        raise CuratorKitError(
            f"no capture at {where}",
            f"pass the --output of the run that captured, or capture first: curator-kit run --capture {stage}",
        )
    return output_dir or default, ""
