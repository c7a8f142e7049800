"""The README's first command, `bash scripts/demo`, end to end on the real engine: clips, metadata
and the statistics JSON land in the output directory, and the dark sample is filtered."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_scripts_demo_end_to_end(curator_base_image, tmp_path):
    output = tmp_path / "demo"
    result = subprocess.run(
        ["bash", "scripts/demo", "--output", str(output), "--base-image", curator_base_image],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    for step in range(1, 7):
        assert f"[{step}/6]" in result.stderr
    results = output / "results"
    clips = sorted((results / "clips").glob("*.mp4"))
    filtered = sorted((results / "filtered_clips").glob("*.mp4"))
    stats = sorted((results / "stats").glob("*.json"))
    metas = sorted((results / "metas" / "v0").glob("*.json"))
    # Three 4 s samples cut into 2 s clips: the bright and mid ones pass, the dark one is filtered.
    assert len(clips) == 4 and len(filtered) == 2
    assert len(stats) == len(clips) + len(filtered)
    assert len(metas) >= len(clips)
    records = [json.loads(path.read_text()) for path in stats]
    assert all({"brightness", "contrast", "sharpness"} <= set(r["frame_stats"]) for r in records)
    assert sum(r["filtered"] for r in records) == len(filtered)
    dark = [r for r in records if "dark" in r["source_video"]]
    assert dark and all(r["filtered"] and r["frame_stats"]["brightness"] < 16 for r in dark)
    assert f"clips written   {len(clips)}" in result.stdout
    assert f"clips filtered  {len(filtered)}" in result.stdout
    assert "videos in       3" in result.stdout
