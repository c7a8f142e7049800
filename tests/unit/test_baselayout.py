"""The base image's layout (core/build/baselayout.py) and the install commands the Dockerfile renders for it:
pip in curator-kit's base, uv in NVIDIA's NeMo Curator image (a uv-made venv, possibly without pip)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.build.baseimage import recipe_files, render_recipe
from curator_kit.core.build.baselayout import (
    VENV_PIP,
    BaseLayout,
    decide_layout,
    path_dirs,
    paths_to_check,
)
from curator_kit.core.build.credentials import check_secrets_stay_out
from curator_kit.core.build.dockerfile import DEPS_STAGE, build_secrets, render_dockerfile
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.errors import CuratorKitError

GOLDEN = Path(__file__).parent / "golden"
# NVIDIA-NeMo/Curator docker/Dockerfile: `uv venv /opt/venv --python /usr/bin/python3.13
# --system-site-packages [--seed]`, uv itself in /root/.local/bin, ENV PATH naming both.
NVIDIA_PYVENV_CFG = """home = /usr/bin
implementation = CPython
uv = 0.12.1
version_info = 3.13.7
include-system-site-packages = true
"""
NVIDIA_ENV = ["PATH=/opt/venv/bin:/root/.local/bin:/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin:/bin"]
CPU_BASE_PYVENV_CFG = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
CPU_BASE_ENV = ["LANG=C.UTF-8", "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
UV_LAYOUT = BaseLayout(installer="uv", python="3.13.7", uv_managed=True, ffmpeg=False, read_from="nvcr.io/x")


def spec_of(manifest):
    return resolve_spec(manifest, Path("/nonexistent"))


def layout_of(cfg: str | None, env: list[str], present: set[str]) -> BaseLayout:
    dirs = path_dirs(env)
    assert present <= set(paths_to_check(dirs)), "a test may only claim paths the layout asks about"
    return decide_layout("img", cfg, dirs, frozenset(present))


# ---------------------------------------------------------------- the decision


def test_curator_kit_base_installs_with_pip():
    layout = layout_of(CPU_BASE_PYVENV_CFG, CPU_BASE_ENV, {VENV_PIP, "/usr/local/bin/ffmpeg"})
    assert (layout.installer, layout.python, layout.uv_managed, layout.ffmpeg) == ("pip", "3.11.2", False, True)


def test_nvidia_image_without_pip_installs_with_uv_from_its_path():
    layout = layout_of(NVIDIA_PYVENV_CFG, NVIDIA_ENV, {"/root/.local/bin/uv"})
    assert (layout.installer, layout.python, layout.uv_managed, layout.ffmpeg) == ("uv", "3.13.7", True, False)
    assert layout.describe() == "venv /opt/venv (Python 3.13.7, uv-managed): uv installs; no ffmpeg on PATH"


def test_nvidia_image_seeded_with_pip_keeps_pip():
    # Releases made with `uv venv --seed` have pip in the venv: pip, as on curator-kit's base.
    layout = layout_of(NVIDIA_PYVENV_CFG, NVIDIA_ENV, {VENV_PIP, "/root/.local/bin/uv"})
    assert layout.installer == "pip" and layout.uv_managed


def test_image_without_a_venv_keeps_pip_on_its_path():
    assert layout_of(None, ["PATH=/usr/local/bin:/usr/bin"], {"/usr/bin/pip"}).installer == "pip"
    # uv needs a venv to install into (`--python /opt/venv/bin/python`)
    assert layout_of(None, ["PATH=/usr/local/bin:/usr/bin"], {"/usr/bin/uv"}).installer is None


def test_image_without_path_in_env_gets_the_default_path():
    assert "/usr/local/bin" in path_dirs(["LANG=C"]) and path_dirs(["PATH=relative:/bin/"]) == ("/bin",)


def test_no_installer_is_one_line_naming_the_fix_only_when_there_are_requirements():
    layout = layout_of(NVIDIA_PYVENV_CFG, NVIDIA_ENV, set())
    assert layout.installer is None
    manifest = parse_manifest('[project]\nname = "p"\n[envs.tools]\npip = ["tabulate"]\n')
    with pytest.raises(CuratorKitError) as error:
        render_dockerfile(manifest, spec_of(manifest), layout=layout)
    assert "cannot install [envs] pip requirements" in error.value.message and "\n" not in error.value.one_line()
    assert "ensurepip" in error.value.fix
    bare = parse_manifest('[project]\nname = "p"\n')
    assert "FROM " in render_dockerfile(bare, spec_of(bare), layout=layout)


# ---------------------------------------------------------------- rendering


def requirements_section(text: str) -> tuple[str, str]:
    """The part of a Dockerfile that installs the requirements, and the rest around it."""
    start = text.index("# Python requirements of all envs")
    end = text.index("\n\n", text.index("COPY --from=project-deps")) + 1
    return text[start:end], text[:start] + text[end:]


def test_golden_manifest_on_a_uv_base_matches_golden():
    # Only the install section differs from the pip golden (Dockerfile.golden), so only it is kept here.
    manifest = parse_manifest((GOLDEN / "manifest.toml").read_text())
    uv_section, uv_rest = requirements_section(render_dockerfile(manifest, spec_of(manifest), layout=UV_LAYOUT))
    pip_section, pip_rest = requirements_section(render_dockerfile(manifest, spec_of(manifest)))
    assert uv_section == (GOLDEN / "Dockerfile.uv.golden").read_text()
    assert uv_rest == pip_rest and uv_section != pip_section


def test_golden_manifest_on_the_pip_layout_is_unchanged():
    manifest = parse_manifest((GOLDEN / "manifest.toml").read_text())
    assert render_dockerfile(manifest, spec_of(manifest)) == render_dockerfile(
        manifest, spec_of(manifest), layout=BaseLayout(installer="pip", read_from="x")
    )


def test_uv_without_a_throwaway_stage_installs_into_the_venv_without_cache():
    manifest = parse_manifest('[project]\nname = "p"\n[envs.tools]\npip = ["tabulate==0.9.0", "six"]\n')
    text = render_dockerfile(manifest, spec_of(manifest), layout=UV_LAYOUT)
    install = "RUN uv pip install --no-cache --python /opt/venv/bin/python \\\n      six \\\n      tabulate==0.9.0\n"
    assert install in text
    assert "pip install --no-cache-dir" not in text and "project-deps" not in text and "SSL_CERT_FILE" not in text


def test_uv_reads_the_project_ca_certificates_through_the_system_bundle(tmp_path):
    manifest = parse_manifest(
        '[project]\nname = "p"\n[envs.tools]\npip = ["six"]\n[build]\nca_certs = ["certs/proxy.pem"]\n'
    )
    text = render_dockerfile(manifest, spec_of(manifest), layout=UV_LAYOUT)
    assert "RUN SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt uv pip install" in text
    assert text.index("update-ca-certificates") < text.index("uv pip install")


def test_uv_index_settings_are_a_uv_toml_read_only_by_the_throwaway_stage():
    secret_url = "https://bot:s3cr3t-token@private.example/simple"
    manifest = parse_manifest(
        f'[project]\nname = "p"\n[envs.tools]\npip = ["six"]\n[build]\npip_index_url = "{secret_url}"\n'
        'pip_extra_index_urls = ["https://mirror.example/simple"]\n'
    )
    secrets = build_secrets(manifest, layout=UV_LAYOUT)
    [secret] = secrets
    assert (secret.name, secret.env, secret.stages) == ("uv.toml", "UV_CONFIG_FILE", (DEPS_STAGE,))
    assert tomllib.loads(secret.content) == {
        "pip": {"index-url": secret_url, "extra-index-url": ["https://mirror.example/simple"]}
    }
    assert "s3cr3t-token" not in secret.shown
    text = render_dockerfile(manifest, spec_of(manifest), secrets=secrets, layout=UV_LAYOUT)
    assert "s3cr3t-token" not in text
    check_secrets_stay_out(text)
    # the variable is set on the two uv commands that install, never as ENV
    assert text.count("UV_CONFIG_FILE=/tmp/curator-kit-secrets/uv.toml uv pip install") == 2
    assert "ENV UV_CONFIG_FILE" not in text and "pip.conf" not in text
    # the pip layout keeps pip.conf
    assert [s.name for s in build_secrets(manifest)] == ["pip.conf"]


def test_uv_throwaway_stage_copies_only_what_uv_added():
    manifest = parse_manifest('[project]\nname = "p"\n[envs.media]\npip = ["av"]\n[build]\nwheelhouse = "wheels"\n')
    lines = render_dockerfile(manifest, spec_of(manifest), layout=UV_LAYOUT).splitlines()
    run = lines.index("RUN mkdir -p /tmp/deps \\")
    step = lines[run : lines.index("", run)]
    assert step[1].startswith(" && uv pip freeze --python /opt/venv/bin/python")
    assert "--prefix=/tmp/deps --no-deps --find-links /tmp/wheelhouse -r /tmp/deps-added.txt" in step[-2]
    assert step[-1] == " && rm -f /tmp/deps/.lock"
    assert "COPY --from=project-deps /tmp/deps/ /opt/venv/" in lines


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init", "layout-demo"]).exit_code == 0
    root = tmp_path / "layout-demo"
    monkeypatch.chdir(root)
    assert runner.invoke(main, ["new-env", "tools", "--pip", "tabulate==0.9.0"]).exit_code == 0
    return root


def test_dockerfile_without_an_engine_assumes_pip_and_says_so(project, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-engine.sock")
    result = CliRunner().invoke(main, ["dockerfile"])
    assert result.exit_code == 0, result.output
    assert "pip install --no-cache-dir" in result.stdout and "note: the base image was not read" in result.stderr
    assert "--layout uv" in result.stderr


def test_dockerfile_layout_option_needs_no_engine(project, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-engine.sock")
    result = CliRunner().invoke(main, ["dockerfile", "--layout", "uv"])
    assert result.exit_code == 0, result.output
    assert "uv pip install --no-cache --python /opt/venv/bin/python" in result.stdout and not result.stderr


def test_build_reads_the_layout_before_planning(project, monkeypatch):
    seen = {}

    def read(client, image):
        seen["image"] = image
        return UV_LAYOUT

    def stop(client, plan, progress, log):
        seen["dockerfile"] = plan.dockerfile
        seen["described"] = plan.describe()
        return "sha256:0"

    monkeypatch.setattr("curator_kit.engine.client.connect", lambda: object())
    monkeypatch.setattr("curator_kit.ops.baselayout.read_base_layout", read)
    monkeypatch.setattr("curator_kit.ops.build.execute_project_build", stop)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    assert seen["image"] == "curator-kit/base:1.4.0-cpu"
    assert "uv pip install --no-cache --python /opt/venv/bin/python" in seen["dockerfile"]
    assert "base      venv /opt/venv (Python 3.13.7, uv-managed): uv installs; no ffmpeg on PATH" in seen["described"]


class _OneImage:
    """Just enough of docker.DockerClient for read_base_layout: one image, whose files are counted reads."""

    def __init__(self, image_id: str) -> None:
        self.images = self
        self.image_id = image_id

    def get(self, reference: str) -> object:
        return type("Image", (), {"id": self.image_id, "attrs": {"Config": {"Env": ["PATH=/opt/venv/bin:/usr/bin"]}}})()


def test_a_layout_read_once_is_kept_by_image_id(monkeypatch, tmp_path):
    from curator_kit.ops import baselayout

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reads: list[str] = []

    def probe(client, image, read, check):
        reads.append(image)
        return {path: NVIDIA_PYVENV_CFG if path == read[0] else None for path in read}, {p for p in check if "uv" in p}

    monkeypatch.setattr("curator_kit.engine.images.probe_image_files", probe)
    first = baselayout.read_base_layout(_OneImage("sha256:aa"), "team/base:1")
    # The same image under another tag: the kept layout, naming the tag it was asked for.
    again = baselayout.read_base_layout(_OneImage("sha256:aa"), "team/base:latest")
    assert reads == ["team/base:1"]
    assert again == dataclasses.replace(first, read_from="team/base:latest")
    # Another image id is read; a kept file that does not read as a layout is read again and replaced.
    baselayout.read_base_layout(_OneImage("sha256:bb"), "team/base:1")
    (baselayout.layout_cache_dir() / "aa.json").write_text('{"installer": "pip", "unknown": 1}')
    assert baselayout.read_base_layout(_OneImage("sha256:aa"), "team/base:1") == first
    assert reads == ["team/base:1", "team/base:1", "team/base:1"]


def test_an_unwritable_layout_cache_costs_only_a_read(monkeypatch, tmp_path):
    from curator_kit.ops import baselayout

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # a file where the directory would be
    monkeypatch.setattr(
        "curator_kit.engine.images.probe_image_files", lambda client, image, read, check: (dict.fromkeys(read), set())
    )
    layout = baselayout.read_base_layout(_OneImage("sha256:cc"), "plain/python:3")
    assert layout.read_from == "plain/python:3"


# ---------------------------------------------------------------- the non-root user

CURATOR_PASSWD = "root:x:0:0:root:/root:/bin/bash\ncurator:x:1000:1000::/home/curator:/bin/bash\n"
UBUNTU_PASSWD = "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n"


def test_the_layout_says_whether_the_image_has_the_nonroot_user():
    dirs = path_dirs(NVIDIA_ENV)
    assert decide_layout("img", None, dirs, frozenset(), CURATOR_PASSWD).nonroot_user
    assert not decide_layout("img", None, dirs, frozenset(), UBUNTU_PASSWD).nonroot_user  # NVIDIA's Ubuntu
    assert not decide_layout("img", None, dirs, frozenset(), "curator:x:1001:1001::/home/curator:/bin/sh").nonroot_user
    assert not decide_layout("img", None, dirs, frozenset(), None).nonroot_user


def test_a_base_without_the_user_gets_it_in_the_project_image_and_one_with_it_does_not():
    manifest = parse_manifest((GOLDEN / "manifest.toml").read_text())
    with_user = render_dockerfile(manifest, spec_of(manifest), layout=UV_LAYOUT)
    without = render_dockerfile(manifest, spec_of(manifest), layout=dataclasses.replace(UV_LAYOUT, nonroot_user=False))
    assert "useradd" not in with_user and "ENV HOME=" not in with_user
    # the recipes' own step, word for word, then HOME: after every RUN of the build, before the labels
    step = without[without.index("RUN if user=$(getent passwd 1000)") : without.index("ENV HOME=/home/curator")]
    assert step in render_recipe(recipe_files("cpu")[0][1])
    assert "--home-dir /home/curator --create-home" in step and "chown -R 1000:0 /home/curator" in step
    run_steps = [line for line in without.splitlines() if line.startswith("RUN ")]
    assert without.index(run_steps[-1]) < without.index("ENV HOME=/home/curator") < without.index("LABEL ")
    assert "ENV HOME=/home/curator \\\n    USER=curator\n" in without
