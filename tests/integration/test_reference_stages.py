"""The reference stages' own tests, run inside the curator base image against its real stack."""

from __future__ import annotations

import os
import re
from pathlib import Path

STAGES = Path(__file__).resolve().parents[2] / "stages"


def test_reference_stage_tests_pass_in_the_base_image(docker_client, curator_base_image):
    # A floor, not the exact count: parametrizing a test only adds cases.
    defined = sum(
        len(re.findall(r"^def test_", path.read_text(), re.MULTILINE)) for path in (STAGES / "tests").glob("test_*.py")
    )
    container = docker_client.containers.run(
        curator_base_image,
        ["python", "-m", "pytest", "/stages/tests", "-q", "-p", "no:cacheprovider"],
        # Read-only: the tests must write only to their tmp_path. PYTHONPATH=/ makes `stages` importable.
        volumes={str(STAGES): {"bind": "/stages", "mode": "ro"}},
        environment={"PYTHONPATH": "/", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"},
        user=f"{os.getuid()}:{os.getgid()}",
        working_dir="/tmp",
        detach=True,
    )
    try:
        status = container.wait(timeout=600)
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, logs
    summary = logs.strip().splitlines()[-1]
    match = re.fullmatch(r"(\d+) passed(, \d+ warnings?)? in .*", summary)
    assert match, f"expected only passes (no skips, failures or errors), got: {summary}\n{logs}"
    assert int(match.group(1)) >= defined >= 15
