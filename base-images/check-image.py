"""The curator base image's own check: run as the last step of Dockerfile.base, so a base image
that cannot run NeMo Curator's video stages is never tagged.

    python check-image.py [--write FILE]    check the image; write the versions it found as JSON

The check imports every module under `nemo_curator.stages.video` and `nemo_curator.models`, except
those that fail only for want of a package Curator declares for its CUDA extras (vllm, cvcuda,
torchlibrosa, ...: they need a GPU, and the image does not carry them); any other failure names
the module and the error. It also asks Curator what it needs instead of restating it: Ray must be
`_SUPPORTED_RAY_VERSION`, ffmpeg must have every software encoder in `SUPPORTED_ENCODERS`.
torchvision must run an operator (a torchvision from another torch build imports no ops), and
OpenCV (the motion-vector backend) must import.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import json
import pkgutil
import platform
import re
import subprocess
import sys
from pathlib import Path

PACKAGES = ("nemo_curator.stages.video", "nemo_curator.models")
# Versions recorded in the image's curator-kit.base.versions label: key -> distribution.
DISTRIBUTIONS = {
    "nemo-curator": "nemo-curator",
    "cosmos-xenna": "cosmos-xenna",
    "torch": "torch",
    "torchvision": "torchvision",
    "ray": "ray",
    "opencv": "opencv-python-headless",
    "av": "av",
}
# Encoders worth listing when present (the label shows what clips can be written with).
LISTED_ENCODERS = ("libopenh264", "libvpx-vp9", "libx264", "libwebp", "h264_nvenc", "hevc_nvenc", "av1_nvenc")


def _normalize(name: str) -> str:
    """A distribution or module name, comparable: `cvcuda_cu12` and `cvcuda` both give `cvcuda`."""
    name = re.sub(r"[-_.](cu\d+|cuda\d+|gpu)$", "", name, flags=re.IGNORECASE)
    return re.sub(r"[-_.]+", "_", name).lower()


def gpu_only_packages() -> set[str]:
    """Packages Curator asks for only in its CUDA extras (and the extras those pull in)."""
    from packaging.requirements import Requirement

    requirements = [Requirement(r) for r in metadata.requires("nemo-curator") or []]
    extras = set(metadata.metadata("nemo-curator").get_all("Provides-Extra") or [])

    def closure(roots: set[str]) -> set[str]:
        seen, todo = set(), list(roots)
        while todo:
            extra = todo.pop()
            if extra in seen:
                continue
            seen.add(extra)
            for req in requirements:
                if req.marker and req.marker.evaluate({"extra": extra}) and _normalize(req.name) == "nemo_curator":
                    todo.extend(e.replace("_", "-") for e in req.extras)
        return seen

    def packages(chosen: set[str]) -> set[str]:
        names = set()
        for req in requirements:
            if req.marker is None or not any(req.marker.evaluate({"extra": e}) for e in chosen):
                continue
            if _normalize(req.name) != "nemo_curator":
                names.add(_normalize(req.name))
        return names

    gpu = closure({e for e in extras if "cuda" in e})
    installed = {_normalize(d.metadata["Name"]) for d in metadata.distributions()}
    return packages(gpu) - installed


def _missing_module(error: BaseException) -> str | None:
    """The top-level module whose absence caused `error`, following the exception chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error.name.split(".")[0]
        error = error.__cause__ or error.__context__
    return None


def check_imports() -> tuple[list[str], list[str], list[str]]:
    """(imported, skipped with the reason, failed with the error) over PACKAGES."""
    gpu_only = gpu_only_packages()
    imported, skipped, failed = [], [], []
    names = []
    for root in PACKAGES:
        package = importlib.import_module(root)
        names.append(root)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, root + ".", onerror=lambda _n: None)]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            missing = _missing_module(error)
            if missing and _normalize(missing) in gpu_only:
                skipped.append(f"{name} (needs {missing}, a package of Curator's CUDA extras)")
            else:
                first_line = (str(error).strip().splitlines() or [""])[0]
                failed.append(f"{name}: {type(error).__name__}: {first_line}")
        else:
            imported.append(name)
    return imported, skipped, failed


def ffmpeg_facts() -> tuple[str, set[str]]:
    """ffmpeg's version and the names of its encoders."""
    version = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, text=True, check=True)
    words = version.stdout.split()
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True)
    encoders = {line.split()[1] for line in listing.stdout.splitlines() if re.match(r"^ [VAS][.A-Z]{5} \S", line)}
    return (words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "unknown"), encoders


def check_stack(problems: list[str]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for key, distribution in DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            problems.append(f"{distribution} is not installed")
    try:
        import torch
        import torchvision

        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    except Exception as error:
        problems.append(f"torchvision cannot run its operators beside this torch: {error}")
    try:
        import cv2  # noqa: F401 -- Curator's motion-vector backend
    except Exception as error:
        problems.append(f"cv2 (OpenCV) does not import: {error}")
    try:
        from nemo_curator.backends.ray_data.diagnostics import _SUPPORTED_RAY_VERSION as wanted_ray
    except ImportError:
        wanted_ray = None  # a Curator that declares no supported Ray
    if wanted_ray and versions.get("ray") != wanted_ray:
        problems.append(f"ray {versions.get('ray')} is installed; nemo-curator supports {wanted_ray}")
    from nemo_curator.stages.video.clipping.clip_extraction_stages import SUPPORTED_ENCODERS

    versions["ffmpeg"], encoders = ffmpeg_facts()
    software = [e for e in SUPPORTED_ENCODERS if not e.endswith("_nvenc")]
    for encoder in software:
        if encoder not in encoders:
            problems.append(f"ffmpeg lacks the {encoder} encoder ClipTranscodingStage accepts")
    versions["ffmpeg-encoders"] = ",".join(e for e in LISTED_ENCODERS if e in encoders)
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the versions found to this JSON file")
    args = parser.parse_args(argv)
    problems: list[str] = []
    versions = check_stack(problems)
    imported, skipped, failed = check_imports()
    print(f"imported {len(imported)} modules of {', '.join(PACKAGES)}")
    for line in skipped:
        print(f"skipped  {line}")
    for key, value in versions.items():
        print(f"{key:<16} {value}")
    problems += [f"import failed: {line}" for line in failed]
    if problems:
        print("\nthe base image cannot run NeMo Curator's video stages:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
