#!/usr/bin/env python3
"""Realism of sprites as Kiln bakes them (hard alpha, palette, despeckle), against the
held-back real sprites of train_sprites.py: the same classifier and stray-pixel rate, on the
PNG files of a bake rather than on the raw model output.

    cargo run --release -- bake models/train/quality --out /tmp/quality
    python3 models/train/baked_sprite_quality.py /tmp/quality
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import realism
import train_sprites as sprites

ENTRIES = {"portrait": "portraits", "creature": "creatures"}  # class -> folder in the bake


def main(bake: Path) -> None:
    data, labels, held = sprites.load_pack()
    table = {}
    for c, name in enumerate(sprites.NAMES):
        step = sprites.SIZE // sprites.GRIDS[c]
        real = [s[::step, ::step] for s in data[held & (labels == c)][:400]]
        files = sorted((bake / ENTRIES[name]).glob("[0-9]*.png"), key=lambda p: int(p.stem))
        baked = []
        for path in files:
            image = np.asarray(Image.open(path).convert("RGBA"))
            art = image.shape[0] // sprites.GRIDS[c]  # file pixels per art pixel
            baked.append(image[::art, ::art])
        table[name] = {
            "baked_sprites": len(baked),
            "classifier_accuracy": round(realism.classifier_accuracy(real, baked), 3),
            "stray_rate_real": round(realism.stray_rate(real), 4),
            "stray_rate_baked": round(realism.stray_rate(baked), 4),
        }
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
