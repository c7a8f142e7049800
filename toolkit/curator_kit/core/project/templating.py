"""The one Jinja environment every generated file comes from, and the one rule for a team's templates.

A team's template directory (`--templates DIR`, else `templates` in the manifest) is searched
first; any file it lacks falls back to the built-in set, so a team overrides only what it needs.
Every template error, in ours or a team's, becomes one CuratorKitError naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from curator_kit.core.build.dockerescape import DOCKERFILE_FILTERS, refuse_control_characters
from curator_kit.core.constants import MANIFEST_NAME
from curator_kit.errors import CuratorKitError
from curator_kit.resources import templates_dir

DOCKERFILE_TEMPLATE = "Dockerfile.j2"
# Templates whose output is one instruction a line: no printed value, filtered or not (a team's
# template may forget the filter), may carry a line break or control character.
LINE_ORIENTED_TEMPLATES = frozenset({DOCKERFILE_TEMPLATE})


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal (strings escaped the way TOML wants)."""
    import tomli_w

    return tomli_w.dumps({"v": value})[len("v = ") :].strip()


def py_str(value: str) -> str:
    """A double-quoted Python string literal, as ruff format writes them."""
    return json.dumps(value, ensure_ascii=False)


def py_import(module: str, *names: str) -> str:
    """`from module import a, b`, wrapped one name per line past 120 columns (isort's style).

    Names must come in isort's order: CONSTANTS, then Classes, then functions.
    """
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 120:
        return line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")"


def team_template_dir(
    cli_templates: Path | None, manifest_templates: str = "", project_dir: Path | None = None
) -> Path | None:
    """The team's template directory: `--templates` when given (it replaces the manifest's for that
    command), else the manifest's `templates`, relative to the project; None for the built-in set.

    The one rule `build`, `dockerfile`, `init` and every `new-*` command follow. A directory that
    does not exist is an error, wherever it was named."""
    if cli_templates is not None:
        directory, origin = cli_templates, "--templates"
    elif manifest_templates:
        directory = (project_dir or Path.cwd()) / Path(manifest_templates).expanduser()
        origin = f"templates in {MANIFEST_NAME}"
    else:
        return None
    if not directory.is_dir():
        raise CuratorKitError(
            f"template directory {directory} does not exist ({origin})",
            f"create it, or point {origin} at a directory of templates",
        )
    return directory


def make_environment(
    team_dir: Path | None = None, bytecode_cache: jinja2.BytecodeCache | None = None
) -> jinja2.Environment:
    """The Jinja environment: `team_dir` (from `team_template_dir`) first, then the built-in templates;
    `bytecode_cache` keeps compiled templates between commands (ops/templatecache)."""
    search = [str(path) for path in (team_dir, templates_dir()) if path is not None]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python, TOML, Markdown, Dockerfile: each escapes by its own filters
        finalize=_finalize,
        # No filter runs while compiling (the optimizer would fold constant filter calls into the code):
        # compiled code kept by a bytecode cache stays right when a filter changes. The output is the same.
        optimized=False,
        bytecode_cache=bytecode_cache,
    )
    env.filters["toml"] = toml_value
    env.filters["pystr"] = py_str
    env.filters.update(DOCKERFILE_FILTERS)
    env.globals["py_import"] = py_import
    return env


@jinja2.pass_context
def _finalize(context: jinja2.runtime.Context, value: Any) -> Any:
    if context.name in LINE_ORIENTED_TEMPLATES:
        return refuse_control_characters(value, f"a value printed by {context.name}")
    return value


def render(environment: jinja2.Environment, name: str, /, **context: Any) -> str:
    """Render template `name`; any failure is one CuratorKitError naming the template file and line."""
    try:
        return environment.get_template(name).render(**context)
    except jinja2.TemplateNotFound as error:
        raise CuratorKitError(f"template {error.name} not found", "restore it in the template directory") from None
    except jinja2.TemplateSyntaxError as error:
        raise CuratorKitError(
            f"template {_shown(error.filename or name)}:{error.lineno}: {error.message}", "fix the template syntax"
        ) from None
    except jinja2.UndefinedError as error:
        raise CuratorKitError(
            f"template {name} uses an undefined variable ({_where(error, name)}): {error.message}",
            "fix the template (custom templates get the same variables as the built-in ones)",
        ) from None
    except CuratorKitError as error:  # a filter refused a value
        raise CuratorKitError(f"{_where(error, name)}: {error.message}", error.fix) from None
    except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError, ArithmeticError) as error:
        raise CuratorKitError(
            f"template {name} failed ({_where(error, name)}): {type(error).__name__}: {error}", "fix the template"
        ) from None


def _where(error: BaseException, name: str) -> str:
    """`FILE:LINE` of the innermost template frame of `error` (Jinja rewrites tracebacks to point
    at template lines; its frames carry `__jinja_exception__`)."""
    where = name
    traceback: TracebackType | None = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if "__jinja_exception__" in frame.f_globals:
            where = f"{_shown(frame.f_code.co_filename)}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return where


def _shown(filename: str) -> str:
    """A built-in template by its name; a team's by its path, so the user knows which file to fix."""
    path = Path(filename)
    return str(path.relative_to(templates_dir())) if path.is_relative_to(templates_dir()) else filename


def list_templates(env: jinja2.Environment, prefix: str) -> list[str]:
    """Templates under `prefix/` from the override and the built-in set, each name once."""
    return sorted(name for name in env.list_templates() if name.startswith(prefix + "/") and name.endswith(".j2"))
