"""`curator-kit report` on the demo's real results, opened in headless Chromium.

The assertions read the page as the browser left it after its scripts ran (`--dump-dom`): every clip
drawn, the dark sample filtered by `quality_filter` with its brightness, the score histograms with
the filter's threshold. A screenshot goes to tests/artifacts/report.png (ignored by git)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="module")
def demo_run(curator_base_image, tmp_path_factory) -> tuple[Path, Path]:
    """(results directory, saved output of the run) of one `curator-kit demo`."""
    base_image = curator_base_image
    base = tmp_path_factory.mktemp("report-demo")
    log = base / "demo.log"
    with log.open("wb") as out:
        result = subprocess.run(
            [sys.executable, "-m", "curator_kit", "demo", "--output", str(base / "demo"), "--base-image", base_image],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    assert result.returncode == 0, log.read_text(errors="replace")[-6000:]
    return base / "demo" / "results", log


def curator_kit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curator_kit", *args], capture_output=True, text=True, timeout=300, cwd=REPO
    )


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if os.environ.get("CURATOR_KIT_REQUIRE_ENGINE") == "1":
        pytest.fail("no chromium on PATH -- scripts/test installs Debian's chromium when run as root")
    pytest.skip("no chromium on PATH (scripts/test installs Debian's chromium when run as root)")


def browse(page: Path, profile: Path, *args: str, fragment: str = "") -> str:
    """Open `page` from its file URL (plus `#fragment`) headless; stdout (the DOM with --dump-dom)."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # root in CI containers; the page is our own file
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",  # scripts and lazy images settle before the dump or shot
        *args,
        page.as_uri() + (f"#{fragment}" if fragment else ""),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class Page(HTMLParser):
    """The clip cards, histograms and counts of a dumped report DOM."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.clips: list[dict[str, str]] = []
        self.histograms: list[str] = []
        self.thresholds = 0
        self.images: list[str] = []
        self.ids: dict[str, str] = {}
        self.rendered: str | None = None
        self._card: dict[str, str] | None = None
        self._depth = 0
        self._id: str | None = None
        self._hist: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "html":
            self.rendered = attr.get("data-rendered")
        if tag == "article" and "clip" in attr.get("class", "").split():
            self._card = {**attr, "text": ""}
            self._depth = 0
        if self._card is not None and tag == "article":
            self._depth += 1
        if tag == "div" and "hist" in attr.get("class", "").split():
            self._hist = attr.get("data-score", "")
        if tag == "svg" and attr.get("class") == "histogram":
            self.histograms.append(self._hist or "")
        if tag == "line" and attr.get("class") == "threshold":
            self.thresholds += 1
        if tag == "img":
            self.images.append(attr.get("src", ""))
        self._id = attr.get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article" and self._card is not None:
            self._depth -= 1
            if self._depth == 0:
                self.clips.append(self._card)
                self._card = None

    def handle_data(self, data: str) -> None:
        if self._card is not None:
            self._card["text"] += data + " "
        if self._id:
            self.ids.setdefault(self._id, data.strip())


def files_of(results: Path) -> dict[str, float]:
    return {str(p.relative_to(results)): p.stat().st_mtime for p in results.rglob("*") if p.parts[-1] != "report"}


def test_report_of_the_demo_in_a_browser(demo_run, tmp_path):
    results, log = demo_run
    before = {name: mtime for name, mtime in files_of(results).items() if not name.startswith("report")}

    started = time.monotonic()
    written = curator_kit("report", str(results), "--log", str(log))
    seconds = time.monotonic() - started
    assert written.returncode == 0, written.stdout + written.stderr
    index = results / "report" / "index.html"
    assert index.as_uri() in written.stdout
    print(f"\nreport of the demo written in {seconds:.1f}s: {written.stdout.strip()}")
    # Nothing of the run's own output changed; the report's folder is all that is new.
    after = {name: mtime for name, mtime in files_of(results).items() if not name.startswith("report")}
    assert after == before

    dom = browse(index, tmp_path / "profile", "--dump-dom")
    page = Page(dom)
    stats = [json.loads(p.read_text()) for p in sorted((results / "stats").glob("*.json"))]
    assert page.rendered == str(len(stats)) == "6"  # the script ran to its end
    assert len(page.clips) == 6 and page.ids["count-clips"] == "6"
    assert page.ids["count-filtered"] == "2" and page.ids["count-kept"] == "4"

    cards = {card["data-uuid"]: card for card in page.clips}
    dark = [record for record in stats if "dark" in record["source_video"]]
    assert len(dark) == 2
    for record in dark:
        card = cards[record["span_uuid"]]
        brightness = record["frame_stats"]["brightness"]
        assert brightness < 16
        assert card["data-status"] == "filtered" and card["data-filtered-by"] == "quality_filter"
        assert "quality_filter" in card["text"] and f"{brightness:.4g}" in card["text"]
    kept = [card for card in page.clips if card["data-status"] == "kept"]
    assert len(kept) == 4 and all("quality_filter" not in card["text"] for card in kept)

    assert {"frame_stats.brightness", "frame_stats.contrast", "frame_stats.sharpness"} <= set(page.histograms)
    assert page.thresholds >= 3  # brightness, contrast and sharpness limits read from the filter's reasons
    assert len(page.images) == 6 and all((index.parent / src).is_file() for src in page.images)
    # Time per stage, from the log: batch mode's start and finish, or streaming's stop of each stage.
    assert "FrameStatsStage" in dom and "no per-stage times" not in dom

    # Filtered and sorted by a score, as the controls do it; the view lives in the URL's fragment.
    brightness = {record["span_uuid"]: record["frame_stats"]["brightness"] for record in stats}
    view = Page(
        browse(index, tmp_path / "profile", "--dump-dom", fragment="score=frame_stats.brightness&min=16&sort=desc")
    )
    shown = [card["data-uuid"] for card in view.clips]
    assert len(shown) == 4 and all(card["data-status"] == "kept" for card in view.clips)
    assert shown == sorted(shown, key=lambda uuid: -brightness[uuid])
    view = Page(browse(index, tmp_path / "profile", "--dump-dom", fragment="status=filtered"))
    assert sorted(card["data-uuid"] for card in view.clips) == sorted(record["span_uuid"] for record in dark)

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    browse(index, tmp_path / "profile", "--window-size=1280,1500", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    again = curator_kit("report", str(results), "--log", str(log))
    assert again.returncode == 0 and "0 images made, 6 reused" in again.stdout


def test_report_of_a_partial_copy_says_what_is_missing(demo_run, tmp_path):
    results, _ = demo_run
    copy = tmp_path / "copied-back"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("metas", "report"))
    written = curator_kit("report", str(copy))
    assert written.returncode == 0, written.stderr
    assert "note: metas/v0/ is absent" in written.stderr
    dom = browse(copy / "report" / "index.html", tmp_path / "profile", "--dump-dom")
    page = Page(dom)
    assert "Partial results" in dom and "metas/v0/ is absent" in dom
    assert len(page.clips) == 6  # the stats and chunk files still name every clip and its fate
    assert sum(card["data-filtered-by"] == "quality_filter" for card in page.clips) == 2


def test_run_with_report_writes_it_after_the_run(demo_run, tmp_path):
    # The README's `run ... --report 2>&1 | tee out/run.log`: the report finds the log next to the results.
    # With --profile frame_stats: its workers' flame graph and top functions, printed and on the page.
    demo = demo_run[0].parent
    output = tmp_path / "out"
    output.mkdir()
    command = ["run", "--project", str(demo / "project"), "--input", str(demo / "videos"), "--output", str(output)]
    with (output / "run.log").open("wb") as log:
        result = subprocess.run(
            [sys.executable, "-m", "curator_kit", *command, "--profile", "frame_stats", "--report"],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    printed = (output / "run.log").read_text(errors="replace")
    assert result.returncode == 0, printed[-4000:]
    assert f"{(output / 'report' / 'index.html').as_uri()}" in printed
    page = (output / "report" / "index.html").read_text()
    assert "FrameStatsStage" in page and "no per-stage times" not in page
    assert len(list((output / "report" / "images").glob("*.jpg"))) == 6

    profile = json.loads((output / "curator-kit-profile" / "frame_stats" / "profile.json").read_text())
    assert profile["workers"] >= 1 and profile["tasks"] == 3 and profile["samples"] > 0 and profile["peak_rss_bytes"]
    ours = [row["function"] for row in profile["top"] if row["file"].endswith("stages/frame_stats.py")]
    assert ours, profile["top"]  # the stage's own code (process, or what it calls) among the top functions
    assert f"profile frame_stats: {profile['workers']} worker" in printed
    assert any(line.split()[2] in ours for line in printed.splitlines() if "stages/frame_stats.py" in line)

    dom = browse(output / "report" / "index.html", tmp_path / "profile", "--dump-dom")
    assert 'id="profiles"' in dom and 'id="profile-frame_stats"' in dom
    assert 'data="images/profiles/frame_stats.svg"' in dom
    svg = (output / "report" / "images" / "profiles" / "frame_stats.svg").read_text()
    assert "<svg" in svg[:200] and f"{profile['samples']} samples" in svg
    assert any(f"{function} (" in svg for function in ours)  # the graph's frames name the stage's functions


def test_report_of_a_directory_that_is_no_result(demo_run):
    results, _ = demo_run
    failed = curator_kit("report", str(results.parent))  # the demo's folder, one level too high
    assert failed.returncode == 1
    (line,) = [line for line in failed.stderr.splitlines() if line.strip()]
    assert line == (
        f"error: {results.parent} is not a NeMo Curator result: it has none of metas/v0/, clips/, "
        f"filtered_clips/, processed_videos/, processed_clip_chunks/ -- did you mean {results}? pass that directory"
    )
