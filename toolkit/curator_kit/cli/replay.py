"""`curator-kit replay`: one stage on the tasks `run --capture` saved, in one process without Ray; with
--save-golden its results are kept as a golden, with --compare held against one."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curator_kit.cli.output import project_option
from curator_kit.cli.output import say as _say
from curator_kit.cli.params import COUNT, GOLDEN_NAME, IMAGE, TOLERANCE
from curator_kit.core.constants import GOLDEN_ATOL, GOLDEN_RTOL

DEFAULT_GOLDEN = "default"


@click.command()
@click.argument("stage")
@click.option(
    "--output",
    "output_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The captured run's --output [default: the last `run --capture`'s, else PROJECT/output].",
)
@click.option("--limit", type=COUNT, help="Replay only the first N captured tasks.")
@click.option("--mount-code", is_flag=True, help="Replay the working tree's code, mounted over the image's: no build.")
@click.option(
    "--save-golden",
    type=GOLDEN_NAME,
    is_flag=False,
    flag_value=DEFAULT_GOLDEN,
    help=f"Keep what STAGE produced, and the capture, as tests/golden/STAGE/NAME [NAME: {DEFAULT_GOLDEN}].",
)
@click.option(
    "--compare",
    type=GOLDEN_NAME,
    is_flag=False,
    flag_value=DEFAULT_GOLDEN,
    help=f"Replay golden NAME's own tasks, compare field by field; exit 4 beyond tolerance [NAME: {DEFAULT_GOLDEN}].",
)
@click.option("--rtol", type=TOLERANCE, default=GOLDEN_RTOL, show_default=True, help="--compare's relative tolerance.")
@click.option("--atol", type=TOLERANCE, default=GOLDEN_ATOL, show_default=True, help="--compare's absolute tolerance.")
@click.option(
    "--report",
    type=click.Path(path_type=Path, dir_okay=False),
    help="--compare's JSON report [default: PROJECT/.curator-kit/golden-reports/STAGE/NAME.json].",
)
@click.option("--profile", is_flag=True, help="Sample the replay with py-spy: a flame graph and top functions.")
@click.option("--image", type=IMAGE, help="Image to replay in [default: the project's last `curator-kit build`].")
@project_option()
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent `docker run` line; start nothing.")
def replay(
    stage: str,
    output_dir: Path | None,
    limit: int | None,
    mount_code: bool,
    save_golden: str | None,
    compare: str | None,
    rtol: float,
    atol: float,
    report: Path | None,
    profile: bool,
    image: str | None,
    project: Path | None,
    dry_run: bool,
) -> None:
    """Run STAGE's setup_on_node, setup and process on the tasks `run --capture STAGE` saved, inside the
    image, in one process without Ray: per-task time and what process changed; a stage that raises
    shows its own traceback and exits non-zero.

    The loop: `run --capture STAGE`, edit, `replay STAGE --compare` (a table of the fields that moved),
    then `replay STAGE --save-golden` once the change is the one you meant."""
    from curator_kit.core.pipeline.capture import replay_output
    from curator_kit.core.project.loading import find_project_dir, load_manifest
    from curator_kit.core.run.runplan import ReplayChoice, RunOptions, golden_report_path
    from curator_kit.ops.build import planned_image
    from curator_kit.ops.launch import execute

    project_dir = find_project_dir(project or ".")
    manifest = load_manifest(project_dir)
    if compare is None:  # a comparison replays the golden's own copy of the tasks, not a capture
        output_dir, note = replay_output(project_dir, output_dir, stage)
        if note:
            _say(f"note: {note}", "yellow")
    output_dir = output_dir or project_dir / "output"
    options = RunOptions(
        input_dir=project_dir, output_dir=output_dir, image=image or planned_image(project_dir, manifest)
    )
    choice = ReplayChoice(stage, limit, save_golden, compare, rtol, atol, report, profile)
    code = execute(
        manifest, project_dir, options, click.echo, _say, dry_run=dry_run, mount_code=mount_code, replay=choice
    )
    if dry_run:
        return
    if save_golden is not None and code == 0:  # `curator-kit test` compares every golden a test names
        from curator_kit.core.project.scaffold import plan_golden_test
        from curator_kit.ops.scaffold import write_plan

        plan = plan_golden_test(project_dir, stage)
        for path in write_plan(plan):
            click.echo(f"created {project_dir / path}")
        for line in plan.notes:
            click.echo(line)
    if compare is not None and golden_report_path(project_dir, choice).is_file():
        click.echo(f"report: {golden_report_path(project_dir, choice)}")
    if profile and code == 0:
        from curator_kit.ops.profiles import print_profiles

        print_profiles(output_dir, click.echo)
    sys.exit(code)
