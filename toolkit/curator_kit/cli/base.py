"""`curator-kit base build|bootstrap`: the curator base image."""

from __future__ import annotations

from pathlib import Path

import click

from curator_kit.cli.output import say as _log
from curator_kit.cli.params import INDEX_URL, Choice
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION
from curator_kit.resources import available_variants

# The variants are the folders of base-images/ with a variant.toml: `base build` and `doctor` take those.
VARIANT = Choice(available_variants())


@click.group()
def base() -> None:
    """Build the curator base image (NeMo Curator, Xenna, Ray, PyTorch, PyAV, ffmpeg)."""


@base.command("build")
@click.option("--variant", type=VARIANT, default="cpu", show_default=True, help="A directory of base-images/.")
@click.option("--tag", help="Image tag [default: curator-kit/base:<curator-version>-<variant>].")
@click.option(
    "--curator-version", default=DEFAULT_CURATOR_VERSION, show_default=True, help="nemo-curator version to install."
)
@click.option("--from", "from_image", help="Build FROM this image instead of the variant's.")
@click.option("--wheelhouse", type=click.Path(path_type=Path), multiple=True, help="Wheels offered to pip.")
@click.option("--ca-cert", type=click.Path(path_type=Path), multiple=True, help="PEM file for the trust store.")
@click.option("--pip-index-url", type=INDEX_URL, help="pip index URL used inside the build (never kept in the image).")
@click.option("--pip-extra-index-url", type=INDEX_URL, multiple=True, help="Extra pip index URL (repeatable).")
@click.option("--torch-spec", help="pip requirement for torch, e.g. 'torch==2.13.0'.")
@click.option(
    "--torchvision-spec",
    help="pip requirement for torchvision; it must come from torch's build [default: the variant's, or the"
    " torchvision matching --torch-spec].",
)
@click.option(
    "--leave-out",
    metavar="EXTRAS",
    help="Comma-separated Curator extras to leave out, '' for none [default: the variant's, cuda: vllm].",
)
@click.option("--no-host-pip", is_flag=True, help="Do not forward the host's pip find-links, indexes and cert.")
@click.option("--no-cache", is_flag=True, help="Build every layer anew.")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def build(
    variant: str,
    tag: str | None,
    curator_version: str,
    from_image: str | None,
    wheelhouse: tuple[Path, ...],
    ca_cert: tuple[Path, ...],
    pip_index_url: str | None,
    pip_extra_index_url: tuple[str, ...],
    torch_spec: str | None,
    torchvision_spec: str | None,
    leave_out: str | None,
    no_host_pip: bool,
    no_cache: bool,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Build the base image through the Docker SDK, with streamed progress.

    The recipe's last step imports Curator's video stages and models in the image and fails the build
    naming any module that does not import; the versions it finds become the image's labels."""
    from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
    from curator_kit.core.build.pipconfig import read_pip_settings

    options = BaseBuildOptions(
        variant=variant,
        tag=tag,
        curator_version=curator_version,
        from_image=from_image,
        wheelhouses=wheelhouse,
        ca_certs=ca_cert,
        pip_index_url=pip_index_url,
        pip_extra_index_urls=pip_extra_index_url,
        torch_spec=torch_spec,
        torchvision_spec=torchvision_spec,
        use_host_pip=not no_host_pip,
        leave_out=leave_out,
    )
    plan = plan_base_build(options, None if no_host_pip else read_pip_settings())
    if dry_run:
        click.echo("\n".join(plan.describe()))
        return
    from curator_kit.engine.client import connect
    from curator_kit.ops.base_build import build_base
    from curator_kit.ops.progress import choose_progress

    log = (lambda _m: None) if quiet else _log
    if not quiet:
        for line in plan.describe():
            click.echo(line, err=True)
    client = connect()
    image_id = build_base(
        client, plan, choose_progress(quiet), log, explicit_from=from_image is not None, nocache=no_cache
    )
    click.echo(f"{plan.tag} {image_id}")


@base.command("bootstrap")
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite.")
@click.option("--mirror", help="Debian mirror [default: the host's apt sources].")
@click.option("--tag", help="Image tag [default: curator-kit/bootstrap:<suite>].")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit.")
def bootstrap(suite: str, mirror: str | None, tag: str | None, dry_run: bool) -> None:
    """Make a minimal Debian root with debootstrap and import it as a local image (no registry needed)."""
    from curator_kit.ops.bootstrap import plan_bootstrap

    plan = plan_bootstrap(suite, mirror, tag)
    if dry_run:
        click.echo(f"{' '.join(plan.debootstrap_command(Path('ROOT')))}\nimport as {plan.tag}")
        return
    from curator_kit.engine.client import connect
    from curator_kit.ops.base_build import bootstrap_image

    client = connect()
    click.echo(bootstrap_image(client, plan, _log))
