"""The Jinja environment every generated file comes from.

A team's template directory (``--templates DIR`` or ``templates`` in the manifest) is searched
first; any file it lacks falls back to the built-in set, so a team overrides only what it needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from curator_kit.errors import CuratorKitError
from curator_kit.resources import templates_dir


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


def make_environment(override: Path | None = None) -> jinja2.Environment:
    search: list[str] = []
    if override is not None:
        if not override.is_dir():
            raise CuratorKitError(
                f"template directory {override} does not exist",
                "pass --templates DIR with a directory of templates, or fix `templates` in curator-kit.toml",
            )
        search.append(str(override))
    search.append(str(templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python, TOML and Markdown: HTML escaping would corrupt them
    )
    env.filters["toml"] = toml_value
    env.filters["pystr"] = py_str
    env.globals["py_import"] = py_import
    return env


def render(environment: jinja2.Environment, name: str, /, **context: Any) -> str:
    try:
        return environment.get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        raise CuratorKitError(f"template {name} not found", "restore it in the template directory") from None
    except jinja2.UndefinedError as error:
        raise CuratorKitError(
            f"template {name} uses an undefined variable: {error.message}",
            "fix the template (custom templates get the same variables as the built-in ones)",
        ) from None
    except jinja2.TemplateSyntaxError as error:
        raise CuratorKitError(
            f"template {error.filename or name}:{error.lineno}: {error.message}", "fix the template syntax"
        ) from None


def list_templates(env: jinja2.Environment, prefix: str) -> list[str]:
    """Templates under `prefix/` from the override and the built-in set, each name once."""
    return sorted(name for name in env.list_templates() if name.startswith(prefix + "/") and name.endswith(".j2"))
