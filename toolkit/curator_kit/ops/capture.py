"""`run --capture`'s record in the project's state: the output the last capture went into, which
`core.pipeline.capture.replay_output` reads for a `replay` without `--output`."""

from __future__ import annotations

from pathlib import Path

from curator_kit.core.project.state import LAST_CAPTURE, utc_timestamp
from curator_kit.ops.state import write_record


def remember_capture(project_dir: Path, output_dir: Path, stage: str) -> None:
    """Record the output a `run --capture STAGE` captured into (the last one wins)."""
    record = {"output": str(output_dir.resolve()), "stage": stage, "time": utc_timestamp()}
    write_record(project_dir, LAST_CAPTURE, record)
