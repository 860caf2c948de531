#!/usr/bin/env python3
"""Renders a model's sample sheet from its shipped ONNX file (so the sheet shows exactly the
bytes in models/), with the same latent shapes Kiln feeds it.

    python3 models/train/sample_sheet.py models/kiln_textures    # needs: pip install onnxruntime pillow
"""

import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

import realism
from common import manifest_classes, read_palettes, save_sheet


def main(folder: Path) -> None:
    manifest = (folder / "model.ron").read_text()
    classes = manifest_classes(folder)
    stride = re.search(r"stride: (\d+)", manifest)
    latent = re.search(r'\(name: "z", dtype: F32, shape: \[([^\]]*)\]\)', manifest).group(1)
    z_channels = int(latent.split(",")[1])
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    palettes = read_palettes(folder / "palettes.png") if 'palettes: "palettes.png"' in manifest else None
    rng = np.random.default_rng(2026)
    rows = []
    for index, _ in enumerate(classes):
        for _ in range(1 if stride else 2):
            count = 4 if stride else 12
            shape = (count, z_channels, 8, 8) if stride else (count, z_channels)
            z = rng.standard_normal(shape).astype(np.float32)
            (image,) = session.run(None, {"z": z, "class": np.full(count, index, dtype=np.int64)})
            tiles = ((np.clip(image, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
            if palettes is not None:  # as Kiln draws them: each pixel in its class's art palette
                tiles = np.stack([realism.snap_to_palette(t, palettes[index]) for t in tiles])
            # Textures are shown tiled 2×2 so any seam would be visible.
            rows.append([np.tile(t, (2, 2, 1)) for t in tiles] if stride else list(tiles))
    save_sheet(rows, folder / "samples.png", scale=1 if stride else 3)
    print(f"wrote {folder / 'samples.png'}: rows are classes {classes}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
