"""What this image can decode and encode for video curation: run inside an image (by a project
image's build step, or by `curator-kit base build` in a container after the build).

    python probe-codecs.py [--write FILE]    print (and write) the answer as JSON

It lists ffmpeg's decoders, encoders and hardware accelerators whose names matter for video curation
(H.264, HEVC, VP9, AV1, VP8, MPEG-4...: software ones and NVIDIA's *_cuvid / *_nvenc), and which of
those names PyAV can decode and encode with. It needs only the standard library: an image without
ffmpeg, without PyAV or without pip gets `null` for what it lacks, never an error.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Names worth recording: the codecs themselves (ffmpeg's native decoders and encoders), their NVIDIA
# variants, and the external libraries that decode or encode them.
RELEVANT = re.compile(
    r"^(h264|hevc|vp8|vp9|av1|mpeg4|mpeg2video|mpeg2)(_cuvid|_nvenc)?$"
    r"|^lib(openh264|x264|x265|vpx|vpx-vp9|dav1d|aom-av1|aom|svtav1|rav1e|webp|webp_anim)$"
)
# `ffmpeg -decoders` / `-encoders` rows: " V....D h264   H.264 / AVC ..."
ROW = re.compile(r"^ V[.A-Z]{5} (\S+)")


def _ffmpeg(*args: str) -> str:
    return subprocess.run(["ffmpeg", "-hide_banner", *args], capture_output=True, text=True, timeout=60).stdout


def ffmpeg_facts() -> dict | None:
    if shutil.which("ffmpeg") is None:
        return None
    words = _ffmpeg("-version").split()
    version = words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "unknown"

    def listed(flag: str) -> list[str]:
        names = (m.group(1) for line in _ffmpeg(flag).splitlines() if (m := ROW.match(line)))
        return sorted(n for n in names if RELEVANT.match(n))

    hwaccels = [line.strip() for line in _ffmpeg("-hwaccels").splitlines()[1:] if line.strip()]
    return {"version": version, "decoders": listed("-decoders"), "encoders": listed("-encoders"), "hwaccels": hwaccels}


def pyav_facts() -> dict | None:
    try:
        import av
    except Exception:
        return None
    decoders, encoders = [], []
    for name in sorted(n for n in av.codecs_available if RELEVANT.match(n)):
        for mode, found in (("r", decoders), ("w", encoders)):
            try:
                codec = av.Codec(name, mode)
            except Exception:
                continue
            # A codec's name finds its default implementation ("h264" for writing is libx264): keep that one.
            if codec.type == "video" and codec.name not in found:
                found.append(codec.name)
    return {
        "version": getattr(av, "__version__", "unknown"),
        "decoders": sorted(decoders),
        "encoders": sorted(encoders),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="also write the answer to this JSON file")
    args = parser.parse_args(argv)
    text = json.dumps({"ffmpeg": ffmpeg_facts(), "pyav": pyav_facts()}, sort_keys=True)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
