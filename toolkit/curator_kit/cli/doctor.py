"""`curator-kit doctor`: is this host ready to build and run curator pipelines?"""

from __future__ import annotations

import sys

import click

from curator_kit.cli.base import VARIANT
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION

MARKS = {"ok": ("\u2713", "green"), "warn": ("!", "yellow"), "fail": ("\u2717", "red"), "info": ("-", None)}


@click.command()
@click.option(
    "--curator-version", default=DEFAULT_CURATOR_VERSION, show_default=True, help="Base image version to look for."
)
@click.option("--variant", type=VARIANT, default="cpu", show_default=True, help="Base image variant to look for.")
def doctor(curator_version: str, variant: str) -> None:
    """Check the Docker engine, NVIDIA support, host GPUs and the base image."""
    from curator_kit.core.constants import base_image_tag
    from curator_kit.ops.doctor import diagnose, gather_facts

    facts = gather_facts(base_image_tag(curator_version, variant))
    checks = diagnose(facts)
    failed = [c for c in checks if c.status == "fail"]
    if failed and len(checks) == 1:
        # Engine unreachable: nothing else can be checked; one line says what to do.
        click.secho(f"error: {failed[0].detail}", fg="red", err=True)
        sys.exit(1)
    for check in checks:
        mark, colour = MARKS[check.status]
        click.echo(f"{click.style(mark, fg=colour)} {check.name:<11} {check.detail}")
    sys.exit(1 if failed else 0)
