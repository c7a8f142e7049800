"""`curator-kit submit --slurm`: `export slurm`, written into the project, then handed to sbatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from curator_kit.cli.slurmjob import slurm_options


@click.command()
@click.option("--slurm", is_flag=True, required=True, help="Submit to Slurm (the only scheduler so far).")
@slurm_options
@click.option(
    "--script",
    "script_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to keep the job script [default: .curator-kit/slurm/JOB_NAME.sbatch in the project].",
)
def submit(slurm: bool, image: str | None, script_path: Path | None, project: Path | None, **values: Any) -> None:
    """Write the Slurm job script (as `export slurm` does) and submit it with sbatch.

    Prints the job id; the log goes where --log says, relative to the current directory."""
    from curator_kit.cli.output import say
    from curator_kit.cli.slurmjob import slurm_script
    from curator_kit.core.project.loading import find_project_dir
    from curator_kit.core.project.state import state_dir
    from curator_kit.ops.slurm import sbatch, write_script

    script = slurm_script(project, image, submitting=True, **values)
    if script_path is None:
        script_path = state_dir(find_project_dir(project or Path.cwd())) / "slurm" / f"{script.job_name}.sbatch"
    write_script(script_path, script.text)
    say(f"wrote {script_path}; execution {script.execution.mode}: {script.execution.reason}")
    submitted = sbatch(script_path, Path.cwd(), script.job_name, script.log)
    where = f" on cluster {submitted.cluster}" if submitted.cluster else ""
    say(f"submitted job {submitted.job_id}{where}; log: {submitted.log} (`scancel {submitted.job_id}` stops it all)")
    click.echo(submitted.job_id)
