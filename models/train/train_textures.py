#!/usr/bin/env python3
"""Trains and exports `models/kiln_textures`: a class-conditional, fully convolutional texture
generator with circular padding everywhere, so any size in steps of 8 px tiles seamlessly.

    models/train/fetch_data.sh textures
    python3 models/train/train_textures.py [--minutes 60]    # resumes from its checkpoint
    python3 models/train/train_textures.py --export-only     # export + realism table + sheets
    python3 models/train/train_textures.py --measure-only    # the same for the shipped ONNX file
    python3 models/train/train_textures.py --tune red_brick white_brick --batch 16 --minutes 50
                                       # only those classes' embedding rows (see gan.tune_class_rows)

Data: Dungeon Crawl Stone Soup floor/wall tiles (Debian crawl-tiles-data, CC0 / public domain
for most tiles), cut into material classes by the coordinates below; one tile in five is held
back for the realism measures and never trained on.

Architecture: a spatial latent z [N, 32, h, w]; its first 8 channels summed over the grid and
divided by sqrt(h·w) (a standard normal at any size) form a global code which, with the class
embedding, drives FiLM modulation of every block, so a texture can keep one colour and style
(classes that mix looks, like brick_wall's red, orange and grey bricks, still come out as
patches of several looks: see README). Nearest ×2 upsampling, 3×3 circular convolutions, PixelNorm; a spectral-norm
projection patch discriminator, hinge loss, DiffAugment (circular shifts, flips, cutout), and an EMA of the
generator's weights is what is exported. Real patches are 2×2 random tiles of a class at a
random circular phase. The shipped model was trained this way; `--single-look` (patches of one
region each, shifted as data rather than as a discriminator augmentation) was tried as a
continuation and lost the brick courses (README), so it is off by default.
"""

import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

import gan
import realism
from common import DATA, REPO, export_onnx, manifest_classes, save_sheet, seed_everything, write_palettes
from sample_sheet import main as render_sample_sheet

CRAWL = DATA / "crawl/usr/share/crawl/dat/tiles"
PACK = DATA / "packs/textures.npz"
OUT = REPO / "models/kiln_textures"
TILE = 32  # Crawl's grid
CROP = 64  # training crop: 2×2 tiles; the latent is CROP / STRIDE cells per side
STRIDE = 8
Z = 32  # latent channels: GLOBAL of them form the global code, the rest stay spatial
GLOBAL = 8
STYLE = 128

# Material classes, one look each: (sheet, row, first column, last column) in Crawl's 32 px grid.
# Classes that share a material (bricks of several colours) were one class until the model
# drew patchworks of their looks; `FAMILY` maps each to the class it was split from, which a
# checkpoint of the older class list is widened from (see `widen_checkpoint`).
CLASSES = {
    "grass": [("floor", 11, 26, 31), ("floor", 12, 0, 5)],
    "dirt": [("floor", 16, 13, 15)],
    "dark_earth": [("floor", 7, 8, 11)],
    "earth_tiles": [("floor", 11, 3, 8)],
    "sand": [("floor", 10, 9, 16)],
    "sandstone": [("floor", 16, 26, 31), ("floor", 17, 0, 3)],
    "stone_floor": [("floor", 15, 20, 26)],
    "dark_stone_floor": [("floor", 0, 18, 26)],
    "cobblestone": [("wall", 15, 19, 22)],
    "dark_cobblestone": [("floor", 14, 0, 2), ("floor", 9, 5, 8)],
    "yellow_cobblestone": [("wall", 9, 2, 13)],
    "brick_wall": [("wall", 4, 16, 23)],
    "red_brick": [("wall", 4, 0, 7)],
    "orange_brick": [("wall", 3, 0, 7)],
    "white_brick": [("wall", 6, 16, 23)],
    "mossy_brick": [("wall", 13, 20, 23)],
    "small_brick": [("wall", 16, 3, 6)],
    "mossy_stone": [("wall", 9, 18, 25)],
    "dark_mossy_stone": [("wall", 14, 3, 6)],
    "marble": [("floor", 17, 4, 13)],
    "water": [("floor", 28, 0, 9)],
    "shallow_water": [("floor", 28, 10, 21)],
    "lava": [("floor", 26, 6, 31), ("floor", 27, 0, 5)],
    "ice": [("wall", 25, 18, 31)],
}
FAMILY = {
    "dark_earth": "dirt", "earth_tiles": "dirt", "sandstone": "sand", "dark_stone_floor": "stone_floor",
    "dark_cobblestone": "cobblestone", "yellow_cobblestone": "cobblestone", "red_brick": "brick_wall",
    "orange_brick": "brick_wall", "white_brick": "brick_wall", "mossy_brick": "brick_wall", "small_brick": "brick_wall",
    "dark_mossy_stone": "mossy_stone", "shallow_water": "water",
}
# A class split off from the first model ships once it draws its own look: the mean colour of
# its generated textures within COLOUR_GAP (RGB distance, 0-255) of its real tiles' (median over
# 64), and at most OFF_LOOK_SHARE of them over twice that (in another look). The first model's
# classes always ship, since recipes name them; every figure is in quality.json.
COLOUR_GAP = 20.0
OFF_LOOK_SHARE = 0.2
# The class list of the first model (patchworks of looks), in its order.
FIRST_CLASSES = ["grass", "dirt", "sand", "stone_floor", "cobblestone", "brick_wall", "mossy_stone", "marble", "water", "lava", "ice"]
NAMES = list(CLASSES)


def is_held_back(index: int) -> bool:
    """One tile in five of each class is kept out of training for the realism measures."""
    return index % 5 == 2


def build_pack():
    """Cuts the class tiles out of Crawl's sheets into PACK: tiles [T, 32, 32, 3] uint8, their
    class, their region (one run of tiles of one look, e.g. the red bricks) and whether they are
    held back."""
    sheets = {name: np.asarray(Image.open(CRAWL / f"{name}.png").convert("RGB")) for name in ("floor", "wall")}
    tiles, labels, regions, held = [], [], [], []
    region = 0
    for label, runs in enumerate(CLASSES.values()):
        index = 0
        for sheet, row, first, last in runs:
            for column in range(first, last + 1):
                tiles.append(sheets[sheet][row * TILE:(row + 1) * TILE, column * TILE:(column + 1) * TILE])
                labels.append(label)
                regions.append(region)
                held.append(is_held_back(index))
                index += 1
            region += 1
    PACK.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PACK, tiles=np.stack(tiles), labels=np.array(labels), regions=np.array(regions), held=np.array(held),
                        names=np.array(NAMES))


def load_pack():
    if not PACK.exists() or list(np.load(PACK).get("names", [])) != NAMES:
        build_pack()
    pack = np.load(PACK)
    return pack["tiles"], pack["labels"], pack["regions"], pack["held"]


def widen_checkpoint(folder) -> bool:
    """Rewrites a checkpoint of the first model (FIRST_CLASSES) for NAMES: each class's rows of
    the generator's class embedding and the discriminator's projection start as those of the
    class it was split from (FAMILY), plus a little noise so that classes of one family can part.
    Returns whether it did; a checkpoint already for NAMES is left alone."""
    rows = [FIRST_CLASSES.index(FAMILY.get(name, name)) for name in NAMES]
    generator = torch.Generator().manual_seed(3)
    changed = False
    for part, key in (("g", "embed.weight"), ("ema", "embed.weight"), ("d", "embed.weight_orig"), ("d", "embed.weight_u")):
        path = folder / f"{part}.pt"
        if not path.exists():
            continue
        state = torch.load(path, map_location="cpu")
        old = state[key]
        if old.shape[0] == len(NAMES):
            continue
        assert old.shape[0] == len(FIRST_CLASSES), f"{path}: {key} has {old.shape[0]} classes"
        new = old[rows].clone()
        if key != "embed.weight_u":
            new += 0.05 * old.std() * torch.randn(new.shape, generator=generator).to(new.dtype)
        else:
            new = new / new.norm()
        state[key] = new
        torch.save(state, path)
        changed = True
    return changed


def take_rows(source: Path, names: list[str]) -> None:
    """Copies the generator's class-embedding rows of `names` from the checkpoint in `source`
    into the kept one (its EMA and live generator): a class's textures depend on its own row
    only, so this keeps what an earlier --tune run gave a class where a later one did worse."""
    rows = [NAMES.index(name) for name in names]
    gan.set_class_rows("kiln_textures", rows, torch.load(source / "ema.pt", map_location="cpu")["embed.weight"][rows])


def circular_conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="circular")


class Generator(nn.Module):
    """z [N, 32, h, w] + class [N] -> image [N, 3, 8h, 8w] in [-1, 1]; every convolution wraps."""

    def __init__(self, classes, widths=(256, 128, 64, 32)):
        super().__init__()
        self.embed = nn.Embedding(classes, STYLE)
        self.mapping = nn.Sequential(nn.Linear(STYLE + GLOBAL, STYLE), nn.LeakyReLU(0.2), nn.Linear(STYLE, STYLE), nn.LeakyReLU(0.2))
        self.stem = circular_conv(Z - GLOBAL + STYLE, widths[0])
        blocks = []
        for i, width in enumerate(widths):
            cin = widths[max(i - 1, 0)]
            blocks.append(nn.ModuleList([gan.ModulatedBlock(cin, width, STYLE, "circular"), gan.ModulatedBlock(width, width, STYLE, "circular")]))
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = circular_conv(widths[-1], 3)

    def forward(self, z, label):
        local, global_part = z[:, GLOBAL:], z[:, :GLOBAL]
        cells = torch.ones_like(z[:, :1]).sum((2, 3))  # h·w, traced so any size exports
        code = global_part.sum((2, 3)) / torch.sqrt(cells)
        style = self.mapping(torch.cat([self.embed(label), code], 1))
        x = self.stem(torch.cat([local, style[:, :, None, None].expand(-1, -1, z.shape[2], z.shape[3])], 1))
        for i, (first, second) in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = second(first(x, style), style)
        return torch.tanh(self.to_rgb(x))


class Discriminator(nn.Module):
    """Patch discriminator with a class projection (Miyato & Koyama 2018), spectral norm."""

    def __init__(self, classes):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(3, 64, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(64, 128, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(128, 256, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(256, 384, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(384, 384, 3, 1, 1)), nn.LeakyReLU(0.2, True),
        )
        self.out = sn(nn.Conv2d(384, 1, 1))
        self.embed = sn(nn.Embedding(classes, 384))

    def forward(self, x, label):
        h = self.features(x)
        projection = (h * self.embed(label)[:, :, None, None]).sum(1, keepdim=True)
        return (self.out(h) + projection).mean((1, 2, 3))


def to_tensor(tiles: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 127.5 - 1


def quads(tiles: np.ndarray, regions: np.ndarray, count: int, rng) -> np.ndarray:
    """`count` CROP×CROP patches of 2×2 tiles, each from one random region of `tiles` (one
    class), as uint8 HWC; randomly rolled, since any circular shift of a texture is one too."""
    out = []
    for _ in range(count):
        pool = np.flatnonzero(regions == rng.choice(np.unique(regions)))
        t = tiles[rng.choice(pool, 4)]
        patch = np.concatenate([np.concatenate([t[0], t[1]], 1), np.concatenate([t[2], t[3]], 1)], 0)
        out.append(np.roll(patch, tuple(rng.integers(0, CROP, 2)), (0, 1)))
    return np.stack(out)


def real_sampler(tiles, labels, regions, held, batch, classes, dev, single_look=False):
    """Returns a function drawing `batch` real training patches of the given class ids: 2×2
    tiles of a class (never held back), rolled to a random phase, as [-1, 1] tensors on `dev`,
    with their labels. With `single_look` all four tiles come from one region (one look, e.g.
    only the red bricks)."""
    rng = np.random.default_rng(7)
    classes = np.asarray(list(classes))
    train_tiles = to_tensor(tiles[~held]).to(dev)
    train_labels, train_regions = labels[~held], regions[~held]
    # Per class its regions; per region the range of its tiles (tiles of a region are contiguous).
    class_regions = {c: np.unique(train_regions[train_labels == c]) for c in classes}
    region_start = {r: np.flatnonzero(train_regions == r)[0] for r in np.unique(train_regions)}
    region_size = {r: int((train_regions == r).sum()) for r in np.unique(train_regions)}

    def sample():
        chosen_classes = rng.choice(classes, batch)
        if single_look:
            chosen = [class_regions[c][rng.integers(len(class_regions[c]))] for c in chosen_classes]
            picks = np.stack([region_start[r] + rng.integers(0, region_size[r], 4) for r in chosen])
        else:
            picks = np.stack([rng.choice(np.flatnonzero(train_labels == c), 4) for c in chosen_classes])
        t = train_tiles[torch.from_numpy(picks).to(dev)]  # [B, 4, 3, 32, 32]
        patch = torch.cat([torch.cat([t[:, 0], t[:, 1]], 3), torch.cat([t[:, 2], t[:, 3]], 3)], 2)
        shift = torch.from_numpy(rng.integers(0, CROP, (2, batch))).to(dev)
        return gan.roll_each(patch, shift[0], shift[1]), torch.from_numpy(chosen_classes)

    return sample


def sample_latent(label):
    return torch.randn(len(label), Z, CROP // STRIDE, CROP // STRIDE, device=label.device), label


def generate(session, label: int, count: int, cells: int, rng, palette=None) -> np.ndarray:
    """`count` textures of `cells`×`cells` latent cells from the exported model, as uint8 HWC,
    in the colours of `palette` (the class's art palette) when given, as Kiln bakes them."""
    z = rng.standard_normal((count, Z, cells, cells)).astype(np.float32)
    (image,) = session.run(None, {"z": z, "class": np.full(count, label, dtype=np.int64)})
    textures = ((np.clip(image, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
    return textures if palette is None else np.stack([realism.snap_to_palette(t, palette) for t in textures])


def class_palettes(tiles, labels, held, shipped) -> list[np.ndarray]:
    """Per shipped class, every colour of its trained-on tiles (never the held-back ones): the
    model's art palettes (`palettes.png`, see `ImageContract::palettes`). Snapping textures to
    them took the unseen-class classifier from 0.893 to 0.660 (0.655-0.672 over window draws,
    session 17), where a 256-, 64- or 32-colour median cut of the same tiles gave 0.726, 0.750
    and 0.836."""
    return [np.unique(tiles[~held & (labels == c)].reshape(-1, 3), axis=0) for c in shipped]


def windows(images, count, rng, size=TILE):
    """Random size×size windows (wrapping) of the given images."""
    out = []
    for i in range(count):
        image = images[i % len(images)]
        dy, dx = rng.integers(0, image.shape[0]), rng.integers(0, image.shape[1])
        out.append(np.roll(image, (-dy, -dx), (0, 1))[:size, :size])
    return out


# Latents are scaled by this inside the exported model (the truncation trick, Brock et al.
# 2019): Kiln draws standard normal latents, the generator sees them at 0.7 of their spread.
# Session 10, on the 64 textures per class of `colour_gaps`: the mean share of textures in
# another look 3.1 % -> 0.9 % (orange_brick 14 -> 8 %, dark_cobblestone 12.5 -> 8 %), the
# bricks, stones and grass drawn as before.
TRUNCATION = 0.7


class Shipped(nn.Module):
    """The generator restricted to the classes that ship (class k of the exported model is
    class `shipped[k]` of training), its latent scaled by `truncation`."""

    def __init__(self, generator, shipped, truncation=TRUNCATION):
        super().__init__()
        self.generator = generator
        self.truncation = truncation
        self.register_buffer("rows", torch.tensor(list(shipped), dtype=torch.long))

    def forward(self, z, label):
        return self.generator(z * self.truncation, self.rows[label])


def export(generator, path) -> str:
    return export_onnx(
        generator, (torch.randn(1, Z, 4, 4), torch.zeros(1, dtype=torch.long)), path, ["z", "class"], ["image"],
        {"z": {0: "N", 2: "h", 3: "w"}, "class": {0: "N"}, "image": {0: "N", 2: "H", 3: "W"}},
    )


def colour_gaps(g, tiles, labels, count=64) -> tuple[dict, dict]:
    """Per class: the median over `count` textures generated as they ship (every class, with
    TRUNCATION) of the distance between a texture's mean colour and its real tiles' (RGB,
    0-255), and the share of textures more than 2 × COLOUR_GAP away (drawn in another look,
    e.g. red bricks for orange_brick)."""
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        export(Shipped(g, range(len(NAMES))), Path(folder) / "all.onnx")
        session = ort.InferenceSession(str(Path(folder) / "all.onnx"), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(1)
        gaps, off_look = {}, {}
        for c, name in enumerate(NAMES):
            real = tiles[labels == c].reshape(-1, 3).astype(float).mean(0)
            made = generate(session, c, count, CROP // STRIDE, rng).reshape(count, -1, 3).astype(float).mean(1)
            distances = np.linalg.norm(made - real, axis=1)
            gaps[name] = round(float(np.median(distances)), 1)
            off_look[name] = round(float(np.mean(distances > 2 * COLOUR_GAP)), 3)
    return gaps, off_look


def evaluate(tiles, labels, regions, held, shipped, palette=16, per_class=40):
    """The realism table: classifier accuracy (as baked, in the art palettes, and with a
    `palette`-colour median cut on top), stray-pixel rate and seam scores, generated vs
    held-back real tiles, over the shipped classes; and the unseen-class accuracy of the
    model's own colours, without its art palettes."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    palettes = class_palettes(tiles, labels, held, shipped)
    rng = np.random.default_rng(2026)
    real, trained, fake, fake_raw, fake_pal, seams, seams_large, classes = [], [], [], [], [], [], [], []
    for k, c in enumerate(shipped):
        classes += [c] * per_class
        mine = held & (labels == c)
        real_quads = quads(tiles[mine], regions[mine], per_class, rng)
        real += windows(list(real_quads), per_class, rng)
        seen = ~held & (labels == c)
        trained += windows(list(quads(tiles[seen], regions[seen], per_class, rng)), per_class, rng)
        raw = generate(session, k, per_class, CROP // STRIDE, rng)
        textures = [realism.snap_to_palette(t, palettes[k]) for t in raw]
        fake_raw += windows(list(raw), per_class, np.random.default_rng(k))
        fake += windows(textures, per_class, rng)
        fake_pal += windows([realism.median_cut(t, palette) for t in textures], per_class, rng)
        seams += [realism.seam_score(t, STRIDE) for t in textures]
        seams_large += [realism.seam_score(t, STRIDE) for t in generate(session, k, 4, 32, rng, palettes[k])]
    return {
        "classifier_accuracy": round(realism.classifier_accuracy(real, fake), 3),
        # The same test between two sets of real tiles (held back vs trained on): its floor here.
        "classifier_accuracy_real_vs_real": round(realism.classifier_accuracy(real, trained), 3),
        # Scored on classes the classifier never saw (realism.classifier_accuracy's groups): what
        # generated textures share across materials, not which tiles a class happens to have.
        "classifier_accuracy_unseen_class": round(realism.classifier_accuracy(real, fake, groups=(classes, classes)), 3),
        "classifier_accuracy_real_vs_real_unseen_class": round(
            realism.classifier_accuracy(real, trained, groups=(classes, classes)), 3),
        "classifier_accuracy_unseen_class_without_art_palettes": round(
            realism.classifier_accuracy(real, fake_raw, groups=(classes, classes)), 3),
        f"classifier_accuracy_palette_{palette}": round(realism.classifier_accuracy(real, fake_pal), 3),
        "stray_rate_real": round(realism.stray_rate(real), 4),
        "stray_rate_generated": round(realism.stray_rate(fake), 4),
        f"stray_rate_generated_palette_{palette}": round(realism.stray_rate(fake_pal), 4),
        "seam_score_64px_max": round(max(seams), 3),
        "seam_score_256px_max": round(max(seams_large), 3),
        "windows_per_side": len(real),
    }


def comparison_sheet(tiles, labels, regions, held, shipped):
    """Real 2×2 tiles | generated textures as baked, one row per shipped class, at 2× (README)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(OUT / "model.onnx"), providers=["CPUExecutionProvider"])
    palettes = class_palettes(tiles, labels, held, shipped)
    rng = np.random.default_rng(7)
    rows = []
    for k, c in enumerate(shipped):
        mine = (labels == c)
        real = quads(tiles[mine], regions[mine], 2, rng)
        fake = generate(session, k, 4, CROP // STRIDE, rng, palettes[k])
        gap = np.full((CROP, 8, 3), 255, np.uint8)
        rows.append([np.concatenate([real[0], real[1], gap, *[np.concatenate([f, np.full((CROP, 2, 3), 40, np.uint8)], 1) for f in fake]], 1)])
    save_sheet(rows, OUT / "real_vs_generated.png", scale=2)


def main():
    parser = gan.arguments()
    parser.add_argument("--single-look", action="store_true",
                        help="real patches from one region each, shifted as data, not as augmentation (an experiment: see README)")
    parser.add_argument("--tune", nargs="+", choices=NAMES, default=[], metavar="CLASS",
                        help="train only these classes' embedding rows (and the discriminator), every other weight frozen (see gan.tune_class_rows)")
    parser.add_argument("--tune-lr", type=float, default=5e-3, help="learning rate of the rows --tune trains")
    parser.add_argument("--measure-only", action="store_true",
                        help="no training, no export: write the shipped model.onnx's palettes.png, measure it, and rewrite quality.json, the manifest and the sheets")
    parser.add_argument("--take-rows", nargs="+", default=[], metavar="ARG",
                        help="CHECKPOINT_FOLDER CLASS...: use these classes' embedding rows from another checkpoint (see take_rows), then export")
    args = parser.parse_args()
    seed_everything(7)
    tiles, labels, regions, held = load_pack()
    if args.pack_only:
        print(f"wrote {PACK}")
        return
    if args.measure_only:
        shipped = [NAMES.index(name) for name in manifest_classes(OUT)]
        write_palettes(OUT / "palettes.png", class_palettes(tiles, labels, held, shipped))
        quality = evaluate(tiles, labels, regions, held, shipped)
        print("realism (generated vs held-back real 32x32 windows):", json.dumps(quality, indent=1))
        merged = json.loads((OUT / "quality.json").read_text()) | quality
        (OUT / "quality.json").write_text(json.dumps(merged, indent=1) + "\n")
        manifest = (OUT / "model.ron").read_text()
        sha = re.search(r'sha256: "([0-9a-f]{64})"', manifest).group(1)
        trained_on = re.search(r"EMA weights after \d+ steps \((.*)\), latents scaled", manifest, re.S).group(1)
        write_manifest(sha, merged["steps"], merged, trained_on, [NAMES[c] for c in shipped])
        render_sample_sheet(OUT)
        comparison_sheet(tiles, labels, regions, held, shipped)
        return
    print("training tiles per class:", {n: int(((labels == c) & ~held).sum()) for c, n in enumerate(NAMES)})
    g = Generator(len(NAMES))
    if args.take_rows:
        take_rows(Path(args.take_rows[0]), args.take_rows[1:])
        args.export_only = True
    if args.export_only:
        steps = gan.load_exported("kiln_textures", g)
    elif args.tune:
        rows = [NAMES.index(name) for name in args.tune]
        sample_real = real_sampler(tiles, labels, regions, held, args.batch, rows, gan.device())
        g, steps = gan.tune_class_rows("kiln_textures", g, Discriminator(len(NAMES)), rows, sample_real, sample_latent,
                                       minutes=args.minutes, lr=args.tune_lr, augment=lambda x: gan.diff_augment(x, CROP // 2))
    else:
        if args.from_shipped:
            # Only valid while every class ships: Shipped maps class k to row k.
            assert not json.loads((OUT / "quality.json").read_text())["not_shipped"], "some classes do not ship"
            gan.start_from_exported("kiln_textures", Generator(len(NAMES)), OUT, prefix="generator.")
        if widen_checkpoint(gan.checkpoint_dir("kiln_textures")):
            print(f"widened the checkpoint from {len(FIRST_CLASSES)} to {len(NAMES)} classes")
        dev = gan.device()
        sample_real = real_sampler(tiles, labels, regions, held, args.batch, range(len(NAMES)), dev, args.single_look)
        g, steps = gan.train("kiln_textures", g, Discriminator(len(NAMES)), sample_real, sample_latent,
                             minutes=args.minutes, augment=lambda x: gan.diff_augment(x, 0 if args.single_look else CROP // 2))
    if args.state_out:
        gan.save_compact("kiln_textures", Path(args.state_out))
    if args.no_export:
        return
    started = time.time()
    gaps, off_look = colour_gaps(g, tiles, labels)
    shipped = [c for c, name in enumerate(NAMES)
               if name in FIRST_CLASSES or (gaps[name] <= COLOUR_GAP and off_look[name] <= OFF_LOOK_SHARE)]
    held_classes = [name for name in NAMES if NAMES.index(name) not in shipped]
    print("colour gap per class:", gaps, "\noff-look share per class:", off_look, "\nnot shipped:", held_classes)
    sha = export(Shipped(g, shipped), OUT / "model.onnx")
    write_palettes(OUT / "palettes.png", class_palettes(tiles, labels, held, shipped))
    quality = evaluate(tiles, labels, regions, held, shipped)
    print("realism (generated vs held-back real 32x32 windows):", json.dumps(quality, indent=1))
    quality |= {"colour_gap": gaps, "off_look_share": off_look, "not_shipped": held_classes}
    (OUT / "quality.json").write_text(json.dumps({"steps": steps, **quality}, indent=1) + "\n")
    write_manifest(sha, steps, quality, args.trained_on, [NAMES[c] for c in shipped])
    render_sample_sheet(OUT)
    comparison_sheet(tiles, labels, regions, held, shipped)
    print(f"wrote {OUT / 'model.onnx'} ({(OUT / 'model.onnx').stat().st_size} bytes), samples.png, real_vs_generated.png in {time.time() - started:.0f}s")


def write_manifest(sha: str, steps: int, quality: dict, trained_on: str, shipped: list[str]) -> None:
    classes = ", ".join(f'"{n}"' for n in shipped)
    unshipped = ", ".join(quality["not_shipped"]) or "none"
    (OUT / "model.ron").write_text(f"""// Written by models/train/train_textures.py.
(
    name: "kiln_textures",
    description: "Seamless pixel-art material textures ({len(shipped)} classes, one look each) drawn at Crawl's art scale, any size in steps of {STRIDE} px",
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
the coordinates in the training script. Class-conditional spatial GAN with a global code and FiLM modulation, \
EMA weights after {steps} steps{f' ({trained_on})' if trained_on else ''}, latents scaled by {TRUNCATION} inside the model (truncation). \
Art palettes (palettes.png): per class every colour of its trained-on tiles; Kiln draws each pixel in the nearest of them. \
Realism on held-back tiles, as baked (python3 models/train/train_textures.py --measure-only): \
classifier accuracy {quality['classifier_accuracy']} (real tiles vs other real tiles: {quality['classifier_accuracy_real_vs_real']}), {quality['classifier_accuracy_palette_16']} with a 16-colour palette \
(0.5 = indistinguishable); scored on classes it never saw, {quality['classifier_accuracy_unseen_class']} (real vs real: {quality['classifier_accuracy_real_vs_real_unseen_class']}; \
without the art palettes: {quality['classifier_accuracy_unseen_class_without_art_palettes']}); stray pixels {quality['stray_rate_generated']}, {quality['stray_rate_generated_palette_16']} with 16 colours \
vs {quality['stray_rate_real']} real; worst seam score {max(quality['seam_score_64px_max'], quality['seam_score_256px_max'])}. \
Trained but not shipped (their mean colour is still over {COLOUR_GAP:g}/255 from their tiles', or over {OFF_LOOK_SHARE:.0%} of their textures in another look): {unshipped}.",
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
        palettes: "palettes.png",
    ),
)
""")


if __name__ == "__main__":
    main()
