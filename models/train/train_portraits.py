#!/usr/bin/env python3
"""Trains `models/kiln_portraits`: 16×16 pixel-art portraits drawn one art pixel at a time, in
raster order, by a small causal transformer over a vocabulary of the data's own colours.

    models/train/fetch_data.sh sprites
    python3 models/train/train_portraits.py [--minutes 60]   # resumes from its checkpoint
    python3 models/train/train_portraits.py --export-only    # export + realism table + sheets

Why not the GAN of `kiln_sprites`: DiceBear's portraits are flat fills of a few exact colours,
and a GAN's continuous output has to be snapped back to such colours, which it never gets quite
right (portraits told from real ones 95 % of the time as baked). Here every token *is* one of
the data's colours, so a portrait has exactly DiceBear's colours by construction; and the model
is small enough to train on a 2-core CPU.

Data: 32,768 DiceBear pixel-art portraits (npm @dicebear/pixel-art 9, design CC0 / code MIT),
rendered by render_dicebear.mjs. Portrait i is held back for the realism measures when
i % 5 == 2, as in train_sprites.py (the first 4,096 are the same portraits there).
"""

import argparse
import json
import pathlib
import time

import numpy as np
import torch
from PIL import Image

import decoder
import realism
from common import DATA, REPO, checkpoint_path, save_sheet, seed_everything

OUT = REPO / "models/kiln_portraits"
PORTRAITS = 32768
GRID = 16  # art pixels per side
# Token 0 pads (ignored by the loss; `<end>` in tokenizer.json, the contract's end, never drawn),
# 1 starts a sprite (`<portrait>`), colours follow.
SPECIAL = ["<pad>", "<portrait>"]
BATCH = 32


def is_held_back(index: int) -> bool:
    return index % 5 == 2


def portraits() -> np.ndarray:
    """[N, 16, 16, 4] uint8 at the art grid, hard alpha (as Kiln bakes sprites)."""
    atlas = DATA / "sprites" / f"dicebear-{PORTRAITS}.png"
    if not atlas.exists():  # as train_sprites.py renders its 4,096 (fetch_data.sh sprites installs the packages)
        import shutil
        import subprocess

        atlas.parent.mkdir(parents=True, exist_ok=True)
        node_dir = DATA / "node"
        shutil.copy(REPO / "models/train/render_dicebear.mjs", node_dir / "render_dicebear.mjs")
        subprocess.run(["node", "render_dicebear.mjs", str(PORTRAITS), str(atlas)], cwd=node_dir, check=True)
    sheet = np.asarray(Image.open(atlas).convert("RGBA"))
    columns = sheet.shape[1] // 32
    cells = sheet.reshape(-1, 32, columns, 32, 4).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 4)[:PORTRAITS]
    art = cells[:, ::2, ::2].copy()
    opaque = art[..., 3] >= 128
    art[..., 3] = np.where(opaque, 255, 0)
    art[~opaque] = 0
    return art


def colour_keys(art: np.ndarray) -> np.ndarray:
    rgba = art.reshape(-1, 4).astype(np.uint32)
    return (rgba[:, 0] << 24) | (rgba[:, 1] << 16) | (rgba[:, 2] << 8) | rgba[:, 3]


def vocabulary(train: np.ndarray) -> np.ndarray:
    """The colours of the trained-on portraits, most common first: uint8 [K, 4]."""
    keys, counts = np.unique(colour_keys(train), return_counts=True)
    keys = keys[np.argsort(-counts, kind="stable")]
    return np.stack([(keys >> 24) & 255, (keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)


def encode(art: np.ndarray, colours: np.ndarray) -> torch.Tensor:
    """Portraits -> [N, 1 + 256] token ids: the start token, then each art pixel's colour (a
    colour outside the vocabulary, which only held-back portraits have, pads: the loss skips it)."""
    lookup = {int(k): i + len(SPECIAL) for i, k in enumerate(colour_keys(colours[:, None, None, :]))}
    ids = np.array([lookup.get(int(k), 0) for k in colour_keys(art)], np.int64).reshape(len(art), -1)
    return torch.from_numpy(np.concatenate([np.ones((len(art), 1), np.int64), ids], 1))


TOP_K = 32  # kiln_seq::PIXEL_TOP_K: a pixel is drawn from its 32 likeliest colours


@torch.no_grad()
def sample(model, colours: np.ndarray, count: int, seed: int, temperature: float = 1.0, batch: int = 256,
           tail: list | None = None, grid: int = GRID, condition: int = 1) -> np.ndarray:
    """`count` sprites of the class whose prompt token is `condition`, drawn pixel by pixel with
    the KV cache, as Kiln draws them (temperature 1, the TOP_K likeliest colours): uint8
    [count, grid, grid, 4]. With `tail`, each pixel's probability outside its TOP_K likeliest
    colours is appended to it."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        ids = torch.full((n, 1), condition, dtype=torch.long)
        past = [t for pair in model.empty_past(n) for t in pair]
        tokens = []
        for position in range(grid * grid):
            mask = torch.ones(n, position + 1, dtype=torch.long)
            logits, *past = model(ids, mask, torch.full((n, 1), position), *past)
            logits = logits[:, -1] / temperature
            logits[:, : len(SPECIAL)] = -float("inf")
            best, index = logits.topk(TOP_K, dim=-1)
            if tail is not None:
                tail.append(1 - torch.softmax(logits, -1).gather(1, index).sum(1))
            ids = index.gather(1, torch.multinomial(torch.softmax(best, -1), 1, generator=generator))
            tokens.append(ids)
        out.append(torch.cat(tokens, 1).numpy() - len(SPECIAL))
    return colours[np.concatenate(out)].reshape(count, grid, grid, 4)


PALETTE = 12  # what the example recipes (assets/characters.kiln.ron) ask for


def evaluate(model, colours, art, held, count=400, seed=2026):
    """The realism table, as train_sprites.py measures its portraits: classifier accuracy (and
    with the example recipes' palette), stray-pixel rate, generated vs held-back real
    portraits; and how much probability the TOP_K cut leaves out."""
    real = list(art[held][:count])
    trained = list(art[~held][:count])
    tail = []
    fake = list(sample(model, colours, count, seed, tail=tail))
    trained_on = {portrait.tobytes() for portrait in art[~held]}
    paletted = [realism.median_cut(s, PALETTE) for s in fake]
    return {
        "classifier_accuracy": round(realism.classifier_accuracy(real, fake), 3),
        "classifier_accuracy_real_vs_real": round(realism.classifier_accuracy(real, trained), 3),
        f"classifier_accuracy_palette_{PALETTE}": round(realism.classifier_accuracy(real, paletted), 3),
        "stray_rate_real": round(realism.stray_rate(real), 4),
        "stray_rate_generated": round(realism.stray_rate(fake), 4),
        "colours_per_portrait_real": round(float(np.mean([colour_count(s) for s in real])), 2),
        "colours_per_portrait_generated": round(float(np.mean([colour_count(s) for s in fake])), 2),
        f"probability_outside_top_{TOP_K}": float(f"{torch.cat(tail).mean().item():.2g}"),
        # A model this size could learn portraits by heart: share drawn exactly as one it trained on.
        "generated_equal_to_a_trained_on_portrait": float(np.mean([f.tobytes() in trained_on for f in fake])),
        "held_back_real": len(real),
    }, fake


def colour_count(portrait: np.ndarray) -> int:
    return len(np.unique(colour_keys(portrait[portrait[..., 3] > 0][:, None, None, :])))


def export(model, colours, stats, table, trained_on: int, out=OUT):
    """model.onnx, tokenizer.json and model.ron of kiln_portraits, into `out`."""
    c = model.config
    write_pixel_model(
        model, colours, out, "kiln_portraits",
        "16x16 RGBA pixel-art portraits drawn one art pixel at a time, in the data's own colours",
        "train_portraits.py",
        [(f"DiceBear pixel-art portraits ({PORTRAITS} rendered by models/train/render_dicebear.mjs, "
          f"{trained_on} trained on)",
          "npm packages @dicebear/core 9, @dicebear/pixel-art 9, rendered with @resvg/resvg-js 2",
          "CC0-1.0 (design), MIT (code)")],
        f"Causal transformer (d={c['dim']}, {c['layers']} layers) over {len(colours)} colour tokens, one per art "
        f"pixel in raster order; {stats['steps']} steps of {BATCH} in {stats['minutes']} min on a 2-core CPU "
        f"(held-out loss {stats['held_out_loss']} nats per pixel). Realism on {table['held_back_real']} held-back "
        f"portraits (python3 models/train/train_portraits.py --export-only; 0.5 = indistinguishable): classifier "
        f"accuracy {table['classifier_accuracy']} (real vs real {table['classifier_accuracy_real_vs_real']}; "
        f"{table[f'classifier_accuracy_palette_{PALETTE}']} with a {PALETTE}-colour palette), stray pixels "
        f"{table['stray_rate_generated']} vs {table['stray_rate_real']} real.",
        "portrait", GRID)


def write_pixel_model(model, colours, out, name, description, script, data, notes, condition, grid):
    """Exports a pixel model in Kiln's sequence contract with `pixels`: model.onnx, tokenizer.json
    (the special tokens, then one token per colour, `colour_name`) and model.ron, for one
    class `condition` whose prompt token is 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    names = ["<end>", f"<{condition}>"] + [colour_name(c) for c in colours]
    tokenizer = Tokenizer(models.WordLevel(vocab={n: i for i, n in enumerate(names)}, unk_token="<end>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(["<end>"])
    tokenizer.save(str(out / "tokenizer.json"))
    decoder.export(model, out / "model.onnx")
    decoder.write_manifest(
        model, out, name, description, "CC0-1.0", script, data, notes,
        f"""        tokenizer: "tokenizer.json",
        context: {model.config['context']},
        conditions: ["{condition}"],
        prompt: "<{{condition}}>",
        end: "<end>",
        pixels: (width: {grid}, height: {grid}),""")


def colour_name(rgba: np.ndarray) -> str:
    """A colour token: `#rrggbb` when opaque, `#00000000` for transparency."""
    return f"#{rgba[0]:02x}{rgba[1]:02x}{rgba[2]:02x}" + ("" if rgba[3] == 255 else f"{rgba[3]:02x}")


def comparison_sheet(fake, real, path, scale):
    """Held-back real sprites | generated sprites, two rows of six each (README)."""
    real = real[np.random.default_rng(7).permutation(len(real))[:12]]
    blank = np.zeros_like(real[0])
    save_sheet([list(real[:6]) + [blank] + list(fake[:6]), list(real[6:]) + [blank] + list(fake[6:12])], path, scale=scale)


def load_or_new(name: str, new_colours, context: int, dim: int, layers: int):
    """(model, colours, stats) from the checkpoint `name` if there is one (stats: its steps,
    minutes and held-out loss), else a new model over the colours `new_colours()` returns."""
    ckpt = checkpoint_path(name)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model = decoder.Decoder(**state["config"])
        model.load_state_dict(state["model"])
        print(f"resumed from {ckpt} at step {state['stats']['steps']}")
        model.eval()
        return model, state["colours"], state["stats"]
    colours = new_colours()
    return decoder.Decoder(len(SPECIAL) + len(colours), dim=dim, layers=layers, heads=4, context=context), colours, None


def train_pixel_model(name, model, colours, sequences, held_out, minutes, batch, start, every):
    """Trains for about `minutes`, saving the checkpoint `name` every `every` steps and at the
    end; returns the stats of the last checkpoint."""
    ckpt = checkpoint_path(name)

    def snapshot(m, stats):
        torch.save({"model": m.state_dict(), "config": m.config, "colours": colours, "stats": stats}, ckpt)
        print(f"checkpoint {stats}", flush=True)

    decoder.train(model, sequences, minutes, batch=batch, lr=2e-3, held_out=held_out, every=every,
                  start=start, snapshot=snapshot, snapshot_every=every, log=lambda s: print(s, flush=True))
    return torch.load(ckpt, weights_only=False)["stats"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--checkpoint", default="kiln_portraits",
                        help="checkpoint name (another name trains another size beside the shipped one's)")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="folder the model is exported to")
    args = parser.parse_args()
    seed_everything(5)
    art = portraits()
    held = np.array([is_held_back(i) for i in range(len(art))])
    model, colours, start = load_or_new(args.checkpoint, lambda: vocabulary(art[~held]), 1 + GRID * GRID, args.dim, args.layers)
    print(f"{len(colours)} colours, {sum(p.numel() for p in model.parameters())} parameters")
    stats = start
    if not args.export_only:
        stats = train_pixel_model(args.checkpoint, model, colours, encode(art[~held], colours),
                                  encode(art[held][:512], colours), args.minutes, args.batch, start, every=250)
    table, fake = evaluate(model, colours, art, held)
    print("realism (generated vs held-back real portraits):", json.dumps(table, indent=1))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    export(model, colours, stats, table, int((~held).sum()), out)
    (out / "quality.json").write_text(json.dumps({**stats, **table}, indent=1) + "\n")
    save_sheet([list(fake[i * 12:(i + 1) * 12]) for i in range(4)], out / "samples.png", scale=3)
    comparison_sheet(fake[48:], art[held], out / "real_vs_generated.png", scale=4)
    print(f"wrote {out}: model.onnx ({(out / 'model.onnx').stat().st_size} bytes), tokenizer.json, model.ron, "
          "quality.json, samples.png, real_vs_generated.png")


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"{time.time() - t:.0f}s")
