"""The project the build tests scaffold: two stages and an env with pip and apt packages, on the cpu base.

test_build.py builds it on Docker for its labels, tests, SBOM and push; test_builder.py builds it on each
engine for the builder's own behaviour. Scaffolded the same way, its dependency layers are the engine's
cache hits the second time."""

from __future__ import annotations

from pathlib import Path

from kitcli import cli

NAME = "build-it"


def scaffold_build_project(root: Path, base_image: str) -> Path:
    cli("init", NAME, "--base-image", base_image, cwd=root, check=True)
    project = root / NAME
    cli(
        "new-env", "tools", "--pip", "tabulate==0.9.0", "--apt", "jq", "--env", "TOOLS_MODE=on", cwd=project, check=True
    )
    cli("new-stage", "brightness", "--env", "tools", "--cpus", "0.5", cwd=project, check=True)
    cli("new-stage", "tagger", "--cpus", "0.25", "--nvdecs", "1", cwd=project, check=True)
    (project / "out").mkdir()
    (project / "out" / "leftover.mp4").write_bytes(b"0" * 1024)  # not build context: the image must not have it
    return project
