"""The `curator-kit` command line: a thin click layer over the core modules.

Commands live in `curator_kit.cli.*` (one module per command group) and are imported only when invoked:
`curator-kit --help` lists them from `LAZY_COMMANDS`' summaries and imports none of them, and a command
imports only what it uses, so quick commands never pay for Docker, Jinja or Ray imports.
"""

from __future__ import annotations

import importlib
import os
import sys
from gettext import gettext
from typing import NamedTuple

import click

from curator_kit import __version__
from curator_kit.core.constants import ENGINE_ENV, ENGINES
from curator_kit.errors import CuratorKitError


class Lazy(NamedTuple):
    """A command imported on first use, and what `curator-kit --help` lists for it without importing it."""

    target: str  # "module:attribute" under curator_kit.cli
    summary: str  # the first sentence of the command's docstring (tests/unit/test_cli.py checks they agree)


LAZY_COMMANDS: dict[str, Lazy] = {
    "doctor": Lazy("doctor:doctor", "Check the Docker engine, NVIDIA support, host GPUs and the base image."),
    "base": Lazy("base:base", "Build the curator base image (NeMo Curator, Xenna, Ray, PyTorch, PyAV, ffmpeg)."),
    "init": Lazy("scaffold:init", "Create a project: manifest, stages/, models/, envs/, tests/, pipeline.py."),
    "new-stage": Lazy(
        "scaffold:new_stage",
        "Add a stage: stages/NAME.py, its test, and a [[stages]] entry (last, or where --after/--before say: "
        "file order is pipeline order; a stage before transcoding may make its own spans).",
    ),
    "new-model": Lazy(
        "scaffold:new_model", "Add a model: models/NAME.py (a ModelInterface), its test, and a [[models]] entry."
    ),
    "new-env": Lazy(
        "scaffold:new_env", "Add an environment to curator-kit.toml; the build turns it into image layers."
    ),
    "new-writer": Lazy(
        "scaffold:new_writer",
        "Add a ClipWriterStage subclass with a _write_custom_output(clip) hook; it replaces the default writer.",
    ),
    "refresh-pipeline": Lazy(
        "scaffold:refresh_pipeline",
        "Regenerate pipeline.py for this curator-kit's pipeline spec; the old file is kept as pipeline.py.orig.",
    ),
    "stages": Lazy(
        "scaffold:stages",
        "List the project's stages with resources, codec needs, envs and models (--catalogue: Curator's built-ins).",
    ),
    "add": Lazy(
        "scaffold:add",
        "Add a Curator built-in stage (motion_filter, cosmos_embed1, ...) to the pipeline: a [[stages]] entry "
        "with `builtin = BUILTIN` and its [stages.params].",
    ),
    "dockerfile": Lazy("build:dockerfile", "Print (or write) the Dockerfile generated from curator-kit.toml."),
    "spec": Lazy(
        "spec:spec", "Print the pipeline spec: stage order, classes, parameters, resources, GPU and codec needs."
    ),
    "build": Lazy("build:build", "Build the project's image on the curator base image, with streamed progress."),
    "inspect": Lazy("build:inspect_image", "Show what an image carries: stages, resources, codec needs, versions."),
    "sbom": Lazy(
        "sbom:sbom",
        "Write an image's SBOM (CycloneDX 1.5 JSON): its Python distributions, Debian packages and ffmpeg, "
        "with versions and licences.",
    ),
    "test": Lazy("test:test", "Run the project's tests in its image; pytest's exit code is curator-kit's."),
    "run": Lazy("run:run", "Run the project's Xenna pipeline in a container; its exit code is curator-kit's."),
    "shell": Lazy(
        "shell:shell",
        "An interactive shell in the project's image: GPUs, /dev/shm, ulimits, env and mounts as `run` sets them, "
        "the project's code mounted over the image's copy.",
    ),
    "replay": Lazy(
        "replay:replay",
        "Run STAGE's setup_on_node, setup and process on the tasks `run --capture STAGE` saved, inside the image, "
        "in one process without Ray: per-task time and what process changed; a stage that raises shows its own "
        "traceback and exits non-zero.",
    ),
    "cluster": Lazy(
        "cluster:cluster", "A local Ray cluster of containers from the project's image: a head and N workers."
    ),
    "push": Lazy("push:push", "Tag the image into REGISTRY and push it; `export kuberay` then uses that reference."),
    "export": Lazy("export:export", "Write the project for other platforms."),
    "submit": Lazy("submit:submit", "Write the Slurm job script (as `export slurm` does) and submit it with sbatch."),
    "demo": Lazy("demo:demo", "Generate sample videos, build a project of reference stages and run it in a container."),
    "report": Lazy(
        "report:report",
        "Write a static HTML report of RESULTS_DIR: per video its clips, kept or filtered and by which stage, "
        "every score, captions, histograms [default RESULTS_DIR: here when it holds results, else PROJECT/output].",
    ),
    "models": Lazy(
        "models:models", "The project's model weights: baked into the image, in the host's cache, or missing."
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = LAZY_COMMANDS.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = lazy.target.split(":")
        module = importlib.import_module(f"curator_kit.cli.{module_name}")
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, except that a lazy command is listed from its summary: a stand-in command
        # with that help, shortened by click as the command's own help would be, so --help imports none.
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            lazy = LAZY_COMMANDS.get(name)
            command = click.Command(name, help=lazy.summary) if lazy is not None else self.get_command(ctx, name)
            if command is not None and not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section(gettext("Commands")):  # click's own heading, translated as click does
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CuratorKitError as error:
            _fail(error)
        except Exception as error:
            # An engine error no module translated: still one line, never a traceback. Looked up in
            # sys.modules so that commands which never touched Docker do not import it here.
            docker_errors = sys.modules.get("docker.errors")
            if docker_errors is None or not isinstance(error, docker_errors.DockerException):
                raise
            from curator_kit.engine.containers import translate_engine_error

            _fail(translate_engine_error(error, None))


def _fail(error: CuratorKitError) -> None:
    # Errors quote what users wrote, index URLs included: their credentials are masked here, once
    # (imported on failure: `--help` does not load it).
    from curator_kit.core.redact import mask_credentials

    for line in error.details:
        click.echo(f"  | {mask_credentials(line)}", err=True)
    click.secho(f"error: {mask_credentials(error.one_line())}", fg="red", err=True)
    sys.exit(error.exit_code)


def _choose_engine(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # The choice travels in the environment (constants.ENGINE_ENV), where engine.client reads it and
    # a project's `[run] engine` does not override it.
    if value:
        os.environ[ENGINE_ENV] = value
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="curator-kit")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    callback=_choose_engine,
    expose_value=False,
    help="Container engine [default: CURATOR_KIT_ENGINE, the project's [run] engine, else docker]. "
    "podman: Podman's own socket (started when none answers), or DOCKER_HOST when set.",
)
def main() -> None:
    """Scaffold, containerize and run custom NeMo Curator video pipeline stages."""
