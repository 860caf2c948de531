#!/usr/bin/env python3
"""Trains `models/kiln_portraits`: 16×16 pixel-art portraits drawn a 2×2 block of art pixels at a
time, in raster order, by a small causal transformer whose vocabulary is the blocks of the data's
own colours.

    models/train/fetch_data.sh sprites
    python3 models/train/train_portraits.py [--minutes 60]   # resumes from its checkpoint
    python3 models/train/train_portraits.py --export-only    # export + realism table + sheets

Why not the GAN of `kiln_sprites`: DiceBear's portraits are flat fills of a few exact colours,
and a GAN's continuous output has to be snapped back to such colours, which it never gets quite
right (portraits told from real ones 95 % of the time as baked). Here every token *is* one of
the data's colours, so a portrait has exactly DiceBear's colours by construction; and the model
is small enough to train on a 2-core CPU.

Why blocks: drawing is sequential, one `session.run` per token. One token per pixel (session 18's
model) took 256 steps and ~1 s a 64-portrait sheet on 2 cores; a 2×2 block per token takes 64
steps, and the blocks DiceBear draws are few enough to be a vocabulary (every block the
trained-on portraits hold at least MIN_COUNT times: 97 % of them; a rarer block is learnt as the
nearest of those). A block's embedding is its own vector plus one per colour at each of its four
places (`CellDecoder`), so a rare block shares what its colours taught.

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
import torch.nn.functional as F
from PIL import Image
from torch import nn

import decoder
import realism
from common import DATA, REPO, checkpoint_path, save_sheet, seed_everything

OUT = REPO / "models/kiln_portraits"
PORTRAITS = 32768
GRID = 16  # art pixels per side
BLOCK = 2  # art pixels per side of a token's block
MIN_COUNT = 8  # a block is a token when the trained-on portraits hold it at least this often
# Token 0 pads (ignored by the loss; `<end>` in tokenizer.json, the contract's end, never drawn),
# 1 starts a sprite (`<portrait>`), colours follow.
SPECIAL = ["<pad>", "<portrait>"]
BATCH = 64


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


def to_blocks(art: np.ndarray, block: int) -> np.ndarray:
    """[N, H, W, 4] -> [N, (H/block)·(W/block), block, block, 4]: the blocks in raster order."""
    n, h, w, c = art.shape
    blocks = art.reshape(n, h // block, block, w // block, block, c).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, -1, block, block, c)


def from_blocks(blocks: np.ndarray, grid: int) -> np.ndarray:
    """The inverse of `to_blocks`: [N, cells, b, b, 4] -> [N, grid, grid, 4]."""
    n, _, b, _, c = blocks.shape
    side = grid // b
    return blocks.reshape(n, side, side, b, b, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, grid, grid, c)


def block_vocabulary(train: np.ndarray, block: int = BLOCK, min_count: int = MIN_COUNT) -> np.ndarray:
    """The blocks the trained-on portraits hold at least `min_count` times, most common first:
    uint8 [K, block, block, 4]."""
    flat = to_blocks(train, block).reshape(-1, block * block * 4)
    blocks, counts = np.unique(flat, axis=0, return_counts=True)
    keep = counts >= min_count
    order = np.argsort(-counts[keep], kind="stable")
    return blocks[keep][order].reshape(-1, block, block, 4)


def block_coverage(art: np.ndarray, cells: np.ndarray) -> float:
    """The share of `art`'s blocks that are tokens of the vocabulary `cells` (the rest are drawn
    as the nearest token's)."""
    block = cells.shape[1]
    known = {row.tobytes() for row in cells.reshape(len(cells), -1)}
    flat = to_blocks(art, block).reshape(-1, block * block * 4)
    return float(np.mean([row.tobytes() in known for row in flat]))


def as_cells(colours: np.ndarray) -> np.ndarray:
    """A vocabulary as blocks [K, b, b, 4] (a vocabulary of single colours [K, 4] is 1×1 blocks)."""
    return colours[:, None, None, :] if colours.ndim == 2 else colours


def nearest(wanted: np.ndarray, vocabulary: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """For each row of `wanted` [M, C], the index of the nearest row of `vocabulary` [K, C]
    (sum of squared differences)."""
    vocab = vocabulary.astype(np.float32)
    norms = (vocab ** 2).sum(1)
    out = []
    for start in range(0, len(wanted), chunk):
        rows = wanted[start:start + chunk].astype(np.float32)
        out.append(np.argmin(norms[None, :] - 2 * rows @ vocab.T, axis=1))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def encode(art: np.ndarray, colours: np.ndarray) -> torch.Tensor:
    """Sprites -> [N, 1 + cells] token ids: the start token, then each block's token (a block
    outside the vocabulary `colours`, [K, 4] colours or [K, b, b, 4] blocks, takes the nearest
    one's)."""
    cells = as_cells(colours)
    block = cells.shape[1]
    flat = to_blocks(art, block).reshape(-1, block * block * 4)
    vocab = cells.reshape(len(cells), -1)
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    lookup = {row.tobytes(): i for i, row in enumerate(vocab)}
    known = np.array([lookup.get(row.tobytes(), -1) for row in unique])
    unknown = known < 0
    known[unknown] = nearest(unique[unknown], vocab)
    ids = (known[inverse.reshape(-1)] + len(SPECIAL)).reshape(len(art), -1)
    return torch.from_numpy(np.concatenate([np.ones((len(art), 1), np.int64), ids], 1))


class CellDecoder(decoder.Decoder):
    """The decoder over a vocabulary of colour blocks: a block token's embedding (and output
    row) is its own vector plus one vector per colour at each place of its block, so blocks
    that share colours share what they learn. `materialised()` is a plain `decoder.Decoder`
    with the sums as its embedding, which is what is exported."""

    def __init__(self, cells, colours, **config):
        super().__init__(**config)
        places = len(cells[0])
        self.config.update(cells=[list(map(int, row)) for row in cells], colours=colours)
        # Row i: the colour-at-place index of block token i + len(SPECIAL)'s places.
        self.register_buffer("cell_parts", torch.tensor(cells, dtype=torch.long) + colours * torch.arange(places))
        self.parts = nn.Embedding(colours * places, config["dim"])
        nn.init.normal_(self.parts.weight, std=0.02)

    def token_weights(self):
        parts = self.parts(self.cell_parts).sum(1)
        return self.tokens.weight + F.pad(parts, (0, 0, len(SPECIAL), 0))

    @torch.no_grad()
    def materialised(self) -> decoder.Decoder:
        plain = decoder.Decoder(**decoder_config(self.config))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(("parts.", "cell_parts"))}
        state["tokens.weight"] = self.token_weights().clone()
        state["head.weight"] = state["tokens.weight"]
        plain.load_state_dict(state)
        return plain.eval()


def cell_decoder(cells: np.ndarray, **config) -> CellDecoder:
    """A new `CellDecoder` over the blocks `cells` [K, b, b, 4]."""
    flat = cells.reshape(-1, 4)
    keys, index = np.unique(colour_keys(flat[:, None, None, :]), return_inverse=True)
    return CellDecoder(index.reshape(len(cells), -1).tolist(), len(keys), **config)


def build(config: dict) -> decoder.Decoder:
    """The model a checkpoint's config describes."""
    if "cells" in config:
        return CellDecoder(config["cells"], config["colours"], **decoder_config(config))
    return decoder.Decoder(**config)


def decoder_config(config: dict) -> dict:
    """A `CellDecoder` config less its blocks: the plain `decoder.Decoder`'s."""
    return {k: v for k, v in config.items() if k not in ("cells", "colours")}


TOP_K = 32  # kiln_seq::PIXEL_TOP_K: a pixel is drawn from its 32 likeliest colours


@torch.no_grad()
def sample(model, colours: np.ndarray, count: int, seed: int, temperature: float = 1.0, batch: int = 256,
           tail: list | None = None, grid: int = GRID, condition: int = 1) -> np.ndarray:
    """`count` sprites of the class whose prompt token is `condition`, drawn a token (a colour,
    or a block of them) at a time with the KV cache, as Kiln draws them (temperature 1, the
    TOP_K likeliest tokens): uint8 [count, grid, grid, 4]. With `tail`, each step's probability
    outside its TOP_K likeliest tokens is appended to it."""
    cells = as_cells(colours)
    steps = (grid // cells.shape[1]) ** 2
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        ids = torch.full((n, 1), condition, dtype=torch.long)
        past = [t for pair in model.empty_past(n) for t in pair]
        tokens = []
        for position in range(steps):
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
    return from_blocks(cells[np.concatenate(out)], grid)


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
        f"16x16 RGBA pixel-art portraits drawn a {BLOCK}x{BLOCK} block of art pixels at a time, in the data's own colours",
        "train_portraits.py",
        [(f"DiceBear pixel-art portraits ({PORTRAITS} rendered by models/train/render_dicebear.mjs, "
          f"{trained_on} trained on)",
          "npm packages @dicebear/core 9, @dicebear/pixel-art 9, rendered with @resvg/resvg-js 2",
          "CC0-1.0 (design), MIT (code)")],
        f"Causal transformer (d={c['dim']}, {c['layers']} layers) over {len(colours)} tokens, each a {BLOCK}x{BLOCK} "
        f"block of art pixels in the data's colours (every block the trained-on portraits hold {MIN_COUNT} times "
        f"or more), in raster order; {stats['steps']} steps of {BATCH} in {stats['minutes']} min on a 2-core CPU "
        f"(held-out loss {stats['held_out_loss']} nats per {BLOCK}x{BLOCK} block). Realism on {table['held_back_real']} held-back "
        f"portraits (python3 models/train/train_portraits.py --export-only; 0.5 = indistinguishable): classifier "
        f"accuracy {table['classifier_accuracy']} (real vs real {table['classifier_accuracy_real_vs_real']}; "
        f"{table[f'classifier_accuracy_palette_{PALETTE}']} with a {PALETTE}-colour palette), stray pixels "
        f"{table['stray_rate_generated']} vs {table['stray_rate_real']} real.",
        "portrait", GRID)


def write_pixel_model(model, colours, out, name, description, script, data, notes, condition, grid):
    """Exports a pixel model in Kiln's sequence contract with `pixels`: model.onnx, tokenizer.json
    (the special tokens, then one token per colour or block, `token_name`) and model.ron, for
    one class `condition` whose prompt token is 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    cells = as_cells(colours)
    block = cells.shape[1]
    names = ["<end>", f"<{condition}>"] + [token_name(c) for c in cells]
    tokenizer = Tokenizer(models.WordLevel(vocab={n: i for i, n in enumerate(names)}, unk_token="<end>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(["<end>"])
    tokenizer.save(str(out / "tokenizer.json"))
    if isinstance(model, CellDecoder):
        model = model.materialised()
    decoder.export(model, out / "model.onnx")
    block_field = "" if block == 1 else f", block: (width: {block}, height: {block})"
    decoder.write_manifest(
        model, out, name, description, "CC0-1.0", script, data, notes,
        f"""        tokenizer: "tokenizer.json",
        context: {model.config['context']},
        conditions: ["{condition}"],
        prompt: "<{{condition}}>",
        end: "<end>",
        pixels: (width: {grid}, height: {grid}{block_field}),""")


def colour_name(rgba: np.ndarray) -> str:
    """A colour: `#rrggbb` when opaque, `#00000000` for transparency."""
    return f"#{rgba[0]:02x}{rgba[1]:02x}{rgba[2]:02x}" + ("" if rgba[3] == 255 else f"{rgba[3]:02x}")


def token_name(block: np.ndarray) -> str:
    """A token of a [b, b, 4] block: its colours in raster order joined by commas (one colour's
    token is its `colour_name`)."""
    return ",".join(colour_name(c) for c in block.reshape(-1, 4))


def comparison_sheet(fake, real, path, scale):
    """Held-back real sprites | generated sprites, two rows of six each (README)."""
    real = real[np.random.default_rng(7).permutation(len(real))[:12]]
    blank = np.zeros_like(real[0])
    save_sheet([list(real[:6]) + [blank] + list(fake[:6]), list(real[6:]) + [blank] + list(fake[6:12])], path, scale=scale)


def load_or_new(name: str, new_colours, context: int, dim: int, layers: int):
    """(model, colours, stats) from the checkpoint `name` if there is one (stats: its steps,
    minutes and held-out loss), else a new model over the colours `new_colours()` returns
    ([K, 4] colours: a `decoder.Decoder`; [K, b, b, 4] blocks: a `CellDecoder`)."""
    ckpt = checkpoint_path(name)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model = build(state["config"])
        model.load_state_dict(state["model"])
        print(f"resumed from {ckpt} at step {state['stats']['steps']}")
        model.eval()
        return model, state["colours"], state["stats"]
    colours = new_colours()
    config = dict(vocab=len(SPECIAL) + len(colours), dim=dim, layers=layers, heads=4, context=context)
    model = cell_decoder(colours, **config) if colours.ndim == 4 else decoder.Decoder(**config)
    return model, colours, None


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
    model, colours, start = load_or_new(args.checkpoint, lambda: block_vocabulary(art[~held]),
                                        1 + (GRID // BLOCK) ** 2, args.dim, args.layers)
    print(f"{len(colours)} blocks ({block_coverage(art[~held], colours):.2%} of the trained-on portraits' blocks), "
          f"{sum(p.numel() for p in model.parameters())} parameters")
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
