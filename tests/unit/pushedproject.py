"""A one-stage project `demo` whose last push is `reg.local/demo:1`: what the export commands' unit tests
start from (they stand in for the engine with the image's labels)."""

from __future__ import annotations

import json
from pathlib import Path

PUSHED_IMAGE = "reg.local/demo:1"


def pushed_project(tmp_path: Path) -> Path:
    """The project under `tmp_path`; its stage's module exists (empty): load_manifest looks for it."""
    root = tmp_path / "proj"
    root.mkdir()
    stage = '[[stages]]\nname = "probe"\nmodule = "stages.probe"\nclass = "ProbeStage"\n'
    (root / "curator-kit.toml").write_text('[project]\nname = "demo"\n' + stage)
    (root / "stages").mkdir()
    (root / "stages" / "probe.py").write_text("")
    (root / ".curator-kit").mkdir()
    (root / ".curator-kit" / "last-push.json").write_text(json.dumps({"image": PUSHED_IMAGE}))
    return root
