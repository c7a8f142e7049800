#!/bin/sh
# pycuda for the cuda base image, built in a throwaway stage of base-images/cuda/Dockerfile.
#
# Why build it: PyPI ships pycuda as source only, and nemo-curator[video_cuda12] requires it
# (Curator's NVDEC helpers import pycuda.driver). It compiles against CUDA's headers and links
# libcuda, the driver's library, which no build host without a GPU has.
#
# Headers: the CUDA wheels already in the venv (torch's nvidia-* wheels ship include/ dirs with
# cuda.h and curand.h). libcuda: a stub generated from cuda.h's declarations, SONAME libcuda.so.1,
# every entry point returning CUDA_ERROR_NO_DEVICE; the wheel records the dependency on
# libcuda.so.1 and the NVIDIA runtime injects the real one. The stub is also kept (in
# $OUT/driver-stub) so the image's check can import pycuda.driver without a GPU; it is never on the
# image's library path.
#
#   OUT=/opt/pycuda sh build-pycuda.sh    ->  $OUT/wheels/pycuda-*.whl, $OUT/driver-stub/libcuda.so.1
set -eu

OUT=${OUT:-/opt/pycuda}
PYTHON=${PYTHON:-/opt/venv/bin/python}
ROOT=/tmp/cuda-build
site=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
header=$(ls "$site"/nvidia/cuda_runtime/include/cuda.h "$site"/nvidia/cu*/include/cuda.h 2>/dev/null | head -n 1)
[ -n "$header" ] || { echo "no cuda.h in the venv's nvidia wheels (is torch a CUDA build?)" >&2; exit 1; }
mkdir -p "$ROOT/lib64" "$OUT/wheels" "$OUT/driver-stub"

# cudaProfiler.h (cuProfilerStart/Stop) and crt/host_config.h (curand's headers) come in wheels torch does not
# pull (the profiler API, nvcc): take those of the runtime's CUDA release. This stage is thrown away.
cudart=$("$PYTHON" -c 'from importlib.metadata import version; print(".".join(version("nvidia-cuda-runtime-cu12").split(".")[:2]))')
"$PYTHON" -m pip install "nvidia-cuda-profiler-api-cu12==$cudart.*" "nvidia-cuda-nvcc-cu12==$cudart.*"
# The driver stub: every cu* function cudaProfiler.h and the cuda.h it includes declare (after macros: the _v2 names
# the extension links).
gcc -E -P -I "$(dirname "$header")" "$site/nvidia/cuda_profiler_api/include/cudaProfiler.h" |
  grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' (' | sort -u |
  awk '{print "int " $1 "(void) { return 100; }"}' > "$ROOT/stub.c"  # 100: CUDA_ERROR_NO_DEVICE
gcc -shared -fPIC -o "$ROOT/lib64/libcuda.so" -Wl,-soname,libcuda.so.1 "$ROOT/stub.c"
cp "$ROOT/lib64/libcuda.so" "$OUT/driver-stub/libcuda.so.1"
echo "driver stub: $(wc -l < "$ROOT/stub.c") entry points from $header"

# curand is linked too (pycuda.curandom); the wheel's library has only its versioned name.
curand=$(ls "$site"/nvidia/curand/lib/libcurand.so.* | head -n 1)
ln -sf "$curand" "$ROOT/lib64/libcurand.so"

includes=$(ls -d "$site"/nvidia/*/include | sed 's/.*/"&"/' | paste -sd, -)
# pycuda reads its build settings from this file. $ORIGIN: the extension finds libcurand in the venv's
# nvidia/curand wheel; --no-as-needed keeps libcuda.so.1 recorded whatever the linker's default.
cat > /etc/aksetup-defaults.py <<CONF
CUDA_ROOT = "$ROOT"
CUDA_INC_DIR = [$includes]
CUDADRV_LIB_DIR = ["$ROOT/lib64"]
CURAND_LIB_DIR = ["$ROOT/lib64"]
LDFLAGS = ["-Wl,--no-as-needed", "-Wl,-rpath,\$ORIGIN/../nvidia/curand/lib"]
CONF

"$PYTHON" -m pip wheel --no-deps --no-binary pycuda --wheel-dir "$OUT/wheels" "pycuda${PYCUDA_SPEC:-}"
rm -f /etc/aksetup-defaults.py
ls -l "$OUT/wheels"
