#!/bin/sh
# ffmpeg for the curator base image, built in a throwaway stage of Dockerfile.base.
#
# Why build it: NeMo Curator's software clip encoders are libvpx-vp9 and libopenh264, and the
# motion filter reads motion vectors only from H.264 clips. Debian's and Ubuntu's ffmpeg
# packages leave libopenh264 out, so a CPU image could only write VP9 (the motion filter then
# scores every clip -1.0). The distribution packages libopenh264 itself, so this builds the
# distribution's own ffmpeg source (`apt-get source`, its patches applied) against it.
#
# A minimal, static-libav build: --disable-everything, then only what Curator's video path uses
# (ClipTranscodingStage, frame extraction, previews, windowing, ffprobe metadata), so it compiles
# in minutes on two cores. The binaries link the external codec libraries dynamically; their
# runtime packages are listed in $PREFIX/runtime-packages for the final stage to install, so no
# compiler or header reaches the image. NVENC/NVDEC are compiled in where the distribution
# packages the nv-codec headers: they load the driver's libraries only when used.
set -eu

PREFIX=${PREFIX:-/opt/ffmpeg}
export DEBIAN_FRONTEND=noninteractive

# Source packages from the suites the image already uses (one-line and deb822 sources).
if [ -f /etc/apt/sources.list ]; then
  sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list > /etc/apt/sources.list.d/ffmpeg-src.list
fi
for sources in /etc/apt/sources.list.d/*.sources; do
  [ -f "$sources" ] && sed -i 's/^Types: deb$/Types: deb deb-src/' "$sources"
done
apt-get update

build_deps="build-essential dpkg-dev pkg-config nasm zlib1g-dev
  libopenh264-dev libvpx-dev libx264-dev libwebp-dev libdav1d-dev"
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $build_deps
nvcodec=""
if apt-get install -y --no-install-recommends libffmpeg-nvenc-dev; then
  nvcodec="--enable-ffnvcodec --enable-cuda --enable-cuvid --enable-nvdec --enable-nvenc"
fi

mkdir -p /tmp/ffmpeg-src
cd /tmp/ffmpeg-src
apt-get source --only-source ffmpeg
cd "$(find . -mindepth 1 -maxdepth 1 -type d -name 'ffmpeg-*' | head -n 1)"
# `ffmpeg -version` then names the source it came from, e.g. 5.1.9-0+deb12u1.
revision=$(dpkg-parsechangelog -S Version | sed 's/^[0-9]*://; s/^[^-]*-//')

# Comma lists for configure; unquoted $* folds the lines into single spaces.
csv() { echo $* | tr ' ' ','; }
encoders=$(csv "libopenh264 libvpx_vp9 libvpx_vp8 libx264 libwebp libwebp_anim mpeg4 mjpeg png rawvideo
  aac flac pcm_s16le h264_nvenc hevc_nvenc av1_nvenc")
decoders=$(csv "h264 hevc vp8 vp9 libdav1d av1 mpeg4 mpeg1video mpeg2video h263 mjpeg png webp prores rawvideo
  aac mp3 mp3float opus vorbis flac pcm_s16le pcm_s16be pcm_s24le pcm_f32le
  h264_cuvid hevc_cuvid vp9_cuvid av1_cuvid")
hwaccels=$(csv "h264_nvdec hevc_nvdec vp9_nvdec av1_nvdec")
muxers=$(csv "mp4 mov matroska webm webp ivf h264 hevc rawvideo image2 image2pipe null wav adts")
demuxers=$(csv "mov matroska avi ivf h264 hevc m4v mpegts mpegps flv rawvideo image2 image2pipe
  image_png_pipe image_jpeg_pipe image_webp_pipe wav mp3 aac ogg flac concat")
parsers=$(csv "h264 hevc vp8 vp9 av1 mpeg4video mpegvideo h263 mjpeg png webp aac mpegaudio opus vorbis flac")
filters=$(csv "scale fps select setpts format null copy crop pad trim split hflip vflip transpose
  aformat anull atrim aresample asetpts testsrc testsrc2 color nullsrc anullsrc sine
  hwupload hwdownload hwupload_cuda")

# shellcheck disable=SC2086
./configure \
  --prefix="$PREFIX" --extra-version="$revision" \
  --enable-gpl --disable-postproc \
  --disable-autodetect --disable-everything \
  --disable-doc --disable-ffplay --disable-debug --disable-network \
  --enable-pthreads --enable-zlib \
  --enable-libopenh264 --enable-libvpx --enable-libx264 --enable-libwebp --enable-libdav1d \
  $nvcodec \
  --enable-encoder="$encoders" --enable-decoder="$decoders" --enable-hwaccel="$hwaccels" \
  --enable-muxer="$muxers" --enable-demuxer="$demuxers" --enable-parser="$parsers" \
  --enable-bsfs --enable-protocol=file,pipe --enable-indev=lavfi --enable-filter="$filters"
make -j"$(nproc)"
make install

# The runtime packages of the shared libraries the binaries load (libopenh264-7, libvpx7, ...).
ldd "$PREFIX/bin/ffmpeg" "$PREFIX/bin/ffprobe" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  while read -r lib; do dpkg -S "$(basename "$lib")" 2>/dev/null | sed -n '1s/:.*//p'; done |
  grep -v -- '-dev$' | sort -u > "$PREFIX/runtime-packages"
echo "ffmpeg runtime packages: $(tr '\n' ' ' < "$PREFIX/runtime-packages")"
"$PREFIX/bin/ffmpeg" -hide_banner -version | head -n 1
rm -rf "$PREFIX/share" "$PREFIX/include" "$PREFIX/lib"
