"""`curator-kit report` without an engine: the page it writes, where it writes, its errors, a frame strip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.report.report import read_results
from curator_kit.ops.report import frame_strip, write_report

UUID = "11111111-1111-5111-8111-111111111111"
HOSTILE = "</script><script>alert(1)</script><!--"


def fabricated(root: Path, caption: str = "a cat") -> Path:
    clip = {
        "span_uuid": UUID,
        "source_video": "/data/input/a.mp4",
        "duration_span": [0.0, 2.0],
        "clip_location": f"/data/output/clips/{UUID}.mp4",
        "windows": [{"start_frame": 0, "end_frame": 47, "qwen_caption": caption}],
    }
    (root / "metas" / "v0").mkdir(parents=True)
    (root / "metas" / "v0" / f"{UUID}.json").write_text(json.dumps(clip))
    return root


def files_of(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if "report" not in p.parts}


def test_result_data_cannot_break_out_of_the_page(tmp_path):
    root = fabricated(tmp_path / "res<i>ults", caption=HOSTILE)
    written = write_report(root, frames=0)
    page = written.index.read_text()
    assert HOSTILE not in page and "alert(1)</script>" not in page
    assert "res&lt;i&gt;ults" in page and "res<i>ults" not in page  # autoescaped where Jinja prints it
    data = page.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["clips"][0]["captions"][0]["text"] == HOSTILE


def test_writes_only_the_report_folder_and_says_what_is_missing(tmp_path):
    root = fabricated(tmp_path / "results")
    before = files_of(root)
    written = write_report(root, frames=0)
    assert files_of(root) == before
    assert written.index == root / "report" / "index.html"
    assert "processed_videos/ is absent: video durations and sizes are unknown" in written.missing
    assert "processed_videos/ is absent" in written.index.read_text()
    again = write_report(root, frames=0)  # a second report replaces the first
    assert again.index == written.index


def test_cli_not_a_result_is_one_error_line(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path} is not a NeMo Curator result")
    assert "--output DIR" in lines[0]


def test_cli_refuses_an_output_folder_that_is_not_a_report(tmp_path):
    root = fabricated(tmp_path / "results")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["report", str(root), "--output", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "holds no report" in result.output
    ok = CliRunner().invoke(main, ["report", str(root), "--output", str(tmp_path / "new"), "--frames", "0"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "new" / "index.html").is_file() and "file://" in ok.output


def test_frame_strip_is_one_jpeg_of_evenly_spaced_frames(tmp_path):
    import av
    from curator_kit.ops.samples import make_sample_videos

    (video,) = make_sample_videos(tmp_path, count=1, seconds=1.0)
    target = tmp_path / "strip.jpg"
    frame_strip(video, target, 4)
    assert target.read_bytes()[:2] == b"\xff\xd8"
    with av.open(str(target)) as image:
        frame = next(image.decode(video=0))
    assert (frame.width, frame.height) == (4 * 160, 120)


def test_run_report_is_for_single_container_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init", "proj"]).exit_code == 0
    result = runner.invoke(main, ["run", "--project", "proj", "--cluster", "--report"])
    assert result.exit_code == 1
    assert "error: --report is for single-container runs -- run `curator-kit report OUTPUT` afterwards" in result.output


def profiled(root: Path) -> Path:
    """A `run --profile frame_stats` output: two workers' raw py-spy stacks and facts."""
    raw = root / "curator-kit-profile" / "frame_stats" / "raw"
    raw.mkdir(parents=True)
    stacks = "<module> (/app/pipeline.py:8);process (/app/stages/frame_stats.py:72);decode <&> (av.py:3) {}\n"
    for pid, count in ((11, 300), (12, 100)):
        (raw / f"{pid}.txt").write_text(stacks.format(count))
        facts = {"stage": "frame_stats", "pid": pid, "rate": 100, "peak_rss_bytes": 2**29, "tasks": 3}
        (raw / f"{pid}.json").write_text(json.dumps({**facts, "process_seconds": 1.0}))
    return root


def profile_block(page: str, stage: str) -> str:
    return page.split(f'<div class="profile" id="profile-{stage}" data-stage="{stage}"', 1)[1].split("</section>")[0]


def test_profiles_section_shows_each_stage_and_its_flame_graph(tmp_path):
    from curator_kit.ops.profiles import summarize_profiles

    root = profiled(fabricated(tmp_path / "results"))
    summarize_profiles(root / "curator-kit-profile")
    before = files_of(root)
    written = write_report(root, frames=0)
    assert files_of(root) == before
    page = written.index.read_text()
    assert '<section class="profiles" id="profiles">' in page
    assert page.index('id="stage-times"') < page.index('id="profiles"')
    block = profile_block(page, "frame_stats")
    assert "2 workers" in block and "400 samples at 100 Hz" in block and "peak memory 0.50 GiB" in block
    assert "6 tasks" in block and "2.0 s in process_batch" in block
    assert '<table class="top-functions">' in block and "decode &lt;&amp;&gt;" in block
    assert '<object type="image/svg+xml" data="images/profiles/frame_stats.svg"' in block
    copied = written.index.parent / "images" / "profiles" / "frame_stats.svg"
    assert copied.read_bytes() == (root / "curator-kit-profile" / "frame_stats" / "flame.svg").read_bytes()
    assert read_results(root).custom_outputs == []  # the profiles are no project output of clip scores


def test_profiles_from_raw_files_alone_are_drawn_into_the_report(tmp_path):
    root = profiled(fabricated(tmp_path / "results"))
    before = files_of(root)
    written = write_report(root, frames=0)
    assert files_of(root) == before  # no flame.svg or profile.json written into the results
    assert "400 samples" in profile_block(written.index.read_text(), "frame_stats")
    drawn = written.index.parent / "images" / "profiles" / "frame_stats.svg"
    assert drawn.read_text().startswith("<?xml")
    # The profiles gone, the next report has no section and no stale image.
    shutil.rmtree(root / "curator-kit-profile")
    again = write_report(root, frames=0)
    assert 'id="profiles"' not in again.index.read_text() and not drawn.exists()


def test_a_profiled_stage_without_samples_shows_its_note_and_no_graph(tmp_path):
    root = fabricated(tmp_path / "results")
    (root / "curator-kit-profile" / "idle" / "raw").mkdir(parents=True)
    block = profile_block(write_report(root, frames=0).index.read_text(), "idle")
    assert "0 workers" in block and "no samples" in block
    assert "<object" not in block and "top-functions" not in block


def test_no_profiles_no_section(tmp_path):
    page = write_report(fabricated(tmp_path / "results"), frames=0).index.read_text()
    assert 'id="profiles"' not in page and "Profiles" not in page
