#!/usr/bin/env python3
"""Trains `models/kiln_creatures`: 32×32 pixel-art monsters drawn one art pixel at a time, in
raster order, by the causal transformer of `kiln_portraits` (train_portraits.py) over a palette
of the monsters' own colours. An experiment, not shipped: after 55 min on 2 CPU cores it drew
outlined, shaded blobs with no readable body (docs/quality.md, "Sprites", session 19).

    models/train/fetch_data.sh sprites
    python3 models/train/train_creatures.py [--minutes 90]   # resumes from its checkpoint
    python3 models/train/train_creatures.py --export-only    # export + realism table + sheets

Data: the monsters of Dungeon Crawl Stone Soup's `player.png` (Debian crawl-tiles-data; CC0 /
public domain for most tiles), cut out by `crawl_monsters.monsters()`. Their colours are snapped to a palette
of PALETTE colours (k-means over the trained-on monsters' opaque pixels), so that every token
is one colour; the realism measures compare with the held-back monsters as they are, unsnapped.
Monster i is held back when i % 5 == 2. Trained on the others and their mirror images.
"""

import argparse
import json
import time

import numpy as np
import torch

import realism
from common import REPO, save_sheet, seed_everything
from crawl_monsters import SIZE, monsters
from train_portraits import TOP_K, comparison_sheet, encode, is_held_back, load_or_new, sample, train_pixel_model, write_pixel_model

OUT = REPO / "models/kiln_creatures"
PALETTE = 255  # opaque colours in the vocabulary (k-means), beside transparency
BATCH = 16


def fit_palette(train: np.ndarray) -> np.ndarray:
    """PALETTE colours for the trained-on monsters (k-means over their opaque pixels), most
    common first, then transparency: uint8 [PALETTE + 1, 4]."""
    from sklearn.cluster import KMeans

    pixels = train.reshape(-1, 4)
    rgb = pixels[pixels[:, 3] == 255, :3].astype(np.float32)
    kmeans = KMeans(PALETTE, n_init=1, random_state=0).fit(rgb[np.random.default_rng(0).permutation(len(rgb))[:200_000]])
    centres = np.clip(np.rint(kmeans.cluster_centers_), 0, 255).astype(np.uint8)
    counts = np.bincount(kmeans.predict(rgb), minlength=PALETTE)
    centres = centres[np.argsort(-counts, kind="stable")]
    return np.concatenate([np.concatenate([centres, np.full((PALETTE, 1), 255, np.uint8)], 1), np.zeros((1, 4), np.uint8)])


def snap(art: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Every opaque pixel in its nearest palette colour (transparent stays transparent)."""
    from scipy.spatial import cKDTree

    opaque = colours[colours[:, 3] == 255]
    out = art.copy()
    keep = art[..., 3] == 255
    out[keep] = opaque[cKDTree(opaque[:, :3].astype(np.float64)).query(art[keep][:, :3].astype(np.float64))[1]]
    return out


def evaluate(model, colours, art, held, seed=2026):
    """The realism table against every held-back monster, unsnapped: classifier accuracy (and
    with the example recipe's 10-colour palette), stray pixels, and how close the generated
    monsters come to the ones trained on (copies)."""
    real = list(art[held])
    count = len(real)
    trained = art[~held]
    tail = []
    fake = sample(model, colours, count, seed, tail=tail, grid=SIZE, batch=128)
    paletted = [realism.median_cut(s, 10) for s in fake]
    return {
        "classifier_accuracy": round(realism.classifier_accuracy(real, list(fake)), 3),
        "classifier_accuracy_real_vs_real": round(realism.classifier_accuracy(real, list(trained)), 3),
        "classifier_accuracy_snapped_real": round(realism.classifier_accuracy(real, [snap(s, colours) for s in trained]), 3),
        "classifier_accuracy_palette_10": round(realism.classifier_accuracy(real, paletted), 3),
        "stray_rate_real": round(realism.stray_rate(real), 4),
        "stray_rate_generated": round(realism.stray_rate(list(fake)), 4),
        f"probability_outside_top_{TOP_K}": float(f"{torch.cat(tail).mean().item():.2g}"),
        "nearest_trained_on_silhouette_agreement": nearest_silhouette(fake, trained),
        "held_back_real": count,
    }, fake


def nearest_silhouette(fake: np.ndarray, trained: np.ndarray) -> dict:
    """For each generated monster, the share of pixels whose opacity agrees with the closest
    trained-on monster (or its mirror image): 1.0 would be a traced copy."""
    shapes = np.concatenate([trained, trained[:, :, ::-1]])[..., 3].reshape(2 * len(trained), -1) > 0
    agreement = np.array([(shapes == (f[..., 3].reshape(-1) > 0)).mean(1).max() for f in fake])
    return {"median": round(float(np.median(agreement)), 3), "share_above_0.95": round(float((agreement > 0.95).mean()), 3)}


def export(model, colours, stats, table, trained_on: int):
    """model.onnx, tokenizer.json and model.ron of kiln_creatures."""
    c = model.config
    write_pixel_model(
        model, colours, OUT, "kiln_creatures",
        "32x32 RGBA pixel-art monsters drawn one art pixel at a time, in a palette of the data's colours",
        "train_creatures.py",
        [(f"Dungeon Crawl Stone Soup monster tiles ({trained_on + table['held_back_real']} monsters cut from "
          f"dat/tiles/player.png's monster shelves, {trained_on} and their mirror images trained on)",
          "Debian package crawl-tiles-data 2:0.28.0", "CC0-1.0")],
        f"Crawl's tile licence states most tiles are CC0 / public domain. Causal transformer (d={c['dim']}, "
        f"{c['layers']} layers) over {len(colours)} colour tokens ({PALETTE} k-means colours of the trained-on "
        f"monsters and transparency), one per art pixel in raster order; {stats['steps']} steps of {BATCH} in "
        f"{stats['minutes']} min on a 2-core CPU (held-out loss {stats['held_out_loss']} nats per pixel). Realism "
        f"on {table['held_back_real']} held-back monsters (python3 models/train/train_creatures.py --export-only; "
        f"0.5 = indistinguishable): classifier accuracy {table['classifier_accuracy']} (real vs real "
        f"{table['classifier_accuracy_real_vs_real']}; {table['classifier_accuracy_palette_10']} with a 10-colour "
        f"palette), stray pixels {table['stray_rate_generated']} vs {table['stray_rate_real']} real.",
        "creature", SIZE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=90)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    seed_everything(5)
    art = monsters()
    held = np.array([is_held_back(i) for i in range(len(art))])
    model, colours, start = load_or_new("kiln_creatures", lambda: fit_palette(art[~held]), 1 + SIZE * SIZE, args.dim, args.layers)
    print(f"{len(art)} monsters ({held.sum()} held back), {len(colours)} colours, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    stats = start
    if not args.export_only:
        trained = art[~held]
        sequences = encode(snap(np.concatenate([trained, trained[:, :, ::-1]]), colours), colours)
        stats = train_pixel_model("kiln_creatures", model, colours, sequences, encode(snap(art[held], colours), colours),
                                  args.minutes, BATCH, start, every=100)
    table, fake = evaluate(model, colours, art, held)
    print("realism (generated vs held-back real monsters):", json.dumps(table, indent=1))
    export(model, colours, stats, table, int((~held).sum()))
    (OUT / "quality.json").write_text(json.dumps({**stats, **table}, indent=1) + "\n")
    save_sheet([list(fake[i * 12:(i + 1) * 12]) for i in range(4)], OUT / "samples.png", scale=2)
    comparison_sheet(fake[48:], art[held], OUT / "real_vs_generated.png", scale=2)

if __name__ == "__main__":
    t = time.time()
    main()
    print(f"{time.time() - t:.0f}s")
