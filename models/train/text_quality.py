#!/usr/bin/env python3
"""Measures models/kiln_flavour as a user reads it: bakes 50 texts per kind with `kiln` (release,
CPU), and 10 for each of five names per kind a recipe might give (NAMED), and compares them
with the training corpus (issue #11's measures). Writes
models/kiln_flavour/quality.json and prints it.

    models/train/fetch_data.sh text && python3 models/train/text_quality.py

- real words: share of the words written that are in the model's lexicon.txt (the recipe's own
  names aside), and share in SCOWL's American English list alone;
- consistency: share of texts that give a creature another creature's name of the corpus (a
  creature named Ghoul described as the sphinx; a one-word name counts when it is an identity
  noun, so "a dog" does not name CDDA's "Dog"), or whose made-up name's head noun (before "of",
  else its last word) the corpus only uses in names of another kind ("Wand of ..." for a
  weapon); given and made-up names apart, and how often a text names what the recipe named;
- kind words: share of texts that use a word of another kind (train_text.kind_words: "drink"
  in a weapon's text) their name lacks;
- repeats: share of made-up names that are names of the corpus, and of texts (name and text)
  equal to an earlier variant of the same entry;
- mechanics: share of sentences with dice or bonus mechanics (`+N`, `NdM`, "saving throw",
  "attack roll", "damage roll", "spell attack", "Armor Class", "opportunity attack");
- creature texts that name another creature by a noun the corpus's creature names end in
  ("Hunter Bear: The snake..."), broader than Kiln's identity nouns, which it refuses; beside
  the same share of the corpus's own creature descriptions (some mention another creature on
  purpose, "goblins ride wolves", and a few such nouns are verbs too, "mimic");
- verbatim: share of texts sharing a 12-word span with a training description, the kinds' or
  CDDA's (the issue's measure), and an 8-word span (how much of the corpus shows through in
  shorter runs);
- words of our world: share of texts with a word of CDDA's modern setting or of real places,
  peoples, eras and sports (train_text.OUR_WORLD: "gun", "zombie", "Germany", "medieval",
  "replica"), which Kiln's lexicon leaves out unless the kinds' descriptions use it;
- word order (fluency.py): how natural the texts' word order is to a trigram model of WordNet's
  English, 1 for the held-out real descriptions and 0 for shuffled words, beside real text cut
  into 8-word pieces and stitched together again (the collage control); also against the
  held-out SRD and Basic Fantasy descriptions alone, the reference before CDDA joined the corpus;
- sentence shapes (fluency.shape_classifier_accuracy): how well a classifier of function words
  and word-length classes tells the texts from real descriptions of the kinds (0.5: built alike),
  beside one half of the real descriptions against the other (the floor) and the collage control.
"""

import json
import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from common import REPO
import fluency
from train_text import (EVERYDAY_NOUNS, KINDS, OUT, WORD, WORD_LIST, cdda_prose, cdda_samples, glosses, held_out,
                        identity_nouns, names_our_world, kind_words, name_noun, samples)

PER_KIND = 50
# Names a recipe might give, none of them a name of the corpus: 10 texts each.
NAMED = {
    "weapon": ["Emberfang", "Frost Blade", "Axe of the Drowned King", "Thornbow", "Widowmaker Spear"],
    "armour": ["Gravewarden Plate", "Cloakmail of Dusk", "Saltscale Armor", "Shield of the Ember Vow", "Ironbark Mail"],
    "potion": ["Potion of Ashen Sleep", "Elixir of Tides", "Draught of Embers", "Philter of Stillness", "Tonic of Iron Blood"],
    "ring": ["Ring of Cinders", "Band of the Hollow Moon", "Ring of Quiet Steps", "Signet of the Drowned", "Ring of Thorns"],
    "trinket": ["Lantern of Lost Roads", "Bone Flute", "Compass of Ash", "Cloak of Ravens", "Hourglass of Salt"],
    "creature": ["Ghoul", "Frost Wyrm", "Bog Hag", "Cave Troll", "Ash Wraith"],
    "spell": ["Ember Lash", "Veil of Mist", "Grave Chill", "Thornwall", "Call the Tide"],
}
NAMED_VARIANTS = 10
SPAN = 12
# A shorter run, to see how much of the corpus shows through below the 12 words.
SHORT_SPAN = 8
MECHANICS = re.compile(r"\+\d|\b\d+d\d+\b|saving throw|attack roll|damage roll|spell attack|armor class|opportunity attack", re.I)


def bake(kinds, seed_offset=0, candidates=None, temperature=None):
    """50 texts per kind with no name given, and 10 for each of NAMED's: {entry: [(name, text)]},
    entries `kind` and `kind/index`; `seed_offset` moves every seed (another sample of texts);
    `candidates` and `temperature` set the recipes' (Kiln's defaults when None)."""
    more = f", candidates: {candidates}" if candidates else ""
    more += f", sampling: (temperature: {temperature})" if temperature is not None else ""
    entries = [
        f'"{kind}": (model: "kiln_flavour", seed: {seed_offset + 1000 + i}, variants: {PER_KIND}, kind: Text(kind: "{kind}"{more}))'
        for i, kind in enumerate(kinds)
    ] + [
        f'"{kind}_{j}": (model: "kiln_flavour", seed: {seed_offset + 2000 + 10 * i + j}, variants: {NAMED_VARIANTS}, '
        f'kind: Text(kind: "{kind}", name: {json.dumps(name)}{more}))'
        for i, kind in enumerate(kinds) for j, name in enumerate(NAMED[kind])
    ]
    entries = ",\n".join(entries)
    with tempfile.TemporaryDirectory() as tmp:
        recipes = Path(tmp) / "recipes"
        recipes.mkdir()
        (recipes / "quality.kiln.ron").write_text(f"(assets: {{\n{entries}\n}})\n")
        out = Path(tmp) / "out"
        subprocess.run(["cargo", "run", "--release", "--quiet", "--", "bake", str(recipes), "--out", str(out), "--ep", "cpu"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        return {entry.name: [(v["name"], v["text"]) for v in json.loads((entry / "strings.json").read_text()).values()]
                for entry in (out / "quality").iterdir()}


def words(text):
    return [w.lower() for w in WORD.findall(text)]





def singulars(word):
    """The word and what it is the plural of, as Kiln reads plurals ("sphinxes": sphinx)."""
    return {word, word.removesuffix("s"), word.removesuffix("es")}


def name_forms(name):
    """The words of `name` and what they are plurals of."""
    return {s for x in words(name) for s in singulars(x)}


def names_another_creature(name, text, nouns):
    """Whether `text` uses one of `nouns` (or its plural) that `name` does not have."""
    own = name_forms(name)
    return any(not (singulars(x) & own) and singulars(x) & nouns for x in words(text))


def by_kind(pairs):
    """{kind: [text]} of (kind, text) pairs (read once: a generator will do)."""
    grouped = {k: [] for k in KINDS}
    for kind, text in pairs:
        grouped[kind].append(text)
    return grouped


def spans(text, span=SPAN):
    w = words(text)
    return {" ".join(w[i:i + span]) for i in range(len(w) - span + 1)}


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="move every seed by this (another sample of texts, to see the measures' "
                             "spread); quality.json is written only at 0")
    parser.add_argument("--candidates", type=int,
                        help="descriptions drawn per text (the recipes' `candidates`; default: Kiln's); "
                             "quality.json is written only without it")
    parser.add_argument("--texts-out", type=Path, help="also write the baked texts here (JSON)")
    parser.add_argument("--texts-in", type=Path, help="measure these texts (--texts-out's JSON) instead of baking")
    parser.add_argument("--temperature", type=float,
                        help="the recipes' sampling temperature (default: Kiln's); quality.json is "
                             "written only without it")
    args = parser.parse_args()
    corpus = [s for s in samples() if s[2]]
    lexicon = {line.strip() for line in (OUT / "lexicon.txt").read_text().splitlines() if line and not line.startswith("#")}
    word_list = {line.strip().lower() for line in WORD_LIST.read_text(encoding="utf-8").splitlines()}
    trained_on = corpus + list(cdda_prose())
    corpus_spans = set().union(*(spans(text) for _, _, text in trained_on))
    corpus_runs = set().union(*(spans(text, SHORT_SPAN) for _, _, text in trained_on))
    # Names of the corpus by kind, and the last word of each (the noun a name ends in).
    names = defaultdict(set)
    heads = defaultdict(set)
    for kind, name, _ in corpus:
        names[kind].add(" ".join(words(name)))
        heads[kind].add(name_noun(name))
    creature_nouns = set(identity_nouns(corpus)["creature"])
    # Every head noun of a creature name of the corpus ("bear", "snake", "spider"), everyday ones aside.
    creature_name_nouns = {name_noun(name) for kind, name, _ in corpus if kind == "creature"} - EVERYDAY_NOUNS - {""}
    corpus_creatures = [(name, text) for kind, name, text in corpus if kind == "creature"]
    own_words = kind_words(corpus)
    if args.texts_in:
        texts = {entry: [tuple(t) for t in made] for entry, made in json.loads(args.texts_in.read_text()).items()}
    else:
        texts = bake(KINDS, args.seed_offset, args.candidates, args.temperature)
    if args.texts_out:
        args.texts_out.write_text(json.dumps(texts, indent=0, ensure_ascii=False) + "\n")
    written = in_lexicon = in_list = sentences = with_mechanics = verbatim = verbatim_runs = our_world = 0
    inconsistent = {"made_up": 0, "given": 0}
    about = other_creature_nouns = other_creature_name_nouns = other_kind_words = 0
    examples = defaultdict(list)
    for entry, made in texts.items():
        kind, _, named = entry.partition("_")
        foreign_heads = set().union(*(h for k, h in heads.items() if k != kind)) - heads[kind]
        for name, text in made:
            given = set(words(name)) if named else set()
            w = words(text if named else f"{name} {text}")
            written += len(w)
            in_lexicon += sum(x in lexicon or x in given for x in w)
            in_list += sum(x in word_list or x in given for x in w)
            for sentence in re.findall(r"[^.!?]+[.!?]", text):
                sentences += 1
                with_mechanics += bool(MECHANICS.search(sentence))
            verbatim += bool(spans(text) & corpus_spans)
            verbatim_runs += bool(spans(text, SHORT_SPAN) & corpus_runs)
            our_world += names_our_world(text if named else f"{name} {text}")
            lowered = f" {' '.join(words(text))} "
            own = " ".join(words(name))
            # A creature of the corpus named by one word no identity noun ("Thing", "Dog") is not
            # named by a text that uses the word.
            named_other = [n for n in names["creature"] if kind == "creature" and n not in own and f" {n} " in lowered
                           and (" " in n or n in creature_nouns)]
            wrong_kind = not named and name_noun(name) in foreign_heads
            if named_other or wrong_kind:
                inconsistent["given" if named else "made_up"] += 1
                if len(examples[entry]) < 2:
                    examples[entry].append({"name": name, "names": named_other[:3], "head_of_another_kind": wrong_kind})
            if kind == "creature":
                other_creature_nouns += names_another_creature(name, text, creature_nouns)
                other_creature_name_nouns += names_another_creature(name, text, creature_name_nouns)
            foreign = {w for k, ws in own_words.items() if k != kind for w in ws}
            other_kind_words += any(singulars(x) & foreign and not singulars(x) & name_forms(name) for x in words(text))
            about += bool(named and any(f" {x} " in lowered for x in given - {"of", "the", "a", "an"}))
    total = sum(len(m) for m in texts.values())
    made_up = [(name, text) for entry, made in texts.items() if "_" not in entry for name, text in made]
    corpus_names = {" ".join(words(name)) for _, name, _ in corpus}
    repeats = sum(len(made) - len(set(made)) for made in texts.values())
    given_total = sum(len(m) for e, m in texts.items() if "_" in e)
    quality = {
        "texts": total,
        "texts_with_given_names": given_total,
        "words": written,
        "real_word_share_lexicon": round(in_lexicon / written, 4),
        "real_word_share_scowl_only": round(in_list / written, 4),
        "consistency_failures_share": round(sum(inconsistent.values()) / total, 3),
        "consistency_failures_share_made_up_names": round(inconsistent["made_up"] / (total - given_total), 3),
        "consistency_failures_share_given_names": round(inconsistent["given"] / given_total, 3),
        "given_name_in_text_share": round(about / given_total, 3),
        "made_up_names_from_the_corpus_share": round(sum(" ".join(words(n)) in corpus_names for n, _ in made_up) / len(made_up), 3),
        "texts_repeating_an_earlier_variant_share": round(repeats / total, 3),
        "creature_texts_with_another_creatures_noun_share": round(
            other_creature_nouns / sum(len(m) for e, m in texts.items() if e.startswith("creature")), 3),
        "creature_texts_with_another_creature_name_noun_share": round(
            other_creature_name_nouns / sum(len(m) for e, m in texts.items() if e.startswith("creature")), 3),
        "creature_texts_with_another_creature_name_noun_share_in_the_corpus": round(
            sum(names_another_creature(name, text, creature_name_nouns) for name, text in corpus_creatures)
            / len(corpus_creatures), 3),
        "texts_with_another_kinds_word_share": round(other_kind_words / total, 3),
        "mechanics_sentence_share": round(with_mechanics / sentences, 3),
        "verbatim_12_word_span_share": round(verbatim / total, 3),
        f"verbatim_{SHORT_SPAN}_word_span_share": round(verbatim_runs / total, 3),
        "our_world_word_share": round(our_world / total, 3),
        "inconsistent_examples": examples,
    }
    # Word order against an English model the flavour corpus is not in (fluency.py): real
    # held-out descriptions score 1, shuffled words 0; real text cut into 8-word pieces and
    # stitched together again is the collage control.
    english = fluency.KneserNey(s for _, _, gloss in glosses() for s in fluency.sentences(gloss))
    held = held_out(corpus)
    real = [corpus[i][2] for i in sorted(held)]
    made_texts = [text for made in texts.values() for _, text in made]
    quality["word_order_score"] = round(fluency.fluency(made_texts, real, english)[0], 3)
    from_cdda = {text for _, _, text in cdda_samples()}
    real_before = [text for text in real if text not in from_cdda]
    quality["word_order_score_against_srd_and_basic_fantasy"] = round(fluency.fluency(made_texts, real_before, english)[0], 3)
    quality["word_order_score_of_real_text_in_8_word_pieces"] = round(
        fluency.fluency(fluency.collage(real, SHORT_SPAN), real, english)[0], 3)
    made_by_kind = by_kind((entry.partition("_")[0], text) for entry, made in texts.items() for _, text in made)
    real_by_kind = by_kind((kind, text) for kind, _, text in corpus)
    quality["sentence_shape_classifier_accuracy"] = round(fluency.shape_classifier_accuracy(made_by_kind, real_by_kind), 3)
    # The floor: one half of the real descriptions against the other; and the collage control:
    # one half cut into 8-word pieces and stitched together again, against the other.
    halves = [by_kind((kind, text) for i, (kind, _, text) in enumerate(corpus) if i % 2 == half) for half in (0, 1)]
    quality["sentence_shape_classifier_accuracy_real_vs_real"] = round(fluency.shape_classifier_accuracy(*halves), 3)
    quality[f"sentence_shape_classifier_accuracy_of_real_text_in_{SHORT_SPAN}_word_pieces"] = round(
        fluency.shape_classifier_accuracy({k: fluency.collage(v, SHORT_SPAN) for k, v in halves[0].items()}, halves[1]), 3)
    quality["inconsistent_examples"] = quality.pop("inconsistent_examples")
    if args.seed_offset == 0 and args.candidates is None and args.temperature is None and args.texts_in is None:
        (OUT / "quality.json").write_text(json.dumps(quality, indent=1) + "\n")
    print(json.dumps(quality, indent=1))


if __name__ == "__main__":
    main()
