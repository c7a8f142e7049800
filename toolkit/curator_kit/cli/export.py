"""`curator-kit export kuberay`: the project's image and pipeline as a KubeRay manifest."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def export() -> None:
    """Write the project for other platforms."""


@export.command()
@click.option("--kind", type=click.Choice(["RayJob", "RayCluster"]), default="RayJob", show_default=True)
@click.option("--image", help="Image the pods run [default: the last `curator-kit push`, else the last build].")
@click.option("--name", help="metadata.name [default: the project's name].")
@click.option("--namespace", help="metadata.namespace [default: none, kubectl's current].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker pods.")
@click.option("--cpus-per-worker", default="8", show_default=True, help="CPU limit of a worker (a quantity).")
@click.option("--memory-per-worker", default="32Gi", show_default=True, help="Memory limit of a worker.")
@click.option(
    "--gpus-per-worker", type=click.IntRange(min=0), help="nvidia.com/gpu per worker [default: 1 if a stage needs one]."
)
@click.option("--head-cpus", default="2", show_default=True, help="CPU limit of the head (it takes work too).")
@click.option("--head-memory", default="8Gi", show_default=True, help="Memory limit of the head.")
@click.option("--input", "input_path", default="/data/input", show_default=True, help="Input path (or URL) in pods.")
@click.option("--output", "output_path", default="/data/output", show_default=True, help="Output path (or URL).")
@click.option("--data-pvc", help="A PersistentVolumeClaim mounted at /data in every pod (head and workers).")
@click.option("--execution-mode", type=click.Choice(["auto", "streaming", "batch"]), help="Xenna mode.")
@click.option("--ignore-failures/--no-ignore-failures", default=None, help="Keep going when a task fails.")
@click.option("--ray-version", default="2.60.0", show_default=True, help="spec.rayVersion.")
@click.option("--output-file", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write here, not stdout.")
@click.option("--project", type=click.Path(path_type=Path, file_okay=False), help="Project directory.")
def kuberay(
    kind: str,
    image: str | None,
    name: str | None,
    namespace: str | None,
    workers: int,
    cpus_per_worker: str,
    memory_per_worker: str,
    gpus_per_worker: int | None,
    head_cpus: str,
    head_memory: str,
    input_path: str,
    output_path: str,
    data_pvc: str | None,
    execution_mode: str | None,
    ignore_failures: bool | None,
    ray_version: str,
    output_file: Path | None,
    project: Path | None,
) -> None:
    """A KubeRay RayJob (or RayCluster): GPUs, /dev/shm, Xenna's Ray variables, the pipeline entrypoint.

    Checked against the fields of KubeRay's CRD schema it uses before it is written."""
    from curator_kit.core.kuberay import KubeRayOptions, check, render
    from curator_kit.core.manifest import find_project_dir, load_manifest
    from curator_kit.core.registry import last_push
    from curator_kit.core.yamltext import dump
    from curator_kit.errors import CuratorKitError
    from curator_kit.ops.build import last_built_image

    project_dir = find_project_dir(project or Path.cwd())
    manifest = load_manifest(project_dir)
    pushed = last_push(project_dir)
    if image is None and pushed is not None:
        image = pushed["image"]
    elif image is None:
        image = last_built_image(project_dir)
        click.secho(f"note: {image} is a local image; `curator-kit push --registry R` first", fg="yellow", err=True)
    options = KubeRayOptions(
        image=image,
        kind=kind,
        name=name,
        namespace=namespace,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        memory_per_worker=memory_per_worker,
        gpus_per_worker=gpus_per_worker,
        head_cpus=head_cpus,
        head_memory=head_memory,
        input_path=input_path,
        output_path=output_path,
        data_pvc=data_pvc,
        execution_mode=execution_mode,
        ignore_failures=ignore_failures,
        ray_version=ray_version,
    )
    document, header = render(manifest, project_dir, options)
    problems = check(document)
    if problems:  # a bug in the renderer, not the user's doing: say exactly where
        raise CuratorKitError(
            f"the {kind} does not match KubeRay's schema ({len(problems)} problem(s))",
            "please report this",
            details=tuple(problems),
        )
    text = dump(document, header)
    if output_file:
        output_file.write_text(text)
        click.echo(f"wrote {output_file} ({kind} {document['metadata']['name']})", err=True)
    else:
        click.echo(text, nl=False)
