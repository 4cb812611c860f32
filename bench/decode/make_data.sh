#!/usr/bin/env bash
# Generates the decode benchmark's videos with the ffmpeg command line:
#   DIR/gop250/clipNN.mp4  x264 defaults (keyframe interval 250, scene cuts),
#                          like most downloaded Kinetics/SSv2 files;
#   DIR/gop16/clipNN.mp4   the same pictures with -g 16, what `vmae prepare`
#                          produces (short side 320, a keyframe every 16 frames).
# 568x320 (Kinetics-like 320p), 25 fps, SECONDS long, H.264 (libx264, preset
# medium, crf 23, yuv420p), no audio. Three lavfi sources in turn, so that the
# motion and texture (and thus the bitrate, 0.7-1.7 Mbit/s) are realistic:
#   0: mandelbrot zoom (fine texture everywhere, changing every frame)
#   1: testsrc2 (moving objects, text) plus temporal noise (sensor grain)
#   2: game of life with mould, upscaled (large moving blobs of colour)
# Files that exist are kept, so running it again is free.
#
# Usage: make_data.sh [DIR=/tmp/vmae-decode-bench] [FILES=12] [SECONDS=10]
set -euo pipefail

dir=${1:-/tmp/vmae-decode-bench}
files=${2:-12}
seconds=${3:-10}
size=568x320

source_for() {  # the lavfi graph of file $1
  local i=$1
  case $((i % 3)) in
    0) echo "mandelbrot=size=${size}:rate=25:start_scale=$(awk "BEGIN{print 3.0/(1+$i*0.25)}")" ;;
    1) echo "testsrc2=size=${size}:rate=25,noise=alls=10:allf=t+u:all_seed=$i" ;;
    2) echo "life=s=284x160:mold=25:r=25:ratio=0.1:seed=$i:death_color=#C83232:life_color=#00ff00:mold_color=#198EC8,scale=${size}:flags=bicubic" ;;
  esac
}

encode() {  # $1 graph, $2 output, $3... extra x264 options
  local graph=$1 out=$2
  shift 2
  [[ -s $out ]] && return 0
  ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "$graph" -t "$seconds" \
    -c:v libx264 -preset medium -crf 23 -pix_fmt yuv420p -threads 1 "$@" \
    -movflags +faststart "$out.tmp.mp4"
  mv "$out.tmp.mp4" "$out"
}

mkdir -p "$dir/gop250" "$dir/gop16"
for ((i = 0; i < files; i++)); do
  name=$(printf 'clip%02d.mp4' "$i")
  graph=$(source_for "$i")
  encode "$graph" "$dir/gop250/$name"
  encode "$graph" "$dir/gop16/$name" -g 16
done
echo "$dir: $files files x 2 keyframe intervals, ${seconds}s each"
