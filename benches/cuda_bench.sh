#!/usr/bin/env bash
# Whole-bake timings per execution provider on a GPU machine (docs/benchmarks.md, "On a GPU
# machine"): the example recipes, split by kind, and a set of large images, each with
# `--ep cpu`, `--ep cuda` and `--ep auto` (the large set: cpu and cuda); prints each bake's summary line (wall clock, time in
# session.run) and counts ONNX Runtime's WARN lines. Needs `kiln` (release) on PATH and
# ORT_DYLIB_PATH at an onnxruntime-gpu build; ../shared/gpu/prepare.sh packs it for a lent machine.
#   usage: bash benches/cuda_bench.sh [RUNS]
set -u
runs=${1:-3}
work=$(mktemp -d)
mkdir -p "$work/images" "$work/text" "$work/music" "$work/large"
cp assets/dungeon.kiln.ron assets/characters.kiln.ron assets/overworld.kiln.ron "$work/images/"
cp assets/lore.kiln.ron "$work/text/"
cp assets/music.kiln.ron "$work/music/"
cat > "$work/large/large.kiln.ron" <<'RON'
(
    assets: {
        "normals": (model: "kiln_textures", seed: 1, variants: 16, kind: Texture(size: (1024, 1024), class: "brick_wall", normal_map: true)),
        "plain": (model: "kiln_textures", seed: 2, variants: 16, kind: Texture(size: (1024, 1024), class: "stone_floor")),
        "huge": (model: "kiln_textures", seed: 3, variants: 4, kind: Texture(size: (2048, 2048), class: "marble")),
        "small": (model: "kiln_textures", seed: 4, variants: 256, kind: Texture(size: (64, 64), class: "grass")),
        "crowd": (model: "kiln_sprites", seed: 5, variants: 256, kind: Sprite(class: "portrait", palette: 12, scale: 2)),
        "horde": (model: "kiln_sprites", seed: 6, variants: 256, kind: Sprite(class: "creature", palette: 10, scale: 2)),
    },
)
RON
bake() { # label recipes ep
  local started=$(date +%s.%N) out="$work/out-$RANDOM$RANDOM"
  kiln bake "$2" --out "$out" --ep "$3" > "$work/stdout" 2> "$work/stderr"
  local rc=$? ended=$(date +%s.%N)
  printf '%-8s %-5s rc=%s wall=%.3fs warn=%s | %s\n' "$1" "$3" "$rc" "$(awk "BEGIN { print $ended - $started }")" \
    "$(grep -c WARN "$work/stderr")" "$(grep -Eo 'in [0-9.]+s \([0-9.]+s in session.run\)' "$work/stdout" | tail -1)"
  [ "$rc" = 0 ] || tail -n 5 "$work/stderr"
  rm -rf "$out"
}
kiln bake assets --out "$work/warm" --ep cuda > /dev/null 2>&1  # first CUDA start (driver, kernels) not counted
for set in assets images text music; do
  dir=$work/$set; [ "$set" = assets ] && dir=assets
  for ep in cpu cuda auto; do
    for run in $(seq "$runs"); do bake "$set" "$dir" "$ep"; done
  done
done
for ep in cpu cuda; do bake large "$work/large" "$ep"; done
kiln bake assets --out "$work/verbose" --ep cuda -v 2>&1 | grep -E 'WARN|onnxruntime' | sort | uniq -c | head -n 8
rm -rf "$work"
