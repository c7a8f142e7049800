"""Names in one place: execution modes, the base recipes' label keys, bench tags and the Ray a Curator
release pins are `core.constants`' and reach code, templates and recipes from there."""

import ast
import re
from pathlib import Path

import curator_kit
import pytest
from curator_kit.core import constants
from curator_kit.core.build.baseimage import (
    RECIPE_NAMES,
    BaseBuildOptions,
    plan_base_build,
    recipe_files,
    render_recipe,
)
from curator_kit.core.constants import (
    CURATOR_RAY_VERSIONS,
    DEFAULT_CURATOR_VERSION,
    EXECUTION_MODES,
    MODE_AUTO,
    MODE_BATCH,
    MODE_STREAMING,
    bench_image_tag,
)
from curator_kit.core.export.kuberay import FALLBACK_RAY_VERSION
from curator_kit.core.project import scaffold, templating
from curator_kit.core.project.manifest import ProjectInfo
from curator_kit.errors import CuratorKitError
from curator_kit.resources import base_images_dir, data_root, dockerfile_base, templates_dir

PACKAGE = Path(curator_kit.__file__).parent
RECIPES = (dockerfile_base(), base_images_dir() / "cuda" / "Dockerfile")


# ---------------------------------------------------------------- execution modes


# The same words naming something else: `build --layout auto|pip|uv` and the stages table's column of
# batch sizes.
OTHER_MEANINGS = {("cli/build.py", MODE_AUTO), ("core/project/scaffold.py", MODE_BATCH)}


def _mode_literals(path: Path, root: Path = PACKAGE) -> list[str]:
    """Where a module spells an execution mode as a string of its own (f-string text is prose)."""
    name = path.relative_to(root).as_posix()
    return [
        f"{name}:{node.lineno} {node.value!r}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and node.value in EXECUTION_MODES and (name, node.value) not in OTHER_MEANINGS
    ]


def test_execution_modes_are_spelled_only_in_constants():
    spelled = [
        where
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "core" / "constants.py"
        for where in _mode_literals(path)
    ]
    assert spelled == []
    assert (MODE_AUTO, MODE_STREAMING, MODE_BATCH) == EXECUTION_MODES == ("auto", "streaming", "batch")


def test_the_mode_finder_sees_a_spelled_mode(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        'import click\nA = click.Choice(["auto", "streaming", "batch"])\n'
        'def f(mode):\n    return mode == "batch" or f"batch {mode}"\n'
    )
    assert _mode_literals(module, tmp_path) == [
        "m.py:2 'auto'",
        "m.py:2 'streaming'",
        "m.py:2 'batch'",
        "m.py:4 'batch'",
    ]


def test_templates_get_the_mode_names_from_their_context():
    for name in ("pipeline.py.j2", "project/curator-kit.toml.j2"):
        text = (templates_dir() / name).read_text()
        assert not re.search(r'"(auto|streaming|batch)"', text), name
    env = templating.make_environment()
    project = ProjectInfo("demo", DEFAULT_CURATOR_VERSION, base_image="curator-kit/base:1.4.0-cpu")
    pipeline = scaffold.render_pipeline(env, project, scaffold.CuratorTarget.of(DEFAULT_CURATOR_VERSION))
    assert '        choices=("auto", "streaming", "batch"),\n        default="auto",\n' in pipeline
    assert '        mode = "streaming" if allotted >= 1 else "batch"\n' in pipeline
    init = scaffold.plan_init(Path("/nonexistent/demo"), "demo", DEFAULT_CURATOR_VERSION)
    manifest = next(w.content for w in init.writes if w.path == constants.MANIFEST_NAME)
    assert 'execution_mode = "auto"  # auto | streaming | batch (Xenna)\n' in manifest


# ---------------------------------------------------------------- the base recipes' labels

LABEL_KEYS = {
    constants.LABEL_OCI_TITLE,
    constants.LABEL_OCI_DESCRIPTION,
    constants.LABEL_OCI_VERSION,
    constants.LABEL_OCI_LICENSES,
    constants.LABEL_BASE_VARIANT,
    constants.LABEL_BASE_RECIPE,
    constants.LABEL_CURATOR_VERSION,
    constants.LABEL_TOOLKIT_VERSION,
}


def _label_keys(dockerfile: str) -> set[str]:
    """The keys of the LABEL instruction (continuation lines joined)."""
    joined = dockerfile.replace("\\\n", " ")
    instruction = next(line for line in joined.splitlines() if line.startswith("LABEL "))
    return set(re.findall(r'([\w.-]+)="', instruction))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.relative_to(data_root()).as_posix())
def test_base_recipes_spell_no_label_key_and_render_the_constants(recipe):
    text = recipe.read_text()
    assert [key for key in LABEL_KEYS if key in text] == []
    rendered = render_recipe(recipe)
    assert _label_keys(rendered) == LABEL_KEYS == {v for k, v in RECIPE_NAMES.items() if k.startswith("LABEL_")}
    assert f'{constants.LABEL_BASE_RECIPE}="${{RECIPE}}"' in rendered
    assert not re.search(r"\{\{|\{#|\{%", rendered)  # nothing left for Jinja, its comment gone with it


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.relative_to(data_root()).as_posix())
def test_base_recipes_make_the_non_root_user_of_the_constants_in_their_final_stage(recipe):
    """The user, its home and group-0 caches: spelled as the constants, made in the final stage (not
    `system`, whose change would rebuild ffmpeg and the venv) after the venv is copied in and before the
    late ARGs (a new toolkit version re-runs only the check), with HOME and USER set after the build's own
    steps."""
    uid, gid, home, user = constants.NONROOT_UID, constants.NONROOT_GID, constants.NONROOT_HOME, constants.NONROOT_USER
    text = recipe.read_text()
    assert str(uid) not in text and home not in text  # spelled only as {{ NONROOT_... }}
    rendered = render_recipe(recipe)
    final = rendered[rendered.rindex("\nFROM ") :]
    assert "useradd" not in rendered[: rendered.rindex("\nFROM ")]
    step = f"useradd --no-log-init --uid {uid} --gid {gid} --home-dir {home} --create-home"
    assert f"groupadd --gid {gid} {user}" in final and step in final
    assert f"chown -R {uid}:0 {home}" in final and f"chmod -R g=u {home}" in final
    assert f"{home}/.cache/huggingface {home}/.cache/torch {home}/.triton/cache" in final
    # A FROM image's user of that uid or group of that gid (Ubuntu's `ubuntu`) gives way first.
    assert final.index(f"getent passwd {uid}") < final.index(f"getent group {gid}") < final.index("groupadd")
    assert final.index("COPY --from=venv") < final.index(step) < final.index("ARG TOOLKIT_VERSION")
    steps = [line for line in final.splitlines() if line and not line.startswith("#")]
    assert steps[-4:] == [" && rm -rf /tmp/* /root/.cache", f"ENV HOME={home} \\", f"    USER={user}", 'CMD ["python"]']


def test_the_base_build_sends_the_rendered_recipe_and_digests_it():
    for variant in ("cpu", "cuda"):
        plan = plan_base_build(BaseBuildOptions(variant=variant), None)
        assert plan.context.files["Dockerfile"] == render_recipe(recipe_files(variant)[0][1]).encode()


def test_a_broken_recipe_is_one_error_naming_it(tmp_path):
    recipe = tmp_path / "Dockerfile"
    recipe.write_text("FROM x\nLABEL {{ LABEL_NOPE }}=1\n")
    with pytest.raises(CuratorKitError, match=r"base recipe .*Dockerfile: 'LABEL_NOPE' is undefined"):
        render_recipe(recipe)
    recipe.write_text("FROM x\nRUN echo ${#x}\n")  # a shell length inside a recipe opens a Jinja comment
    with pytest.raises(CuratorKitError, match=r"base recipe .*Dockerfile:\d+: "):
        render_recipe(recipe)


# ---------------------------------------------------------------- bench and Ray


def test_bench_scripts_take_image_tags_from_constants():
    bench = data_root() / "bench"
    if not bench.is_dir():
        pytest.skip("bench/ ships only with a checkout")
    spelled = [
        f"{path.name}: {match}"
        for path in sorted(bench.glob("*.py"))
        for match in re.findall(r"curator-kit(?:-bench)?/[\w.-]+:[\w.{}-]+", path.read_text())
    ]
    assert spelled == []
    assert bench_image_tag("rebuild") == "curator-kit-bench/rebuild:latest"
    assert bench_image_tag("run-overhead", "ab12") == "curator-kit-bench/run-overhead:ab12"


def test_kuberay_assumes_the_ray_the_curator_release_pins():
    assert FALLBACK_RAY_VERSION == CURATOR_RAY_VERSIONS[DEFAULT_CURATOR_VERSION] == "2.57.0"
