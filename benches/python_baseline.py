#!/usr/bin/env python3
"""The bake a user would otherwise write: onnxruntime + numpy + Pillow, same recipes, same work.

For every entry of every `*.kiln.ron` under RECIPES it does what `kiln bake` does, with the
same models. Text and music: the same tokenizer.json (the `tokenizers` package), the prompt
once then one token per step with the KV cache, Kiln's sampling (repetition penalty, top-k,
temperature, top-p) in numpy, flavour text's name, whole-sentence cut and retries, the melody
grammar (bars of 16 steps); loops are synthesised by a small numpy synth (square melody,
triangle bass) rather than Kiln's four-part fundsp arrangement, so music compares decoding
plus a lighter synthesis. Images: Gaussian latent per variant (batch of one), session.run, conversion to 8-bit
pixels, each in the nearest colour of its class's art palette where the model has them (scipy's
k-d tree); for textures art pixels at `size / scale`, an optional median-cut palette, the
phase-aware seam score, a wrap-around Sobel normal map and the nearest upscale; for sprites hard
alpha, median-cut palette, despeckle (checked equal to Kiln's on 128 sprites), 1-px outline,
nearest upscale, a sheet and its atlas; PNG files
and a JSON manifest with sha256 per file. Pixels differ from Kiln's (numpy's RNG, Pillow's
quantiser): the workload is what is compared, not the bytes.

    python3 benches/python_baseline.py RECIPES OUT [--models models] [--threads N]

Prints one JSON line: seconds (wall, excluding interpreter start), run_seconds (inside
session.run), files, entries.
"""

import argparse
import hashlib
import json
import pathlib
import re
import time
import wave

import numpy as np
import onnxruntime as ort
from PIL import Image

# --- A small RON reader for recipes and manifests (structs, maps, lists, tuples, enums). ---

TOKEN = re.compile(
    r'\s*(?:(//[^\n]*)|("(?:[^"\\]|\\.)*")|(-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))',
    re.S,
)


def tokens(text):
    for comment, string, number, ident, punct in TOKEN.findall(text):
        if comment:
            continue
        if string:
            yield ("str", json.loads(string))
        elif number:
            yield ("num", float(number) if "." in number or "e" in number.lower() else int(number))
        elif ident:
            yield ("id", ident)
        elif punct.strip():
            yield ("p", punct)


def parse_ron(text):
    toks = list(tokens(text))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else ("eof", None)

    def take(expected=None):
        nonlocal pos
        tok = toks[pos]
        pos += 1
        if expected and tok[1] != expected:
            raise ValueError(f"expected {expected}, got {tok}")
        return tok

    def value():
        kind, v = peek()
        if kind in ("str", "num"):
            take()
            return v
        if kind == "id":
            take()
            if v in ("true", "false"):
                return v == "true"
            if v == "None":
                return None
            if peek()[1] == "(":
                inner = group()
                return inner if v == "Some" else {v: inner}
            return v
        if v == "(":
            return group()
        if v == "[":
            take("[")
            items = []
            while peek()[1] != "]":
                items.append(value())
                if peek()[1] == ",":
                    take(",")
            take("]")
            return items
        if v == "{":
            take("{")
            items = {}
            while peek()[1] != "}":
                key = value()
                take(":")
                items[key] = value()
                if peek()[1] == ",":
                    take(",")
            take("}")
            return items
        raise ValueError(f"unexpected {peek()}")

    def group():
        # `(a: 1, b: 2)` is a struct, `(1, 2)` a tuple, `(x)` a newtype.
        take("(")
        if peek()[0] == "id" and toks[pos + 1][1] == ":":
            fields = {}
            while peek()[1] != ")":
                name = take()[1]
                take(":")
                fields[name] = value()
                if peek()[1] == ",":
                    take(",")
            take(")")
            return fields
        items = []
        while peek()[1] != ")":
            items.append(value())
            if peek()[1] == ",":
                take(",")
        take(")")
        return items[0] if len(items) == 1 else items

    return value()


# --- Generation ---

# `--ep cuda` puts CUDA first (onnxruntime-gpu); the CPU provider is the fallback.
PROVIDERS = ["CPUExecutionProvider"]


class Model:
    def __init__(self, folder, threads):
        self.manifest = parse_ron((folder / "model.ron").read_text())
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=PROVIDERS)
        contract = self.manifest["kind"]["ImageGenerator"]
        self.contract = contract
        z = next(i for i in self.manifest["inputs"] if i["name"] == contract["latent"])
        self.z_channels = z["shape"][1]
        self.run_seconds = 0.0
        self.palettes = None
        if contract.get("palettes"):  # row k: class k's colours, up to the first transparent pixel
            from scipy.spatial import cKDTree

            sheet = np.asarray(Image.open(folder / contract["palettes"]).convert("RGBA"))
            rows = [row[: int(np.argmin(np.append(row[:, 3] >= 128, False)))][:, :3] for row in sheet]
            self.palettes = [(row, cKDTree(row.astype(np.float32))) for row in rows]

    def generate(self, seed, size, cls):
        c = self.contract
        stride = c.get("stride")
        shape = [1, self.z_channels] + ([size[1] // stride, size[0] // stride] if stride else [])
        z = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
        feeds = {c["latent"]: z}
        index = c["classes"].index(cls) if cls and c.get("class_input") else 0
        if c.get("class_input"):
            feeds[c["class_input"]] = np.array([index], dtype=np.int64)
        started = time.perf_counter()
        (out,) = self.session.run([c["output"]], feeds)
        self.run_seconds += time.perf_counter() - started
        if not np.isfinite(out).all():
            raise ValueError("non-finite output")
        low, high = c["value_range"]
        pixels = np.clip(np.round((out[0] - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
        pixels = np.ascontiguousarray(pixels.transpose(1, 2, 0))  # HWC
        if self.palettes:
            colours, tree = self.palettes[index]
            _, nearest = tree.query(pixels[..., :3].reshape(-1, 3).astype(np.float32))
            pixels[..., :3] = colours[nearest].reshape(pixels.shape[:2] + (3,))
        return pixels


def seam_score(image, period):
    img = image.astype(np.int32)
    h, w, _ = img.shape
    if w < 2 * period or h < 2 * period:
        return 1.0
    dx = np.abs(img - np.roll(img, -1, axis=1)).sum(axis=2)
    dy = np.abs(img - np.roll(img, -1, axis=0)).sum(axis=2)
    wrap = np.concatenate([dx[:, -1], dy[-1, :]]).mean()
    cols = [i for i in range(w - 1) if (i + 1) % period == 0]
    rows = [i for i in range(h - 1) if (i + 1) % period == 0]
    inner = np.concatenate([dx[:, cols].ravel(), dy[rows, :].ravel()]).mean()
    return float(wrap / inner) if inner else 1.0


def normal_map(image, strength=2.0):
    lum = (image[..., 0] * 0.2126 + image[..., 1] * 0.7152 + image[..., 2] * 0.0722) / 255.0
    s = lambda dx, dy: np.roll(np.roll(lum, -dy, axis=0), -dx, axis=1)  # noqa: E731
    gx = (s(1, -1) + 2 * s(1, 0) + s(1, 1)) - (s(-1, -1) + 2 * s(-1, 0) + s(-1, 1))
    gy = (s(-1, 1) + 2 * s(0, 1) + s(1, 1)) - (s(-1, -1) + 2 * s(0, -1) + s(1, -1))
    n = np.stack([-gx / 8 * strength, gy / 8 * strength, np.ones_like(gx)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.round((n * 0.5 + 0.5) * 255).astype(np.uint8)


def reduce_palette_rgb(rgb, colours):
    """Median cut to at most `colours`, leaving an image that already fits as it is."""
    if len(np.unique(rgb.reshape(-1, 3), axis=0)) <= colours:
        return rgb
    return np.asarray(Image.fromarray(rgb).quantize(colors=colours, method=Image.Quantize.MEDIANCUT).convert("RGB"))


def art_grid(rgba):
    """Largest of 8, 4, 2 whose g×g blocks are each one colour, else 1 (as Kiln's art_grid)."""
    h, w, _ = rgba.shape
    for g in (8, 4, 2):
        if h % g == 0 and w % g == 0 and (np.repeat(np.repeat(rgba[::g, ::g], g, 0), g, 1) == rgba).all():
            return g
    return 1


def despeckle(rgba, alike=24, contrast=64):
    """Kiln's despeckle, vectorised: an opaque art pixel unlike all 8 neighbours takes its closest
    opaque neighbour's colour when that is within `contrast` (first in reading order on ties)."""
    g = art_grid(rgba)
    art = rgba[::g, ::g].astype(np.int16)
    h, w, _ = art.shape
    padded = np.pad(art, ((1, 1), (1, 1), (0, 0)))  # outside the image: transparent, skipped
    best_d = np.full((h, w), 999, np.int16)
    best = np.zeros_like(art)
    any_alike = np.zeros((h, w), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            n = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            d = np.where(n[..., 3] == 255, np.abs(n[..., :3] - art[..., :3]).max(-1), 999)
            any_alike |= d <= alike
            closer = d < best_d
            best_d = np.where(closer, d, best_d)
            best = np.where(closer[..., None], n, best)
    speck = (art[..., 3] == 255) & ~any_alike & (best_d <= contrast)
    art = np.where(speck[..., None], best, art).astype(np.uint8)
    return np.repeat(np.repeat(art, g, 0), g, 1)


def post_process_sprite(rgba, palette, outline, scale, cleanup=True):
    opaque = rgba[..., 3] >= 128
    rgba = np.where(opaque[..., None], np.concatenate([rgba[..., :3], np.full_like(rgba[..., :1], 255)], -1), 0).astype(np.uint8)
    colours = max(1, palette - (1 if outline else 0))
    rgb = Image.fromarray(rgba[..., :3])
    if len(np.unique(rgba[opaque][:, :3], axis=0)) > colours:
        rgb = rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).convert("RGB")
    rgba = np.concatenate([np.asarray(rgb), rgba[..., 3:]], -1)
    if cleanup:
        rgba = despeckle(rgba)
    if outline:
        a = rgba[..., 3] == 255
        p = np.pad(a, 1)
        touches = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        rgba[~a & touches] = list(outline) + [255]
    return np.repeat(np.repeat(rgba, scale, 0), scale, 1)


class Decoder:
    """A decoder in the optimum contract with its tokenizer.json, run as Kiln runs it: the
    prompt once, then one token per step with the KV cache, sampling as the recipe says."""

    def __init__(self, folder, threads):
        from tokenizers import Tokenizer

        self.manifest = parse_ron((folder / "model.ron").read_text())
        self.contract = self.manifest["kind"]["SequenceGenerator"]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=PROVIDERS)
        self.tokenizer = Tokenizer.from_file(str(folder / self.contract["tokenizer"]))
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.pasts = sorted(n for n in self.inputs if n.startswith("past_key_values."))
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.end = self.tokenizer.token_to_id(self.contract["end"])
        names = (self.contract.get("novelty") or {}).get("names")
        # The training texts' names, which a made-up name is drawn again for being (as Kiln does).
        self.corpus_names = {name_key(line) for line in (folder / names).read_text().splitlines()} if names else set()
        self.run_seconds = 0.0

    def prompt(self, condition, name=None):
        template = self.contract.get("named_prompt") if name else None
        text = (template or self.contract["prompt"]).replace("{condition}", condition)
        return self.tokenizer.encode(text.replace("{name}", name or ""), add_special_tokens=False).ids

    def generate(self, prompt, sampling, rng, max_tokens, stop=(), allowed=None, score=False):
        """(tokens, stop token or None, log-probabilities) after `prompt` until a `stop` token or
        `max_tokens`; `allowed(history)` gives the token ids that may come next (a grammar), None
        for all. With `score`, the model's log-probability of each token is recorded, as Kiln's
        `Decoding::score`."""
        sequence, generated, fed, log_probs = list(prompt), [], 0, []
        past = {n: np.zeros((1, self.inputs[n].shape[1], 0, self.inputs[n].shape[3]), np.float32) for n in self.pasts}
        room = self.contract["context"] - len(prompt)
        while len(generated) < min(max_tokens, room):
            new = sequence[fed:]
            feeds = {
                "input_ids": np.array([new], np.int64),
                "attention_mask": np.ones((1, len(sequence)), np.int64),
                "position_ids": np.arange(fed, len(sequence), dtype=np.int64)[None],
                **past,
            }
            started = time.perf_counter()
            results = dict(zip(self.outputs, self.session.run(self.outputs, feeds)))
            self.run_seconds += time.perf_counter() - started
            fed = len(sequence)
            past = {n: results[n.replace("past_key_values", "present")] for n in self.pasts}
            logits = results["logits"][0, -1]
            token = sample(logits, generated, sampling, rng, allowed(generated) if allowed else None)
            if token is None:
                break
            if token in stop:
                return generated, token, log_probs
            generated.append(token)
            if score:
                shifted = logits.astype(np.float64) - logits.max()
                log_probs.append(shifted[token] - np.log(np.exp(shifted).sum()))
            sequence.append(token)
        return generated, None, log_probs


    def draw_pixels(self, seed, condition):
        """A sprite of a pixel-drawing model (`pixels` in its contract), as Kiln draws it: the
        class prompt, then one colour token per art pixel (or per block of them, blocks in raster
        order) from the 32 likeliest tokens."""
        grid = self.contract["pixels"]
        block = grid.get("block") or {"width": 1, "height": 1}
        if not hasattr(self, "blocks"):
            vocab = self.tokenizer.get_vocab(with_added_tokens=True)
            self.blocks = {i: token_colours(t) for t, i in vocab.items() if token_colours(t) is not None}
            self.block_ids = sorted(self.blocks)
        sampling = {"temperature": 1.0, "top_k": 32, "top_p": 1.0, "repetition_penalty": 1.0}
        across, down = grid["width"] // block["width"], grid["height"] // block["height"]
        prompt = self.prompt(condition or self.contract["conditions"][0])
        rng = np.random.default_rng(seed)
        tokens, _, _ = self.generate(prompt, sampling, rng, across * down, allowed=lambda _: self.block_ids)
        cells = np.array([self.blocks[t] for t in tokens], np.uint8)
        cells = cells.reshape(down, across, block["height"], block["width"], 4).transpose(0, 2, 1, 3, 4)
        return cells.reshape(grid["height"], grid["width"], 4)


def pixel_colour(token):
    """The RGBA colour a `#rrggbb` / `#rrggbbaa` token names, else None."""
    if not re.fullmatch(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})", token):
        return None
    hex_ = token[1:] + ("ff" if len(token) == 7 else "")
    return [int(hex_[i : i + 2], 16) for i in range(0, 8, 2)]


def token_colours(token):
    """The colours a colour token names, row by row (a block's are joined by commas), else None."""
    colours = [pixel_colour(part) for part in token.split(",")]
    return None if any(colour is None for colour in colours) else colours


def name_key(name):
    """A name's words, lower case, joined by one space (what Kiln compares names by)."""
    return " ".join(w.lower() for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", name))


def sample(logits, history, sampling, rng, allowed):
    """Kiln's sampler in numpy: CTRL repetition penalty, then greedy at temperature 0, else top-k,
    softmax with temperature, top-p and a draw."""
    logits = logits.astype(np.float64)
    if allowed is not None:
        mask = np.full(logits.shape, -np.inf)
        mask[allowed] = 0.0
        logits = logits + mask
    penalty = sampling.get("repetition_penalty", 1.15)
    if penalty != 1.0 and history:
        seen = np.unique(history)
        logits[seen] = np.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)
    order = np.argsort(-logits, kind="stable")
    order = order[np.isfinite(logits[order])]
    if len(order) == 0:
        return None
    temperature = sampling.get("temperature", 0.8)
    if temperature == 0:
        return int(order[0])
    top_k = sampling.get("top_k", 40)
    if top_k:
        order = order[:top_k]
    weights = np.exp((logits[order] - logits[order[0]]) / temperature)
    weights /= weights.sum()
    keep = int(np.searchsorted(np.cumsum(weights), sampling.get("top_p", 0.95))) + 1
    weights = weights[:keep] / weights[:keep].sum()
    return int(rng.choice(order[:keep], p=weights))


def whole_sentences(text, low, high):
    """Kiln's cut: the longest run of whole sentences within `high` words, if at least `low`,
    ending where every bracket and double quote opened is closed (and none closed unopened)."""
    words, best = text.split(), None
    depth, quoted, broken = 0, False, False
    for index, word in enumerate(words[:high]):
        for c in word:
            if c in "([":
                depth += 1
            elif c in ")]":
                broken, depth = broken or depth == 0, max(depth - 1, 0)
            elif c == '"':
                quoted = not quoted
        if word.rstrip("\"')]").endswith((".", "!", "?")) and depth == 0 and not quoted and not broken:
            best = (index + 1, " ".join(words[: index + 1]))
    return best[1] if best and best[0] >= low else None


def flavour(model, params, seed):
    sampling, rng = params.get("sampling", {}), np.random.default_rng(seed)
    end = model.end
    name_end = model.tokenizer.token_to_id(model.contract["name_end"]) if model.contract.get("name_end") else None
    for _attempt in range(12):
        prompt = model.prompt(params["kind"], params.get("name"))
        name = params.get("name", "")
        if not name and name_end is not None:
            for _draw in range(64):  # a name of the training texts is drawn again
                tokens, stopped, _ = model.generate(prompt, sampling, rng, 12, (name_end, end))
                name = model.tokenizer.decode(tokens).strip()
                if stopped != name_end or not name or name_key(name) not in model.corpus_names:
                    break
            if stopped != name_end or not name:
                continue
            prompt += tokens + [name_end]
        # Kiln's `candidates`: several descriptions, the one of highest mean log-probability kept.
        best = None
        for _candidate in range(params.get("candidates", 4)):
            max_tokens = sampling.get("max_tokens", 160)
            tokens, _, log_probs = model.generate(prompt, sampling, rng, max_tokens, (end,), score=True)
            text = whole_sentences(model.tokenizer.decode(tokens), params.get("min_words", 8), params.get("max_words", 60))
            score = float(np.mean(log_probs)) if log_probs else 0.0
            if text and (best is None or score > best[0]):
                best = (score, text)
        if best:
            return {"name": name, "text": best[1]}
    raise ValueError("no text within the limits")


SAMPLE_RATE = 44100
STEPS_PER_BAR = 16


def melody(model, params, seed):
    """Kiln's melody grammar: `|` then 16 step tokens per bar, phrases of 8 bars prompted with
    the last 4."""
    vocab = model.tokenizer.get_vocab()
    bar = vocab["|"]
    steps = {i: t for t, i in vocab.items() if t in ("_", "r") or (t[0] == "n" and t[1:].lstrip("-").isdigit())}
    step_ids = np.array(sorted(steps))
    sampling, rng = params.get("sampling", {}), np.random.default_rng(seed)
    wanted, bars = params.get("bars", 8), []
    while len(bars) < wanted:
        prompt = model.prompt(params.get("mode", "Major").lower())
        for previous in bars[-4:]:
            prompt += previous + [bar]
        count = min(wanted - len(bars), 8 - min(len(bars), 4))
        allowed = lambda generated: [bar] if len(generated) % 17 == 16 else step_ids  # noqa: E731
        tokens, _, _ = model.generate(prompt, sampling, rng, count * 17 - 1, allowed=allowed)
        bars += [tokens[i : i + 16] for i in range(0, len(tokens), 17)]
    return [steps[t] for b in bars for t in b]


def render_loop(steps, params):
    """A numpy synth of the loop (not Kiln's fundsp arrangement): melody as a square wave with
    an envelope, a triangle bass on the tonic every half bar, 16-bit WAV."""
    tempo = params.get("tempo", 120)
    step_samples = SAMPLE_RATE * 60 // (tempo * 4)
    tonic = 62
    out = np.zeros(len(steps) * step_samples, np.float32)
    t = np.arange(step_samples * 16) / SAMPLE_RATE
    for start, token in enumerate(steps):
        if token[0] != "n":
            continue
        length = 1
        while start + length < len(steps) and steps[start + length] == "_":
            length += 1
        n = length * step_samples
        freq = 440.0 * 2 ** ((tonic + int(token[1:]) - 69) / 12)
        tone = np.sign(np.sin(2 * np.pi * freq * t[:n])) * np.exp(-3 * t[:n])
        out[start * step_samples : start * step_samples + n] += 0.3 * tone
    half_bar = 8 * step_samples
    bass = 0.3 * (2 / np.pi) * np.arcsin(np.sin(2 * np.pi * 440.0 * 2 ** ((tonic - 24 - 69) / 12) * t[:half_bar]))
    out += np.tile(bass, len(out) // half_bar + 1)[: len(out)]
    out /= max(1e-9, np.abs(out).max())
    return (out * 32767).astype("<i2").tobytes()


def write_wav(out, relative, pcm, manifest, record):
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    manifest[relative] = dict(record, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def write_png(out, relative, array, manifest, record):
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    manifest[relative] = dict(record, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def bake(recipes, out, models_dir, threads):
    models, manifest, entries = {}, {}, 0
    for recipe_path in sorted(recipes.rglob("*.kiln.ron")):
        recipe = parse_ron(recipe_path.read_text())
        stem = recipe_path.name[: -len(".kiln.ron")]
        for name, entry in sorted(recipe["assets"].items()):
            entries += 1
            kind, params = next(iter(entry["kind"].items()))
            if entry["model"] not in models:
                sequence = "SequenceGenerator" in (models_dir / entry["model"] / "model.ron").read_text()
                models[entry["model"]] = (Decoder if sequence else Model)(models_dir / entry["model"], threads)
            model = models[entry["model"]]
            folder = entry.get("output") or f"{stem}/{name}"
            seeds = [entry["seed"] + i for i in range(entry.get("variants", 1))]
            record = {"recipe": recipe_path.name, "entry": name, "model": entry["model"], "parameters": params}
            if kind == "Text":
                table = {f"{name}/{i}": flavour(model, params, seed) for i, seed in enumerate(seeds)}
                path = out / folder / "strings.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(table, indent=1))
                manifest[f"{folder}/strings.json"] = dict(record, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
            elif kind == "Music":
                for i, seed in enumerate(seeds):
                    pcm = render_loop(melody(model, params, seed), params)
                    write_wav(out, f"{folder}/{i}.wav", pcm, manifest, dict(record, seed=seed))
            elif kind == "Texture":
                scale = params.get("scale", 1)
                up = lambda a: np.repeat(np.repeat(a, scale, 0), scale, 1)  # noqa: E731
                for i, seed in enumerate(seeds):
                    art = model.generate(seed, [side // scale for side in params["size"]], params.get("class"))
                    if params.get("palette"):
                        art = reduce_palette_rgb(art, params["palette"])
                    score = seam_score(art, model.contract.get("stride") or 1)
                    write_png(out, f"{folder}/{i}.png", up(art), manifest, dict(record, seed=seed, seam_score=score))
                    if params.get("normal_map"):
                        write_png(out, f"{folder}/{i}.normal.png", up(normal_map(art)), manifest, dict(record, seed=seed))
            else:
                sprites = []
                for i, seed in enumerate(seeds):
                    if isinstance(model, Decoder):
                        raw = model.draw_pixels(seed, params.get("class"))
                    else:
                        raw = model.generate(seed, None, params.get("class"))
                    sprite = post_process_sprite(raw, params.get("palette", 16), params.get("outline"), params.get("scale", 1), params.get("despeckle", True))
                    sprites.append(sprite)
                    write_png(out, f"{folder}/{i}.png", sprite, manifest, dict(record, seed=seed))
                columns = int(np.ceil(np.sqrt(len(sprites))))
                rows = -(-len(sprites) // columns)
                th, tw, _ = sprites[0].shape
                sheet = np.zeros((rows * th, columns * tw, 4), np.uint8)
                rects = []
                for i, sprite in enumerate(sprites):
                    x, y = (i % columns) * tw, (i // columns) * th
                    sheet[y : y + th, x : x + tw] = sprite
                    rects.append(f"(min: ({x}, {y}), max: ({x + tw}, {y + th}))")
                write_png(out, f"{folder}/sheet.png", sheet, manifest, record)
                atlas = f"(size: ({columns * tw}, {rows * th}), textures: [{', '.join(rects)}])\n"
                (out / folder / "sheet.atlas.ron").write_text(atlas)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return models, manifest, entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", type=pathlib.Path)
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--models", type=pathlib.Path, default=pathlib.Path("models"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--ep", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.ep == "cuda":
        PROVIDERS.insert(0, "CUDAExecutionProvider")
    started = time.perf_counter()
    models, manifest, entries = bake(args.recipes, args.out, args.models, args.threads)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": round(seconds, 4),
        "run_seconds": round(sum(m.run_seconds for m in models.values()), 4),
        "files": len(manifest) + sum(1 for _ in args.out.rglob("*.atlas.ron")),
        "entries": entries,
        "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
