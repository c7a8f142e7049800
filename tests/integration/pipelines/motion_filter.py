"""H.264 clips through NeMo Curator's motion filter, on CPU, in a real Xenna run.

VideoReader -> FixedStrideExtractorStage -> ClipTranscodingStage(libopenh264) -> MotionVectorDecodeStage
-> MotionFilterStage(score_only) -> a stage that writes each clip's codec and motion scores as JSON.
Runs inside the curator base image: its ffmpeg must encode libopenh264, and the motion filter must
read motion vectors from the clips (VP9 clips have none and score -1.0).
Usage: python motion_filter.py INPUT_DIR OUTPUT_DIR
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import av
from nemo_curator.backends.xenna import XennaExecutor
from nemo_curator.pipeline import Pipeline
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.resources import Resources
from nemo_curator.stages.video.clipping.clip_extraction_stages import ClipTranscodingStage, FixedStrideExtractorStage
from nemo_curator.stages.video.filtering.motion_filter import MotionFilterStage, MotionVectorDecodeStage
from nemo_curator.stages.video.io.video_reader import VideoReader
from nemo_curator.tasks.video import VideoTask


@dataclass
class RecordClipsStage(ProcessingStage[VideoTask, VideoTask]):
    """One JSON file per clip: the codec ffmpeg wrote and the scores the motion filter gave."""

    output_dir: str = ""
    name: str = "record_clips"

    def __post_init__(self) -> None:
        self.resources = Resources(cpus=0.5)

    def process(self, task: VideoTask) -> VideoTask:
        video = task.data
        for clip in [*video.clips, *video.filtered_clips]:
            codec = None
            if clip.buffer:
                with av.open(io.BytesIO(clip.buffer)) as container:
                    codec = container.streams.video[0].codec_context.name
            record = {
                "video": Path(str(video.input_video)).name,
                "span": list(clip.span),
                "codec": codec,
                "global_mean": clip.motion_score_global_mean,
                "per_patch_min_256": clip.motion_score_per_patch_min_256,
                "errors": dict(clip.errors),
            }
            (Path(self.output_dir) / f"{clip.uuid}.json").write_text(json.dumps(record))
        return task


def main(input_dir: str, output_dir: str) -> None:
    stages = [
        VideoReader(input_video_path=input_dir),
        FixedStrideExtractorStage(clip_len_s=2.0, clip_stride_s=2.0, min_clip_length_s=1.0, limit_clips=0),
        # Curator's CPU defaults (6 CPUs each) cannot be placed on a small host.
        ClipTranscodingStage(encoder="libopenh264", num_cpus_per_worker=1.0, encoder_threads=1),
        MotionVectorDecodeStage(num_cpus_per_worker=1.0),
        MotionFilterStage(score_only=True),
        RecordClipsStage(output_dir=output_dir),
    ]
    pipeline = Pipeline(name="motion-filter-check", stages=stages)
    executor = XennaExecutor(config={"execution_mode": "batch", "cpu_allocation_percentage": 1.0})
    results = pipeline.run(executor) or []
    print(f"pipeline finished: {len(results)} tasks")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
