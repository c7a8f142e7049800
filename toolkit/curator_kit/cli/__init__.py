"""The `curator-kit` command line: a thin click layer over the core modules.

Commands live in `curator_kit.cli.*` (one module per command group) and are imported only when invoked, so
`curator-kit --help` and quick commands never pay for Docker, Jinja or Ray imports.
"""

from __future__ import annotations

import importlib
import sys

import click

from curator_kit import __version__
from curator_kit.core.redact import mask_credentials
from curator_kit.errors import CuratorKitError

# command name -> "module:attribute" under curator_kit.cli
LAZY_COMMANDS: dict[str, str] = {
    "doctor": "doctor:doctor",
    "base": "base:base",
    "init": "scaffold:init",
    "new-stage": "scaffold:new_stage",
    "new-model": "scaffold:new_model",
    "new-env": "scaffold:new_env",
    "new-writer": "scaffold:new_writer",
    "refresh-pipeline": "scaffold:refresh_pipeline",
    "stages": "scaffold:stages",
    "add": "scaffold:add",
    "dockerfile": "build:dockerfile",
    "spec": "spec:spec",
    "build": "build:build",
    "inspect": "build:inspect_image",
    "test": "test:test",
    "run": "run:run",
    "shell": "shell:shell",
    "replay": "replay:replay",
    "cluster": "cluster:cluster",
    "push": "push:push",
    "export": "export:export",
    "submit": "submit:submit",
    "demo": "demo:demo",
    "report": "report:report",
    "models": "models:models",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        module = importlib.import_module(f"curator_kit.cli.{module_name}")
        return getattr(module, attribute)

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
    # Errors quote what users wrote, index URLs included: their credentials are masked here, once.
    for line in error.details:
        click.echo(f"  | {mask_credentials(line)}", err=True)
    click.secho(f"error: {mask_credentials(error.one_line())}", fg="red", err=True)
    sys.exit(error.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="curator-kit")
def main() -> None:
    """Scaffold, containerize and run custom NeMo Curator video pipeline stages."""
