#!/usr/bin/env python3
"""Trains and exports `models/kiln_sprites`: a class-conditional DCGAN of 32×32 RGBA pixel-art
sprites (classes: portrait, creature).

    models/train/fetch_data.sh sprites
    python3 models/train/train_sprites.py [--minutes 8]

Data: DiceBear pixel-art portraits (npm @dicebear/pixel-art 9, design CC0 / code MIT), rendered
by render_dicebear.mjs; Dungeon Crawl Stone Soup creature tiles (Debian crawl-tiles-data,
dat/tiles/player.png, sprites cut out of its first 322 rows; CC0 / public domain for most tiles).
"""

import argparse
import shutil
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from common import DATA, REPO, export_onnx, save_sheet, seed_everything, to_uint8

OUT = REPO / "models/kiln_sprites"
NAMES = ["portrait", "creature"]
SIZE = 32
Z = 64
PORTRAITS = 4096


def portraits() -> np.ndarray:
    """DiceBear portraits as [N, 32, 32, 4] uint8, rendered once into the data cache."""
    atlas = DATA / "sprites" / f"dicebear-{PORTRAITS}.png"
    if not atlas.exists():
        atlas.parent.mkdir(parents=True, exist_ok=True)
        node_dir = DATA / "node"  # ES modules resolve packages next to the script
        shutil.copy(REPO / "models/train/render_dicebear.mjs", node_dir / "render_dicebear.mjs")
        subprocess.run(["node", "render_dicebear.mjs", str(PORTRAITS), str(atlas)], cwd=node_dir, check=True)
    return cells(np.asarray(Image.open(atlas).convert("RGBA")))[:PORTRAITS]


def creatures() -> np.ndarray:
    """Crawl creature sprites as [N, 32, 32, 4] uint8. player.png packs sprites of varying width
    without a grid, so sprites are cut out as 8-connected alpha components of its first 322 rows;
    those that fit 32×46 are centred in a 46×46 square and box-filtered to 32×32 (alpha
    re-thresholded so edges stay hard)."""
    sheet = np.asarray(Image.open(DATA / "crawl/usr/share/crawl/dat/tiles/player.png").convert("RGBA"))[:322]
    tiles = []
    for x0, y0, x1, y1, pixels in alpha_components(sheet[..., 3] > 0):
        w, h = x1 - x0, y1 - y0
        if pixels < 250 or w > 32 or h > 46:
            continue
        square = Image.new("RGBA", (46, 46))
        square.paste(Image.fromarray(sheet[y0:y1, x0:x1]), ((46 - w) // 2, 46 - h))
        tile = np.asarray(square.resize((SIZE, SIZE), Image.BOX)).copy()
        tile[..., 3] = np.where(tile[..., 3] >= 128, 255, 0)
        tiles.append(tile)
    return np.stack(tiles)


def alpha_components(mask: np.ndarray):
    """Bounding boxes (x0, y0, x1, y1, pixel count) of the 8-connected components of `mask`."""
    seen = np.zeros_like(mask)
    height, width = mask.shape
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        seen[y, x] = True
        stack, box, count = [(y, x)], [x, y, x, y], 0
        while stack:
            cy, cx = stack.pop()
            count += 1
            box = [min(box[0], cx), min(box[1], cy), max(box[2], cx), max(box[3], cy)]
            for ny in range(max(cy - 1, 0), min(cy + 2, height)):
                for nx in range(max(cx - 1, 0), min(cx + 2, width)):
                    if mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        yield box[0], box[1], box[2] + 1, box[3] + 1, count


def cells(sheet: np.ndarray) -> np.ndarray:
    rows, cols = sheet.shape[0] // SIZE, sheet.shape[1] // SIZE
    return sheet[: rows * SIZE, : cols * SIZE].reshape(rows, SIZE, cols, SIZE, 4).swapaxes(1, 2).reshape(-1, SIZE, SIZE, 4)


def to_tensor(tiles: np.ndarray) -> torch.Tensor:
    """uint8 RGBA -> [-1, 1], with fully transparent pixels' colour zeroed so alpha alone carries shape."""
    tiles = tiles.copy()
    tiles[tiles[..., 3] < 128] = 0
    return torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 127.5 - 1


class Generator(nn.Module):
    """z [N, Z] + class [N] -> RGBA image [N, 4, 32, 32] in [-1, 1]."""

    def __init__(self, classes):
        super().__init__()
        self.embed = nn.Embedding(classes, 32)
        self.project = nn.Sequential(nn.Linear(Z + 32, 256 * 4 * 4), nn.ReLU(True))
        self.body = nn.Sequential(
            nn.BatchNorm2d(256),
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 48, 4, 2, 1), nn.BatchNorm2d(48), nn.ReLU(True),
            nn.Conv2d(48, 4, 3, padding=1), nn.Tanh(),
        )

    def forward(self, z, label):
        h = self.project(torch.cat([z, self.embed(label)], 1))
        return self.body(h.view(-1, 256, 4, 4))


class Discriminator(nn.Module):
    def __init__(self, classes):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(4, 64, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(64, 128, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(128, 256, 4, 2, 1)), nn.LeakyReLU(0.2, True),
        )
        self.out = sn(nn.Linear(256 * 16, 1))
        self.embed = sn(nn.Embedding(classes, 256 * 16))

    def forward(self, x, label):
        h = self.features(x).flatten(1)
        return (self.out(h) + (h * self.embed(label)).sum(1, keepdim=True)).squeeze(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    seed_everything(11)
    rng = np.random.default_rng(11)
    data = [to_tensor(portraits()), to_tensor(creatures())]
    print("samples per class:", {n: len(d) for n, d in zip(NAMES, data)})
    g, d = Generator(len(NAMES)), Discriminator(len(NAMES))
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    start, step = time.time(), 0
    while time.time() - start < args.minutes * 60:
        label = torch.from_numpy(rng.integers(0, len(NAMES), args.batch)).long()
        real = torch.stack([data[c][rng.integers(len(data[c]))] for c in label.tolist()])
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        real[flip] = real[flip].flip(3)
        fake = g(torch.randn(args.batch, Z), label)
        loss_d = F.relu(1 - d(real, label)).mean() + F.relu(1 + d(fake.detach(), label)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = -d(fake, label).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 200 == 0:
            print(f"step {step} {time.time() - start:.0f}s loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f}", flush=True)
        step += 1
    print(f"trained {step} steps in {time.time() - start:.0f}s")

    g.eval()
    sha = export_onnx(
        g, (torch.randn(1, Z), torch.zeros(1, dtype=torch.long)), OUT / "model.onnx", ["z", "class"], ["image"],
        {"z": {0: "N"}, "class": {0: "N"}, "image": {0: "N"}},
    )
    write_manifest(sha, step, time.time() - start, [len(x) for x in data])
    with torch.no_grad():
        rows = [list(to_uint8(g(torch.randn(12, Z), torch.full((12,), c)))) for c in range(len(NAMES)) for _ in range(2)]
    save_sheet(rows, OUT / "samples-raw.png", scale=3)
    print(f"wrote {OUT / 'model.onnx'} ({(OUT / 'model.onnx').stat().st_size} bytes)")


def write_manifest(sha: str, steps: int, seconds: float, counts: list[int]) -> None:
    (OUT / "model.ron").write_text(f"""// Written by models/train/train_sprites.py.
(
    name: "kiln_sprites",
    description: "32x32 RGBA pixel-art character sprites: portrait or creature",
    sha256: "{sha}",
    licence: "CC0-1.0",
    provenance: (
        training_script: "models/train/train_sprites.py",
        data: [
            (
                name: "DiceBear pixel-art portraits ({counts[0]} rendered by models/train/render_dicebear.mjs)",
                source: "npm packages @dicebear/core 9, @dicebear/pixel-art 9, rendered with @resvg/resvg-js 2",
                licence: "CC0-1.0 (design), MIT (code)",
            ),
            (
                name: "Dungeon Crawl Stone Soup creature tiles ({counts[1]} sprites cut from the first 322 rows of dat/tiles/player.png, scaled to 32x32)",
                source: "Debian package crawl-tiles-data 2:0.28.0",
                licence: "CC0-1.0",
            ),
        ],
        notes: "Crawl's tile licence states most tiles are CC0 / public domain. \
Class-conditional DCGAN with a projection discriminator, {steps} steps ({seconds / 60:.1f} min on 2 CPU cores).",
    ),
    inputs: [
        (name: "z", dtype: F32, shape: ["N", {Z}]),
        (name: "class", dtype: I64, shape: ["N"]),
    ],
    outputs: [(name: "image", dtype: F32, shape: ["N", 4, {SIZE}, {SIZE}])],
    kind: ImageGenerator(
        latent: "z",
        class_input: "class",
        classes: [{", ".join(f'"{n}"' for n in NAMES)}],
        output: "image",
        channels: Rgba,
        value_range: (-1.0, 1.0),
    ),
)
""")


if __name__ == "__main__":
    main()
