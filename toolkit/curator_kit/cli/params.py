"""click parameter types over `core.parsers`: an option is parsed by the same function as its manifest key.

A value that does not parse raises CuratorKitError naming the option, which the CLI prints as one
`error:` line with the parser's fix (click's own BadParameter would print usage lines and no fix).
Only the standard library, click and `core.parsers` (itself standard-library only) load here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import click

from curator_kit.core import parsers


class Parsed(click.ParamType):
    """A click type whose conversion is one of `core.parsers`' functions."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # a default given typed, or a value already converted
        try:
            return self.parse(value)
        except parsers.ParseError as error:
            raise error.at(_option_name(param)) from None


def _option_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)  # --env, not -e
    return param.human_readable_name if param is not None else "value"


def _host_env_assignment(text: str) -> tuple[str, str]:
    # A bare KEY takes this shell's value, as `docker run -e KEY` does.
    return parsers.parse_env_assignment(text, os.environ)


def resource(name: str) -> Parsed:
    """A stage resource (new-stage --cpus, --gpus, ...), bounded as the manifest bounds it."""
    return Parsed("number", partial(parsers.parse_resource, name))


GPUS = Parsed("gpus", parsers.parse_gpus)
GPUS_PER_WORKER = Parsed("none|all|N", parsers.parse_gpus_per_worker)
SIZE = Parsed("size", parsers.parse_size)
COUNT = Parsed("N", parsers.parse_count)
ULIMIT = Parsed("NAME=SOFT[:HARD]", parsers.parse_ulimit)
ENV_ASSIGNMENT = Parsed("KEY=VALUE", parsers.parse_env_assignment)
HOST_ENV_ASSIGNMENT = Parsed("KEY[=VALUE]", _host_env_assignment)
MOUNT = Parsed("HOST:CONTAINER[:ro]", parsers.parse_mount)
IMAGE = Parsed("image", parsers.parse_image_text)
HF_REPO = Parsed("ORG/NAME", parsers.parse_hf_repo)
REVISION = Parsed("revision", parsers.parse_revision)
HF_FILE = Parsed("file", parsers.parse_hf_file)
REQUIREMENT = Parsed("requirement", parsers.parse_requirement)
APT_PACKAGE = Parsed("package", parsers.parse_apt_package)
INDEX_URL = Parsed("URL", parsers.parse_index_url)
PARAM_ASSIGNMENT = Parsed("KEY=VALUE", parsers.parse_param_assignment)
