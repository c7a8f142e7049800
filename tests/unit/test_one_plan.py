"""One request, one answer, on every target: the same bad request sent through `run`, `cluster up`,
`run --ray-address`, `export kuberay`, `export slurm` and `submit --slurm`, and through the dry run of
each that has one, gives the same finding code, a non-zero exit, one `error:` line and writes nothing.

Where a target cannot know a fact (an export's input lives on the cluster's storage; an external Ray
cluster's GPUs are its own), the table says so and the test checks the written requirement instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main

NEVER_BUILT = "demo:never-built"
NEWLINE_IMAGE = "x:1\n--privileged"


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


@dataclass(frozen=True)
class Request:
    """A bad request as each kind of target spells it: `local` for the targets that run here (their data
    is this machine's), `kuberay` and `slurm` for the exports (their data is the cluster's)."""

    code: str
    local: tuple[str, ...] = ()
    kuberay: tuple[str, ...] = ()
    slurm: tuple[str, ...] = ()
    project: Callable[[Path], None] = lambda root: None  # what the project needs for the request
    image: str = NEVER_BUILT


def _needs_weights(root: Path) -> None:
    for args in (["new-model", "clip", "--hf-repo", "org/clip"], ["new-stage", "embed", "--model", "clip"]):
        assert invoke([*args, "--project", str(root)]).exit_code == 0


def _gpu_stage(root: Path) -> None:
    args = ["new-stage", "blur", "--gpu-memory-gb", "8", "--nvdecs", "1", "--project", str(root)]
    assert invoke(args).exit_code == 0


REMOTE_DATA = ("--input", "/shared/videos", "--output", "/shared/out")

REQUESTS = {
    "overlap": Request(
        "data-overlap",
        local=("--input", "input", "--output", "input"),
        kuberay=("--input", "/data/x", "--output", "/data/x/"),
        slurm=("--input", "/a", "--output", "/a"),
    ),
    "newline image": Request("image-reference", kuberay=(), slurm=REMOTE_DATA, image=NEWLINE_IMAGE),
    "missing weights": Request("weights-missing", slurm=REMOTE_DATA, project=_needs_weights),
    "GPU stage without GPUs": Request(
        "gpu-stage-without-gpu",
        kuberay=("--gpus-per-worker", "0"),
        slurm=(*REMOTE_DATA, "--gpus-per-node", "0"),
        project=_gpu_stage,
    ),
    "missing input": Request("input-missing", local=("--input", "nowhere")),
}


def _targets(out: Path) -> dict[str, Callable[[Request], list[str]]]:
    return {
        "run": lambda r: ["run", "--image", r.image, *r.local],
        "run --dry-run": lambda r: ["run", "--dry-run", "--image", r.image, *r.local],
        "cluster up": lambda r: ["cluster", "up", "--image", r.image, *r.local],
        "cluster up --dry-run": lambda r: ["cluster", "up", "--dry-run", "--image", r.image, *r.local],
        "run --ray-address": lambda r: ["run", "--ray-address", "10.0.0.9", "--image", r.image, *r.local],
        "run --ray-address --dry-run": lambda r: [
            "run",
            "--ray-address",
            "10.0.0.9",
            "--dry-run",
            "--image",
            r.image,
            *r.local,
        ],
        "export kuberay": lambda r: ["export", "kuberay", "--image", r.image, *r.kuberay, "-o", str(out / "job.yaml")],
        "export slurm": lambda r: ["export", "slurm", "--image", r.image, *r.slurm, "-o", str(out / "job.sbatch")],
        "submit --slurm": lambda r: ["submit", "--slurm", "--image", r.image, *r.slurm],
    }


# What a target cannot know, and so states as a requirement instead of refusing (checked below).
NOT_KNOWABLE = {
    ("missing input", "export kuberay"),
    ("missing input", "export slurm"),
    ("missing input", "submit --slurm"),
    ("GPU stage without GPUs", "run --ray-address"),
    ("GPU stage without GPUs", "run --ray-address --dry-run"),
}
TARGET_NAMES = list(_targets(Path("/")))
CASES = [(request, target) for request in REQUESTS for target in TARGET_NAMES if (request, target) not in NOT_KNOWABLE]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no model is cached
    assert invoke(["init", "demo"]).exit_code == 0
    (tmp_path / "demo" / "input").mkdir()
    monkeypatch.chdir(tmp_path / "demo")
    return tmp_path


@pytest.mark.parametrize(("request_name", "target"), CASES, ids=[f"{r}: {t}" for r, t in CASES])
def test_the_same_bad_request_gets_the_same_refusal_everywhere(workdir: Path, request_name: str, target: str) -> None:
    request = REQUESTS[request_name]
    request.project(workdir / "demo")
    before = snapshot(workdir)
    result = invoke(_targets(workdir)[target](request))
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert len(errors) == 1, result.output
    assert errors[0].endswith(f"[{request.code}]"), errors[0]
    assert " -- " in errors[0]  # and says how to fix it
    assert snapshot(workdir) == before


def test_exports_write_what_they_cannot_check_into_the_file(workdir: Path) -> None:
    """The cluster's input is out of sight: each export names the requirement in its header."""
    out = workdir / "out"
    out.mkdir()
    targets = _targets(out)
    for target, written in (("export kuberay", "job.yaml"), ("export slurm", "job.sbatch")):
        result = invoke(targets[target](Request("", slurm=REMOTE_DATA)))
        assert result.exit_code == 0, result.output
        header = [line for line in (out / written).read_text().splitlines() if line.startswith("#")]
        assert any(line.startswith("# Requires: every node must see the input at") for line in header), header


def test_an_external_cluster_is_told_its_nodes_need_gpus(workdir: Path) -> None:
    _gpu_stage(workdir / "demo")
    result = invoke(_targets(workdir)["run --ray-address --dry-run"](Request("")))
    assert result.exit_code == 0, result.output
    assert "blur need GPUs (or NVDEC/NVENC): nodes of the cluster at 10.0.0.9:6379 must have them" in result.output


def test_weights_on_a_named_volume_are_a_written_requirement(workdir: Path) -> None:
    _needs_weights(workdir / "demo")
    args = ["export", "kuberay", "--image", NEVER_BUILT, "--model-volume", "weights"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "# Requires: model weights clip must be in PersistentVolumeClaim weights on every node." in result.output
    assert "claimName: weights" in result.output and "mountPath: /opt/models" in result.output


def test_submit_refuses_an_image_never_built_or_pushed(workdir: Path) -> None:
    """An export may plan before the first build; a submission would hand sbatch a job with no image."""
    before = snapshot(workdir)
    result = invoke(["submit", "--slurm", *REMOTE_DATA])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert errors[0].endswith("[image-not-built]")
    assert snapshot(workdir) == before
    exported = invoke(["export", "slurm", *REMOTE_DATA])
    assert exported.exit_code == 0 and "is not built yet: planned from the working tree" in exported.output
