"""A project based on NVIDIA's NeMo Curator image layout (the stand-in `official_layout_image`: a
uv-managed /opt/venv without pip, uv on PATH outside the venv): `build` reads the layout, installs
the env's requirements with uv, and the project's tests pass in the image."""

from __future__ import annotations

import uuid
from functools import partial

import kitcli
import pytest
from nonroot import check_nonroot_user
from wheels import pure_python_wheel

cli = partial(kitcli.cli, check=True)

PROBE = "ck-layout-probe"


@pytest.fixture(scope="module")
def wheelhouse_project(tmp_path_factory, official_layout_image, docker_client):
    """Requirements from a wheelhouse: uv runs in the throwaway stage. The probe requires a package
    the base's venv already has, which must stay as it is."""
    root = tmp_path_factory.mktemp("official-layout")
    cli("init", "official", "--base-image", official_layout_image, cwd=root)
    project = root / "official"
    cli("new-env", "tools", "--pip", f"{PROBE}==0.1", cwd=project)
    cli("new-stage", "probe_stage", "--env", "tools", "--cpus", "0.5", cwd=project)
    pure_python_wheel(project / "wheels", PROBE, "0.1", 'VALUE = "layout-ok"\n', requires=("packaging",))
    (project / "tests" / "test_requirement.py").write_text(
        f"def test_the_env_requirement_imports():\n    import {PROBE.replace('-', '_')} as probe\n\n"
        '    assert probe.VALUE == "layout-ok"\n'
    )
    manifest = project / "curator-kit.toml"
    manifest.write_text(manifest.read_text().replace('wheelhouse = ""', 'wheelhouse = "wheels"'))
    tag = f"curator-kit-test/official-layout-project:{uuid.uuid4().hex[:8]}"
    yield project, tag
    if docker_client.images.list(name=tag):
        docker_client.images.remove(tag, force=True)


def test_dry_run_reads_the_layout_and_plans_uv(wheelhouse_project):
    project, _tag = wheelhouse_project
    out = cli("build", "--dry-run", cwd=project).stdout
    assert "uv-managed): uv installs" in out, out
    assert "uv pip install --python /opt/venv/bin/python --find-links /tmp/wheelhouse" in out
    assert "pip install --no-cache-dir" not in out


def test_build_installs_with_uv_and_project_tests_pass(wheelhouse_project, docker_client, official_layout_image):
    project, tag = wheelhouse_project
    cli("build", "--tag", tag, cwd=project)

    def python(image: str, code: str) -> str:
        return docker_client.containers.run(image, ["python", "-c", code], remove=True).decode().strip()

    assert python(tag, f"import {PROBE.replace('-', '_')} as p; print(p.VALUE)") == "layout-ok"
    # The dependency the venv already had was left as it was, and the venv still has no pip.
    version = "import importlib.metadata as m; print(m.version('packaging'))"
    assert python(tag, version) == python(official_layout_image, version)
    assert python(tag, "import importlib.util as u; print(u.find_spec('pip') is None)") == "True"
    environment = docker_client.images.get(tag).attrs["Config"]["Env"]
    assert not [entry for entry in environment if entry.startswith(("UV_CONFIG_FILE", "PIP_CONFIG_FILE"))]

    # The scaffolded stage's tests and the requirement's, inside the image.
    result = kitcli.cli("test", "--", "-k", "probe_stage or requirement", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout and "failed" not in result.stdout
    # The user, its home and caches, as on the base: the build's steps (uv, as root) left none of them root's.
    check_nonroot_user(docker_client, tag)


def test_requirements_from_the_index_install_into_the_venv_without_a_uv_cache(
    tmp_path, official_layout_image, docker_client
):
    """No wheelhouse and no index settings: uv installs in the image's own stage, leaving no cache
    (the image's UV_CACHE_DIR) in the layer."""
    cli("init", "official-index", "--base-image", official_layout_image, cwd=tmp_path)
    project = tmp_path / "official-index"
    cli("new-env", "tables", "--pip", "tabulate==0.9.0", cwd=project)
    tag = f"curator-kit-test/official-layout-index:{uuid.uuid4().hex[:8]}"
    try:
        cli("build", "--tag", tag, cwd=project)
        script = "python -c 'import tabulate; print(tabulate.__version__)'; ls -A /opt/uv_cache 2>/dev/null | wc -l"
        out = docker_client.containers.run(tag, ["sh", "-c", script], remove=True).decode().split()
        assert out == ["0.9.0", "0"]
        check_nonroot_user(docker_client, tag)  # uv installed in the final stage as root: the home is none of its
    finally:
        if docker_client.images.list(name=tag):
            docker_client.images.remove(tag, force=True)
