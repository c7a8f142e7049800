"""The cuda base image's own check, with no GPU: run as the last step of base-images/cuda/Dockerfile
and by `curator-kit doctor`, so a cuda base that cannot run Curator's GPU stages is never tagged.

    python check-cuda.py [--leave-out vllm] [--write FILE]

The build passes --leave-out and records it in the versions file; run later (`curator-kit doctor`),
the check reads it from there.

Everything check-image.py checks (it is imported, not restated), and:
- torch is a CUDA build (`torch.version.cuda` set); cupy imports with no driver; pycuda.driver
  imports with the driver stub the build made standing in for libcuda.so.1 (no context: that needs a
  GPU); cvcuda starts the CUDA runtime at import, which no stub can satisfy: listed as left to a GPU
  host (its libraries are checked like the others);
- Curator's video stage and model modules all import (with the stub loaded), except those that need
  a package of a left-out extra (vLLM) or of another modality (audio), which are listed;
- every shared library in the venv finds what it links against, by ldd or as a library of another
  wheel in the venv (loaded first by its package, as at import), except the driver's own libraries,
  which the NVIDIA runtime injects at `docker run --gpus` ("injected by the NVIDIA runtime"), and
  optional plugins' (a host's RDMA/MPI stack, cuTENSOR), listed as such;
- ffmpeg has the NVENC encoder and the CUVID decoder for H.264.
What only a GPU can prove (a context, a kernel, NVDEC/NVENC sessions) is left to a GPU host.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path


def _load(filename: str):
    """A recipe script as a module (its name is not an importable one): beside this file in the image;
    here or one folder up in base-images/."""
    here = Path(__file__).resolve().parent
    path = next(p for p in (here / filename, here.parent / filename) if p.is_file())
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py").replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_image = _load("check-image.py")  # the cpu check, not restated
curator_requirements = _load("curator-requirements.py")  # which requirements the build installed

# The driver's user-space libraries: mounted into the container by the NVIDIA Container Toolkit
# (compute: libcuda, utility: libnvidia-ml, video: libnvcuvid and libnvidia-encode).
DRIVER_LIBRARIES = ("libcuda.so.1", "libnvcuvid.so.1", "libnvidia-encode.so.1", "libnvidia-ml.so.1")
DRIVER_STUB = Path("/opt/curator-kit/driver-stub/libcuda.so.1")
VERSIONS_FILE = Path("/opt/curator-kit/base-versions.json")
VENV = Path(sys.prefix)
# Libraries of the host's fabric or of optional packages, needed only by plugins that are loaded when
# those are present: NVSHMEM's transports and GPUDirect Storage's RDMA path, and CuPy's cuTENSOR
# binding (pip install cutensor-cu12). Library name prefix -> why it is not in the image.
_FABRIC = "the host's RDMA/UCX/MPI stack, loaded by an NVSHMEM or GPUDirect Storage plugin only where present"
OPTIONAL_LIBRARIES = {
    **dict.fromkeys(("libfabric.", "libibverbs.", "libmlx5.", "librdmacm.", "libucp.", "libucs.", "libmpi."), _FABRIC),
    **dict.fromkeys(("liboshmem.", "libpmix."), _FABRIC),
    "libcutensor": "cuTENSOR, an optional CuPy feature (the cutensor-cu12 wheel)",
}
# Versions of the CUDA packages recorded beside check-image.py's: key -> distribution.
CUDA_DISTRIBUTIONS = {"cupy": "cupy-cuda12x", "cvcuda": "cvcuda-cu12", "pycuda": "pycuda", "torchaudio": "torchaudio"}


def check_cuda_imports(problems: list[str], versions: dict[str, str]) -> None:
    try:
        import torch
    except Exception as error:
        problems.append(f"torch does not import: {error}")
        return
    if not torch.version.cuda:
        problems.append(f"torch {torch.__version__} is not a CUDA build (torch.version.cuda is None)")
    versions["torch-cuda"] = torch.version.cuda or "none"
    versions["cudnn"] = str(torch.backends.cudnn.version() or "none")
    for key, distribution in CUDA_DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            problems.append(f"{distribution} is not installed")
    # Each in a fresh interpreter, first with no libcuda at all: a module that fails only for want of
    # the driver's own library is tried again with the stub preloaded (it then imports on a GPU host).
    # A second import in one process is no test: cvcuda aborts re-registering its types.
    for module in ("cupy", "cvcuda", "pycuda.driver"):  # pycuda: import only; init() or a context needs a GPU
        error = _import_error(module, stub=False)
        if error and _wants_driver(error):
            error = _import_error(module, stub=True)
            if not error:
                print(f"stub      {module} loads libcuda.so.1 at import: imported with the stub")
            elif _wants_driver(error):
                # cvcuda starts the CUDA runtime at import, which asks the driver for far more than a
                # stub can answer: its libraries are checked below (ldd), its import needs a GPU host.
                print(f"gpu-only  {module} starts the CUDA runtime at import: left to a GPU host ({error})")
                error = None
        if error:
            problems.append(f"{module} does not import: {error}")


def _wants_driver(error: str) -> bool:
    return any(library in error for library in DRIVER_LIBRARIES) or any(
        words in error for words in ("cudaErrorInsufficientDriver", "CUDA driver", "cudaErrorNoDevice")
    )


def _import_error(module: str, stub: bool) -> str | None:
    """The last line of what `import module` printed when it failed in a fresh interpreter; None if it
    imported."""
    env = {**os.environ, "LD_PRELOAD": str(DRIVER_STUB)} if stub else dict(os.environ)
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, env=env)
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]


def check_curator_modules(problems: list[str], extras: list[str], leave_out: set[str]) -> list[str]:
    """check-image.py's module walk. A module may be skipped for a package the image was not meant to
    have (a left-out extra's, or another modality's such as audio's torchlibrosa), never for one of
    the requirements of the extras it was built with."""
    imported, skipped, failed = check_image.check_imports()
    kept, dropped = curator_requirements.expand(extras, {curator_requirements._name(e) for e in leave_out})
    meant = {check_image._normalize(r.name) for r in kept}
    left_out = {check_image._normalize(r.name) for r in dropped}
    notes = []
    for line in skipped:
        match = re.search(r"\(needs (\S+),", line)
        needed = check_image._normalize(match[1]) if match else ""
        if needed in left_out:
            notes.append(f"left out  {line.split(' (')[0]} (needs {match[1]}, left out with {', '.join(leave_out)})")
        elif match and needed not in meant:
            notes.append(f"other     {line.split(' (')[0]} (needs {match[1]}, not in [{','.join(extras)}])")
        else:
            problems.append(f"a GPU module cannot import: {line}")
    problems += [f"import failed: {line}" for line in failed]
    print(f"imported {len(imported)} modules of {', '.join(check_image.PACKAGES)}")
    return notes


def unresolved_libraries(root: Path = VENV) -> dict[str, set[str]]:
    """Library name -> the venv's shared objects that need it, for libraries found nowhere: neither by
    ldd (the system's, or the object's RUNPATH) nor as a file in the venv. A wheel's library that
    its package loads first (torch's libtorch for torchaudio, av.libs' for PyAV, the nvidia-* wheels'
    for CuPy, by path) satisfies its users by SONAME, as the dynamic linker does at import."""
    objects = [p for p in sorted(root.rglob("*.so*")) if p.is_file() and not p.is_symlink() and _is_elf(p)]
    in_venv = {p.name for p in root.rglob("*.so*")}
    missing: dict[str, set[str]] = {}
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    for path in objects:
        result = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env)
        for line in result.stdout.splitlines():
            library = line.split("=>")[0].strip()
            if "=> not found" in line and library not in in_venv:
                missing.setdefault(library, set()).add(str(path.relative_to(root)))
    return missing


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def check_libraries(problems: list[str]) -> list[str]:
    notes = []
    for library, users in sorted(unresolved_libraries().items()):
        example = sorted(users)[0] + (f" and {len(users) - 1} more" if len(users) > 1 else "")
        optional = next((why for prefix, why in OPTIONAL_LIBRARIES.items() if library.startswith(prefix)), None)
        if library in DRIVER_LIBRARIES:
            notes.append(f"driver    {library}: injected by the NVIDIA runtime (needed by {example})")
        elif optional:
            notes.append(f"optional  {library}: {optional} (needed by {example})")
        else:
            problems.append(f"{library} is needed by {example} and is not in the image")
    return notes


def check_ffmpeg_gpu_codecs(problems: list[str], versions: dict[str, str]) -> None:
    decoders = subprocess.run(["ffmpeg", "-hide_banner", "-decoders"], capture_output=True, text=True, check=True)
    cuvid = sorted({w for w in decoders.stdout.split() if w.endswith("_cuvid")})
    _version, encoders = check_image.ffmpeg_facts()
    for name, present in (("h264_nvenc", "h264_nvenc" in encoders), ("h264_cuvid", "h264_cuvid" in cuvid)):
        if not present:
            problems.append(f"ffmpeg lacks {name} (NVENC/NVDEC through the driver's libraries)")
    versions["ffmpeg-decoders-gpu"] = ",".join(cuvid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", help="Curator extras the build installed [default: as recorded]")
    parser.add_argument("--leave-out", help="extras the build left out, e.g. vllm [default: as recorded]")
    parser.add_argument("--write", type=Path, help="write the versions found to this JSON file")
    args = parser.parse_args(argv)
    recorded = json.loads(VERSIONS_FILE.read_text()) if VERSIONS_FILE.is_file() else {}
    if args.leave_out is None:
        args.leave_out = recorded.get("left-out", "")
    if args.extras is None:
        args.extras = recorded.get("curator-extras", "video_cuda12,cv2")
    leave_out = {e for e in re.split(r"[,\s]+", args.leave_out) if e}
    extras = [e for e in re.split(r"[,\s]+", args.extras) if e]
    problems: list[str] = []
    # In this process the stub stands in for libcuda.so.1 from the start (a loaded SONAME satisfies
    # later NEEDED entries): Curator's GPU modules import pycuda.driver and cvcuda, which link it.
    if DRIVER_STUB.is_file():
        ctypes.CDLL(str(DRIVER_STUB), mode=ctypes.RTLD_GLOBAL)
    versions = check_image.check_stack(problems)
    versions["curator-extras"] = ",".join(extras)
    versions["left-out"] = ",".join(sorted(leave_out))
    check_cuda_imports(problems, versions)
    notes = check_curator_modules(problems, extras, leave_out)
    notes += check_libraries(problems)
    check_ffmpeg_gpu_codecs(problems, versions)
    for line in notes:
        print(line)
    for key, value in versions.items():
        print(f"{key:<20} {value}")
    if problems:
        print("\nthe cuda base image cannot run NeMo Curator's GPU stages:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print("cuda base check passed (no GPU used)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
