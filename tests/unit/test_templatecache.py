"""Compiled templates kept between commands: found again only for the same template, source and environment;
a cache that cannot be read or written costs a compile, never the command."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from curator_kit.core.project import scaffold, templating
from curator_kit.core.project.manifest import ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from curator_kit.ops import templatecache
from curator_kit.ops.templatecache import TemplateCache


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the templates Jinja compiles from their source."""
    compiled: list[str] = []
    compile_source = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *args: object) -> object:
        compiled.append(name or "")
        return compile_source(self, source, name, *args)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def render(team: Path, cache: TemplateCache | None, name: str = "t.j2", **context: object) -> str:
    return templating.render(templating.make_environment(team, cache), name, **context)


def stage_context() -> dict[str, object]:
    """What `new-stage` renders the built-in stage.py.j2 with."""
    curator = scaffold.CuratorTarget.of("1.4.0")
    resources = StageResources()
    video = scaffold.TaskType("VideoTask", scaffold.TASK_TYPES["VideoTask"])
    return {
        "project": ProjectInfo(name="p", curator_version="1.4.0", base_image="b"),
        "curator": curator,
        "stage": StageSpec("blur", "stages.blur", "BlurStage", resources=resources),
        "resources_expr": scaffold.resources_source(resources, curator)[0],
        "codec_note": [],
        "input_task": video,
        "output_task": video,
        "env": None,
        "model": None,
    }


def test_a_template_is_compiled_once_and_renders_the_same_from_the_cache(tmp_path: Path, compiles: list[str]) -> None:
    cache, context = TemplateCache(tmp_path / "cache"), stage_context()
    first = render(tmp_path, cache, "stage.py.j2", **context)
    assert compiles == ["stage.py.j2"]
    assert render(tmp_path, cache, "stage.py.j2", **context) == first
    assert compiles == ["stage.py.j2"]
    assert render(tmp_path, None, "stage.py.j2", **context) == first
    assert [path.stat().st_mode & 0o777 for path in (tmp_path / "cache").iterdir()] == [0o600]


def test_an_edited_template_is_compiled_anew(tmp_path: Path, compiles: list[str]) -> None:
    cache = TemplateCache(tmp_path / "cache")
    (tmp_path / "t.j2").write_text("one {{ x }}\n")
    assert render(tmp_path, cache, x=1) == "one 1\n"
    (tmp_path / "t.j2").write_text("two {{ x }}\n")
    assert render(tmp_path, cache, x=1) == "two 1\n"
    assert render(tmp_path, cache, x=2) == "two 2\n"
    assert compiles == ["t.j2", "t.j2"]


def test_another_environment_compiles_its_own_code(tmp_path: Path, compiles: list[str]) -> None:
    # Whitespace control is compiled into the code: an environment without it must not run the other's.
    cache = TemplateCache(tmp_path / "cache")
    (tmp_path / "t.j2").write_text("{% if x %}\nyes\n{% endif %}\n")
    assert render(tmp_path, cache, x=1) == "yes\n"
    other = templating.make_environment(tmp_path, cache)
    other.trim_blocks = False
    assert other.get_template("t.j2").render(x=1) == "\nyes\n\n"
    assert compiles == ["t.j2", "t.j2"]


def test_a_same_named_template_elsewhere_is_its_own(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path / "cache")
    for team, text in (("a", "A\n"), ("b", "B\n")):
        (tmp_path / team).mkdir()
        (tmp_path / team / "t.j2").write_text(text)
    assert [render(tmp_path / team, cache) for team in ("a", "b", "a")] == ["A\n", "B\n", "A\n"]


def test_an_unwritable_cache_costs_a_compile_not_the_command(tmp_path: Path, compiles: list[str]) -> None:
    (tmp_path / "file").write_text("")
    cache = TemplateCache(tmp_path / "file" / "templates")  # a file where its folder would be
    (tmp_path / "t.j2").write_text("{{ x }}\n")
    assert render(tmp_path, cache, x=1) == render(tmp_path, cache, x=1) == "1\n"
    assert compiles == ["t.j2", "t.j2"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "group-writable"])
def test_a_damaged_or_foreign_cache_file_is_never_run(tmp_path: Path, compiles: list[str], damage: str) -> None:
    cache = TemplateCache(tmp_path / "cache")
    (tmp_path / "t.j2").write_text("{{ x }}\n")
    render(tmp_path, cache, x=1)
    [kept] = (tmp_path / "cache").iterdir()
    if damage == "garbage":
        kept.write_bytes(b"not a compiled template")
    elif damage == "truncated":
        kept.write_bytes(kept.read_bytes()[:-20])
    else:
        kept.chmod(0o620)
    assert render(tmp_path, cache, x=2) == "2\n"
    assert compiles == ["t.j2", "t.j2"]


def test_an_error_in_a_cached_template_names_its_file_and_line(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path / "cache")
    (tmp_path / "t.j2").write_text("a\n{{ missing }}\n")
    for _ in range(2):  # compiled, then from the cache
        with pytest.raises(CuratorKitError, match=r"uses an undefined variable \(.*t\.j2:2\)"):
            render(tmp_path, cache)


def test_the_environment_is_cached_and_compiling_runs_no_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache keeps only code no filter's result was compiled into (a filter changed since would be
    # stale): make_environment must stay such an environment, or every command compiles again.
    environment = templating.make_environment()
    assert templatecache.cacheable(environment)
    called: list[str] = []
    for name in ("pystr", "toml"):
        monkeypatch.setitem(environment.filters, name, lambda value, name=name: called.append(name) or value)
    environment.compile('{{ "a" | pystr }}{% if ("b" | toml) == "b" %}{{ ("c" | pystr) ~ "d" }}{% endif %}')
    assert called == []


def test_without_a_home_there_is_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(templatecache, "user_cache_home", no_home)
    assert templatecache.template_cache() is None
