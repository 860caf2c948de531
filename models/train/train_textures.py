#!/usr/bin/env python3
"""Trains and exports `models/kiln_textures`: a conditional, fully convolutional texture
generator with circular padding (a class-conditional Spatial GAN), so any multiple-of-8 size
tiles seamlessly.

    models/train/fetch_data.sh textures
    python3 models/train/train_textures.py [--minutes 8]

Data: Dungeon Crawl Stone Soup floor/wall tiles (Debian crawl-tiles-data, CC0 / public domain
for most tiles), cut into material classes by the coordinates below.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from common import DATA, REPO, checkpoint_path, export_onnx, recalibrate_batchnorm, seed_everything
from sample_sheet import main as render_sample_sheet

CRAWL = DATA / "crawl/usr/share/crawl/dat/tiles"
OUT = REPO / "models/kiln_textures"
TILE = 32  # Crawl's grid
CROP = 64  # training crop; the generator's latent is CROP / STRIDE cells per side
STRIDE = 8
Z = 32

# Material classes: (sheet, row, first column, last column) in Crawl's 32 px grid.
CLASSES = {
    "grass": [("floor", 11, 26, 31), ("floor", 12, 0, 5)],
    "dirt": [("floor", 16, 13, 15), ("floor", 7, 8, 11)],
    "sand": [("floor", 10, 9, 16), ("floor", 16, 26, 31), ("floor", 17, 0, 3)],
    "stone_floor": [("floor", 15, 20, 26), ("floor", 0, 18, 26)],
    "cobblestone": [("floor", 14, 0, 2), ("floor", 9, 5, 8), ("floor", 10, 5, 8), ("wall", 15, 19, 22)],
    "brick_wall": [("wall", 3, 0, 7), ("wall", 4, 0, 7), ("wall", 4, 16, 23), ("wall", 6, 16, 23), ("wall", 13, 20, 26)],
    "mossy_stone": [("wall", 9, 18, 25), ("wall", 14, 3, 8)],
    "marble": [("floor", 17, 4, 13)],
}
NAMES = list(CLASSES)


def load_sources():
    """Per class: the 32 px tiles, as float32 [3, 32, 32] tensors in [-1, 1]."""
    sheets = {name: np.asarray(Image.open(CRAWL / f"{name}.png").convert("RGB")) for name in ("floor", "wall")}
    sources = []
    for regions in CLASSES.values():
        tiles = [
            sheets[sheet][row * TILE:(row + 1) * TILE, c * TILE:(c + 1) * TILE]
            for sheet, row, first, last in regions
            for c in range(first, last + 1)
        ]
        sources.append([torch.from_numpy(t.copy()).permute(2, 0, 1).float() / 127.5 - 1 for t in tiles])
    return sources


def sample_batch(sources, batch, rng):
    """Random class, then a CROP×CROP patch of 2×2 random tiles of that class, randomly rolled and mirrored."""
    classes = rng.integers(0, len(sources), batch)
    patches = []
    for c in classes:
        quad = [sources[c][rng.integers(len(sources[c]))] for _ in range(4)]
        patch = torch.cat([torch.cat(quad[:2], 2), torch.cat(quad[2:], 2)], 1)
        patch = torch.roll(patch, shifts=(int(rng.integers(CROP)), int(rng.integers(CROP))), dims=(1, 2))
        if rng.random() < 0.5:
            patch = patch.flip(2)
        patches.append(patch)
    return torch.stack(patches), torch.from_numpy(classes).long()


def circ_conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="circular")


class Generator(nn.Module):
    """z [N, Z, h, w] + class [N] -> image [N, 3, 8h, 8w] in [-1, 1]; every convolution wraps."""

    def __init__(self, classes):
        super().__init__()
        self.embed = nn.Embedding(classes, 32)
        self.body = nn.Sequential(
            circ_conv(Z + 32, 128), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="nearest"), circ_conv(128, 96), nn.BatchNorm2d(96), nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="nearest"), circ_conv(96, 48), nn.BatchNorm2d(48), nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="nearest"), circ_conv(48, 32), nn.BatchNorm2d(32), nn.ReLU(True),
            circ_conv(32, 3), nn.Tanh(),
        )

    def forward(self, z, label):
        cond = self.embed(label)[:, :, None, None].expand(-1, -1, z.shape[2], z.shape[3])
        return self.body(torch.cat([z, cond], 1))


class Discriminator(nn.Module):
    """Patch discriminator with a class projection (Miyato & Koyama 2018)."""

    def __init__(self, classes):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(3, 48, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(48, 96, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(96, 192, 4, 2, 1)), nn.LeakyReLU(0.2, True),
        )
        self.out = sn(nn.Conv2d(192, 1, 1))
        self.embed = sn(nn.Embedding(classes, 192))

    def forward(self, x, label):
        h = self.features(x)
        projection = (h * self.embed(label)[:, :, None, None]).sum(1, keepdim=True)
        return (self.out(h) + projection).mean((1, 2, 3))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=24)
    args = parser.parse_args()
    seed_everything(7)
    rng = np.random.default_rng(7)
    sources = load_sources()
    print("samples per class:", {n: len(s) for n, s in zip(NAMES, sources)})
    g, d = Generator(len(NAMES)), Discriminator(len(NAMES))
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    latent = CROP // STRIDE
    start, step = time.time(), 0
    while time.time() - start < args.minutes * 60:
        real, label = sample_batch(sources, args.batch, rng)
        z = torch.randn(args.batch, Z, latent, latent)
        fake = g(z, label)
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
    torch.save(g.state_dict(), checkpoint_path("kiln_textures"))
    recalibrate_batchnorm(g, lambda: (torch.randn(24, Z, CROP // STRIDE, CROP // STRIDE), torch.from_numpy(rng.integers(0, len(NAMES), 24)).long()))
    z = torch.randn(1, Z, 4, 4)
    sha = export_onnx(
        g, (z, torch.zeros(1, dtype=torch.long)), OUT / "model.onnx", ["z", "class"], ["image"],
        {"z": {0: "N", 2: "h", 3: "w"}, "class": {0: "N"}, "image": {0: "N", 2: "H", 3: "W"}},
    )
    write_manifest(sha, step, time.time() - start)
    render_sample_sheet(OUT)
    print(f"wrote {OUT / 'model.onnx'} ({(OUT / 'model.onnx').stat().st_size} bytes) and samples.png")


def write_manifest(sha: str, steps: int, seconds: float) -> None:
    classes = ", ".join(f'"{n}"' for n in NAMES)
    (OUT / "model.ron").write_text(f"""// Written by models/train/train_textures.py.
(
    name: "kiln_textures",
    description: "Seamless material textures ({len(NAMES)} classes), any size in steps of {STRIDE} px",
    sha256: "{sha}",
    licence: "CC0-1.0",
    provenance: (
        training_script: "models/train/train_textures.py",
        data: [
            (
                name: "Dungeon Crawl Stone Soup floor and wall tiles (dat/tiles/floor.png, wall.png)",
                source: "Debian package crawl-tiles-data 2:0.28.0",
                licence: "CC0-1.0",
            ),
        ],
        notes: "Crawl's tile licence states most tiles are CC0 / public domain; the tiles used were cut by \
the coordinates in the training script. Class-conditional Spatial GAN, {steps} steps ({seconds / 60:.1f} min on 2 CPU cores).",
    ),
    inputs: [
        (name: "z", dtype: F32, shape: ["N", {Z}, "h", "w"]),
        (name: "class", dtype: I64, shape: ["N"]),
    ],
    outputs: [(name: "image", dtype: F32, shape: ["N", 3, "H", "W"])],
    kind: ImageGenerator(
        latent: "z",
        class_input: "class",
        classes: [{classes}],
        output: "image",
        channels: Rgb,
        value_range: (-1.0, 1.0),
        stride: {STRIDE},
    ),
)
""")


if __name__ == "__main__":
    main()
