#!/usr/bin/env python3
"""Trains and exports `models/kiln_sprites`: class-conditional 32×32 RGBA pixel-art sprites.
Portraits are drawn on DiceBear's 16×16 art grid (the model averages each 2×2 block and
repeats it, in the graph), creatures on Crawl's native 32×32 grid.

    models/train/fetch_data.sh sprites
    python3 models/train/train_sprites.py [--minutes 60]     # resumes from its checkpoint
    python3 models/train/train_sprites.py --export-only      # export + realism table + sheets

Data: DiceBear pixel-art portraits (npm @dicebear/pixel-art 9, design CC0 / code MIT), rendered
by render_dicebear.mjs; Dungeon Crawl Stone Soup monster tiles (Debian crawl-tiles-data,
dat/tiles/player.png, cut out by crawl_monsters.py: 686 since session 19, 278 before, which the
shipped weights trained on; CC0 / public domain for most tiles). One sprite in five is held back
for the realism measures and never trained on.

Architecture: z [N, 64] and the class embedding → mapping network → style; a 4×4 learned
start, FiLM-modulated blocks up to 32×32 (PixelNorm, no BatchNorm: Kiln runs one variant at a
time); spectral-norm projection discriminator with a minibatch standard deviation channel, hinge loss,
DiffAugment, a mode-seeking term against collapse; EMA weights exported.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

import gan
import realism
from common import DATA, REPO, export_onnx, save_sheet, seed_everything
from crawl_monsters import monsters
from sample_sheet import main as render_sample_sheet

OUT = REPO / "models/kiln_sprites"
PACK = DATA / "packs/sprites-v2.npz"  # v2: creatures cut shelf by shelf (crawl_monsters.py)
NAMES = ["portrait", "creature"]
GRIDS = [16, 32]  # art grid per class
SIZE = 32  # output size
Z = 64
STYLE = 128
PORTRAITS = 4096


def is_held_back(index: int) -> bool:
    """One sprite in five of each class is kept out of training for the realism measures."""
    return index % 5 == 2


def portraits() -> np.ndarray:
    """DiceBear portraits as [N, 32, 32, 4] uint8 (16×16 art, each art pixel a 2×2 block),
    rendered once into the data cache."""
    atlas = DATA / "sprites" / f"dicebear-{PORTRAITS}.png"
    if not atlas.exists():
        atlas.parent.mkdir(parents=True, exist_ok=True)
        node_dir = DATA / "node"  # ES modules resolve packages next to the script
        shutil.copy(REPO / "models/train/render_dicebear.mjs", node_dir / "render_dicebear.mjs")
        subprocess.run(["node", "render_dicebear.mjs", str(PORTRAITS), str(atlas)], cwd=node_dir, check=True)
    return cells(np.asarray(Image.open(atlas).convert("RGBA")))[:PORTRAITS]


def cells(sheet: np.ndarray) -> np.ndarray:
    rows, cols = sheet.shape[0] // SIZE, sheet.shape[1] // SIZE
    return sheet[: rows * SIZE, : cols * SIZE].reshape(rows, SIZE, cols, SIZE, 4).swapaxes(1, 2).reshape(-1, SIZE, SIZE, 4)


def build_pack():
    """Writes PACK: sprites [N, 32, 32, 4] uint8, class, held back."""
    data = [portraits(), monsters()]
    labels = np.concatenate([np.full(len(d), c) for c, d in enumerate(data)])
    held = np.concatenate([[is_held_back(i) for i in range(len(d))] for d in data])
    PACK.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PACK, sprites=np.concatenate(data), labels=labels, held=np.array(held))


def load_pack():
    if not PACK.exists():
        build_pack()
    pack = np.load(PACK)
    return pack["sprites"], pack["labels"], pack["held"]


def to_tensor(sprites: np.ndarray) -> torch.Tensor:
    """uint8 RGBA -> [-1, 1], with transparent pixels' colour zeroed so alpha alone carries shape."""
    sprites = sprites.copy()
    sprites[sprites[..., 3] < 128] = 0
    return torch.from_numpy(sprites).permute(0, 3, 1, 2).float() / 127.5 - 1


class Generator(nn.Module):
    """z [N, 64] + class [N] -> RGBA image [N, 4, 32, 32] in [-1, 1], on the class's art grid."""

    def __init__(self, classes, widths=(256, 128, 64, 32)):
        super().__init__()
        self.embed = nn.Embedding(classes, STYLE)
        self.mapping = nn.Sequential(nn.Linear(Z + STYLE, STYLE), nn.LeakyReLU(0.2), nn.Linear(STYLE, STYLE), nn.LeakyReLU(0.2))
        self.start = nn.Linear(STYLE, widths[0] * 16)
        self.blocks = nn.ModuleList(
            nn.ModuleList([gan.ModulatedBlock(widths[max(i - 1, 0)], w, STYLE), gan.ModulatedBlock(w, w, STYLE)]) for i, w in enumerate(widths)
        )
        self.to_rgba = nn.Conv2d(widths[-1], 4, 3, padding=1)
        # 1 where the class draws on the full 32×32 grid, 0 where on 16×16 (2×2 blocks).
        self.register_buffer("full_grid", torch.tensor([float(g == SIZE) for g in GRIDS]))

    def forward(self, z, label):
        z = z * torch.rsqrt((z * z).mean(1, keepdim=True) + 1e-8)  # PixelNorm of the latent (StyleGAN)
        style = self.mapping(torch.cat([z, self.embed(label)], 1))
        x = self.start(style).unflatten(1, (-1, 4, 4))
        for i, (first, second) in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = second(first(x, style), style)
        image = torch.tanh(self.to_rgba(x))
        blocky = F.interpolate(F.avg_pool2d(image, 2), scale_factor=2.0, mode="nearest")
        full = self.full_grid[label][:, None, None, None]
        return full * image + (1 - full) * blocky


class Discriminator(nn.Module):
    """32×32 RGBA -> real/fake score with a class projection, spectral norm and a minibatch
    standard deviation channel (the first version without it collapsed onto one sprite per class)."""

    def __init__(self, classes):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(4, 64, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(64, 128, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(128, 256, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            gan.MinibatchStd(),
            sn(nn.Conv2d(257, 512, 4, 2, 1)), nn.LeakyReLU(0.2, True),
        )
        self.out = sn(nn.Linear(512, 1))
        self.embed = sn(nn.Embedding(classes, 512))

    def forward(self, x, label):
        h = self.features(x).sum((2, 3))
        return self.out(h).flatten() + (h * self.embed(label)).sum(1)


def kiln_sprites(image: np.ndarray) -> np.ndarray:
    """Model output [N, 4, 32, 32] in [-1, 1] -> uint8 RGBA with hard alpha, as Kiln bakes it."""
    rgba = ((np.clip(image, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1).copy()
    rgba[..., 3] = np.where(rgba[..., 3] >= 128, 255, 0)
    rgba[rgba[..., 3] == 0] = 0
    return rgba


def generate(session, label: int, count: int, rng) -> np.ndarray:
    z = rng.standard_normal((count, Z)).astype(np.float32)
    (image,) = session.run(None, {"z": z, "class": np.full(count, label, dtype=np.int64)})
    return kiln_sprites(image)


PALETTES = [12, 10]  # what the example recipes (assets/characters.kiln.ron) ask for


def evaluate(sprites, labels, held, count=400):
    """The realism table per class: classifier accuracy (hard alpha; and with the example
    recipes' palette), stray-pixel rate, generated vs held-back real sprites."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2026)
    table = {}
    for c, name in enumerate(NAMES):
        step = SIZE // GRIDS[c]  # measured on the art grid: one art pixel each
        real = [s[::step, ::step] for s in sprites[held & (labels == c)][:count]]
        fake = [s[::step, ::step] for s in generate(session, c, count, rng)]
        paletted = [realism.median_cut(s, PALETTES[c]) for s in fake]
        trained = [s[::step, ::step] for s in sprites[~held & (labels == c)][:count]]
        table[name] = {
            "classifier_accuracy": round(realism.classifier_accuracy(real, fake), 3),
            # The same test between two sets of real sprites (held back vs trained on): its floor here.
            "classifier_accuracy_real_vs_real": round(realism.classifier_accuracy(real, trained), 3),
            f"classifier_accuracy_palette_{PALETTES[c]}": round(realism.classifier_accuracy(real, paletted), 3),
            "stray_rate_real": round(realism.stray_rate(real), 4),
            "stray_rate_generated": round(realism.stray_rate(fake), 4),
            f"stray_rate_generated_palette_{PALETTES[c]}": round(realism.stray_rate(paletted), 4),
            "held_back_real": len(real),
        }
    return table


def comparison_sheet(sprites, labels):
    """Real sprites | generated sprites, two rows per class, at 3× (README)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    rows = []
    for c in range(len(NAMES)):
        real = sprites[labels == c][rng.permutation((labels == c).sum())[:12]]
        fake = generate(session, c, 12, rng)
        blank = np.zeros((SIZE, SIZE, 4), np.uint8)
        rows += [list(real[:6]) + [blank] + list(fake[:6]), list(real[6:]) + [blank] + list(fake[6:])]
    save_sheet(rows, OUT / "real_vs_generated.png", scale=3)


def main():
    parser = gan.arguments()
    args = parser.parse_args()
    seed_everything(11)
    sprites, labels, held = load_pack()
    if args.pack_only:
        print(f"wrote {PACK}")
        return
    print("training sprites per class:", {n: int(((labels == c) & ~held).sum()) for c, n in enumerate(NAMES)})
    g = Generator(len(NAMES))
    if args.export_only:
        steps = gan.load_exported("kiln_sprites", g)
    else:
        if args.from_shipped:
            gan.start_from_exported("kiln_sprites", Generator(len(NAMES)), OUT)
        dev = gan.device()
        rng = np.random.default_rng(11)
        train = to_tensor(sprites[~held]).to(dev)
        by_class = [np.flatnonzero(labels[~held] == c) for c in range(len(NAMES))]

        def sample_real():
            half = rng.integers(0, len(NAMES), args.batch // 2)
            classes = np.concatenate([half, half])  # same labels in both halves (mode-seeking pairs)
            picks = torch.from_numpy(np.array([rng.choice(by_class[c]) for c in classes])).to(dev)
            return train[picks], torch.from_numpy(classes)

        def sample_latent(label):
            return torch.randn(len(label), Z, device=label.device), label

        g, steps = gan.train("kiln_sprites", g, Discriminator(len(NAMES)), sample_real, sample_latent,
                             minutes=args.minutes, augment=lambda x: gan.diff_augment(x, 2, step=2), diversity=0.1)
    if args.state_out:
        gan.save_compact("kiln_sprites", Path(args.state_out))
    if args.no_export:
        return
    started = time.time()
    sha = export_onnx(
        g, (torch.randn(1, Z), torch.zeros(1, dtype=torch.long)), OUT / "model.onnx", ["z", "class"], ["image"],
        {"z": {0: "N"}, "class": {0: "N"}, "image": {0: "N"}},
    )
    quality = evaluate(sprites, labels, held)
    print("realism (generated vs held-back real sprites):", json.dumps(quality, indent=1))
    (OUT / "quality.json").write_text(json.dumps({"steps": steps, **quality}, indent=1) + "\n")
    write_manifest(sha, steps, [int((labels == c).sum()) for c in range(len(NAMES))], quality, args.trained_on)
    render_sample_sheet(OUT)
    comparison_sheet(sprites, labels)
    print(f"wrote {OUT / 'model.onnx'} ({(OUT / 'model.onnx').stat().st_size} bytes), samples.png, real_vs_generated.png in {time.time() - started:.0f}s")


def write_manifest(sha: str, steps: int, counts: list[int], quality: dict, trained_on: str) -> None:
    p, c = quality["portrait"], quality["creature"]
    (OUT / "model.ron").write_text(f"""// Written by models/train/train_sprites.py.
(
    name: "kiln_sprites",
    description: "32x32 RGBA pixel-art character sprites: portrait (16x16 art grid) or creature (32x32 art grid)",
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
                name: "Dungeon Crawl Stone Soup monster tiles ({counts[1]} sprites cut from dat/tiles/player.png by models/train/crawl_monsters.py)",
                source: "Debian package crawl-tiles-data 2:0.28.0",
                licence: "CC0-1.0",
            ),
        ],
        notes: "Crawl's tile licence states most tiles are CC0 / public domain. Class-conditional GAN with a mapping \
network and FiLM modulation, EMA weights after {steps} steps{f' ({trained_on})' if trained_on else ''}. Realism on held-back sprites (python3 models/train/train_sprites.py \
--export-only; 0.5 = indistinguishable): portrait classifier accuracy {p['classifier_accuracy']} (real vs real {p['classifier_accuracy_real_vs_real']}; {p['classifier_accuracy_palette_12']} \
with a 12-colour palette), stray pixels {p['stray_rate_generated']} vs {p['stray_rate_real']} real; creature accuracy \
{c['classifier_accuracy']} (real vs real {c['classifier_accuracy_real_vs_real']}; {c['classifier_accuracy_palette_10']} with 10 colours), stray pixels {c['stray_rate_generated']} vs {c['stray_rate_real']} real.",
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
