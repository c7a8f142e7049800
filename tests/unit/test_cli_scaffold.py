"""The scaffolding commands through click: one line and exit 1 on bad input, and nothing written."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    code, _ = run("init", "demo")
    assert code == 0
    root = tmp_path / "demo"
    monkeypatch.chdir(root)
    for args in (
        ("new-env", "opencv", "--pip", "opencv-python-headless"),
        ("new-model", "clip_model", "--hf-repo", "org/clip"),
        ("new-stage", "blur_filter", "--env", "opencv", "--model", "clip_model"),
    ):
        code, output = run(*args)
        assert code == 0, output
    return root


def test_success_output(project: Path) -> None:
    code, lines = run("new-stage", "denoise", "--cpus", "2", "--gpu-memory-gb", "8", "--nvdecs", "1")
    assert code == 0
    assert lines == [
        f"created {project / 'stages' / 'denoise.py'}",
        f"created {project / 'tests' / 'test_denoise.py'}",
        f"created {project / 'tests' / 'test_denoise_golden.py'}",
        f"updated {project / 'curator-kit.toml'}",
        "pipeline: VideoReader -> clips (fixed-stride, libopenh264) -> blur_filter -> denoise -> clip writer",
    ]
    code, lines = run("stages")
    assert code == 0
    assert lines[0].endswith("VideoReader -> clips (fixed-stride, libopenh264) -> stages -> clip writer")
    assert lines[3].split()[:7] == ["2", "denoise", "stages.denoise.DenoiseStage", "2", "8", "GB", "1"]


BAD_NEW_STAGE = [
    (["1blur"], "stage name '1blur' is not a Python identifier"),
    (["class"], "stage name 'class' is a Python keyword"),
    (["blur_filter"], "stage 'blur_filter' clashes with stage 'blur_filter' (BlurFilterStage) in curator-kit.toml"),
    (["clip_writer"], "stage name 'clip_writer' clashes with the NeMo Curator built-in stage 'clip_writer'"),
    (["video_reader"], "stage name 'video_reader' clashes with the NeMo Curator built-in stage 'video_reader'"),
    (["stages/blur"], "stage name 'stages/blur' contains a path separator"),
    (["..\\blur"], "stage name '..\\\\blur' contains a path separator"),
    (["sharpen", "--env", "torch"], "unknown env 'torch' (known: opencv)"),
    (["sharpen", "--model", "siglip"], "unknown model 'siglip' (known: clip_model)"),
    (["sharpen", "--gpu-memory-gb", "8", "--gpus", "1"], "--gpu-memory-gb and --gpus cannot be used together"),
    (["orphan"], "stages/orphan.py already exists in"),
]


@pytest.mark.parametrize(("args", "message"), BAD_NEW_STAGE)
def test_new_stage_bad_input_is_one_line_and_writes_nothing(project: Path, args: list[str], message: str) -> None:
    (project / "stages" / "orphan.py").write_text("# someone's file\n")
    before = snapshot(project)
    code, lines = run("new-stage", *args)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {message}")
    assert " -- " in lines[0]  # every error says how to fix it
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new-model", "clip_model", "--hf-repo", "org/x"], "model 'clip_model' clashes with model 'clip_model'"),
        (["new-model", "def", "--hf-repo", "org/x"], "model name 'def' is a Python keyword"),
        (["new-model", "m/x", "--hf-repo", "org/x"], "model name 'm/x' contains a path separator"),
        (["new-model", "siglip", "--hf-repo", "siglip"], "--hf-repo 'siglip' is not a Hugging Face repository id"),
        (["new-env", "opencv"], "env 'opencv' already exists in curator-kit.toml"),
        (["new-env", "a/b"], "env name 'a/b' contains a path separator"),
        (["new-env", "torch", "--env", "NOEQUALS"], "--env 'NOEQUALS' is not KEY=VALUE"),
        (["new-writer", "clip_writer"], "writer name 'clip_writer' clashes with the NeMo Curator built-in stage"),
        (["new-writer", "blur_filter"], "stage 'blur_filter' clashes with stage 'blur_filter'"),
        (["new-stage", "sharpen", "--templates", "/nonexistent"], "template directory /nonexistent does not exist"),
    ],
)
def test_other_commands_bad_input(project: Path, args: list[str], message: str) -> None:
    before = snapshot(project)
    code, lines = run(*args)
    assert (code, len(lines)) == (1, 1), lines
    assert lines[0].startswith(f"error: {message}")
    assert snapshot(project) == before


def test_init_never_overwrites_without_force(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (project / "README.md").write_text("mine\n")
    before = snapshot(project)
    code, lines = run("init", "demo")
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("error: README.md, curator-kit.toml, .dockerignore and 7 more already exist in demo")
    assert lines[0].endswith("-- pass --force to overwrite, or pick another name")
    assert snapshot(project) == before
    code, _ = run("init", "demo", "--force")
    assert code == 0
    assert (project / "README.md").read_text().startswith("# demo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init", "My Pipeline"], "project name 'My Pipeline' is not docker-safe"),
        (["init", "team/pipeline"], "project name 'team/pipeline' contains a path separator"),
        (["init", "p", "--curator-version", "next"], "curator_version 'next' is not a version"),
    ],
)
def test_init_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, lines = run(*args)
    assert (code, len(lines)) == (1, 1)
    assert lines[0].startswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_outside_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, lines = run("new-stage", "blur")
    assert code == 1
    assert lines == [
        f"error: no curator-kit.toml in {tmp_path.resolve()} or any parent directory -- run inside a project "
        "(curator-kit init NAME creates one) or pass --project DIR"
    ]
