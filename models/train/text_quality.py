#!/usr/bin/env python3
"""Measures models/kiln_flavour as a user reads it: bakes 50 texts per kind with `kiln` (release,
CPU) and compares them with the training corpus (issue #11's measures). Writes
models/kiln_flavour/quality.json and prints it.

    models/train/fetch_data.sh text && python3 models/train/text_quality.py

- real words: share of the words written that are in the model's lexicon.txt (the recipe's own
  names aside), and share in SCOWL's American English list alone;
- consistency: share of texts that give a creature another creature's name of the corpus (a
  creature named Ghoul described as the sphinx), or whose name's head noun (before "of", else
  its last word) the corpus only uses in names of another kind ("Wand of ..." for a weapon);
- mechanics: share of sentences with dice or bonus mechanics (`+N`, `NdM`, "saving throw",
  "attack roll", "damage roll", "spell attack", "Armor Class");
- verbatim: share of texts sharing a 12-word span with a training description.
"""

import json
import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from common import REPO
from train_text import KINDS, OUT, WORD, WORD_LIST, name_noun, samples

PER_KIND = 50
SPAN = 12
MECHANICS = re.compile(r"\+\d|\b\d+d\d+\b|saving throw|attack roll|damage roll|spell attack|armor class", re.I)


def bake(kinds):
    """50 texts per kind, no names given, as strings: {kind: [(name, text)]}."""
    entries = ",\n".join(
        f'"{kind}": (model: "kiln_flavour", seed: {1000 + i}, variants: {PER_KIND}, kind: Text(kind: "{kind}"))'
        for i, kind in enumerate(kinds)
    )
    with tempfile.TemporaryDirectory() as tmp:
        recipes = Path(tmp) / "recipes"
        recipes.mkdir()
        (recipes / "quality.kiln.ron").write_text(f"(assets: {{\n{entries}\n}})\n")
        out = Path(tmp) / "out"
        subprocess.run(["cargo", "run", "--release", "--quiet", "--", "bake", str(recipes), "--out", str(out), "--ep", "cpu"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        return {kind: [(v["name"], v["text"]) for v in json.loads((out / "quality" / kind / "strings.json").read_text()).values()]
                for kind in kinds}


def words(text):
    return [w.lower() for w in WORD.findall(text)]





def spans(text):
    w = words(text)
    return {" ".join(w[i:i + SPAN]) for i in range(len(w) - SPAN + 1)}


def main():
    corpus = [s for s in samples() if s[2]]
    lexicon = {line.strip() for line in (OUT / "lexicon.txt").read_text().splitlines() if line and not line.startswith("#")}
    word_list = {line.strip().lower() for line in WORD_LIST.read_text(encoding="utf-8").splitlines()}
    corpus_spans = set().union(*(spans(text) for _, _, text in corpus))
    # Names of the corpus by kind, and the last word of each (the noun a name ends in).
    names = defaultdict(set)
    heads = defaultdict(set)
    for kind, name, _ in corpus:
        names[kind].add(" ".join(words(name)))
        heads[kind].add(name_noun(name))
    texts = bake(KINDS)
    written = in_lexicon = in_list = sentences = with_mechanics = verbatim = inconsistent = 0
    examples = defaultdict(list)
    for kind, made in texts.items():
        foreign_heads = set().union(*(h for k, h in heads.items() if k != kind)) - heads[kind]
        for name, text in made:
            w = words(f"{name} {text}")
            written += len(w)
            in_lexicon += sum(x in lexicon for x in w)
            in_list += sum(x in word_list for x in w)
            for sentence in re.findall(r"[^.!?]+[.!?]", text):
                sentences += 1
                with_mechanics += bool(MECHANICS.search(sentence))
            verbatim += bool(spans(text) & corpus_spans)
            lowered = f" {' '.join(words(text))} "
            own = " ".join(words(name))
            named_other = [n for n in names["creature"] if kind == "creature" and n not in own and f" {n} " in lowered]
            wrong_kind = name_noun(name) in foreign_heads
            if named_other or wrong_kind:
                inconsistent += 1
                if len(examples[kind]) < 2:
                    examples[kind].append({"name": name, "names": named_other[:3], "head_of_another_kind": wrong_kind})
    total = sum(len(m) for m in texts.values())
    quality = {
        "texts": total,
        "words": written,
        "real_word_share_lexicon": round(in_lexicon / written, 4),
        "real_word_share_scowl_only": round(in_list / written, 4),
        "consistency_failures_share": round(inconsistent / total, 3),
        "mechanics_sentence_share": round(with_mechanics / sentences, 3),
        "verbatim_12_word_span_share": round(verbatim / total, 3),
        "inconsistent_examples": examples,
    }
    (OUT / "quality.json").write_text(json.dumps(quality, indent=1) + "\n")
    print(json.dumps(quality, indent=1))


if __name__ == "__main__":
    main()
