"""click parameter types over `core.parsers`: an option is parsed by the same function as its manifest key.

A value that does not parse raises CuratorKitError naming the option, which the CLI prints as one
`error:` line with the parser's fix (click's own BadParameter would print usage lines and no fix).
Only the standard library, click and `core.constants` load here: `core.parsers` (and `core.findings`,
for a refusal's code) load when a value is first converted, so a command's start-up and its --help
never pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import click

from curator_kit.core.constants import (
    EXECUTION_MODES,
    MAX_GPUS,
    MAX_LOCAL_WORKERS,
    MAX_RAY_NODES,
    RESOURCE_LIMITS,
)
from curator_kit.errors import CuratorKitError


def _parsers() -> ModuleType:
    from curator_kit.core import parsers

    return parsers


class Parsed(click.ParamType):
    """A click type whose conversion is one of `core.parsers`' functions: named (`"parse_gpus"`), or any
    function of the text, resolved on first use."""

    def __init__(self, name: str, parse: str | Callable[[str], Any], code: str | None = None) -> None:
        self.name = name
        self._parse = parse
        self.code = code  # the name of a refusal's finding Code, where a plan's check refuses the same value

    def parse(self, text: str) -> Any:
        parse = getattr(_parsers(), self._parse) if isinstance(self._parse, str) else self._parse
        return parse(text)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # a default given typed, or a value already converted
        try:
            return self.parse(value)
        except _parsers().ParseError as error:
            refused = error.at(_option_name(param))
            refused.code = _finding_code(self.code)
            raise refused from None


def _finding_code(name: str | None) -> str | None:
    if name is None:
        return None
    from curator_kit.core.findings import Code

    return Code[name].value


def _option_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)  # --env, not -e
    return param.human_readable_name if param is not None else "value"


def _host_env_assignment(text: str) -> tuple[str, str]:
    # A bare KEY takes this shell's value, as `docker run -e KEY` does.
    return _parsers().parse_env_assignment(text, os.environ)


def resource(name: str) -> Parsed:
    """A stage resource (new-stage --cpus, --gpus, ...), bounded as the manifest bounds it."""
    return Parsed("number", lambda text: _parsers().parse_resource(name, text))


GPUS = Parsed("gpus", "parse_gpus")
GPUS_PER_WORKER = Parsed("none|all|N", "parse_gpus_per_worker")
SIZE = Parsed("size", "parse_size")
COUNT = Parsed("N", "parse_count")
ULIMIT = Parsed("NAME=SOFT[:HARD]", "parse_ulimit")
ENV_ASSIGNMENT = Parsed("KEY=VALUE", "parse_env_assignment")
HOST_ENV_ASSIGNMENT = Parsed("KEY[=VALUE]", _host_env_assignment)
MOUNT = Parsed("HOST:CONTAINER[:ro]", "parse_mount")
# The same refusal (and code) as a plan's check of an image reference from elsewhere (core.checks).
IMAGE = Parsed("image", "parse_image_text", code="IMAGE_REFERENCE")
HF_REPO = Parsed("ORG/NAME", "parse_hf_repo")
REVISION = Parsed("revision", "parse_revision")
HF_FILE = Parsed("file", "parse_hf_file")
REQUIREMENT = Parsed("requirement", "parse_requirement")
APT_PACKAGE = Parsed("package", "parse_apt_package")
INDEX_URL = Parsed("URL", "parse_index_url")
PARAM_ASSIGNMENT = Parsed("KEY=VALUE", "parse_param_assignment")
BATCH_SIZE = Parsed("N", "parse_batch_size")
GOLDEN_NAME = Parsed("NAME", "parse_golden_name")
TOLERANCE = Parsed("X", "parse_tolerance")
POD_PATH = Parsed("PATH|URL", "parse_pod_path")
# Xenna's mode: `run`, `export kuberay`, `export slurm` and `submit --slurm` take the same names.
EXECUTION_MODE = click.Choice(EXECUTION_MODES)


def count_up_to(what: str, limit: int, why: str, minimum: int = 1) -> Parsed:
    """A count of nodes, workers, CPUs or GPUs from `minimum` to `limit` (a constant saying why),
    refused at once beyond it."""
    return Parsed(
        "N", lambda text: _parsers().parse_bounded_count(text, what=what, limit=limit, why=why, minimum=minimum)
    )


class Choice(click.Choice):
    """click's Choice, refused as one `error:` line naming the choices (click's own would print usage)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            choices = ", ".join(map(str, self.choices))
            raise CuratorKitError(
                f"{_option_name(param)} {value!r} is not one of {choices}", f"use one of {choices}"
            ) from None


# Cluster sizes (core.constants says why each bound is what it is).
LOCAL_WORKERS = count_up_to(
    "a number of workers",
    MAX_LOCAL_WORKERS,
    "the most one host's Docker network holds (a Linux bridge has 1,024 ports)",
)
RAY_NODES = count_up_to(
    "a number of Ray nodes", MAX_RAY_NODES, "twice the 2,000 nodes of Ray's published scalability envelope"
)
# One node's CPUs and GPUs (a cluster's head or worker, a Slurm node): the bounds a stage's own
# resources have (core.constants.RESOURCE_LIMITS), so no node is sized beyond what a stage may ask.
NODE_CPUS = count_up_to(
    "a number of CPUs", RESOURCE_LIMITS["cpus"], "the most CPUs a stage may ask for (new-stage --cpus)"
)
NODE_GPUS = count_up_to("a number of GPUs", MAX_GPUS, "the most GPUs a stage may ask for (new-stage --gpus)", minimum=0)
