#!/usr/bin/env python3
"""Seam-score statistics of models/kiln_textures (docs/quality.md), next to the same score on
Crawl's own tiles repeated 2×2 — pixel art that is seamless by construction — so the score's
natural spread on structured art is on the page. Same formula as kiln_gen::texture::seam_score.

    pip install onnxruntime numpy && python3 models/train/seam_stats.py
"""

import numpy as np
import onnxruntime as ort

import realism
from common import manifest_classes, read_palettes
import train_textures as textures


def summary(scores) -> str:
    s = np.array(scores)
    return (f"median {np.median(s):.2f}, p90 {np.percentile(s, 90):.2f}, max {s.max():.2f}, "
            f"share <= 1.1: {(s <= 1.1).mean():.0%} (n={len(s)})")


def main() -> None:
    session = ort.InferenceSession(str(textures.OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    classes = len(manifest_classes(textures.OUT))
    palettes = read_palettes(textures.OUT / "palettes.png")  # as Kiln bakes them
    rng = np.random.default_rng(1)
    for cells in (8, 16, 32):
        scores = [realism.seam_score(t, textures.STRIDE)
                  for c in range(classes) for t in textures.generate(session, c, 8, cells, rng, palettes[c])]
        print(f"generated {cells * textures.STRIDE}px art, {classes} classes: {summary(scores)}")
    tiles, _, _, _ = textures.load_pack()
    repeated = [realism.seam_score(np.roll(np.tile(tile, (2, 2, 1)), (dy, dx), (0, 1)), textures.STRIDE)
                for tile in tiles for dy in range(0, 32, 8) for dx in range(0, 32, 8)]
    print(f"Crawl tiles repeated 2x2 (exactly seamless), every stride phase: {summary(repeated)}")


if __name__ == "__main__":
    main()
