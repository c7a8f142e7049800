"""`curator-kit report`: a static HTML page of what a run kept, dropped and why, next to its results.

Reads the results (`core/report/report.py`), makes the images it plans (`core/report/reportpage.py`): Curator's
previews copied, else a strip of frames taken from each clip with PyAV, then renders
`report.html.j2` through the project's one Jinja environment. Writes only inside the report's
folder: `index.html` and `images/`. Images are reused while newer than their clip, so a second
report of the same results takes a fraction of the first.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.core.constants import PROFILE_DIR_NAME
from curator_kit.core.report.flamegraph import StageProfile
from curator_kit.core.report.report import REPORT_DIR, is_results_dir, read_results, report_location
from curator_kit.core.report.reportpage import (
    IMAGES_DIR,
    REPORT_FILE,
    REPORT_TEMPLATE,
    ImageJob,
    image_jobs,
    page_data,
    profile_blocks,
    profile_image_name,
    script_json,
    summary,
)
from curator_kit.core.run.dropreasons import DominantDrop
from curator_kit.core.run.runlog import relevant_lines
from curator_kit.errors import CuratorKitError
from curator_kit.ops.profiles import read_profiles

DEFAULT_FRAMES = 4
STRIP_FRAME_WIDTH = 160  # pixels per frame in a strip: sharp on a card, small on disk (~4 KB a frame)
MAX_WORKERS = 8  # PyAV decodes without the GIL: one clip per core


@dataclass(frozen=True)
class ReportWritten:
    index: Path
    videos: int
    clips: int
    images_made: int
    images_reused: int
    image_failures: list[str]
    missing: list[str]
    problems: list[str]
    log: Path | None
    seconds: float
    dominant_drop: DominantDrop | None = None  # the reason behind most filtered clips, with its fix


def default_results_dir() -> Path:
    """The current directory when it is a run's results, else the project's default `run --output`."""
    here = Path.cwd()
    if is_results_dir(here):
        return here
    from curator_kit.core.project.loading import find_project_dir

    try:
        return find_project_dir(here) / "output"
    except CuratorKitError:
        return here


def find_log(results_dir: Path, log: Path | None) -> Path | None:
    """`--log FILE`, else a `*.log` the user saved next to the results (e.g. `run ... | tee out/run.log`)."""
    if log is not None:
        if not log.is_file():
            raise CuratorKitError(
                f"log file {log} does not exist", "pass the saved output of the run, or leave --log out"
            )
        return log
    found = sorted(results_dir.glob("*.log"))
    return found[0] if found else None


def write_report(
    results_dir: Path, output: Path | None = None, *, log: Path | None = None, frames: int = DEFAULT_FRAMES
) -> ReportWritten:
    started = time.monotonic()
    results_dir = results_dir.resolve()
    log = find_log(results_dir, log)
    lines: list[str] = []
    if log is not None:
        with log.open(encoding="utf-8", errors="replace") as text:
            lines = relevant_lines(text)
    results = read_results(results_dir, lines)
    report_dir = report_location(results_dir, output.resolve() if output else None, results.custom_outputs)
    _check_report_dir(report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / IMAGES_DIR).mkdir(exist_ok=True)
    except OSError as error:  # a read-only copy of the results, say
        raise CuratorKitError(
            f"cannot write the report to {report_dir}: {error.strerror}", "pass --output DIR somewhere writable"
        ) from None

    jobs = image_jobs(results, frames)
    profiles, drawn = _profile_images(results_dir, report_dir, jobs)
    made, reused, failures = make_images(jobs, results_dir, report_dir)
    _remove_stale_images(report_dir, {job.target for job in jobs} | drawn)
    problems = [*results.problems, *failures]
    images = {job.target for job in jobs if (report_dir / job.target).is_file()} | drawn
    results_link = Path(os.path.relpath(results_dir, report_dir)).as_posix()

    from curator_kit.core.constants import MODE_STREAMING
    from curator_kit.core.project.templating import make_environment, render

    page = render(
        make_environment(),
        REPORT_TEMPLATE,
        results_dir=str(results_dir),
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        log=str(log) if log else "",
        summary={**summary(results), "problems": problems},
        data_json=script_json(page_data(results, images, results_link, frames)),
        profiles=profile_blocks(profiles, images),
        mode_streaming=MODE_STREAMING,
    )
    index = report_dir / REPORT_FILE
    partial = index.with_suffix(".html.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(index)  # a browser open on the old report never sees half a page
    return ReportWritten(
        index=index,
        videos=len(results.videos),
        clips=len(results.clips),
        images_made=made,
        images_reused=reused,
        image_failures=failures,
        missing=results.missing,
        problems=results.problems,
        log=log,
        seconds=time.monotonic() - started,
        dominant_drop=results.dominant_drop(),
    )


def _profile_images(results_dir: Path, report_dir: Path, jobs: list[ImageJob]) -> tuple[list[StageProfile], set[str]]:
    """The run's stage profiles (RESULTS/curator-kit-profile), if any, and their flame graphs in images/:
    a current flame.svg is copied like a preview (a job added to `jobs`); one drawn from raw/ just now is
    written here, since the report writes only inside its own folder. Returns the profiles and the drawn images."""
    profiles: list[StageProfile] = []
    drawn: set[str] = set()
    for loaded in read_profiles(results_dir / PROFILE_DIR_NAME):
        profile, target = loaded.profile, profile_image_name(loaded.profile.stage)
        profiles.append(profile)
        if profile.flame is not None:
            jobs.append(ImageJob(profile.flame.relative_to(results_dir).as_posix(), target))
        elif loaded.svg is not None:
            (report_dir / target).parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(report_dir / target, loaded.svg, 0o644)
            drawn.add(target)
    return profiles, drawn


def _check_report_dir(report_dir: Path) -> None:
    """An existing folder is reused only when it holds a report: never write into someone's files."""
    if report_dir.is_dir() and any(report_dir.iterdir()) and not (report_dir / REPORT_FILE).is_file():
        raise CuratorKitError(
            f"{report_dir} exists and holds no report",
            f"pass --output with a new or empty folder (default: RESULTS/{REPORT_DIR})",
        )
    if report_dir.exists() and not report_dir.is_dir():
        raise CuratorKitError(f"{report_dir} is a file", "pass --output with a folder")


def make_images(jobs: list[ImageJob], results_dir: Path, report_dir: Path) -> tuple[int, int, list[str]]:
    """(made, reused, failures): each job's image, unless one newer than its source is there already."""
    todo = []
    for job in jobs:
        source, target = results_dir / job.source, report_dir / job.target
        if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        todo.append((job, source, target))

    def make(item: tuple[ImageJob, Path, Path]) -> str | None:
        job, source, target = item
        try:
            if job.frames:
                frame_strip(source, target, job.frames)
            else:
                shutil.copyfile(source, target)
        except Exception as error:  # av.FFmpegError, OSError, a clip without video: the page shows no image
            target.unlink(missing_ok=True)
            return f"{job.source}: no image ({type(error).__name__}: {error})"
        return None

    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1, len(todo)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        failures = [message for message in pool.map(make, todo) if message]
    return len(todo) - len(failures), len(jobs) - len(todo), failures


def _remove_stale_images(report_dir: Path, wanted: set[str]) -> None:
    """Images of clips an earlier run had: the folder is the report's own, so it mirrors this report."""
    images = report_dir / IMAGES_DIR
    if not images.is_dir():
        return
    for path in sorted(images.rglob("*"), reverse=True):  # files before the folders holding them
        relative = path.relative_to(report_dir).as_posix()
        if path.is_file() and relative not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def frame_strip(clip: Path, target: Path, frames: int, width: int = STRIP_FRAME_WIDTH) -> None:
    """`frames` evenly spaced frames of `clip`, side by side in one JPEG, each `width` pixels wide."""
    import av

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        picked = _pick_frames(container, stream, frames)
    if not picked:
        raise ValueError("no frames decoded")
    strip = _tile(picked, width)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = strip.width, strip.height, "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    packets = [*encoder.encode(strip), *encoder.encode(None)]
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(b"".join(bytes(packet) for packet in packets))
    partial.replace(target)


def _pick_frames(container, stream, count: int) -> list:
    """Frames at the middles of `count` equal parts of the clip, decoding no further than the last."""
    duration = float(stream.duration * stream.time_base) if stream.duration else None
    if duration is None and container.duration:
        duration = container.duration / 1_000_000  # av.time_base
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    if not duration:  # no stated length: keep them all, then choose
        decoded = list(container.decode(stream))
        return [decoded[int((i + 0.5) * len(decoded) / count)] for i in range(count)] if decoded else []
    targets = [start + (i + 0.5) * duration / count for i in range(count)]
    picked: list = []
    last = None
    for frame in container.decode(stream):
        last = frame
        while len(picked) < count and (frame.time is None or frame.time >= targets[len(picked)]):
            picked.append(frame)
        if len(picked) == count:
            break
    # A clip shorter than it says: the last frame stands in for the missing ones.
    return picked + [last] * (count - len(picked)) if last is not None else picked


def _tile(frames: list, width: int):
    """One frame: the frames scaled to `width` and laid side by side (FFmpeg's scale and tile filters)."""
    import av.filter

    first = frames[0]
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=first.width, height=first.height, format=first.format.name, time_base=Fraction(1, 25)
    )
    chain = [
        source,
        graph.add("scale", f"{width}:-2"),
        graph.add("tile", f"{len(frames)}x1"),
        graph.add("format", "yuvj420p"),  # full-range 4:2:0, what the JPEG encoder takes
        graph.add("buffersink"),
    ]
    for upstream, downstream in itertools.pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    for number, frame in enumerate(frames):
        frame.pts = number
        graph.push(frame)
    return graph.pull()
