"""Input never writable, nothing opened to the container it does not need: the rules and the plans that call them."""

from pathlib import Path

import pytest
from curator_kit.core.constants import EXIT_NOTHING_WRITTEN, RUN_ID_ENV
from curator_kit.core.findings import Code, Severity, codes, decide, refusals
from curator_kit.core.parsers import Mount, parse_mount, parse_size
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults
from curator_kit.core.run.datapaths import data_dir_findings, host_mount_risk, judge_extra_mounts, overlap_findings
from curator_kit.core.run.runplan import ROOT_NOTE, HostFacts, RunOptions, plan_run, plan_tests
from curator_kit.core.run.runsummary import RunSummary, read_summary
from curator_kit.errors import CuratorKitError

GIB = 2**30
HOST = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1001)
SOCKET = "hands the container the Docker engine's socket, which is root on the host"


def plan(tmp_path: Path, host: HostFacts = HOST, run: RunDefaults | None = None, **options):
    manifest = Manifest(ProjectInfo("demo"), run=run or RunDefaults())
    values = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "image": "demo:1", "run_id": "r1"}
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, RunOptions(**(values | options)), host)


@pytest.mark.parametrize(
    ("input_dir", "output_dir", "message"),
    [
        ("videos", "videos", "--input videos and --output videos are the same directory"),
        ("videos", "videos/out", "--output videos/out is inside --input videos: a later run would read its own clips"),
        ("videos/in", "videos", "--input videos/in is inside --output videos: the writable output would expose"),
        ("videos", "link/out", "--output link/out is inside --input videos"),  # the link resolves into the input
    ],
)
def test_overlapping_input_and_output_are_refused(tmp_path, monkeypatch, input_dir, output_dir, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "videos").mkdir()
    (tmp_path / "link").symlink_to("videos")
    (found,) = overlap_findings(Path(input_dir), Path(output_dir))
    assert (found.code, found.severity) == (Code.DATA_OVERLAP, Severity.REFUSE)
    assert found.message.startswith(message)
    assert found.fix == "give --output a directory outside --input that does not contain it either"
    planned = plan(tmp_path, input_dir=Path(input_dir), output_dir=Path(output_dir))  # every plan calls it
    assert Code.DATA_OVERLAP in codes(refusals(planned.findings))
    with pytest.raises(CuratorKitError, match=r"the same directory|is inside") as raised:
        decide(planned.findings, force=True)  # no --force runs past a destroyed input
    assert raised.value.code == Code.DATA_OVERLAP.value


def test_the_resolved_paths_are_named_when_a_link_hid_the_overlap(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "videos")
    (found,) = data_dir_findings(tmp_path / "videos", tmp_path / "link")
    real = tmp_path.resolve() / "videos"
    assert found.code is Code.DATA_OVERLAP
    assert found.message.endswith(f"({real} and {real} once links are resolved)")


def test_siblings_and_prefix_names_are_not_overlaps(tmp_path):
    assert overlap_findings(tmp_path / "videos", tmp_path / "videos-out") == []  # a shared prefix is not nesting
    assert overlap_findings(tmp_path / "a" / "in", tmp_path / "a" / "out") == []


def test_a_missing_input_is_refused_where_the_paths_are_this_machines(tmp_path):
    (missing,) = data_dir_findings(tmp_path / "videos", tmp_path / "out")
    assert (missing.code, missing.severity) == (Code.INPUT_MISSING, Severity.REFUSE)
    assert data_dir_findings(tmp_path / "videos", tmp_path / "out", local=False) == []  # the cluster's to say
    (tmp_path / "videos").mkdir()
    assert data_dir_findings(tmp_path / "videos", tmp_path / "out") == []


def test_tests_mount_no_data_and_need_no_distinct_dirs(tmp_path):
    manifest = Manifest(ProjectInfo("demo"), run=RunDefaults())
    tests = plan_tests(manifest, resolve_spec(manifest, tmp_path), tmp_path, "demo:1", (), HOST)
    assert tests.mounts == [] and tests.output_source is None


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("/:/host:ro", "hands the container the host's whole filesystem"),
        ("/var/run/docker.sock:/var/run/docker.sock", SOCKET),
        ("/run:/r:ro", SOCKET),  # a folder holding it
        ("/srv/models:/data", "covers the run's /data/input"),
        ("/srv/models:/data/output/models", "covers the run's /data/output"),
        ("/srv/videos:/extra", "makes the input /srv/videos/in writable"),
        ("/srv/videos/in/sub:/extra", "makes the input /srv/videos/in writable"),
        ("/srv/videos:/extra:ro", None),  # read-only over the input: it stays unwritable
        ("/srv/models:/opt/models:ro", None),
    ],
)
def test_host_mount_risks(text, risk):
    assert host_mount_risk(parse_mount(text), "/srv/videos/in") == risk


def test_risky_mounts_refused_unless_allowed_and_then_noted(tmp_path):
    root = Mount("/", "/host", read_only=True)
    (refused,) = judge_extra_mounts([root], None, allow=False)
    assert (refused.code, refused.severity) == (Code.HOST_MOUNT, Severity.REFUSE)
    assert refused.one_line() == (
        "mount / -> /host hands the container the host's whole filesystem -- remove it from [run] mounts or "
        "--mount, or pass --allow-host-mount if that is what you mean"
    )
    (allowed,) = judge_extra_mounts([root], None, allow=True)
    assert (allowed.code, allowed.severity) == (Code.HOST_MOUNT_ALLOWED, Severity.NOTE)
    planned = plan(tmp_path, mounts=(root,), allow_host_mount=True)
    assert "mount / -> /host hands the container the host's whole filesystem (allowed by --allow-host-mount)" in [
        f.message for f in planned.findings if f.code is Code.HOST_MOUNT_ALLOWED and not f.refuses
    ]
    covering = plan(tmp_path, run=RunDefaults(mounts=[Mount("cache", "/data/output")]))
    with pytest.raises(CuratorKitError, match="covers the run's /data/output") as raised:
        decide([f for f in covering.findings if f.code is Code.HOST_MOUNT], force=True)
    assert raised.value.code == Code.HOST_MOUNT.value


def test_shm_above_host_memory_is_refused_with_the_reason(tmp_path):
    with pytest.raises(CuratorKitError) as raised:
        plan(tmp_path, shm_size=parse_size("64g"))
    assert raised.value.message == "--shm-size 64.00 GiB is more than the 24.00 GiB of memory on this host"
    assert raised.value.fix.startswith("/dev/shm lives in memory: pass at most 24.00 GiB")
    with pytest.raises(CuratorKitError, match=r"^\[run\] shm_size 64.00 GiB is more than"):
        plan(tmp_path, run=RunDefaults(shm_size=parse_size("64g")))
    assert plan(tmp_path, shm_size=parse_size("24g")).shm_size_bytes == 24 * GIB


def test_the_plan_says_when_containers_run_as_root_and_why(tmp_path):
    assert Code.ROOT_USER not in codes(plan(tmp_path).findings)
    as_root = plan(tmp_path, host=HostFacts(cpus=2, memory_bytes=24 * GIB, uid=0, gid=0))
    (root,) = [f for f in as_root.findings if f.code is Code.ROOT_USER]
    assert as_root.user == "0:0" and (root.severity, root.message) == (Severity.NOTE, ROOT_NOTE)
    assert f"note       {ROOT_NOTE}" in as_root.describe()


def test_resume_and_run_id_reach_the_pipeline(tmp_path):
    resumed = plan(tmp_path, resume=True)
    assert "--resume" in resumed.command and resumed.env[RUN_ID_ENV] == "r1"
    assert "--resume" not in plan(tmp_path).command
    with pytest.raises(CuratorKitError, match="--resume with --command"):
        plan(tmp_path, resume=True, command=("true",))


def test_summary_is_read_only_for_its_own_run(tmp_path):
    (tmp_path / "curator-kit-summary.json").write_text(
        '{"format": 1, "run_id": "r1", "status": "nothing-written", "exit_code": 3, "videos_found": 3,'
        ' "videos_unreadable": 3, "unreadable": ["a.mp4", "b.mp4", "c.mp4"], "a_later_key": 1}'
    )
    summary = read_summary(tmp_path, "r1")
    assert summary == RunSummary(
        run_id="r1",
        status="nothing-written",
        exit_code=EXIT_NOTHING_WRITTEN,
        videos_found=3,
        videos_unreadable=3,
        unreadable=["a.mp4", "b.mp4", "c.mp4"],
    )
    assert summary.lines() == [
        "summary    3 video(s) found: 0 processed, 3 unreadable, 0 failed or dropped",
        "clips      0 written, 0 filtered",
        "unreadable a.mp4, b.mp4, c.mp4",
        "exit       3: there were videos to process and nothing was written",
    ]
    assert read_summary(tmp_path, "another-run") is None  # an older run's file is never shown as this one's
    (tmp_path / "curator-kit-summary.json").write_text('{"format": 1, "run_id": "r1"')  # half-written
    assert read_summary(tmp_path, "r1") is None


@pytest.mark.parametrize(
    ("source", "target", "overlap"),
    [
        ("s3://b/in", "s3://b/in/out", "--output s3://b/in/out is inside --input s3://b/in"),
        ("s3://b/in/", "s3://b/in", "--input s3://b/in/ and --output s3://b/in are the same directory"),
        ("s3://b/in", "s3://b/input", None),  # a shared prefix is not nesting
        ("/data/x/../y", "/data/y//z", "--output /data/y//z is inside --input /data/x/../y"),
    ],
)
def test_a_clusters_paths_and_urls_are_compared_as_written(source, target, overlap):
    found = overlap_findings(source, target, local=False)
    assert [f.message for f in found if f.message.startswith(overlap or "-")] == ([found[0].message] if overlap else [])
    assert len(found) == (1 if overlap else 0) and all("s3:/b" not in f.message for f in found)
