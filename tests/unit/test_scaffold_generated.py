"""Generated projects are ruff-clean and compile, for the newest Curator and a <= 1.1 target.

Pure: renders with curator-kit only. That the generated tests pass against the real nemo-curator
is checked where it is installed (the base image, or a venv with nemo-curator).
"""

import subprocess
import sys
from pathlib import Path

import pytest
from curator_kit.core.project import scaffold
from curator_kit.core.project.names import MAX_NAME_LENGTH
from curator_kit.core.project.scaffold import StageOptions
from curator_kit.ops.scaffold import write_plan

LONG = "a" * (MAX_NAME_LENGTH - 6) + "_stage"  # names at the length limit stay within 120 columns
LONG_MODEL = "m" * MAX_NAME_LENGTH
LONG_ENV = "e" * MAX_NAME_LENGTH


def generate(root: Path, version: str) -> Path:
    """A project that uses every template, with every shape of stage."""
    write_plan(scaffold.plan_init(root, "p" * 64, version))
    write_plan(scaffold.plan_new_env(root, LONG_ENV, ("opencv-python-headless>=4.9",), ("libgl1",), (("K", "V"),)))
    write_plan(scaffold.plan_new_model(root, "clip_model", "org/repo", files=("model.safetensors",)))
    files = tuple(f"weights/part-{i}.safetensors" for i in range(9))
    write_plan(scaffold.plan_new_model(root, LONG_MODEL, "o" * 40 + "/" + "r" * 50, "0" * 40, files))
    for options in (
        StageOptions("blur_filter", gpu_memory_gb=8, nvdecs=1, nvencs=1, env=LONG_ENV),
        StageOptions("multi_gpu", cpus=0.5, gpus=2, nvdecs=2),
        StageOptions("embedder", cpus=2, batch_size=4, model="clip_model"),
        StageOptions(LONG, gpu_memory_gb=1.5, nvencs=3, model=LONG_MODEL, env=LONG_ENV),
        StageOptions("splitter", output_task="FileGroupTask"),
        StageOptions("regroup", input_task="FileGroupTask", output_task="FileGroupTask"),
        StageOptions("joiner", input_task="FileGroupTask"),
    ):
        write_plan(scaffold.plan_new_stage(root, options))
    write_plan(scaffold.plan_new_writer(root, "x" * (MAX_NAME_LENGTH - 7) + "_writer"))
    return root


@pytest.fixture(scope="module", params=["1.4.0", "1.1.0"])
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    version = request.param
    return version, generate(tmp_path_factory.mktemp(f"curator-{version}") / "project", version)


def test_ruff_clean(generated: tuple[str, Path]) -> None:
    _, root = generated
    # The project's own pyproject.toml configures ruff; --no-cache keeps the tree as generated.
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_file_compiles(generated: tuple[str, Path]) -> None:
    _, root = generated
    sources = sorted(root.rglob("*.py"))
    assert len(sources) >= 20
    for path in sources:
        compile(path.read_text(), str(path), "exec")


def test_version_specific_code(generated: tuple[str, Path]) -> None:
    version, root = generated
    multi_gpu = (root / "stages" / "multi_gpu.py").read_text()
    joiner = (root / "stages" / "joiner.py").read_text()
    if version == "1.1.0":
        assert "resources = Resources(cpus=0.5, gpus=2.0, nvdecs=2)\n" in multi_gpu
        assert 'task_id=f"{task.task_id}_{index}"' in joiner
    else:
        assert "resources = Resources(cpus=0.5, gpus=2.0)\n" in multi_gpu
        assert "# Codec engines: nvdecs=2, nvencs=0." in multi_gpu
        assert "task_id" not in joiner


def test_no_template_syntax_leaks(generated: tuple[str, Path]) -> None:
    _, root = generated
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "{{" not in text and "{%" not in text, path
            assert text.endswith("\n") and not text.endswith("\n\n"), path
