"""What a run kept, what it dropped and why, read from what the clip writer wrote (pure: no engine, no rendering).

A results directory is read the way Curator's ClipWriterStage lays it out, so results from any run
(local, cluster, copied back) read the same:

    metas/v0/<clip>.json                    every clip, kept or filtered: span, video, scores, error keys, captions
    clips/<clip>.mp4, filtered_clips/<clip>.mp4
    previews/<clip>/<start>_<end>.webp      when the pipeline made previews
    processed_videos/<video>.json           video metadata
    processed_clip_chunks/<video>_<n>.json  kept and filtered clip ids, how many each Curator filter dropped

plus any other top-level folder of `<clip uuid>.json` files a project's writer adds (the reference
StatsWriterStage's `stats/`): their numbers become scores, their `errors` texts the reasons.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curator_kit.core.run.dropreasons import DominantDrop, dominant_drop
from curator_kit.core.run.runlog import StageTime, Threshold, log_thresholds, stage_times
from curator_kit.errors import CuratorKitError

KEPT, FILTERED, FAILED = "kept", "filtered", "failed"

CLIPS_DIR, FILTERED_DIR, PREVIEWS_DIR = "clips", "filtered_clips", "previews"
METAS_DIR = "metas/v0"
VIDEOS_DIR, CHUNKS_DIR = "processed_videos", "processed_clip_chunks"
# What ClipWriterStage may write; any other top-level folder of <uuid>.json files is a project's own output.
CURATOR_DIRS = frozenset({CLIPS_DIR, FILTERED_DIR, PREVIEWS_DIR, "metas", VIDEOS_DIR, CHUNKS_DIR, "ce1_embd"})
# Any one of these makes a directory a clip writer's output.
RESULT_MARKERS = (METAS_DIR, CLIPS_DIR, FILTERED_DIR, VIDEOS_DIR, CHUNKS_DIR)
# The report's own folder inside a results directory, by default; never read as results.
REPORT_DIR = "report"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Keys of a clip's metadata that are its identity or layout, not something a stage measured.
META_STRUCTURE = frozenset(
    {"span_uuid", "source_video", "duration_span", "clip_location", "errors", "windows", "valid"}
)
# Numbers ClipWriterStage reads off the encoded clip: shown with the clip, never histogrammed.
META_TECHNICAL = frozenset(
    {"width", "height", "framerate", "num_frames", "video_codec", "num_bytes"}
    | {"width_source", "height_source", "framerate_source"}
)
CUSTOM_STRUCTURE = frozenset({"span_uuid", "source_video", "duration_span", "clip_location", "errors", "filtered"})
# Error keys Curator's own stages set on a clip they could not read; they name no filter (the motion
# filter then drops the clip with scores of -1 and no key of its own).
DIAGNOSTIC_ERRORS = frozenset({"buffer", "motion_decode"})
DIAGNOSTIC_PREFIXES = ("frames-",)
# Curator's filters move clips without leaving an error key; their names, when the counts say they dropped one.
MOTION_FILTER, AESTHETIC_FILTER = "motion_filter", "clip_aesthetic_filter"
MAX_DEPTH = 4  # nested dicts in a custom output deeper than this are not scores


@dataclass(frozen=True)
class Caption:
    window: str  # "start_end" frames
    model: str
    text: str
    enhanced: bool = False


@dataclass
class ClipRecord:
    uuid: str
    video: str  # the source video's path as the writer recorded it
    span: tuple[float, float] | None
    status: str  # KEPT | FILTERED | FAILED
    filtered_by: list[str]
    errors: dict[str, str]  # error key (usually a stage's name) -> text, "" when only the key was written
    scores: dict[str, float]
    details: dict[str, str | float | int]
    captions: list[Caption]
    clip_file: str | None  # relative to the results directory
    previews: list[str]  # relative to the results directory
    notes: list[str] = field(default_factory=list)


@dataclass
class VideoRecord:
    path: str
    name: str  # below the run's input directory
    metadata: dict[str, Any]
    clips: list[ClipRecord]
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResults:
    results_dir: Path
    videos: list[VideoRecord]
    score_names: list[str]
    thresholds: list[Threshold]
    stage_times: list[StageTime]
    missing: list[str]  # what a partial result lacks, in words
    problems: list[str]  # files that could not be read
    custom_outputs: list[str]

    @property
    def clips(self) -> list[ClipRecord]:
        return [clip for video in self.videos for clip in video.clips]

    def counts(self) -> dict[str, int]:
        clips = self.clips
        return {status: sum(clip.status == status for clip in clips) for status in (KEPT, FILTERED, FAILED)}

    def drop_reasons(self) -> dict[str, int]:
        """Why the filtered clips were dropped, as core.run.dropreasons' codes -> clips: a clip's diagnostic
        error keys when it has any (motion_decode: the cause, not the filter that acted on it), else the
        stages that filtered it."""
        tally: dict[str, int] = {}
        for clip in self.clips:
            if clip.status != FILTERED:
                continue
            diagnostic = [key for key in clip.errors if key in DIAGNOSTIC_ERRORS or key.startswith(DIAGNOSTIC_PREFIXES)]
            for code in dict.fromkeys(diagnostic or clip.filtered_by):
                tally[code] = tally.get(code, 0) + 1
        return tally

    def dominant_drop(self) -> DominantDrop | None:
        return dominant_drop(self.drop_reasons(), self.counts()[FILTERED])

    def filtered_by_stage(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for clip in self.clips:
            for stage in clip.filtered_by or ([] if clip.status != FILTERED else ["an unnamed stage"]):
                tally[stage] = tally.get(stage, 0) + 1
        return dict(sorted(tally.items(), key=lambda item: -item[1]))


@dataclass
class _Chunk:
    video: str
    kept: list[str]
    filtered: list[str]
    by_motion: int
    by_aesthetic: int
    captions: dict[str, dict[str, str]]


@dataclass
class _Tree:
    """The files of a results directory, loaded; nothing decided yet."""

    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # folder -> uuid -> data
    videos: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # path -> (name, metadata)
    chunks: list[_Chunk] = field(default_factory=list)
    clip_files: dict[str, str] = field(default_factory=dict)  # uuid -> relative path
    filtered_files: set[str] = field(default_factory=set)
    previews: dict[str, list[str]] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def check_results_dir(results_dir: Path) -> None:
    """Refuse, in one line with a fix, anything that is not a clip writer's output."""
    if not results_dir.is_dir():
        raise CuratorKitError(
            f"results directory {results_dir} does not exist",
            "pass the --output directory of `curator-kit run` (or demo-output/results after `curator-kit demo`)",
        )
    if any((results_dir / marker).is_dir() for marker in RESULT_MARKERS):
        return
    inner = sorted(child for child in results_dir.iterdir() if child.is_dir() and is_results_dir(child))
    wanted = ", ".join(f"{marker}/" for marker in RESULT_MARKERS)
    fix = (
        f"did you mean {inner[0]}? pass that directory"
        if inner
        else "pass the directory a run wrote its results to (`curator-kit run --output DIR`)"
    )
    raise CuratorKitError(f"{results_dir} is not a NeMo Curator result: it has none of {wanted}", fix)


def is_results_dir(path: Path) -> bool:
    return any((path / marker).is_dir() for marker in RESULT_MARKERS)


def read_results(results_dir: Path, log_lines: Iterable[str] = ()) -> RunResults:
    """The data model of one run's results; `log_lines` (the run's saved output, optional) adds stage times."""
    check_results_dir(results_dir)
    tree = _load_tree(results_dir)
    lines = list(log_lines)
    chunk_of = {uuid: chunk for chunk in tree.chunks for uuid in [*chunk.kept, *chunk.filtered]}
    uuids = set(tree.metas) | set(tree.clip_files) | set(chunk_of)
    for outputs in tree.custom.values():
        uuids |= set(outputs)
    clips = [_clip_record(uuid, tree, chunk_of.get(uuid)) for uuid in sorted(uuids)]
    videos = _group_by_video(clips, tree)
    score_names = _score_names(clips)
    thresholds = _dedupe([*_reason_thresholds(clips), *log_thresholds(lines)])
    return RunResults(
        results_dir=results_dir,
        videos=videos,
        score_names=score_names,
        thresholds=[t for t in thresholds if t.score in score_names],
        stage_times=stage_times(lines),
        missing=_missing(tree, clips),
        problems=tree.problems,
        custom_outputs=sorted(tree.custom),
    )


def _load_tree(root: Path) -> _Tree:
    tree = _Tree()
    tree.present = {marker for marker in (*RESULT_MARKERS, PREVIEWS_DIR) if (root / marker).is_dir()}
    for path in _json_files(root / METAS_DIR):
        data = _read_json(path, root, tree.problems)
        if data is not None:
            tree.metas[str(data.get("span_uuid") or path.stem)] = data
    for path in _json_files(root / VIDEOS_DIR, recursive=True):
        data = _read_json(path, root, tree.problems)
        if data is not None and isinstance(data.get("video"), str):
            name = path.relative_to(root / VIDEOS_DIR).as_posix().removesuffix(".json")
            tree.videos[data["video"]] = (name, data)
    for path in _json_files(root / CHUNKS_DIR, recursive=True):
        data = _read_json(path, root, tree.problems)
        if data is not None:
            tree.chunks.append(_chunk(data))
    for folder in (CLIPS_DIR, FILTERED_DIR):
        for path in sorted((root / folder).glob("*.mp4")):
            tree.clip_files[path.stem] = f"{folder}/{path.name}"
            if folder == FILTERED_DIR:
                tree.filtered_files.add(path.stem)
    for path in sorted((root / PREVIEWS_DIR).glob("*/*.webp")):
        tree.previews.setdefault(path.parent.name, []).append(path.relative_to(root).as_posix())
    own = CURATOR_DIRS | {REPORT_DIR}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in own and p.name[0] != "."):
        outputs = {path.stem: path for path in _json_files(folder) if UUID_RE.match(path.stem)}
        for uuid, path in outputs.items():
            data = _read_json(path, root, tree.problems)
            if data is not None:
                tree.custom.setdefault(folder.name, {})[uuid] = data
    return tree


def _json_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(folder.rglob("*.json") if recursive else folder.glob("*.json"))


def _read_json(path: Path, root: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{path.relative_to(root)}: unreadable ({type(error).__name__}); left out")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.relative_to(root)}: not a JSON object; left out")
        return None
    return data


def _chunk(data: dict[str, Any]) -> _Chunk:
    def ids(key: str) -> list[str]:
        value = data.get(key)
        return [str(uuid) for uuid in value] if isinstance(value, list) else []

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    windows = data.get("all_windows")
    return _Chunk(
        video=str(data.get("video", "")),
        kept=ids("clips"),
        filtered=ids("filtered_clips"),
        by_motion=count("num_clips_filtered_by_motion"),
        by_aesthetic=count("num_clips_filtered_by_aesthetic"),
        captions={str(k): v for k, v in windows.items() if isinstance(v, dict)} if isinstance(windows, dict) else {},
    )


def _clip_record(uuid: str, tree: _Tree, chunk: _Chunk | None) -> ClipRecord:
    meta = tree.metas.get(uuid, {})
    custom = {folder: outputs[uuid] for folder, outputs in tree.custom.items() if uuid in outputs}
    sources = [meta, *custom.values()]
    video = next((str(d["source_video"]) for d in sources if d.get("source_video")), chunk.video if chunk else "")
    span = next((_span(d["duration_span"]) for d in sources if d.get("duration_span")), None)
    listed = meta.get("errors")  # ClipWriterStage writes the keys of clip.errors, without their texts
    errors = {str(key): "" for key in listed} if isinstance(listed, list | dict) else {}
    for data in custom.values():
        if isinstance(data.get("errors"), dict):
            errors.update({str(k): str(v) for k, v in data["errors"].items()})
    scores, details = flatten(meta, skip=META_STRUCTURE | META_TECHNICAL)
    details.update({key: meta[key] for key in sorted(META_TECHNICAL) if _is_plain(meta.get(key))})
    for folder, data in custom.items():
        numbers, texts = flatten(data, skip=CUSTOM_STRUCTURE)
        for key, value in numbers.items():
            scores[key if key not in scores else f"{folder}.{key}"] = value
        details.update(texts)
    filtered = (
        uuid in tree.filtered_files
        or f"/{FILTERED_DIR}/" in str(meta.get("clip_location", ""))
        or (chunk is not None and uuid in chunk.filtered)
        or any(data.get("filtered") is True for data in custom.values())
    )
    by = filtering_stages(errors, scores, chunk) if filtered else []
    status = FILTERED if filtered else FAILED if errors else KEPT
    record = ClipRecord(
        uuid=uuid,
        video=video,
        span=span,
        status=status,
        filtered_by=by,
        errors=errors,
        scores=scores,
        details=details,
        captions=_captions(meta, chunk, uuid),
        clip_file=tree.clip_files.get(uuid),
        previews=tree.previews.get(uuid, []),
    )
    if not meta and METAS_DIR in tree.present:
        record.notes.append("no metadata in metas/v0/")
    if record.clip_file is None and tree.present & {CLIPS_DIR, FILTERED_DIR}:
        record.notes.append("clip file missing")
    return record


def _span(value: Any) -> tuple[float, float] | None:
    try:
        start, end = value
        return float(start), float(end)
    except (TypeError, ValueError):
        return None


def _is_plain(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def flatten(data: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> tuple[dict[str, float], dict[str, Any]]:
    """Numbers (scores) and texts (details) of a nested dict, by dotted key path.

    Booleans and short lists are details; long lists (embeddings) are left out."""
    numbers: dict[str, float] = {}
    texts: dict[str, Any] = {}

    def walk(value: Any, path: str, depth: int) -> None:
        if isinstance(value, bool):
            texts[path] = str(value).lower()
        elif isinstance(value, int | float):
            if math.isfinite(value):
                numbers[path] = float(value)
            else:  # NaN or infinity: nothing to plot, but worth seeing
                texts[path] = str(value)
        elif isinstance(value, str):
            texts[path] = value
        elif isinstance(value, dict) and depth < MAX_DEPTH:
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(value, list) and 0 < len(value) <= 4 and all(_is_plain(v) for v in value):
            texts[path] = ", ".join(str(v) for v in value)

    for key, value in data.items():
        if key not in skip:
            walk(value, str(key), 1)
    return numbers, texts


def filtering_stages(errors: dict[str, str], scores: dict[str, float], chunk: _Chunk | None) -> list[str]:
    """Which stage dropped a filtered clip.

    A stage that leaves its name in `clip.errors` (the project's filters, by convention) says so
    itself. Curator's motion and aesthetic filters leave nothing: the chunk's counts say whether
    either dropped clips, and an aesthetic score means the clip got past the motion filter, which
    runs first in Curator's pipelines."""
    named = [key for key in errors if key not in DIAGNOSTIC_ERRORS and not key.startswith(DIAGNOSTIC_PREFIXES)]
    if named:
        return named
    has_aesthetic = "aesthetic_score" in scores
    has_motion = any(name.startswith("motion_score.") for name in scores)
    if chunk is not None and (chunk.by_motion or chunk.by_aesthetic):
        if chunk.by_aesthetic and (has_aesthetic or not chunk.by_motion):
            return [AESTHETIC_FILTER]
        return [MOTION_FILTER]
    if has_aesthetic:
        return [AESTHETIC_FILTER]
    return [MOTION_FILTER] if has_motion else []


def _captions(meta: dict[str, Any], chunk: _Chunk | None, uuid: str) -> list[Caption]:
    captions: list[Caption] = []
    for window in meta.get("windows") or []:
        if not isinstance(window, dict):
            continue
        frames = f"{window.get('start_frame', '?')}_{window.get('end_frame', '?')}"
        for key, text in window.items():
            if not isinstance(text, str) or not key.endswith("_caption"):
                continue
            enhanced = key.endswith("_enhanced_caption")
            model = key.removesuffix("_enhanced_caption" if enhanced else "_caption")
            captions.append(Caption(frames, model, text, enhanced))
    if not captions and chunk is not None:  # the chunk file keeps the first model's caption of kept clips
        for frames, text in (chunk.captions.get(uuid) or {}).items():
            if isinstance(text, str):
                captions.append(Caption(frames, "caption", text))
    return captions


def _group_by_video(clips: list[ClipRecord], tree: _Tree) -> list[VideoRecord]:
    grouped: dict[str, list[ClipRecord]] = {path: [] for path in tree.videos}
    for clip in clips:
        grouped.setdefault(clip.video, []).append(clip)
    chunks_per_video: dict[str, int] = {}
    for chunk in tree.chunks:
        chunks_per_video[chunk.video] = chunks_per_video.get(chunk.video, 0) + 1
    fallback = _names_below_common_folder([path for path in grouped if path not in tree.videos])
    videos = []
    for path, members in grouped.items():
        name, metadata = tree.videos.get(path, (fallback.get(path) or "(source video unknown)", {}))
        members.sort(key=lambda c: (c.span is None, c.span or (0.0, 0.0), c.uuid))
        video = VideoRecord(path=path, name=name, metadata=metadata, clips=members)
        expected = int(metadata.get("num_clip_chunks") or 0)
        if expected and CHUNKS_DIR in tree.present and chunks_per_video.get(path, 0) < expected:
            video.notes.append(f"{chunks_per_video.get(path, 0)} of {expected} clip chunks reached the writer")
        if metadata and not members:
            video.notes.append("no clips: shorter than one clip, or not decodable")
        videos.append(video)
    return sorted(videos, key=lambda v: v.name)


def _names_below_common_folder(paths: list[str]) -> dict[str, str]:
    """Without processed_videos/ (which names each video below the input folder), the paths below
    the folder all videos share: `cam1/a.mp4` and `cam2/a.mp4` stay apart."""
    real = [path for path in paths if path]
    if not real:
        return {}
    try:
        common = posixpath.dirname(real[0]) if len(real) == 1 else posixpath.commonpath(real)
    except ValueError:  # absolute and relative paths mixed
        return {path: posixpath.basename(path) for path in real}
    return {path: posixpath.relpath(path, common) if common else path for path in real}


def _score_names(clips: list[ClipRecord]) -> list[str]:
    """Every score any clip has: Curator's first, then the project's, each group in first-seen order."""
    seen: dict[str, None] = {}
    for clip in clips:
        seen.update(dict.fromkeys(clip.scores))
    curator = [n for n in seen if n.startswith(("motion_score.", "aesthetic_score"))]
    return curator + [n for n in seen if n not in curator]


# "brightness 2.163 < 16": a reason as the reference quality filter writes it (any `NAME VALUE OP LIMIT`).
REASON_RE = re.compile(
    r"(?P<key>[A-Za-z_][\w.]*)\s+(?P<value>-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(?P<op><=?|>=?)\s*"
    r"(?P<limit>-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
)


def _reason_thresholds(clips: list[ClipRecord]) -> list[Threshold]:
    """Limits a filter named in its reasons: `x 2 < 16` means clips need x >= 16 to stay."""
    found = []
    for clip in clips:
        for stage, text in clip.errors.items():
            for match in REASON_RE.finditer(text):
                score = _score_for(match["key"], float(match["value"]), clip.scores)
                if score is not None:
                    keeps = "above" if match["op"].startswith("<") else "below"
                    found.append(Threshold(score, float(match["limit"]), keeps, stage))
    return found


def _score_for(key: str, value: float, scores: dict[str, float]) -> str | None:
    candidates = [name for name in scores if name == key or name.endswith(f".{key}")]
    # A reason prints the value rounded (`%g`): prefer the score it describes when names repeat.
    close = [name for name in candidates if abs(scores[name] - value) <= 1e-3 + 1e-5 * abs(value)]
    return (close or candidates or [None])[0]


def _dedupe(thresholds: list[Threshold]) -> list[Threshold]:
    return list(dict.fromkeys(thresholds))


def _missing(tree: _Tree, clips: list[ClipRecord]) -> list[str]:
    missing = []
    if METAS_DIR not in tree.present:
        missing.append(f"{METAS_DIR}/ is absent: spans, scores and captions come only from the other files")
    if VIDEOS_DIR not in tree.present:
        missing.append(f"{VIDEOS_DIR}/ is absent: video durations and sizes are unknown")
    if not tree.present & {CLIPS_DIR, FILTERED_DIR}:
        missing.append("no clip files (clips/, filtered_clips/): no thumbnails; was the run told not to upload clips?")
    no_meta = sum("no metadata in metas/v0/" in clip.notes for clip in clips)
    if no_meta:
        missing.append(
            f"{_clips(no_meta)} without metadata in {METAS_DIR}/ (an interrupted run, or an incomplete copy)"
        )
    no_file = sum("clip file missing" in clip.notes for clip in clips)
    if no_file:
        missing.append(f"{_clips(no_file)} without an mp4 in clips/ or filtered_clips/")
    return missing


def _clips(count: int) -> str:
    return f"{count} clip" if count == 1 else f"{count} clips"


def report_location(results_dir: Path, output: Path | None, custom_outputs: Iterable[str] = ()) -> Path:
    """Where the report goes: `output`, else `<results>/report`. Both paths absolute.

    The report may live inside the results (its own folder) but never over what the run wrote."""
    target = output if output is not None else results_dir / REPORT_DIR
    if target == results_dir:
        raise CuratorKitError(
            f"--output {target} is the results directory itself",
            f"leave --output out (the report goes to {results_dir / REPORT_DIR}) or name a folder of its own",
        )
    if target.is_relative_to(results_dir):
        top = target.relative_to(results_dir).parts[0]
        if top in CURATOR_DIRS or top in set(custom_outputs):
            raise CuratorKitError(
                f"--output {target} is inside {top}/, which the run wrote",
                f"leave --output out (the report goes to {results_dir / REPORT_DIR}) or pick a new folder",
            )
    if results_dir.is_relative_to(target):
        raise CuratorKitError(f"--output {target} contains the results", "pick a folder of its own for the report")
    return target
