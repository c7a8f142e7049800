"""`curator-kit test` goes through `ops/launch` as `run` does: planned from the image's spec, said,
then run by the engine; pytest's exit code is the command's."""

from pathlib import Path

from click.testing import CliRunner
from curator_kit.core.findings import Code, note
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.core.run.runplan import HostFacts
from curator_kit.ops import launch
from curator_kit.ops.launch import EngineSession, launch_tests

HOST = HostFacts(cpus=4, memory_bytes=16 * 2**30, uid=1000, gid=1000)
STAGE = StageSpec("blur", "stages.blur", "BlurStage", resources=StageResources(cpus=1.0))


def test_the_tests_run_in_the_image_with_the_notes_said_first(tmp_path, monkeypatch):
    manifest = Manifest(ProjectInfo("demo"), stages=[STAGE])
    stale = note(Code.IMAGE_STALE, "stale image: demo:1 runs its own pipeline")
    monkeypatch.setattr(launch, "planning_spec", lambda *args, **kw: (resolve_spec(manifest, tmp_path), [stale]))
    monkeypatch.setattr(launch, "image_home", lambda client, image: "/home/curator")  # the image's ENV HOME
    started = []
    monkeypatch.setattr(
        "curator_kit.engine.containers.run_plan", lambda client, plan: started.append((client, plan)) or 5
    )
    checked = []  # the plan goes through the one check (image, risky mounts) before anything starts
    monkeypatch.setattr(launch, "check_plan", lambda session, plan, dry_run: checked.append(plan) or launch.Checked([]))
    said = []
    session = EngineSession(client="engine", info={}, host=HOST, engine=None)  # type: ignore[arg-type]

    code = launch_tests(session, manifest, tmp_path, "demo:1", ("-k", "blur"), lambda *line: said.append(line))

    assert code == 5
    [(client, plan)] = started
    assert checked == [plan]
    assert client == "engine" and plan.image == "demo:1" and plan.name.startswith("demo-test-")
    assert list(plan.command) == ["python", "-m", "pytest", "-p", "no:cacheprovider", "tests", "-k", "blur"]
    # uid 1000 owns the image's home: the tests run with it, as `run` does (runplan.container_home)
    assert (plan.user, plan.env["HOME"], plan.env["USER"]) == ("1000:1000", "/home/curator", "curator")
    assert said == [
        ("note: stale image: demo:1 runs its own pipeline", "yellow"),
        ("testing demo:1: python -m pytest -p no:cacheprovider tests -k blur", "cyan"),
    ]


def test_the_command_only_finds_the_project_and_hands_it_to_launch(tmp_path, monkeypatch):
    (tmp_path / "curator-kit.toml").write_text('[project]\nname = "demo"\n')
    calls = []
    monkeypatch.setattr(launch, "open_session", lambda: "session")
    monkeypatch.setattr(launch, "launch_tests", lambda *args, **options: calls.append((args, options)) or 3)
    from curator_kit.cli import main

    result = CliRunner().invoke(
        main, ["test", "--project", str(tmp_path), "--image", "demo:1", "--mount-code", "--", "-x"]
    )

    assert result.exit_code == 3
    [(args, options)] = calls
    session, manifest, project_dir, image, pytest_args, _say = args
    assert (session, manifest.project.name, project_dir, image, pytest_args) == (
        "session",
        "demo",
        Path(tmp_path),
        "demo:1",
        ("-x",),
    )
    assert options == {"allow_host_mount": False, "mount_code": True}
