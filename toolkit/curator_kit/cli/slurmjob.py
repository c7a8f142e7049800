"""The options of a Slurm job (`export slurm`, `submit --slurm`) and the one way both make its script."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from curator_kit.cli import params
from curator_kit.cli.output import say
from curator_kit.core.constants import MAX_RAY_NODES
from curator_kit.core.export import slurmsyntax
from curator_kit.core.export.slurmsyntax import (
    DEFAULT_CPUS_PER_NODE,
    DEFAULT_JOIN_TIMEOUT,
    DEFAULT_LOG,
    MIN_JOIN_TIMEOUT,
    RUNTIMES,
)

if TYPE_CHECKING:
    from curator_kit.core.export.slurm import SlurmScript

CLUSTER_PATH = params.Parsed("PATH", slurmsyntax.cluster_path)
WORD = params.Parsed("NAME", slurmsyntax.slurm_word)

_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option(
        "--runtime",
        type=click.Choice(RUNTIMES),
        default=RUNTIMES[0],
        show_default=True,
        help="How nodes run the image: pyxis (srun --container-image), apptainer (exec), docker (an engine per node).",
    ),
    click.option("--image", type=params.IMAGE, help="The image [default: the last `curator-kit push`, else build]."),
    click.option(
        "--image-file",
        type=CLUSTER_PATH,
        help="A squashfs (pyxis, `enroot import`) or SIF (apptainer build) on shared storage, instead of pulling.",
    ),
    click.option("--input", "input_path", type=CLUSTER_PATH, required=True, help="Input videos, on shared storage."),
    click.option("--output", "output_path", type=CLUSTER_PATH, required=True, help="Output directory, shared."),
    click.option(
        "--model-cache", type=CLUSTER_PATH, help="Shared model weights, mounted at /opt/models on every node."
    ),
    click.option(
        "--nodes",
        type=params.RAY_NODES,
        default=1,
        show_default=True,
        help=f"Nodes; the first is the head (1 to {MAX_RAY_NODES}).",
    ),
    click.option(
        "--cpus-per-node",
        type=params.NODE_CPUS,
        default=DEFAULT_CPUS_PER_NODE,
        show_default=True,
        help="CPUs per node.",
    ),
    click.option(
        "--gpus-per-node",
        type=params.NODE_GPUS,
        help="GPUs per node (--gres=gpu:N) [default: 1 if a stage needs one].",
    ),
    click.option("--mem-per-node", type=params.Parsed("SIZE", slurmsyntax.memory), help="sbatch --mem, e.g. 64G."),
    click.option("--partition", type=params.Parsed("NAME[,NAME]", slurmsyntax.partition_list), help="Partition(s)."),
    click.option("--account", type=WORD, help="Account to charge."),
    click.option("--time", type=params.Parsed("TIME", slurmsyntax.time_limit), help="Time limit, e.g. 4:00:00, 1-12."),
    click.option("--job-name", type=WORD, help="Job name [default: the project's name]."),
    click.option("--log", type=WORD, default=DEFAULT_LOG, show_default=True, help="sbatch --output: the job's log."),
    click.option(
        "--exclusive/--no-exclusive", default=True, show_default=True, help="Whole nodes (Ray's fixed ports)."
    ),
    click.option(
        "--shared-dir",
        type=CLUSTER_PATH,
        help="Where the job writes its 0600 Ray token [default: ~/.curator-kit/slurm].",
    ),
    click.option("--auth-token-file", type=CLUSTER_PATH, help="A 0600 Ray token file of yours, on shared storage."),
    click.option("--execution-mode", type=params.EXECUTION_MODE, help="Xenna's mode."),
    click.option("--ignore-failures/--no-ignore-failures", default=None, help="Keep going when a task fails."),
    click.option(
        "--gpu-memory-gib",
        type=click.FloatRange(min=1, max=1024),
        help="Memory of each node's GPUs: sizes the share of stages that ask for gpu_memory_gb.",
    ),
    click.option(
        "--ulimit",
        "ulimits",
        type=params.ULIMIT,
        multiple=True,
        help="docker: a container ulimit over memlock=-1 and stack=64M (repeatable), e.g. memlock=8388608.",
    ),
    click.option(
        "--join-timeout",
        type=click.IntRange(min=MIN_JOIN_TIMEOUT),
        default=DEFAULT_JOIN_TIMEOUT,
        show_default=True,
        help="Seconds for nodes to join.",
    ),
    click.option("--project", type=click.Path(path_type=Path, file_okay=False), help="Project directory."),
]


def slurm_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every option of a Slurm job, in --help order."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def slurm_script(project: Path | None, image: str | None, *, submitting: bool = False, **values: Any) -> SlurmScript:
    """The job script for the project's image (the one given, the pushed one, else the last build),
    planned from the image's own pipeline spec; warnings are said on stderr. `submitting`: the job is
    handed to sbatch now, so an image never built is refused (an export may plan before the build)."""
    from curator_kit.core.export.slurm import SlurmOptions, render_script
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.ops.exportimage import export_image, local_image_labels

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    submitting = submitting and values.get("image_file") is None  # a squashfs/SIF file needs no build here
    image = export_image(project_dir, manifest, image, say, submitting=submitting)
    script = render_script(manifest, project_dir, SlurmOptions(image=image, **values), local_image_labels(image, say))
    for warning in script.warnings:
        say(f"warning: {warning}", "yellow")
    return script
