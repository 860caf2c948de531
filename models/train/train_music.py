"""Trains Kiln's melody generator (models/kiln_melody) on public-domain-era tunes.

    models/train/fetch_data.sh music && python3 models/train/train_music.py [--minutes 10]

Data: the music21 10.5.1 corpus (PyPI): `oneills1850`, `ryansMammoth`, `airdsAirs` (ABC) and
the `bach` chorales (soprano line). The Essen folksong collection (non-commercial) is not read.
Parsing is slow, so the token sequences are cached in $KILN_DATA_DIR/music-tokens.json.

Tokens: a mode (`<major>`, `<minor>`), then bars of 16 sixteenth-note steps, each bar opened by
`|`; a step is `n<k>` (a note starting k semitones from the tonic, -12..24), `_` (the note
holds) or `r` (rest). Tunes are transposed to their tonic, so the recipe picks the key.
4/4, 2/2 and 2/4 tunes are used (two 2/4 bars make one 16-step bar); pick-ups are dropped.
"""

import argparse
import json
import multiprocessing
import statistics

import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from common import DATA, REPO, checkpoint_path, seed_everything
from decoder import Decoder, export, load_checkpoint, train, write_manifest

CORPUS = DATA / "music21" / "x" / "music21" / "corpus"
CACHE = DATA / "music-tokens.json"
OUT = REPO / "models" / "kiln_melody"
LOW, HIGH = -12, 24
STEPS = 16
BARS = 8
VOCAB = ["<pad>", "<end>", "<major>", "<minor>", "|", "_", "r"] + [f"n{k}" for k in range(LOW, HIGH + 1)]
MINOR_MODES = {"minor", "dorian", "phrygian", "aeolian", "locrian"}


def tokens_of(score):
    """One tune's mode and step tokens, or None when it does not fit the grid."""
    from music21 import key, meter

    signatures = score.recurse().getElementsByClass(meter.TimeSignature)
    if not signatures or signatures[0].ratioString not in ("4/4", "2/2", "2/4"):
        return None
    keys = list(score.recurse().getElementsByClass(key.Key))
    k = keys[0] if keys else score.analyze("key")
    part = score.parts[0] if hasattr(score, "parts") and score.parts else score
    measures = list(part.getElementsByClass("Measure"))
    bar = signatures[0].barDuration.quarterLength
    start = measures[0].duration.quarterLength if measures and measures[0].duration.quarterLength < bar else 0.0
    notes = [n for n in part.flatten().notesAndRests if n.offset >= start]
    pitched = [n for n in notes if n.isNote]
    if len(pitched) < 16:
        return None
    median = statistics.median(n.pitch.midi for n in pitched)
    tonic = k.tonic.pitchClass
    reference = tonic + 12 * int((median - tonic) // 12)
    end = max(n.offset + n.duration.quarterLength for n in notes) - start
    steps = ["r"] * int(round(end * 4))
    for n in notes:
        if not n.isNote:
            continue
        offset = round((n.offset - start) * 4)
        length = max(1, round(n.duration.quarterLength * 4))
        pitch = n.pitch.midi - reference
        if not LOW <= pitch <= HIGH or offset >= len(steps):
            return None
        steps[offset] = f"n{pitch}"
        for s in range(offset + 1, min(offset + length, len(steps))):
            steps[s] = "_"
    bars = [steps[i : i + STEPS] for i in range(0, len(steps) - STEPS + 1, STEPS)]
    mode = "<minor>" if k.mode in MINOR_MODES else "<major>"
    return mode, bars


def parse_file(path):
    from music21 import converter, stream

    try:
        parsed = converter.parse(str(path))
    except Exception:  # noqa: BLE001 - a few corpus files do not parse; skip them
        return []
    scores = parsed.scores if isinstance(parsed, stream.Opus) else [parsed]
    out = []
    for score in scores:
        try:
            tune = tokens_of(score)
        except Exception:  # noqa: BLE001
            tune = None
        if tune:
            out.append(tune)
    return out


def corpus():
    if CACHE.exists():
        return json.loads(CACHE.read_text())
    files = []
    for collection in ("oneills1850", "ryansMammoth", "airdsAirs"):
        files += sorted((CORPUS / collection).glob("*.abc"))
    files += sorted((CORPUS / "bach").glob("*.mxl"))
    with multiprocessing.Pool(2) as pool:
        tunes = [t for result in pool.imap(parse_file, files, chunksize=4) for t in result]
    CACHE.write_text(json.dumps(tunes))
    return tunes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--export-only", action="store_true", help="re-export the saved checkpoint")
    args = parser.parse_args()
    seed_everything(11)
    if args.export_only:
        model = load_checkpoint(checkpoint_path("kiln_melody"))
        export(model, OUT / "model.onnx")
        finish(model, json.loads((OUT / "training.json").read_text()))
        return
    tunes = corpus()
    ids = {t: i for i, t in enumerate(VOCAB)}
    windows = []
    for mode, bars in tunes:
        for first in range(0, max(1, len(bars) - BARS + 1), 4):
            chunk = bars[first : first + BARS]
            if len(chunk) == BARS:
                windows.append([mode] + [t for b in chunk for t in ["|"] + b] + ["<end>"])
    modes = {m: sum(1 for w in windows if w[0] == m) for m in ("<major>", "<minor>")}
    print(f"{len(tunes)} tunes, {len(windows)} windows of {BARS} bars: {modes}")
    length = len(windows[0])
    sequences = torch.tensor([[ids[t] for t in w] for w in windows], dtype=torch.long)

    tokenizer = Tokenizer(models.WordLevel(vocab=ids, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    model = Decoder(len(VOCAB), dim=128, layers=4, heads=4, context=length)
    steps, loss, _ = train(model, sequences, args.minutes, batch=32)
    torch.save({"state": model.state_dict(), "config": model.config}, checkpoint_path("kiln_melody"))
    OUT.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(OUT / "tokenizer.json"))
    export(model, OUT / "model.onnx")
    (OUT / "training.json").write_text(json.dumps(
        {"tunes": len(tunes), "windows": len(windows), "per_mode": modes, "steps": steps,
         "final_loss": round(loss, 3), "minutes": args.minutes,
         "parameters": sum(p.numel() for p in model.parameters())}, indent=1) + "\n")
    finish(model, json.loads((OUT / "training.json").read_text()))
    print(f"trained {steps} steps, loss {loss:.3f}")


def finish(model, stats):
    write_manifest(
        model, OUT, "kiln_melody",
        "Melodies for music loops: bars of sixteenth-note steps in semitones from the tonic, major or minor",
        "CC0-1.0", "train_music.py",
        [(f"{name} (music21 corpus)", "PyPI music21 10.5.1", "public domain (published before 1900)")
         for name in ["O'Neill's Music of Ireland, 1850 (oneills1850)", "Ryan's Mammoth Collection, 1883 (ryansMammoth)",
                      "Aird's Selection of Scotch, English, Irish and Foreign Airs, 1782-1797 (airdsAirs)",
                      "J. S. Bach chorales, soprano lines (bach)"]],
        f"Not the Essen folksong collection (non-commercial). {stats['tunes']} tunes in 4/4, 2/2 or 2/4, "
        f"{stats['windows']} windows of 8 bars ({stats['per_mode']}); 4-layer causal transformer "
        f"(d={model.config['dim']}), {stats['steps']} steps in {stats['minutes']} min on 2 CPU cores, "
        f"final loss {stats['final_loss']}.",
        f"""        tokenizer: "tokenizer.json",
        context: {model.config['context']},
        conditions: ["major", "minor"],
        prompt: "<{{condition}}> |",
        end: "<end>",""")


if __name__ == "__main__":
    main()
