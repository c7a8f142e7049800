"""`curator-kit export kuberay`: the project's image and pipeline as a KubeRay manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from curator_kit.cli import params
from curator_kit.cli.output import OUTPUT_FILE, SECRET_FILE_MODE, emit, project_option, say
from curator_kit.cli.slurmjob import slurm_options
from curator_kit.core.constants import MAX_RAY_NODES
from curator_kit.core.export.k8s import dns1123_subdomain, node_selector, toleration
from curator_kit.core.export.kuberay_crds import (
    DEFAULT_KUBERAY_VERSION,
    DELETION_POLICIES,
    KINDS,
    KUBERAY_VERSIONS,
    kuberay_version,
)
from curator_kit.errors import CuratorKitError


class _Parsed(click.ParamType):
    """A click parameter parsed by one of core's parsers; its refusal (with the rule) is click's error."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except CuratorKitError as error:
            self.fail(error.one_line(), param, ctx)


def _secret_name(text: str) -> str:
    return dns1123_subdomain(text, "--auth-secret (a Secret name)")


# A Secret's name, by Kubernetes' rule: refused as one `error:` line naming the rule.
SECRET_NAME = params.Parsed("NAME", _secret_name)


@click.group()
def export() -> None:
    """Write the project for other platforms."""


@export.command()
@click.option("--kind", type=click.Choice(KINDS), default="RayJob", show_default=True)
@click.option(
    "--image", type=params.IMAGE, help="Image the pods run [default: the last `curator-kit push`, else the last build]."
)
@click.option(
    "--name",
    help="metadata.name: a DNS-1035 label, at most 47 characters for a RayJob, 53 for a RayCluster "
    "[default: the project's name, made into one].",
)
@click.option("--namespace", help="metadata.namespace, a DNS-1123 label [default: none, kubectl's current].")
@click.option(
    "--workers", type=params.RAY_NODES, default=2, show_default=True, help=f"Worker pods (1 to {MAX_RAY_NODES})."
)
@click.option("--cpus-per-worker", default="8", show_default=True, help="CPU limit of a worker (a quantity).")
@click.option("--memory-per-worker", default="32Gi", show_default=True, help="Memory limit of a worker.")
@click.option(
    "--gpus-per-worker", type=params.NODE_GPUS, help="nvidia.com/gpu per worker [default: 1 if a stage needs one]."
)
@click.option("--head-cpus", default="2", show_default=True, help="CPU limit of the head (it takes CPU work too).")
@click.option("--head-memory", default="8Gi", show_default=True, help="Memory limit of the head.")
@click.option(
    "--input",
    "input_path",
    type=params.POD_PATH,
    default="/data/input",
    show_default=True,
    help="Input path in pods (absolute) or URL.",
)
@click.option(
    "--output",
    "output_path",
    type=params.POD_PATH,
    default="/data/output",
    show_default=True,
    help="Output path in pods (absolute) or URL.",
)
@click.option("--data-pvc", help="A PersistentVolumeClaim mounted at /data in every pod (head and workers).")
@click.option("--execution-mode", type=params.EXECUTION_MODE, help="Xenna mode.")
@click.option(
    "--gpu-memory-gib",
    type=click.FloatRange(min=1, max=1024),
    help="Memory of each worker GPU: sizes the GPU share of stages that ask for gpu_memory_gb.",
)
@click.option("--ignore-failures/--no-ignore-failures", default=None, help="Keep going when a task fails.")
@click.option("--ray-version", help="spec.rayVersion [default: the image's curator-kit.ray-version label].")
@click.option(
    "--kuberay-version",
    type=_Parsed("VERSION", kuberay_version),
    default=DEFAULT_KUBERAY_VERSION,
    show_default=True,
    help=f"The KubeRay release to write for and validate against: {', '.join(KUBERAY_VERSIONS)} or MAJOR.MINOR.",
)
@click.option(
    "--node-selector",
    "node_selectors",
    multiple=True,
    type=_Parsed("KEY=VALUE", node_selector),
    help="A node label every pod needs (repeatable), e.g. nvidia.com/gpu.product=NVIDIA-L4.",
)
@click.option(
    "--toleration",
    "tolerations",
    multiple=True,
    type=_Parsed("KEY[=VALUE]:EFFECT", toleration),
    help="A taint every pod tolerates (repeatable), e.g. nvidia.com/gpu:NoSchedule.",
)
@click.option(
    "--image-pull-secret", "image_pull_secrets", multiple=True, help="A registry Secret for the image (repeatable)."
)
@click.option("--priority-class", help="priorityClassName of every pod.")
@click.option(
    "--active-deadline", type=click.IntRange(min=1), help="RayJob activeDeadlineSeconds: fail the job after it."
)
@click.option(
    "--deletion-policy",
    type=click.Choice(DELETION_POLICIES),
    help="What KubeRay deletes when the RayJob ends (KubeRay >= 1.3, feature gate RayJobDeletionPolicy).",
)
@click.option(
    "--auth-secret",
    type=SECRET_NAME,
    help="Ray token auth from this existing Secret's key `auth_token`, in every pod and the submitter "
    "[default: a new Secret NAME-ray-auth with a new token, written with the document].",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Run Ray without token authentication: anyone who reaches the head's ports controls the cluster.",
)
@click.option(
    "--client-port",
    is_flag=True,
    help="Expose Ray Client (port 10001) on the head's pod and Service [default: not exposed].",
)
@click.option(
    "--model-volume",
    help="A PersistentVolumeClaim holding the model weights the image does not bake, mounted read-only at the "
    "model directory of every Ray pod [default: refuse an image that does not bake them].",
)
@click.option("--output-file", "-o", type=OUTPUT_FILE, help="Write here, not stdout.")
@project_option()
def kuberay(
    image: str | None,
    output_file: Path | None,
    project: Path | None,
    node_selectors: tuple[tuple[str, str], ...],
    tolerations: tuple[Any, ...],
    image_pull_secrets: tuple[str, ...],
    no_auth: bool,
    **values: Any,
) -> None:
    """A KubeRay RayJob (or RayCluster): GPUs, /dev/shm, Xenna's Ray variables, the pipeline entrypoint.

    Pods run as a non-root user under the Pod Security "restricted" rules. The document is checked
    against the chosen KubeRay release's CRD and those rules before it is written."""
    from curator_kit.core.export.kuberay import KubeRayOptions, check, render
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.ops.exportimage import export_image, local_image_labels

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    image = export_image(project_dir, manifest, image, say)
    labels = local_image_labels(image, say)
    options = KubeRayOptions(
        image=image,
        node_selector=node_selectors,
        tolerations=tolerations,
        image_pull_secrets=image_pull_secrets,
        auth=not no_auth,
        **values,
    )
    exported = render(manifest, project_dir, options, labels)
    for warning in exported.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    problems = check(exported.document, exported.kuberay_version)
    if problems:  # a bug in the renderer, not the user's doing: say exactly where
        raise CuratorKitError(
            f"the {options.kind} does not pass KubeRay {exported.kuberay_version}'s CRD and the restricted "
            f"Pod Security rules ({len(problems)} problem(s))",
            "please report this",
            details=tuple(problems),
        )
    text = exported.text()
    what = f"{options.kind} {exported.document['metadata']['name']}"
    if exported.secret is None:
        emit(text, output_file, what)
        return
    secret = exported.secret["metadata"]["name"]
    if output_file is None:  # the user's choice: say what the text holds, never the token itself
        say(
            f"note: the YAML on stdout holds a new Ray token (Secret {secret}): keep it private, "
            "or write it with -o FILE (mode 0600)",
            "yellow",
        )
    emit(text, output_file, f"{what} and Secret {secret} with a new Ray token; mode 0600", SECRET_FILE_MODE)


@export.command()
@slurm_options
@click.option("--output-file", "-o", type=OUTPUT_FILE, help="Write here, not stdout.")
def slurm(image: str | None, output_file: Path | None, project: Path | None, **values: Any) -> None:
    """An sbatch script: a Ray head and workers on the job's nodes (pyxis, apptainer or docker), the pipeline.

    Xenna's Ray variables, Ray token auth, /dev/shm, GPUs (--gres) and the shared data paths on every
    node; the driver waits for every node, runs the pipeline and leaves; scancel tears it all down."""
    from curator_kit.cli.slurmjob import slurm_script

    script = slurm_script(project, image, **values)
    emit(script.text, output_file, f"job {script.job_name}, log {script.log}; submit: sbatch {output_file}")
