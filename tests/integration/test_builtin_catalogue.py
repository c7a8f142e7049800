"""The catalogue against the installed nemo-curator, in the cpu base image.

- The checked-in constructor fields (curator_1_4.fields.json) are what scripts/catalogue-fields.py
  reads from the image today.
- `pipeline.py --describe` of a manifest using every built-in builds the exact Curator classes with
  the parameters and Resources the spec predicts, and tells the writer what the stages make: the
  output is the golden file the unit tests compare the spec's own description with (no weights, no
  GPU). CURATOR_KIT_UPDATE_GOLDEN=1 rewrites the golden from the image.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "toolkit" / "curator_kit" / "core" / "pipeline" / "catalogue"
GOLDEN = ROOT / "tests" / "unit" / "golden"
MARKER = textwrap.dedent(
    """
    from dataclasses import dataclass

    from nemo_curator.stages.base import ProcessingStage
    from nemo_curator.tasks.video import VideoTask


    @dataclass
    class MarkerStage(ProcessingStage[VideoTask, VideoTask]):
        label: str = ""
        weight: float = 1.0
        name: str = "marker"

        def process(self, task: VideoTask) -> VideoTask:
            return task
    """
)


def run_in(client, image: str, command: list[str], volumes: dict[str, str]) -> str:
    mounts = {host: {"bind": target, "mode": "ro"} for host, target in volumes.items()}
    output = client.containers.run(
        image, command, remove=True, volumes=mounts, user=f"{os.getuid()}:{os.getgid()}", environment={"HOME": "/tmp"}
    )
    return output.decode()


def test_checked_in_fields_are_the_installed_packages(docker_client, curator_base_image):
    scripts = ROOT / "scripts"
    read = run_in(
        docker_client,
        curator_base_image,
        ["python", "/scripts/catalogue-fields.py", "/catalogue/curator_1_4.toml"],
        {str(CATALOGUE): "/catalogue", str(scripts): "/scripts"},
    )
    checked_in = json.loads((CATALOGUE / "curator_1_4.fields.json").read_text())
    assert json.loads(read[read.index("{") :]) == checked_in


@pytest.fixture
def project(tmp_path) -> Path:
    """pipeline.py as `init` writes it, the golden manifest's spec, the project stage it names, a video."""
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project import templating
    from curator_kit.core.project.loading import parse_manifest
    from curator_kit.core.project.scaffold import PIPELINE_NAMES

    manifest = parse_manifest((GOLDEN / "every-builtin.toml").read_text())
    environment = templating.make_environment(None)
    pipeline = templating.render(
        environment, "pipeline.py.j2", project=manifest.project, curator=None, **PIPELINE_NAMES
    )
    (tmp_path / "pipeline.py").write_text(pipeline)
    (tmp_path / "spec.json").write_text(resolve_spec(manifest, tmp_path).to_json())
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "stages" / "marker.py").write_text(MARKER)
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "video.mp4").write_bytes(b"")  # VideoReader wants a video to exist; --describe reads none
    return tmp_path


def describe(docker_client, image: str, project: Path) -> list[str]:
    command = ["python", "/workspace/pipeline.py", "--spec", "/workspace/spec.json", "--describe"]
    command += ["--input", "/data/input", "--output", "/data/output", "--execution-mode", "batch"]
    output = run_in(docker_client, image, command, {str(project): "/workspace", str(project / "input"): "/data/input"})
    return output.splitlines()


def test_describe_in_the_image_is_the_golden(docker_client, curator_base_image, project):
    lines = describe(docker_client, curator_base_image, project)
    assert lines[-1].startswith("XennaExecutor config: {'execution_mode': 'batch'")
    built = [line for line in lines[:-1] if not line.startswith("20")]  # Curator's log lines carry a date
    golden = GOLDEN / "every-builtin.describe"
    if os.environ.get("CURATOR_KIT_UPDATE_GOLDEN") == "1":
        golden.write_text("\n".join(built) + "\n")
    assert built == golden.read_text().splitlines()


def test_a_project_stage_refuses_a_parameter_it_does_not_take(docker_client, curator_base_image, project):
    spec = json.loads((project / "spec.json").read_text())
    marker = next(stage for stage in spec["stages"] if stage["name"] == "marker")
    marker["params"]["colour"] = "red"
    (project / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(Exception) as raised:  # docker's ContainerError: the command exited 1
        describe(docker_client, curator_base_image, project)
    stderr = raised.value.stderr.decode()
    assert "stage marker (stages.marker.MarkerStage) cannot take its parameters" in stderr
    assert "colour" in stderr and "fix [stages.params] of marker in curator-kit.toml" in stderr
