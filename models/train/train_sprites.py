#!/usr/bin/env python3
"""Trains and exports `models/kiln_sprites`: a class-conditional DCGAN of 32×32 RGBA pixel-art
sprites drawn on a 16×16 art grid (classes: portrait, creature). Logs the batch spread so a collapse onto one sprite shows.

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

from common import DATA, REPO, checkpoint_path, export_onnx, recalibrate_batchnorm, seed_everything
from sample_sheet import main as render_sample_sheet

OUT = REPO / "models/kiln_sprites"
NAMES = ["portrait", "creature"]
SIZE = 32  # output size
GRID = 16  # art resolution: every art pixel is a 2×2 block of the output, as in DiceBear's art
Z = 64
PORTRAITS = 4096


def portraits() -> np.ndarray:
    """DiceBear portraits as [N, 16, 16, 4] uint8, rendered once into the data cache."""
    atlas = DATA / "sprites" / f"dicebear-{PORTRAITS}.png"
    if not atlas.exists():
        atlas.parent.mkdir(parents=True, exist_ok=True)
        node_dir = DATA / "node"  # ES modules resolve packages next to the script
        shutil.copy(REPO / "models/train/render_dicebear.mjs", node_dir / "render_dicebear.mjs")
        subprocess.run(["node", "render_dicebear.mjs", str(PORTRAITS), str(atlas)], cwd=node_dir, check=True)
    # DiceBear draws on a 16×16 grid; rendered at 32 px with crisp edges every art pixel is an
    # exact 2×2 block, so taking every other pixel recovers the art losslessly.
    return cells(np.asarray(Image.open(atlas).convert("RGBA")))[:PORTRAITS, ::2, ::2]


def creatures() -> np.ndarray:
    """Crawl creature sprites as [N, 16, 16, 4] uint8. player.png packs sprites of varying width
    without a grid, so sprites are cut out as 8-connected alpha components of its first 322 rows;
    those that fit 32×46 are centred in a 46×46 square and box-filtered to the 16×16 art grid
    (alpha re-thresholded so edges stay hard)."""
    sheet = np.asarray(Image.open(DATA / "crawl/usr/share/crawl/dat/tiles/player.png").convert("RGBA"))[:322]
    tiles = []
    for x0, y0, x1, y1, pixels in alpha_components(sheet[..., 3] > 0):
        w, h = x1 - x0, y1 - y0
        if pixels < 250 or w > 32 or h > 46:
            continue
        square = Image.new("RGBA", (46, 46))
        square.paste(Image.fromarray(sheet[y0:y1, x0:x1]), ((46 - w) // 2, 46 - h))
        tile = np.asarray(square.resize((GRID, GRID), Image.BOX)).copy()
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
    """z [N, Z] + class [N] -> RGBA image [N, 4, 32, 32] in [-1, 1]: a conditional DCGAN that
    draws on the 16×16 art grid, then doubles each art pixel (nearest) to 32×32."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes
        self.draw = nn.Sequential(
            nn.ConvTranspose2d(Z + classes, 256, 4, 1, 0), nn.BatchNorm2d(256), nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 4, 4, 2, 1), nn.Tanh(),
        )
        self.upscale = nn.Upsample(scale_factor=SIZE // GRID, mode="nearest")

    def art(self, z, label):
        """The 16×16 drawing, as the discriminator sees it."""
        onehot = F.one_hot(label, self.classes).to(z.dtype)
        return self.draw(torch.cat([z, onehot], 1)[:, :, None, None])

    def forward(self, z, label):
        return self.upscale(self.art(z, label))


class Discriminator(nn.Module):
    """16×16 image + class planes -> real/fake logit (conditional DCGAN)."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes
        self.body = nn.Sequential(
            nn.Conv2d(4 + classes, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 1, 4, 1, 0),
        )

    def forward(self, x, label):
        planes = F.one_hot(label, self.classes).to(x.dtype)[:, :, None, None].expand(-1, -1, GRID, GRID)
        return self.body(torch.cat([x, planes], 1)).flatten()


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
    bce = nn.BCEWithLogitsLoss()
    start, step = time.time(), 0
    while time.time() - start < args.minutes * 60:
        label = torch.from_numpy(rng.integers(0, len(NAMES), args.batch)).long()
        real = torch.stack([data[c][rng.integers(len(data[c]))] for c in label.tolist()])
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        real[flip] = real[flip].flip(3)
        fake = g.art(torch.randn(args.batch, Z), label)
        # One-sided label smoothing (0.9) keeps the discriminator from overpowering the generator.
        loss_d = bce(d(real, label), torch.full((args.batch,), 0.9)) + bce(d(fake.detach(), label), torch.zeros(args.batch))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake, label), torch.ones(args.batch))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 200 == 0:
            # Spread across the batch: near 0 means the generator collapsed onto one sprite.
            spread = fake.detach().std(0).mean().item()
            print(f"step {step} {time.time() - start:.0f}s loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f} spread {spread:.3f}", flush=True)
        step += 1
    print(f"trained {step} steps in {time.time() - start:.0f}s")
    torch.save(g.state_dict(), checkpoint_path("kiln_sprites"))
    recalibrate_batchnorm(g, lambda: (torch.randn(64, Z), torch.from_numpy(rng.integers(0, len(NAMES), 64)).long()))
    sha = export_onnx(
        g, (torch.randn(1, Z), torch.zeros(1, dtype=torch.long)), OUT / "model.onnx", ["z", "class"], ["image"],
        {"z": {0: "N"}, "class": {0: "N"}, "image": {0: "N"}},
    )
    write_manifest(sha, step, time.time() - start, [len(x) for x in data])
    render_sample_sheet(OUT)
    print(f"wrote {OUT / 'model.onnx'} ({(OUT / 'model.onnx').stat().st_size} bytes)")


def write_manifest(sha: str, steps: int, seconds: float, counts: list[int]) -> None:
    (OUT / "model.ron").write_text(f"""// Written by models/train/train_sprites.py.
(
    name: "kiln_sprites",
    description: "32x32 RGBA pixel-art character sprites on a 16x16 art grid: portrait or creature",
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
                name: "Dungeon Crawl Stone Soup creature tiles ({counts[1]} sprites cut from the first 322 rows of dat/tiles/player.png, scaled to the 16x16 art grid)",
                source: "Debian package crawl-tiles-data 2:0.28.0",
                licence: "CC0-1.0",
            ),
        ],
        notes: "Crawl's tile licence states most tiles are CC0 / public domain. \
Class-conditional DCGAN (one-hot class planes, BCE with one-sided label smoothing), {steps} steps ({seconds / 60:.1f} min on 2 CPU cores).",
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
