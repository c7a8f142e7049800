"""Escaping for the Dockerfile: one filter per place a value can stand, the Dockerfile's "autoescape".

A Dockerfile is line-oriented: a value carrying a line break becomes a new instruction. So every
filter first refuses line breaks and other control characters (the manifest parsers refuse them
too; this is the second line of defence), then quotes the value for its place:

| filter          | where                                   | what it does                              |
| --------------- | --------------------------------------- | ----------------------------------------- |
| `shell_quote`   | an argument of a `RUN` shell command    | POSIX single-quoting (shlex)              |
| `docker_string` | an `ENV` or `LABEL` value               | a double-quoted string, `$` kept literal  |
| `exec_form`     | `CMD`/`ENTRYPOINT` argument lists       | a JSON array of strings                   |
| `bare_word`     | `FROM`, `COPY`, `WORKDIR`, `ARG` values | refuses anything that would need quoting  |
| `env_name`      | an `ENV`/`ARG` name                     | refuses anything but a variable name      |
| `python_name`   | a module or class in a `python -c` line | refuses anything but dotted identifiers   |
| `comment`       | text after `#`                          | the refusal alone                          |
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from curator_kit.errors import CuratorKitError

# Cc: C0/C1 controls (\n, \r, \t, NUL, ESC, NEL...); Zl/Zp: U+2028/U+2029, which Python's
# splitlines() and some editors treat as line breaks.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# Text that means the same unquoted in a Dockerfile, in a shell command and in a quoted Python string.
_BARE_WORD = re.compile(r"[\w.,:/@+=~%-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class BuildArg:
    """An ENV/LABEL value the builder fills in from `ARG name`: its `$` must stay live."""

    name: str


def refuse_control_characters(value: object, place: str) -> str:
    text = str(value)
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise CuratorKitError(
                f"{_shown(text)} for {place} contains the control character {char!r}",
                "remove line breaks and control characters from that value in curator-kit.toml",
            )
    return text


def shell_quote(value: object) -> str:
    return shlex.quote(refuse_control_characters(value, "a RUN command"))


def docker_string(value: object) -> str:
    """A double-quoted ENV/LABEL value. Docker expands `$` there unless escaped, so `$HOME-x`
    would reach the image as `-x`: `$` becomes `\\$`. JSON's `\\"` and `\\\\` are Docker's escapes too."""
    if isinstance(value, BuildArg):
        return f'"${{{env_name(value.name)}}}"'
    text = refuse_control_characters(value, "an ENV or LABEL value")
    return json.dumps(text, ensure_ascii=False).replace("$", "\\$")


def exec_form(arguments: Sequence[object]) -> str:
    return json.dumps([refuse_control_characters(a, "a CMD argument") for a in arguments], ensure_ascii=False)


def bare_word(value: object) -> str:
    return _checked(
        value,
        "a Dockerfile path or image",
        _BARE_WORD.fullmatch,
        "cannot stand unquoted in a Dockerfile (FROM, COPY, WORKDIR)",
        "use letters, digits and . , : / @ + = ~ % - only",
    )


def env_name(value: object) -> str:
    return _checked(
        value,
        "an ENV name",
        _ENV_NAME.fullmatch,
        "is not an environment variable name",
        "use letters, digits and underscores, not starting with a digit",
    )


def python_name(value: object) -> str:
    return _checked(
        value,
        "a Python name",
        lambda text: all(part.isidentifier() for part in text.split(".")),
        "is not a Python module or class name",
        "use a dotted identifier",
    )


def comment(value: object) -> str:
    return refuse_control_characters(value, "a Dockerfile comment")


# Filter name in templates -> function. The Dockerfile template passes every value through one of these.
DOCKERFILE_FILTERS = {
    "shell_quote": shell_quote,
    "docker_string": docker_string,
    "exec_form": exec_form,
    "bare_word": bare_word,
    "env_name": env_name,
    "python_name": python_name,
    "comment": comment,
}


def _checked(value: object, place: str, valid: Callable[[str], object], problem: str, fix: str) -> str:
    """`value` as it is, when it has no control character and `valid` accepts it: nothing to escape."""
    text = refuse_control_characters(value, place)
    if not valid(text):
        raise CuratorKitError(f"{_shown(text)} {problem}", fix)
    return text


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
