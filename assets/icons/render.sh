#!/usr/bin/env bash
# Renders the app icon from assets/deltadrop.svg into every size and container the
# platforms need; the results are checked in, so builds need none of these tools.
#   hicolor PNGs (Linux .deb, window icon): 16..512 px
#   deltadrop.ico (Windows exe resource, installer): 16, 24, 32, 48, 64, 128, 256 px
#   deltadrop.icns (macOS .app): 16..1024 px
# Needs Debian's librsvg2-bin (rsvg-convert), imagemagick (convert) and icnsutils (png2icns).
set -euo pipefail
cd "$(dirname "$0")"
svg=../deltadrop.svg
for size in 16 24 32 48 64 128 256 512 1024; do
  rsvg-convert -w "$size" -h "$size" "$svg" -o "deltadrop-$size.png"
done
convert deltadrop-16.png deltadrop-24.png deltadrop-32.png deltadrop-48.png \
  deltadrop-64.png deltadrop-128.png deltadrop-256.png deltadrop.ico
png2icns deltadrop.icns deltadrop-16.png deltadrop-32.png deltadrop-48.png \
  deltadrop-128.png deltadrop-256.png deltadrop-512.png deltadrop-1024.png >/dev/null
